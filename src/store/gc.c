/*
 * gc.c - what index.json reaches, and what it does not: the walk from each
 * entry through indexes and manifests to configs and layers, the listing
 * of references with their size on disk, and prune, which deletes the
 * blobs nothing reaches or holds and the partials nobody is downloading.
 */
#include "store.h"
#include "store_int.h"
#include "oci.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define GC_DEPTH 8	/* index -> index -> manifest is already unusual */

/* Mark a leaf descriptor (config, layer, artifact blob). */
static void
mark_leaf(json_t *d, json_t *set)
{
	const char *dg = json_string_value(json_object_get(d, "digest"));

	if (digest_valid(dg))
		json_object_set_new(set, dg, json_true());
}

/* Read the manifest or index digest; NULL with *cause. */
static json_t *
read_json_blob(struct store *s, const char *digest, char **cause)
{
	struct buf b;
	json_error_t je;
	json_t *root;

	if (store_read_small(s, digest, BLOB_JSON_MAX, &b, cause) != 0)
		return NULL;
	root = json_loadb(b.data ? b.data : "", b.len, 0, &je);
	buf_free(&b);
	if (!json_is_object(root)) {
		json_decref(root);
		*cause = xasprintf("%s is not a JSON document", digest);
		return NULL;
	}
	return root;
}

static int
blob_absent(const struct store *s, const char *digest)
{
	char *p = store_blob_path(s, digest);
	struct stat st;
	int r = lstat(p, &st) != 0 && errno == ENOENT;

	free(p);
	return r;
}

int
gc_mark(struct store *s, const char *digest, const char *mt, json_t *set,
    int depth, char **cause)
{
	json_t *root, *d;
	size_t i;
	int r = 0;

	if (!digest_valid(digest)) {
		*cause = xasprintf("invalid digest");
		return -1;
	}
	json_object_set_new(set, digest, json_true());
	/* an index.json entry (mt NULL) is a manifest or an index whatever
	 * it says; below it, only those are opened */
	if (mt != NULL && !mt_is_manifest(mt) && !mt_is_index(mt))
		return 0;
	if (depth > GC_DEPTH) {
		*cause = xasprintf("%s: indexes nested too deep", digest);
		return -1;
	}
	/* an index entry whose manifest was never stored (one platform of
	 * several copied) reaches nothing; a missing or unreadable manifest
	 * that index.json names itself stops a prune */
	if (depth > 0 && blob_absent(s, digest))
		return 0;
	if ((root = read_json_blob(s, digest, cause)) == NULL)
		return -1;
	mark_leaf(json_object_get(root, "config"), set);
	json_array_foreach(json_object_get(root, "layers"), i, d)
		mark_leaf(d, set);
	json_array_foreach(json_object_get(root, "blobs"), i, d)
		mark_leaf(d, set);
	json_array_foreach(json_object_get(root, "manifests"), i, d) {
		const char *dg = json_string_value(json_object_get(d, "digest"));
		const char *t = json_string_value(json_object_get(d,
		    "mediaType"));
		if (!digest_valid(dg) || json_object_get(set, dg) != NULL)
			continue;
		if ((r = gc_mark(s, dg, t ? t : "", set, depth + 1, cause)) != 0)
			break;
	}
	json_decref(root);
	return r;
}

int
gc_mark_entry(struct store *s, json_t *e, json_t *set, char **cause)
{
	const char *dg = json_string_value(json_object_get(e, "digest"));
	const char *src = json_string_value(json_object_get(json_object_get(e,
	    "annotations"), SOURCE));

	/* a Docker manifest stored as its OCI copy: the registry's own
	 * bytes stay too (same config and layers) */
	if (digest_valid(src))
		json_object_set_new(set, src, json_true());
	return gc_mark(s, dg ? dg : "", NULL, set, 0, cause);
}

uint64_t
gc_partial_size(const struct store *s, const char *digest)
{
	char *p = xasprintf("%s/ingest/%s.partial", s->dir, digest + 7);
	struct stat st;
	uint64_t n = stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;

	free(p);
	return n;
}

int
is_hex64(const char *s)
{
	int i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Store lock held: delete (or count) the blobs keep does not name. */
static void
sweep_blobs(struct store *s, json_t *keep, struct store_prune *p)
{
	char *dir = xasprintf("%s/blobs/sha256", s->dir), digest[72];
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat st;

	if (d == NULL) {
		free(dir);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strlen(e->d_name) != 64 || !is_hex64(e->d_name))
			continue;
		snprintf(digest, sizeof digest, "sha256:%.64s", e->d_name);
		if (json_object_get(keep, digest) != NULL ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (!p->dry_run && unlinkat(dirfd(d), e->d_name, 0) != 0)
			continue;
		p->blobs++;
		p->blob_bytes += (uint64_t)st.st_size;
		if (p->each != NULL)
			p->each(p->ctx, "blob", digest, (uint64_t)st.st_size);
	}
	closedir(d);
	if (!p->dry_run)
		fsync_dir(dir);
	free(dir);
}

/*
 * Delete (or count) one partial older than p->age that nobody downloads:
 * its flock is taken first, so a running pulltop's partial is never
 * touched, and the file must still be the one at that name.
 */
static void
sweep_partial(DIR *d, const char *name, struct store_prune *p, time_t now)
{
	char digest[72];
	struct stat st, cur;
	int fd = openat(dirfd(d), name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		p->held_partials++;
		close(fd);
		return;
	}
	if (fstat(fd, &st) != 0 || fstatat(dirfd(d), name, &cur,
	    AT_SYMLINK_NOFOLLOW) != 0 || st.st_ino != cur.st_ino ||
	    st.st_dev != cur.st_dev) {
		close(fd);
		return;
	}
	if ((double)(now - st.st_mtime) < p->age) {
		p->young_partials++;
		p->young_bytes += (uint64_t)st.st_size;
	} else if (p->dry_run || unlinkat(dirfd(d), name, 0) == 0) {
		char map[80];

		/* and its range map, if it was split */
		snprintf(map, sizeof map, "%.64s.ranges", name);
		if (!p->dry_run)
			unlinkat(dirfd(d), map, 0);
		snprintf(digest, sizeof digest, "sha256:%.64s", name);
		p->partials++;
		p->partial_bytes += (uint64_t)st.st_size;
		if (p->each != NULL)
			p->each(p->ctx, "partial", digest, (uint64_t)st.st_size);
	}
	close(fd);	/* drops the flock */
}

static void
sweep_partials(struct store *s, struct store_prune *p)
{
	char *dir = xasprintf("%s/ingest", s->dir);
	DIR *d = opendir(dir);
	struct dirent *e;
	time_t now = time(NULL);

	free(dir);
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (strlen(e->d_name) == 64 + 8 && is_hex64(e->d_name) &&
		    strcmp(e->d_name + 64, ".partial") == 0)
			sweep_partial(d, e->d_name, p, now);
	closedir(d);
}

/* Store lock held: every blob a live lease or index.json reaches. */
static json_t *
reachable(struct store *s, int sweep_leases, char **cause)
{
	json_t *keep = json_object(), *root, *e;
	char *c2 = NULL;
	size_t i;

	/* leases first: a pull that indexes and exits after this point
	 * has its entry in the index.json read below */
	lease_roots(s, keep, sweep_leases);
	if ((root = index_load(s, cause)) == NULL) {
		json_decref(keep);
		return NULL;
	}
	json_array_foreach(json_object_get(root, "manifests"), i, e) {
		const char *n = entry_refname(e);
		char sane[256];

		if (gc_mark_entry(s, e, keep, &c2) != 0) {
			sanitize(sane, sizeof sane, n ? n : "(unnamed entry)");
			*cause = xasprintf("%s: %s; not pruning", sane, c2);
			free(c2);
			json_decref(keep);
			keep = NULL;
			break;
		}
	}
	json_decref(root);
	return keep;
}

int
store_prune(struct store *s, struct store_prune *p, char **cause)
{
	json_t *keep;
	int fd;

	p->blobs = p->blob_bytes = p->partials = p->partial_bytes = 0;
	p->held_partials = p->young_partials = p->young_bytes = 0;
	/* a dry run deletes nothing: sharing the lock is enough */
	if ((fd = store_lock(s, p->dry_run ? LOCK_SH : LOCK_EX)) < 0) {
		*cause = xasprintf("%s/ingest/store.lock: %s", s->dir,
		    strerror(errno));
		return -1;
	}
	if ((keep = reachable(s, !p->dry_run, cause)) == NULL) {
		store_unlock(fd);
		return -1;
	}
	sweep_blobs(s, keep, p);
	sweep_partials(s, p);
	json_decref(keep);
	store_unlock(fd);
	return 0;
}

char *
store_prune_hint(struct store *s)
{
	struct store_prune p;
	char a[32], b[32], *cause = NULL;
	uint64_t freed;

	memset(&p, 0, sizeof p);
	p.age = STORE_PRUNE_AGE;
	p.dry_run = 1;
	if (store_prune(s, &p, &cause) != 0) {
		free(cause);
		return xstrdup("pulltop --prune -n shows what can be freed");
	}
	freed = p.blob_bytes + p.partial_bytes;
	fmt_bytes(a, sizeof a, freed);
	fmt_bytes(b, sizeof b, p.young_bytes);
	if (freed == 0 && p.young_bytes == 0)
		return xstrdup("pulltop --prune has nothing to free");
	if (freed == 0)
		return xasprintf("pulltop --prune --prune-age 0 frees %s of "
		    "recent partials", b);
	return xasprintf("pulltop --prune frees %s of %s%s%s%s%s%s", a,
	    p.blob_bytes ? "unused blobs" : "",
	    p.blob_bytes && p.partial_bytes ? " and " : "",
	    p.partial_bytes ? "old partials" : "",
	    p.young_bytes ? "; --prune-age 0 also " : "",
	    p.young_bytes ? b : "",
	    p.young_bytes ? " of recent partials" : "");
}

void
store_enospc_hint(struct store *s, int err, char **cause)
{
	char *hint, *c;

	if (*cause == NULL || err != ENOSPC)
		return;
	hint = store_prune_hint(s);
	c = xasprintf("%s (%s)", *cause, hint);
	free(hint);
	free(*cause);
	*cause = c;
}
