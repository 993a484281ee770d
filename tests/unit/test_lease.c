/*
 * test_lease.c - store_has_blobs (src/store/store.c, lease.c) on a store
 * in a temporary folder: what it says of blobs there, absent or of the
 * wrong size, and the one write it makes to this process's lease, each
 * digest once however often it is asked.
 */
#include "store.h"
#include "util.h"
#include "unit.h"

#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp[] = "/tmp/pulltop-test-lease.XXXXXX";

/* The text of this process's lease, or NULL. (malloc'd) */
static char *
lease_text(void)
{
	char *dir = xasprintf("%s/ingest", tmp), *path = NULL, *text = NULL;
	struct dirent *e;
	DIR *d = opendir(dir);
	FILE *f;
	long n;

	while (d != NULL && (e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "lease-", 6) == 0 && path == NULL)
			path = xasprintf("%s/%s", dir, e->d_name);
	if (d != NULL)
		closedir(d);
	if (path != NULL && (f = fopen(path, "r")) != NULL) {
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		rewind(f);
		text = xcalloc(1, (size_t)n + 1);
		if (fread(text, 1, (size_t)n, f) != (size_t)n)
			text[0] = '\0';
		fclose(f);
	}
	free(path);
	free(dir);
	return text;
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

int
main(void)
{
	struct store *s = NULL;
	char *cause = NULL, *text, a[72], b[72], *rm;
	const char *digests[5];
	uint64_t sizes[5];
	int there[5] = { -1, -1, -1, -1, -1 }, r;

	if (mkdtemp(tmp) == NULL || store_open(tmp, &s, &cause) != 0) {
		unit_report(0, cause, "open a store in %s", tmp);
		return unit_summary();
	}
	sha256_buf("layer a", 7, a);
	sha256_buf("layer b", 7, b);
	r = store_put_small(s, a, "layer a", 7, &cause);
	CHECK(r == 0, "put a small blob");

	digests[0] = a;		/* there */
	sizes[0] = 7;
	digests[1] = b;		/* not there */
	sizes[1] = 7;
	digests[2] = a;		/* there, asked twice */
	sizes[2] = 7;
	digests[3] = a;		/* there, but not of this size */
	sizes[3] = 8;
	digests[4] = b;
	sizes[4] = 7;
	store_has_blobs(s, digests, sizes, 5, there);
	CHECK(there[0] == 1 && there[2] == 1, "a blob there is there");
	CHECK(there[1] == 0 && there[4] == 0, "a blob not there is not");
	CHECK(there[3] == 0, "a blob of another size is not there");

	text = lease_text();
	unit_report(text != NULL && count(text, a) == 1 && count(text, b) == 1 &&
	    count(text, "\n") == 2, text ? text : "no lease",
	    "the lease names each digest once");
	free(text);

	/* asked again: nothing more is written */
	store_has_blobs(s, digests, sizes, 2, there);
	text = lease_text();
	unit_report(text != NULL && count(text, "\n") == 2,
	    text ? text : "no lease", "a digest held is not written again");
	free(text);
	CHECK(store_has_blob(s, a, 7) == 1 && store_has_blob(s, b, 7) == 0,
	    "store_has_blob says the same for one");

	store_close(s);
	free(cause);
	rm = xasprintf("rm -rf '%s'", tmp);
	if (system(rm) != 0)
		unit_report(0, rm, "remove %s", tmp);
	free(rm);
	return unit_summary();
}
