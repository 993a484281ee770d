/*
 * fuzz_gc.c - libFuzzer target for the store's walk of what index.json
 * reaches (gc_mark, through store_list and a dry store_prune): manifests
 * and indexes as another tool may have left them in a layout. The input
 * is up to four JSON documents separated by "\n--\n", written as blobs;
 * "@1".."@3" in a document stand for the digest of that later document,
 * so nested indexes are reachable. index.json names the first. Every
 * digest the walk marks validates, a failure has a one-line cause, and a
 * dry prune deletes nothing.
 *
 * Sources: src/store/gc.c src/store/list.c src/store/store.c src/store/index.c src/store/lease.c src/store/space.c src/store/ranges.c src/store/durable.c src/oci/manifest.c src/oci/ref.c src/util/digest.c src/util/util.c
 * Check-runs: 5000
 * Packages: jansson libcrypto zlib
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "store_int.h"
#include "util.h"

#define NDOC 4

static char dir[64];
static struct store *st;

static void
fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_gc: %s%s%s\n", what, detail ? ": " : "",
	    detail ? detail : "");
	abort();
}

static void
check_cause(const char *cause)
{
	const unsigned char *p;

	if (cause == NULL || *cause == '\0')
		fail("failure without a cause", NULL);
	for (p = (const unsigned char *)cause; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			fail("cause holds a control character", cause);
}

static void
cleanup(void)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);

	store_close(st);
	if (system(cmd) != 0) {
		/* nothing more to do at exit */
	}
	free(cmd);
}

/* doc with "@k" replaced by the digest of document k (k > i) */
static char *
resolve(const char *doc, size_t len, char (*dg)[72], int i, size_t *out)
{
	char *o = xmalloc(len * 72 + 1);
	size_t j, n = 0;

	for (j = 0; j < len; j++) {
		int k = j + 1 < len && doc[j] == '@' ? doc[j + 1] - '0' : -1;
		if (k > i && k < NDOC && dg[k][0] != '\0') {
			memcpy(o + n, dg[k], 71);
			n += 71;
			j++;
		} else
			o[n++] = doc[j];
	}
	*out = n;
	return o;
}

static void
put(const char *name, const void *p, size_t n)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		fail("cannot write", path);
	free(path);
}

/* Empty blobs/sha256 (no fork: this runs for every input). */
static void
reset(void)
{
	char *path = xasprintf("%s/blobs/sha256", dir);
	DIR *d = opendir(path);
	struct dirent *e;

	if (d == NULL)
		fail("cannot open", path);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	free(path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *doc[NDOC] = { 0 }, *p = (const char *)data, *end = p + size;
	size_t len[NDOC] = { 0 }, n;
	char dg[NDOC][72], name[80], *r, *cause = NULL, *idx;
	struct store_list l;
	struct store_prune pr;
	json_t *set, *v;
	const char *k;
	int i, nd = 0;

	if (st == NULL) {
		/* a tmpfs when there is one: every input writes files */
		snprintf(dir, sizeof dir, "%s/fuzz_gc.XXXXXX",
		    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
		if (mkdtemp(dir) == NULL || store_open(dir, &st, &cause) != 0)
			fail("cannot make a store", cause ? cause : dir);
		atexit(cleanup);
	}
	reset();
	while (nd < NDOC && p <= end) {
		const char *sep = memmem(p, (size_t)(end - p), "\n--\n", 4);
		doc[nd] = p;
		len[nd++] = sep ? (size_t)(sep - p) : (size_t)(end - p);
		p = sep ? sep + 4 : end + 1;
	}
	memset(dg, 0, sizeof dg);
	for (i = nd - 1; i >= 0; i--) {
		r = resolve(doc[i], len[i], dg, i, &n);
		sha256_buf(r, n, dg[i]);
		snprintf(name, sizeof name, "blobs/sha256/%s", dg[i] + 7);
		put(name, r, n);
		free(r);
	}
	idx = xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
	    "\"application/vnd.oci.image.index.v1+json\",\"digest\":\"%s\","
	    "\"size\":%zu,\"annotations\":{\"" REFNAME "\":\"x\"}}]}", dg[0],
	    len[0]);
	put("index.json", idx, strlen(idx));
	free(idx);

	set = json_object();
	if (gc_mark(st, dg[0], NULL, set, 0, &cause) != 0) {
		check_cause(cause);
		free(cause);
		cause = NULL;
	}
	json_object_foreach(set, k, v)
		if (!digest_valid(k))
			fail("marked an invalid digest", k);
	json_decref(set);
	if (store_list(st, &l, &cause) != 0)
		fail("list failed", cause);
	if (l.n != 1 || l.entries[0].nblobs < 1)
		fail("list lost the entry", NULL);
	store_list_free(&l);
	memset(&pr, 0, sizeof pr);
	pr.dry_run = 1;
	if (store_prune(st, &pr, &cause) != 0) {
		check_cause(cause);
		free(cause);
	}
	for (i = 0; i < nd; i++) {
		char *bp = store_blob_path(st, dg[i]);
		if (access(bp, F_OK) != 0)
			fail("a dry prune deleted a blob", dg[i]);
		free(bp);
	}
	return 0;
}
