/*
 * fuzz_ingest.c - libFuzzer target for the parsers of containerd's ingest
 * files (src/watch/ingest.c): the first byte chooses the file ("ref",
 * "total", or a timestamp), the rest is its text, handed over
 * unterminated as read(2) gives it. Checks: a ref that parses has a
 * namespace of containerd's characters, a non-empty client ref, a kind
 * from containerd's list and a digest that is empty or valid, and prints
 * back to text that parses the same; a malformed one still keeps its
 * text; a total is positive and prints back to itself; a time is finite
 * and within the years RFC 3339 can write.
 *
 * Sources: src/watch/ingest.c src/util/util.c src/util/digest.c
 * Check-runs: 300000
 * Packages: libcrypto
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "ingest.h"

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_ingest: %s\n", what);
	abort();
}

static int
ns_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

static void
check_kind_digest(const struct ingest_ref *r)
{
	static const char *const kinds[] = {
		"", "layer", "config", "manifest", "index", "unknown", NULL,
	};
	int i;

	for (i = 0; kinds[i] != NULL; i++)
		if (strcmp(r->kind, kinds[i]) == 0)
			break;
	if (kinds[i] == NULL)
		fail("kind not one of containerd's");
	if (r->digest[0] != '\0' && !digest_valid(r->digest))
		fail("digest neither empty nor valid");
	if (r->digest[0] != '\0' && strstr(r->client, r->digest) == NULL)
		fail("digest not from the client ref");
}

static void
check_ref(const char *s, size_t n)
{
	struct ingest_ref r, again;
	const char *p;
	char *text;
	int rc = ingest_ref_parse(s, n, &r);

	if (r.client == NULL)
		fail("no client ref kept");
	check_kind_digest(&r);
	if (rc != 0) {
		if (r.ns != NULL)
			fail("malformed ref with a namespace");
		ingest_ref_free(&r);
		return;
	}
	if (r.ns == NULL || r.ns[0] == '\0' || strlen(r.ns) > 76 ||
	    r.client[0] == '\0')
		fail("parsed ref without namespace or client ref");
	for (p = r.ns; *p != '\0'; p++)
		if (!ns_char(*p))
			fail("namespace with a character containerd refuses");
	text = xasprintf("%s/%llu/%s", r.ns, (unsigned long long)r.seq,
	    r.client);
	if (ingest_ref_parse(text, strlen(text), &again) != 0 ||
	    strcmp(again.ns, r.ns) != 0 || again.seq != r.seq ||
	    strcmp(again.client, r.client) != 0 ||
	    strcmp(again.digest, r.digest) != 0)
		fail("ref does not print back to itself");
	free(text);
	ingest_ref_free(&again);
	ingest_ref_free(&r);
}

static void
check_total(const char *s, size_t n)
{
	uint64_t v, again;
	char text[32];

	if (ingest_total_parse(s, n, &v) != 0) {
		if (v != 0)
			fail("malformed total left a value");
		return;
	}
	if (v == 0 || v > (uint64_t)INT64_MAX)
		fail("total out of range");
	snprintf(text, sizeof text, "%llu", (unsigned long long)v);
	if (ingest_total_parse(text, strlen(text), &again) != 0 || again != v)
		fail("total does not print back to itself");
}

static void
check_time(const char *s, size_t n)
{
	double t;

	if (ingest_time_parse(s, n, &t) != 0) {
		if (t != 0)
			fail("malformed time left a value");
		return;
	}
	/* years 0000..9999, give or take a day of offset */
	if (!isfinite(t) || t < -62167219200.0 - 86400 ||
	    t > 253402300800.0 + 86400)
		fail("time out of RFC 3339's range");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf;

	if (size < 1)
		return 0;
	/* a copy of exactly the bytes: reading past them is caught */
	buf = malloc(size - 1 ? size - 1 : 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data + 1, size - 1);
	switch (data[0] % 3) {
	case 0:
		check_ref(buf, size - 1);
		break;
	case 1:
		check_total(buf, size - 1);
		break;
	default:
		check_time(buf, size - 1);
		break;
	}
	free(buf);
	return 0;
}
