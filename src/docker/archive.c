/*
 * archive.c - a docker-archive of one image from the OCI store, written
 * by libarchive as it is read: manifest.json, the config and the layers
 * (as stored: docker and podman decompress them on load) under
 * blobs/sha256/HEX. Each read asks libarchive for the next piece (a
 * header, up to 64 KiB of a blob, the end) until the reader has bytes,
 * so nothing but that piece is ever held and nothing goes to disk.
 */
#include "dk_int.h"
#include "oci.h"
#include "store.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (64u << 10)
#define TAR_BLOCK 512u

struct dk_entry {
	char name[96];		/* blobs/sha256/HEX, manifest.json */
	char *path;		/* the blob's file, or NULL: data */
	const char *data;	/* manifest.json's text */
	uint64_t size;
};

struct dk_archive {
	struct archive *a;
	struct dk_entry *e;
	int n, next;		/* entries, the next to begin */
	int open;		/* the current entry's data is being written */
	int fd;
	uint64_t left;		/* of the current entry */
	char *manifest;
	char *chunk;
	struct buf out;		/* what libarchive wrote, not yet read */
	size_t off;
	int finished;
	uint64_t size, made;
	char *error;
};

static la_ssize_t
arc_write(struct archive *a, void *ctx, const void *p, size_t n)
{
	struct dk_archive *x = ctx;

	(void)a;
	if (buf_append(&x->out, p, n) != 0) {
		archive_set_error(a, ENOMEM, "archive buffer full");
		return -1;
	}
	x->made += n;
	return (la_ssize_t)n;
}

static uint64_t
tar_size(uint64_t n)
{
	return TAR_BLOCK + (n + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
}

static void
entry_blob(struct dk_archive *x, struct store *st, const struct descriptor *d)
{
	struct dk_entry *e = &x->e[x->n++];

	snprintf(e->name, sizeof e->name, "blobs/sha256/%s", d->digest + 7);
	e->path = store_blob_path(st, d->digest);
	e->size = d->size;
}

/* manifest.json: one image, RepoTags its tag when the reference has one. */
static char *
manifest_json(const struct docker_load_req *r)
{
	json_t *layers = json_array(), *tags = json_array(), *root;
	char *name, *text, *colon, *slash;
	int i;

	/* domain/path:tag[@digest]: the name with its tag, if any */
	name = xstrndup(r->ref, strcspn(r->ref, "@"));
	colon = strrchr(name, ':');
	slash = strrchr(name, '/');
	if (colon != NULL && (slash == NULL || colon > slash))
		json_array_append_new(tags, json_string(name));
	free(name);
	for (i = 0; i < r->nlayers; i++) {
		text = xasprintf("blobs/sha256/%s", r->layers[i].digest + 7);
		json_array_append_new(layers, json_string(text));
		free(text);
	}
	text = xasprintf("blobs/sha256/%s", r->config->digest + 7);
	root = json_pack("[{s:s, s:o, s:o}]", "Config", text, "RepoTags", tags,
	    "Layers", layers);
	free(text);
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text != NULL ? text : xstrdup("[]");
}

struct dk_archive *
dk_archive_new(const struct docker_load_req *r, char **cause)
{
	struct dk_archive *x;
	int i, j, dup;

	for (i = -1; i < r->nlayers; i++)
		if (!digest_valid(i < 0 ? r->config->digest :
		    r->layers[i].digest)) {
			*cause = xstrdup("a blob of the image has no sha256 "
			    "digest: the engine cannot load it");
			return NULL;
		}
	x = xcalloc(1, sizeof *x);
	x->e = xcalloc((size_t)r->nlayers + 2, sizeof *x->e);
	x->fd = -1;
	x->manifest = manifest_json(r);
	snprintf(x->e[0].name, sizeof x->e[0].name, "manifest.json");
	x->e[0].data = x->manifest;
	x->e[0].size = strlen(x->manifest);
	x->n = 1;
	entry_blob(x, r->store, r->config);
	for (i = 0; i < r->nlayers; i++) {
		for (dup = 0, j = 0; j < i; j++)
			dup |= strcmp(r->layers[i].digest, r->layers[j].digest) == 0;
		if (!dup)
			entry_blob(x, r->store, &r->layers[i]);
	}
	for (i = 1; i < x->n; i++) {
		struct stat sb;

		if (stat(x->e[i].path, &sb) != 0 || (uint64_t)sb.st_size !=
		    x->e[i].size) {
			*cause = xasprintf("blob %.12s is not in the store "
			    "(pull the image again)", x->e[i].name + 13);
			dk_archive_free(x);
			return NULL;
		}
	}
	for (i = 0; i < x->n; i++)
		x->size += tar_size(x->e[i].size);
	x->size += 2 * TAR_BLOCK;	/* the end of the archive */
	buf_init(&x->out, 4 * CHUNK);
	x->chunk = xmalloc(CHUNK);
	x->a = archive_write_new();
	if (archive_write_set_format_ustar(x->a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(x->a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(x->a, 0) != ARCHIVE_OK ||
	    archive_write_open2(x->a, x, NULL, arc_write, NULL, NULL) !=
	    ARCHIVE_OK) {
		*cause = xasprintf("libarchive: %s",
		    archive_error_string(x->a));
		dk_archive_free(x);
		return NULL;
	}
	return x;
}

uint64_t
dk_archive_size(const struct dk_archive *x)
{
	return x->size;
}

static int
fail(struct dk_archive *x, char *why)
{
	if (x->error == NULL)
		x->error = why;
	else
		free(why);
	return -1;
}

/* The next entry's header, and its file opened. */
static int
begin_entry(struct dk_archive *x)
{
	struct dk_entry *e = &x->e[x->next++];
	struct archive_entry *ae = archive_entry_new();
	int r;

	archive_entry_set_pathname(ae, e->name);
	archive_entry_set_size(ae, (la_int64_t)e->size);
	archive_entry_set_filetype(ae, AE_IFREG);
	archive_entry_set_perm(ae, 0644);
	archive_entry_set_mtime(ae, 0, 0);
	r = archive_write_header(x->a, ae);
	archive_entry_free(ae);
	if (r != ARCHIVE_OK)
		return fail(x, xasprintf("libarchive: %s: %s", e->name,
		    archive_error_string(x->a)));
	if (e->path != NULL) {
		x->fd = open(e->path, O_RDONLY | O_CLOEXEC);
		if (x->fd < 0)
			return fail(x, xasprintf("%s: %s", e->path,
			    strerror(errno)));
	}
	x->left = e->size;
	x->open = 1;
	return 0;
}

/* Up to CHUNK more bytes of the current entry. */
static int
entry_data(struct dk_archive *x)
{
	struct dk_entry *e = &x->e[x->next - 1];
	size_t want = x->left < CHUNK ? (size_t)x->left : CHUNK;
	ssize_t got;

	if (want > 0) {
		if (e->path == NULL) {
			memcpy(x->chunk, e->data + (e->size - x->left), want);
			got = (ssize_t)want;
		} else {
			do
				got = read(x->fd, x->chunk, want);
			while (got < 0 && errno == EINTR);
			if (got <= 0)
				return fail(x, xasprintf("%s: %s", e->path,
				    got < 0 ? strerror(errno) :
				    "shorter than its size"));
		}
		if (archive_write_data(x->a, x->chunk, (size_t)got) != got)
			return fail(x, xasprintf("libarchive: %s: %s", e->name,
			    archive_error_string(x->a)));
		x->left -= (uint64_t)got;
	}
	if (x->left == 0) {
		if (x->fd >= 0)
			close(x->fd);
		x->fd = -1;
		x->open = 0;
	}
	return 0;
}

/* One piece more into x->out. */
static int
step(struct dk_archive *x)
{
	if (x->open)
		return entry_data(x);
	if (x->next < x->n)
		return begin_entry(x);
	if (archive_write_close(x->a) != ARCHIVE_OK)
		return fail(x, xasprintf("libarchive: %s",
		    archive_error_string(x->a)));
	x->finished = 1;
	if (x->made != x->size)
		return fail(x, xasprintf("the archive came out %llu bytes, "
		    "not %llu", (unsigned long long)x->made,
		    (unsigned long long)x->size));
	return 0;
}

long
dk_archive_read(struct dk_archive *x, char *p, size_t n)
{
	size_t k;

	if (x->error != NULL)
		return -1;
	while (x->off == x->out.len && !x->finished) {
		x->out.len = 0;
		x->off = 0;
		if (step(x) != 0)
			return -1;
	}
	k = x->out.len - x->off;
	if (k > n)
		k = n;
	if (k > 0)
		memcpy(p, x->out.data + x->off, k);
	x->off += k;
	return (long)k;
}

const char *
dk_archive_error(const struct dk_archive *x)
{
	return x->error != NULL ? x->error : "";
}

void
dk_archive_free(struct dk_archive *x)
{
	int i;

	if (x == NULL)
		return;
	if (x->a != NULL)
		archive_write_free(x->a);
	if (x->fd >= 0)
		close(x->fd);
	for (i = 0; i < x->n; i++)
		free(x->e[i].path);
	free(x->e);
	free(x->manifest);
	free(x->chunk);
	free(x->error);
	buf_free(&x->out);
	free(x);
}
