/*
 * test_ranges.c - unit tests for a split partial (src/store/ranges.c):
 * ranges written out of order hash as the blob does, the map survives a
 * close and reopen, a map that does not match its partial is thrown away
 * with its bytes, and going back to one stream keeps the prefix; and
 * reg_content_range_parse (src/registry/xfer.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry.h"
#include "store.h"
#include "util.h"
#include "unit.h"

#define SIZE (3u << 20)

static unsigned char blob[SIZE];
static char digest[72];

static struct store *
open_store(const char *dir)
{
	struct store *s = NULL;
	char *cause = NULL;

	if (store_open(dir, &s, &cause) != 0) {
		printf("FAIL store_open: %s\n", cause);
		exit(1);
	}
	return s;
}

/* Write range i of the map whole, counting it. */
static int
fill(struct ingest *in, int i, uint64_t upto)
{
	struct store_range *r = &in->map->r[i];
	uint64_t from = r->start + r->done;

	if (store_ingest_pwrite(in, from, blob + from, upto - from) != 0)
		return -1;
	r->done = upto - r->start;
	return store_ingest_map_save(in, 0);
}

static void
test_split(const char *dir)
{
	struct store *s = open_store(dir);
	struct ingest in;
	char *cause = NULL, path[512];
	uint64_t half;
	int ok;

	ok = store_ingest_open(s, digest, SIZE, &in, &cause) == 0 &&
	    store_ingest_split(&in, 3, &cause) == 0 && in.map->n == 3 &&
	    in.map->r[2].end == SIZE;
	unit_report(ok, cause, "split in 3 ranges tiling the blob");
	/* the last range whole, the middle one half: prefix still 0 */
	half = in.map->r[1].start + (in.map->r[1].end - in.map->r[1].start) / 2;
	ok = fill(&in, 2, in.map->r[2].end) == 0 && fill(&in, 1, half) == 0 &&
	    store_ingest_prefix(&in) == 0;
	unit_report(ok, NULL, "ranges ahead do not move the prefix");
	store_ingest_close(&in);

	/* reopened: the map is back, only the prefix is hashed */
	ok = store_ingest_open(s, digest, SIZE, &in, &cause) == 0 &&
	    in.map != NULL && in.have == 0 &&
	    in.map->r[1].done == half - in.map->r[1].start;
	unit_report(ok, cause, "reopen resumes every range from its map");
	ok = fill(&in, 0, in.map->r[0].end) == 0 &&
	    store_ingest_prefix(&in) == half &&
	    store_ingest_hash_to(&in, half) == 0 && in.have == half;
	unit_report(ok, NULL, "the prefix grows through finished ranges");
	ok = fill(&in, 1, in.map->r[1].end) == 0 &&
	    store_ingest_hash_to(&in, store_ingest_prefix(&in)) == 0 &&
	    store_ingest_commit(s, &in, &cause) == 0;
	unit_report(ok, cause, "out-of-order ranges commit with the digest");
	snprintf(path, sizeof path, "%s/ingest/%s.ranges", dir, digest + 7);
	unit_report(access(path, F_OK) != 0, path, "the map goes with commit");
	store_ingest_close(&in);
	store_close(s);
}

static void
test_mismatch(const char *dir)
{
	struct store *s = open_store(dir);
	struct ingest in;
	char *cause = NULL, path[512];
	int ok;
	FILE *f;

	/* a map that counts bytes the partial does not have */
	if (store_ingest_open(s, digest, SIZE, &in, &cause) != 0 ||
	    store_ingest_split(&in, 2, &cause) != 0 || fill(&in, 1,
	    in.map->r[1].end) != 0) {
		unit_report(0, cause, "set up a split partial");
		return;
	}
	store_ingest_close(&in);
	snprintf(path, sizeof path, "%s/ingest/%s.partial", dir, digest + 7);
	ok = truncate(path, 1000) == 0;
	ok = ok && store_ingest_open(s, digest, SIZE, &in, &cause) == 0 &&
	    in.map == NULL && in.have == 0;
	unit_report(ok, cause, "a map counting past its partial is discarded");
	store_ingest_close(&in);

	/* a map whose CRC is wrong */
	snprintf(path, sizeof path, "%s/ingest/%s.ranges", dir, digest + 7);
	f = fopen(path, "w");
	fprintf(f, "pulltop-ranges 1 %s %020u 01\n%020u %020u %020u\n"
	    "crc 00000000\n", digest, SIZE, 0, SIZE, 0);
	fclose(f);
	ok = store_ingest_open(s, digest, SIZE, &in, &cause) == 0 &&
	    in.map == NULL && access(path, F_OK) != 0;
	unit_report(ok, cause, "a map with a bad CRC is discarded");

	/* back to one stream: the prefix stays, the rest goes */
	ok = store_ingest_split(&in, 2, &cause) == 0 &&
	    fill(&in, 0, 4096) == 0 && fill(&in, 1, in.map->r[1].end) == 0 &&
	    store_ingest_hash_to(&in, 4096) == 0 &&
	    store_ingest_unsplit(&in) == 0 && in.map == NULL &&
	    in.have == 4096 && access(path, F_OK) != 0 &&
	    store_ingest_write(&in, blob + 4096, SIZE - 4096) == 0 &&
	    store_ingest_commit(s, &in, &cause) == 0;
	unit_report(ok, cause, "unsplit keeps the prefix and goes on in order");
	store_ingest_close(&in);
	store_close(s);
}

static void
test_content_range(void)
{
	static const struct {
		const char *in;
		int rc;
		long long a, b, t;
	} c[] = {
		{ "bytes 0-99/100", 0, 0, 99, 100 },
		{ "bytes 5-9/*", 0, 5, 9, -1 },
		{ "bytes 5-9/9", -1, 0, 0, 0 },
		{ "bytes 9-5/100", -1, 0, 0, 0 },
		{ "bytes 5-/100", -1, 0, 0, 0 },
		{ "bytes 5-9", -1, 0, 0, 0 },
		{ "bytes 5-9/100x", -1, 0, 0, 0 },
		{ "", -1, 0, 0, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof c / sizeof c[0]; i++) {
		long long a = 0, b = 0, t = 0;
		int rc = reg_content_range_parse(c[i].in, &a, &b, &t);

		unit_report(rc == c[i].rc && (rc != 0 || (a == c[i].a &&
		    b == c[i].b && t == c[i].t)), NULL,
		    "content range '%s'", c[i].in);
	}
}

int
main(void)
{
	char dir[] = "/tmp/pulltop-unit-ranges.XXXXXX", cmd[64];
	size_t i;

	for (i = 0; i < SIZE; i++)
		blob[i] = (unsigned char)(i * 2654435761u >> 13);
	sha256_buf(blob, SIZE, digest);
	if (mkdtemp(dir) == NULL)
		return 1;
	test_split(dir);
	test_mismatch(dir);
	test_content_range();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return unit_summary();
}
