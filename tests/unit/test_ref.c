/*
 * test_ref.c - unit tests for src/ref.c: docker's reference grammar and
 * normalization, one table row per case.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci.h"
#include "unit.h"

#define H "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define H_UPPER "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
#define X16 "0123456789abcdef"
#define X128 X16 X16 X16 X16 X16 X16 X16 X16
#define X255 X128 X16 X16 X16 X16 X16 X16 X16 "0123456789abcde"

struct tcase {
	const char *in;
	/* expected on success */
	const char *domain, *path, *tag, *digest, *full;
	/* expected error substring; NULL for a valid reference */
	const char *err;
};

#define OK(in, d, p, t, g, f)	{ in, d, p, t, g, f, NULL }
#define BAD(in, e)		{ in, NULL, NULL, NULL, NULL, NULL, e }

static const struct tcase cases[] = {
	/* docker hub normalization */
	OK("alpine", "docker.io", "library/alpine", "latest", NULL,
	   "docker.io/library/alpine:latest"),
	OK("alpine:3.20", "docker.io", "library/alpine", "3.20", NULL,
	   "docker.io/library/alpine:3.20"),
	OK("library/alpine", "docker.io", "library/alpine", "latest", NULL,
	   "docker.io/library/alpine:latest"),
	OK("docker.io/alpine", "docker.io", "library/alpine", "latest", NULL,
	   "docker.io/library/alpine:latest"),
	OK("docker.io/library/alpine:edge", "docker.io", "library/alpine",
	   "edge", NULL, "docker.io/library/alpine:edge"),
	OK("index.docker.io/library/alpine", "docker.io", "library/alpine",
	   "latest", NULL, "docker.io/library/alpine:latest"),
	OK("index.docker.io/alpine", "docker.io", "library/alpine", "latest",
	   NULL, "docker.io/library/alpine:latest"),
	OK("user/app:tag", "docker.io", "user/app", "tag", NULL,
	   "docker.io/user/app:tag"),
	OK("docker.io/user/app", "docker.io", "user/app", "latest", NULL,
	   "docker.io/user/app:latest"),
	/* single components are never domains (docker's familiar-name fast path) */
	OK("localhost", "docker.io", "library/localhost", "latest", NULL,
	   "docker.io/library/localhost:latest"),
	OK("example.com", "docker.io", "library/example.com", "latest", NULL,
	   "docker.io/library/example.com:latest"),
	OK("localhost:5000", "docker.io", "library/localhost", "5000", NULL,
	   "docker.io/library/localhost:5000"),
	/* other registries: no library/ prefix */
	OK("localhost/app", "localhost", "app", "latest", NULL,
	   "localhost/app:latest"),
	OK("localhost:5000/app", "localhost:5000", "app", "latest", NULL,
	   "localhost:5000/app:latest"),
	OK("example.com/alpine", "example.com", "alpine", "latest", NULL,
	   "example.com/alpine:latest"),
	OK("127.0.0.1:5000/team/app:latest", "127.0.0.1:5000", "team/app",
	   "latest", NULL, "127.0.0.1:5000/team/app:latest"),
	OK("[::1]:5000/app", "[::1]:5000", "app", "latest", NULL,
	   "[::1]:5000/app:latest"),
	OK("[2001:DB8::1]/app:v1", "[2001:DB8::1]", "app", "v1", NULL,
	   "[2001:DB8::1]/app:v1"),
	OK("my-registry.local:5000/a/b/c/d:1", "my-registry.local:5000",
	   "a/b/c/d", "1", NULL, "my-registry.local:5000/a/b/c/d:1"),
	OK("Foo/bar", "Foo", "bar", "latest", NULL, "Foo/bar:latest"),
	/* digests */
	OK("host:5000/ns/app@sha256:" H, "host:5000", "ns/app", NULL,
	   "sha256:" H, "host:5000/ns/app@sha256:" H),
	OK("alpine@sha256:" H, "docker.io", "library/alpine", NULL,
	   "sha256:" H, "docker.io/library/alpine@sha256:" H),
	OK("alpine:3.20@sha256:" H, "docker.io", "library/alpine", "3.20",
	   "sha256:" H, "docker.io/library/alpine:3.20@sha256:" H),
	/* separators and tags */
	OK("ns/my__app", "docker.io", "ns/my__app", "latest", NULL,
	   "docker.io/ns/my__app:latest"),
	OK("ns/my---app", "docker.io", "ns/my---app", "latest", NULL,
	   "docker.io/ns/my---app:latest"),
	OK("ns/my.app_v2-x", "docker.io", "ns/my.app_v2-x", "latest", NULL,
	   "docker.io/ns/my.app_v2-x:latest"),
	OK("app:v1.2.3-rc.1_build", "docker.io", "library/app",
	   "v1.2.3-rc.1_build", NULL, "docker.io/library/app:v1.2.3-rc.1_build"),
	OK("app:_x", "docker.io", "library/app", "_x", NULL,
	   "docker.io/library/app:_x"),
	OK("a/b:TAG", "docker.io", "a/b", "TAG", NULL, "docker.io/a/b:TAG"),
	OK("app:" X128, "docker.io", "library/app", X128, NULL,
	   "docker.io/library/app:" X128),
	OK(H ":tag", "docker.io", "library/" H, "tag", NULL,
	   "docker.io/library/" H ":tag"),
	OK("localhost/" X255, "localhost", X255, "latest", NULL,
	   "localhost/" X255 ":latest"),

	/* errors */
	BAD("", "at least one component"),
	BAD("Alpine", "must be lowercase"),
	BAD("docker.io/Alpine", "must be lowercase"),
	BAD("user/App:1", "must be lowercase"),
	BAD("localhost:5000/App", "must be lowercase"),
	BAD(H, "must be canonical"),
	BAD("a:b:c", "invalid tag"),
	BAD("alpine/", "invalid reference format"),
	BAD("/alpine", "invalid reference format"),
	BAD("a//b", "invalid reference format"),
	BAD("docker.io/", "invalid reference format"),
	BAD("-leading", "invalid reference format"),
	BAD("trailing-", "invalid reference format"),
	BAD("a___b", "invalid reference format"),
	BAD("a..b", "invalid reference format"),
	BAD("a_-b", "invalid reference format"),
	BAD("alp ine", "invalid reference format"),
	BAD("foo.com:/app", "invalid reference format"),
	BAD("foo.com:50x/app", "invalid reference format"),
	BAD("-foo.com/app", "invalid reference format"),
	BAD("foo-.com/app", "invalid reference format"),
	BAD("foo..com/app", "invalid reference format"),
	BAD("foo_bar.com/app", "invalid reference format"),
	BAD("[]:5000/app", "invalid reference format"),
	BAD("[::g]/app", "invalid reference format"),
	BAD("[::1/app", "invalid reference format"),
	BAD("alpine:", "invalid tag"),
	BAD("alpine:-x", "invalid tag"),
	BAD("alpine:.x", "invalid tag"),
	BAD("alpine:a+b", "invalid tag"),
	BAD("alpine:" X128 "x", "invalid tag"),
	BAD("localhost/" X255 "f", "reference is too long"),
	BAD("alpine@", "invalid digest"),
	BAD("alpine:latest@", "invalid digest"),
	BAD("alpine@" H, "invalid digest"),
	BAD("alpine@sha256:abc", "invalid digest"),
	BAD("alpine@sha256:" H "0", "invalid digest"),
	BAD("alpine@sha256:" H_UPPER, "invalid digest"),
	BAD("alpine@sha256:" H "@sha256:" H, "invalid digest"),
	BAD("alpine@sha512:" H H, "unsupported digest algorithm"),
};

static int zeroed(const struct ref *r)
{
	return !r->domain && !r->path && !r->tag && !r->digest && !r->full;
}

/* Append "field: got .., want ..; " to detail when a field differs. */
static void field(char *detail, size_t n, const char *what,
		  const char *got, const char *want)
{
	size_t len = strlen(detail);

	if (unit_streq(got, want))
		return;
	snprintf(detail + len, n - len, "%s%s: %s", len ? "; " : "", what,
		 unit_str_detail(got, want));
}

static void run_case(size_t i, const struct tcase *c)
{
	struct ref r;
	char detail[2048] = "";
	char *cause = NULL;
	int rc = ref_parse(c->in, &r, &cause);

	if (c->err) {
		if (rc != -1)
			snprintf(detail, sizeof(detail),
				 "accepted as \"%s\", want error \"%s\"",
				 r.full ? r.full : "", c->err);
		else if (!cause || !strstr(cause, c->err))
			snprintf(detail, sizeof(detail),
				 "cause \"%s\", want \"%s\"",
				 cause ? cause : "NULL", c->err);
		else if (strchr(cause, '\n'))
			snprintf(detail, sizeof(detail), "cause not one line");
		else if (!zeroed(&r))
			snprintf(detail, sizeof(detail), "ref not zeroed");
	} else if (rc != 0) {
		snprintf(detail, sizeof(detail), "rejected: %s",
			 cause ? cause : "(no cause)");
	} else {
		field(detail, sizeof(detail), "domain", r.domain, c->domain);
		field(detail, sizeof(detail), "path", r.path, c->path);
		field(detail, sizeof(detail), "tag", r.tag, c->tag);
		field(detail, sizeof(detail), "digest", r.digest, c->digest);
		field(detail, sizeof(detail), "full", r.full, c->full);
	}
	/* Long inputs are shortened; the index keeps the names unique. */
	unit_report(detail[0] == '\0', detail, "ref_parse %02zu \"%.60s%s\"",
		    i, c->in, strlen(c->in) > 60 ? "..." : "");
	if (rc == 0)
		ref_free(&r);
	free(cause);
}

static void run_accessors(void)
{
	struct ref r, z;
	char *cause = NULL;

	memset(&z, 0, sizeof(z));
	ref_free(&z);
	CHECK(zeroed(&z), "ref_free on a zeroed struct");

	if (ref_parse("alpine:3.20@sha256:" H, &r, &cause) != 0) {
		unit_report(0, cause, "ref_parse for accessor tests");
		free(cause);
		return;
	}
	CHECK_STR(ref_registry_host(&r), "registry-1.docker.io",
		  "ref_registry_host docker.io");
	CHECK_STR(ref_reference(&r), "sha256:" H,
		  "ref_reference prefers the digest");
	ref_free(&r);
	CHECK(zeroed(&r), "ref_free zeroes the struct");
	ref_free(&r);
	CHECK(zeroed(&r), "ref_free twice is safe");

	if (ref_parse("localhost:5000/app:v2", &r, &cause) != 0) {
		unit_report(0, cause, "ref_parse for accessor tests");
		free(cause);
		return;
	}
	CHECK_STR(ref_registry_host(&r), "localhost:5000",
		  "ref_registry_host other registry");
	CHECK_STR(ref_reference(&r), "v2", "ref_reference falls back to tag");
	ref_free(&r);

	CHECK(ref_parse("Alpine", &r, NULL) == -1 && zeroed(&r),
	      "ref_parse error with a NULL cause");
}

int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(i, &cases[i]);
	run_accessors();
	return unit_summary();
}
