/*
 * index.c - STORE/index.json: one entry per pulled reference, named by its
 * org.opencontainers.image.ref.name annotation. Every change is made under
 * ingest/index.lock and written by temporary, fsync and rename.
 */
#include "store.h"
#include "store_int.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define INDEX_MAX (16u << 20)

json_t *
index_load(struct store *s, char **cause)
{
	struct buf b;
	char *p = xasprintf("%s/index.json", s->dir);
	char chunk[65536];
	json_error_t je;
	json_t *root = NULL;
	ssize_t n;
	int fd = open(p, O_RDONLY | O_CLOEXEC);

	buf_init(&b, INDEX_MAX);
	if (fd < 0) {
		if (errno == ENOENT)
			root = json_pack("{s:i,s:[]}", "schemaVersion", 2,
			    "manifests");
		else
			*cause = xasprintf("%s: %s", p, strerror(errno));
		free(p);
		return root;
	}
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		if (buf_append(&b, chunk, (size_t)n) != 0)
			break;
	close(fd);
	if (n != 0)
		*cause = xasprintf("%s: unreadable or too large", p);
	else if ((root = json_loadb(b.data ? b.data : "", b.len, 0, &je)) == NULL ||
	    !json_is_object(root) ||
	    !json_is_array(json_object_get(root, "manifests"))) {
		*cause = xasprintf("%s: not a valid OCI index", p);
		json_decref(root);
		root = NULL;
	}
	buf_free(&b);
	free(p);
	return root;
}

int
index_lock(struct store *s)
{
	char *p = xasprintf("%s/ingest/index.lock", s->dir);
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	free(p);
	if (fd >= 0 && flock(fd, LOCK_EX) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

const char *
entry_refname(json_t *e)
{
	return json_string_value(json_object_get(json_object_get(e,
	    "annotations"), REFNAME));
}

static int index_write(struct store *s, json_t *root, char **cause);

int
store_index_set(struct store *s, const char *refname, const char *media_type,
    const char *digest, uint64_t size, const char *platform,
    const char *source, char **cause)
{
	json_t *root, *list, *e, *plat;
	char *dir, os[32] = "", arch[32] = "", variant[32] = "";
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	size_t i;
	int fd, r = -1;

	fd = index_lock(s);
	if (fd < 0) {
		*cause = xasprintf("%s/ingest/index.lock: %s", s->dir,
		    strerror(errno));
		return -1;
	}
	root = index_load(s, cause);
	if (root == NULL)
		goto out;
	list = json_object_get(root, "manifests");
	for (i = 0; i < json_array_size(list); ) {
		const char *n = entry_refname(json_array_get(list, i));
		if (n != NULL && strcmp(n, refname) == 0)
			json_array_remove(list, i);
		else
			i++;
	}
	e = json_pack("{s:s,s:s,s:I,s:{s:s}}", "mediaType", media_type,
	    "digest", digest, "size", (json_int_t)size, "annotations",
	    REFNAME, refname);
	if (source != NULL && strcmp(source, digest) != 0)
		json_object_set_new(json_object_get(e, "annotations"), SOURCE,
		    json_string(source));
	/* when it was pulled, for --list */
	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(json_object_get(e, "annotations"), PULLED,
	    json_string(when));
	if (platform != NULL &&
	    sscanf(platform, "%31[^/]/%31[^/]/%31s", os, arch, variant) >= 2) {
		plat = json_pack("{s:s,s:s}", "architecture", arch, "os", os);
		if (variant[0] != '\0')
			json_object_set_new(plat, "variant", json_string(variant));
		json_object_set_new(e, "platform", plat);
	}
	json_array_append_new(list, e);
	/* with --fsync, blob renames since the last index update become
	 * durable here, before index.json names them (durable.c: without,
	 * the journal keeps them in order before index.json's own rename) */
	if (s->fsync_each) {
		dir = xasprintf("%s/blobs/sha256", s->dir);
		fsync_dir(dir);
		free(dir);
	}
	r = index_write(s, root, cause);
	json_decref(root);
out:
	close(fd);
	return r;
}

int
store_index_get(struct store *s, const char *refname, char *digest)
{
	char *cause = NULL;
	json_t *root = index_load(s, &cause), *list, *e;
	size_t i;
	int r = -1;

	free(cause);
	if (root == NULL)
		return -1;
	list = json_object_get(root, "manifests");
	json_array_foreach(list, i, e) {
		const char *n = entry_refname(e);
		const char *d = json_string_value(json_object_get(json_object_get(e,
		    "annotations"), SOURCE));
		if (d == NULL)
			d = json_string_value(json_object_get(e, "digest"));
		if (n != NULL && d != NULL && strcmp(n, refname) == 0 &&
		    digest_valid(d)) {
			memcpy(digest, d, 72);
			r = 0;
		}
	}
	json_decref(root);
	return r;
}

/* Write root as index.json; index lock held. */
static int
index_write(struct store *s, json_t *root, char **cause)
{
	char *text = json_dumps(root, JSON_COMPACT);
	int r = write_atomic(s->dir, s->dir, "index.json", text, strlen(text),
	    s->fsync_each ? WA_SYNC_DIR : WA_SYNC, 0, cause), e = errno;

	free(text);
	if (r != 0)
		store_enospc_hint(s, e, cause);
	return r;
}

int
store_index_remove(struct store *s, const char *refname, char **cause)
{
	json_t *root, *list;
	size_t i;
	int fd, r = 1;

	fd = index_lock(s);
	if (fd < 0) {
		*cause = xasprintf("%s/ingest/index.lock: %s", s->dir,
		    strerror(errno));
		return -1;
	}
	root = index_load(s, cause);
	if (root == NULL) {
		close(fd);
		return -1;
	}
	list = json_object_get(root, "manifests");
	for (i = 0; i < json_array_size(list); ) {
		const char *n = entry_refname(json_array_get(list, i));
		if (n != NULL && strcmp(n, refname) == 0) {
			json_array_remove(list, i);
			r = 0;
		} else
			i++;
	}
	if (r == 0 && index_write(s, root, cause) != 0)
		r = -1;
	json_decref(root);
	close(fd);
	return r;
}
