/*
 * test_ingest.c - unit tests for src/watch/ingest.c: the text of
 * containerd's ingest files as containerd 1.6 writes them, and the
 * malformed ones a watcher must survive.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"
#include "unit.h"

#define H "c32540e95d14525dd767fe8cb3ef2b84805e142df5c548f68c43373916c66903"

struct rcase {
	const char *in;
	int rc;
	const char *ns, *client, *kind, *digest;
	unsigned long long seq;
};

static const struct rcase refs[] = {
	{ "k8s.io/12/layer-sha256:" H, 0, "k8s.io", "layer-sha256:" H,
	  "layer", "sha256:" H, 12 },
	{ "default/3/manifest-docker.io/library/alpine:3.20@sha256:" H, 0,
	  "default", "manifest-docker.io/library/alpine:3.20@sha256:" H,
	  "manifest", "sha256:" H, 3 },
	{ "moby/7/config-sha256:" H, 0, "moby", "config-sha256:" H, "config",
	  "sha256:" H, 7 },
	{ "buildkit/1/some-ref", 0, "buildkit", "some-ref", "", "", 1 },
	{ "ns/1/layer-sha256:" H "0", 0, "ns", "layer-sha256:" H "0", "layer",
	  "", 1 },
	{ "ns/1/layer-sha256:C32540E95D14525DD767FE8CB3EF2B84805E142DF5C548F68C43373916C66903",
	  0, "ns", NULL, "layer", "", 1 },
	/* malformed: what can be read is kept */
	{ "layer-sha256:" H, -1, NULL, "layer-sha256:" H, "layer",
	  "sha256:" H, 0 },
	{ "k8s.io/x/layer-sha256:" H, -1, NULL, NULL, "", "sha256:" H, 0 },
	{ "k8s.io//layer", -1, NULL, NULL, "", "", 0 },
	{ "k8s.io/1/", -1, NULL, NULL, "", "", 0 },
	{ "bad ns/1/layer-x", -1, NULL, NULL, "", "", 0 },
	{ "", -1, NULL, "", "", "", 0 },
	{ "ns/99999999999999999999999/x", -1, NULL, NULL, "", "", 0 },
};

static void
test_refs(void)
{
	size_t i;

	for (i = 0; i < sizeof refs / sizeof refs[0]; i++) {
		const struct rcase *c = &refs[i];
		struct ingest_ref r;
		int rc = ingest_ref_parse(c->in, strlen(c->in), &r);
		int ok = rc == c->rc && r.client != NULL &&
		    (c->ns == NULL ? r.ns == NULL :
		    r.ns != NULL && strcmp(r.ns, c->ns) == 0) &&
		    (c->client == NULL || strcmp(r.client, c->client) == 0) &&
		    strcmp(r.kind, c->kind) == 0 &&
		    strcmp(r.digest, c->digest) == 0 &&
		    (rc != 0 || r.seq == c->seq);

		unit_report(ok, r.client ? r.client : "(null)", "ref '%s'",
		    c->in);
		ingest_ref_free(&r);
	}
}

static void
test_ref_unterminated(void)
{
	char buf[80 + 64];
	struct ingest_ref r;

	/* read(2) gives no NUL: only n bytes may be looked at */
	memcpy(buf, "ns/1/layer-sha256:" H "XXXXXXXX", 18 + 64 + 8);
	ingest_ref_parse(buf, 18 + 64, &r);
	unit_report(strcmp(r.digest, "sha256:" H) == 0, r.client,
	    "ref: only n bytes are read");
	ingest_ref_free(&r);
}

struct tcase {
	const char *in;
	int rc;
	unsigned long long v;
};

static const struct tcase totals[] = {
	{ "4195819", 0, 4195819 },
	{ "4195819\n", 0, 4195819 },
	{ "9223372036854775807", 0, 9223372036854775807ull },
	{ "9223372036854775808", -1, 0 },
	{ "0", -1, 0 },
	{ "-5", -1, 0 },
	{ "12ab", -1, 0 },
	{ "", -1, 0 },
	{ " 12", -1, 0 },
};

static void
test_totals(void)
{
	size_t i;

	for (i = 0; i < sizeof totals / sizeof totals[0]; i++) {
		uint64_t v;
		int rc = ingest_total_parse(totals[i].in, strlen(totals[i].in),
		    &v);

		unit_report(rc == totals[i].rc && v == totals[i].v, "",
		    "total '%s'", totals[i].in);
	}
}

struct timecase {
	const char *in;
	int rc;
	double t;
};

static const struct timecase times[] = {
	/* date -u -d 2026-12-01T21:33:50Z +%s: 1796160830 */
	{ "2026-12-01T21:33:50.034205342Z", 0, 1796160830.034205342 },
	{ "2026-12-01T21:33:50Z", 0, 1796160830 },
	{ "2026-12-01T23:33:50.5+02:00", 0, 1796160830.5 },
	{ "2026-12-01T20:03:50-01:30", 0, 1796160830 },
	{ "2024-02-29T00:00:00Z", 0, 1709164800 },
	{ "2023-02-29T00:00:00Z", -1, 0 },
	{ "2026-13-01T00:00:00Z", -1, 0 },
	{ "2026-12-01T21:33:50", -1, 0 },
	{ "2026-12-01T21:33:50.Z", -1, 0 },
	{ "2026-12-01 21:33:50Z", -1, 0 },
	{ "2026-12-01T21:33:50+0200", -1, 0 },
	{ "garbage", -1, 0 },
	{ "", -1, 0 },
};

static void
test_times(void)
{
	size_t i;

	for (i = 0; i < sizeof times / sizeof times[0]; i++) {
		double t;
		int rc = ingest_time_parse(times[i].in, strlen(times[i].in), &t);
		char got[64];

		snprintf(got, sizeof got, "rc %d, %.9f", rc, t);
		unit_report(rc == times[i].rc && fabs(t - times[i].t) < 1e-6,
		    got, "time '%s'", times[i].in);
	}
}

int
main(void)
{
	test_refs();
	test_ref_unterminated();
	test_totals();
	test_times();
	return unit_summary();
}
