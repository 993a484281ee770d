/*
 * test_auth.c - unit tests for src/auth.c (WWW-Authenticate parsing) and
 * the pure parts of src/creds.c (config keys, the base64 "auth" field),
 * and the ratelimit-* header values (mirror.c), one table row per case.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "creds.h"
#include "registry.h"
#include "unit.h"

struct chcase {
	const char *in;
	/* expected on success; NULL scheme means "must fail" */
	const char *scheme, *realm, *service, *scope, *error;
};

static const struct chcase chcases[] = {
	{ "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\"",
	  "Bearer", "https://auth.docker.io/token", "registry.docker.io", "", "" },
	{ "Bearer realm=\"https://a/t\",service=\"s\",scope=\"repository:x/y:pull\","
	  "error=\"insufficient_scope\"",
	  "Bearer", "https://a/t", "s", "repository:x/y:pull", "insufficient_scope" },
	{ "Basic realm=\"pulltop-basic\"", "Basic", "pulltop-basic", "", "", "" },
	{ "basic realm=x", "basic", "x", "", "", "" },
	{ "  Bearer   realm = \"r\" , service = s  ", "Bearer", "r", "s", "", "" },
	{ "Bearer realm=\"a\\\"b\"", "Bearer", "a\"b", "", "", "" },
	{ "Bearer realm=https://a/t,service=s", "Bearer", "https://a/t", "s", "", "" },
	{ "Bearer unknown=\"zz\",realm=\"r\"", "Bearer", "r", "", "", "" },
	{ "Bearer", "Bearer", "", "", "", "" },
	/* several in one header: Bearer, else Basic, else the first */
	{ "Basic realm=\"b\", Bearer realm=\"t\",service=\"s\"",
	  "Bearer", "t", "s", "", "" },
	{ "Bearer realm=\"t\", Basic realm=\"b\"", "Bearer", "t", "", "", "" },
	{ "Negotiate, Basic realm=\"b\"", "Basic", "b", "", "", "" },
	{ "Negotiate", "Negotiate", "", "", "", "" },
	/* unparseable */
	{ "", NULL, NULL, NULL, NULL, NULL },
	{ "   ", NULL, NULL, NULL, NULL, NULL },
	{ "Bearer realm=\"unterminated", NULL, NULL, NULL, NULL, NULL },
	{ "Bearer realm=\"a\" junk\"", NULL, NULL, NULL, NULL, NULL },
	{ "VeryLongSchemeNameThatDoesNotFit realm=x", NULL, NULL, NULL, NULL, NULL },
	{ "Bearer =x", NULL, NULL, NULL, NULL, NULL },
	{ "\"quoted\" realm=x", NULL, NULL, NULL, NULL, NULL },
};

/* One parsed field against what was expected; the detail is what came. */
static void
field(size_t i, const char *what, const char *got, const char *want)
{
	unit_report(unit_streq(got, want), got, "challenge %zu %s", i, what);
}

static void
run_challenge(size_t i, const struct chcase *t)
{
	struct challenge c;
	int rc = auth_parse_challenge(t->in, &c);

	if (t->scheme == NULL) {
		unit_report(rc == -1, "parsed", "challenge %zu refused: %s", i,
		    t->in);
		return;
	}
	if (rc != 0) {
		unit_report(0, "refused", "challenge %zu: %s", i, t->in);
		return;
	}
	field(i, "scheme", c.scheme, t->scheme);
	field(i, "realm", c.realm, t->realm);
	field(i, "service", c.service, t->service);
	field(i, "scope", c.scope, t->scope);
	field(i, "error", c.error, t->error);
}

/* A realm one byte too long for the struct is refused, not truncated. */
static void
run_long_realm(void)
{
	struct challenge c;
	size_t n = sizeof c.realm;
	char *v = malloc(n + 32), *p;

	p = v + sprintf(v, "Bearer realm=\"");
	memset(p, 'a', n);
	strcpy(p + n, "\"");
	CHECK(auth_parse_challenge(v, &c) == -1, "over-long realm is refused");
	CHECK(strcmp(c.toolong, "realm") == 0 && c.toolong_max == n - 1,
	    "... and named as too long, with its limit");
	p[n - 1] = '"';
	p[n] = '\0';
	CHECK(auth_parse_challenge(v, &c) == 0 && strlen(c.realm) == n - 1,
	    "longest realm that fits is kept whole");
	CHECK(c.toolong[0] == '\0', "... and nothing is named too long");
	CHECK(auth_parse_challenge("Bearer realm=\"x", &c) == -1 &&
	    c.toolong[0] == '\0', "an unterminated quote is not 'too long'");
	free(v);
}

struct keycase {
	const char *key, *want;
	int match;
};

static const struct keycase keycases[] = {
	{ "127.0.0.1:5000", "127.0.0.1:5000", 1 },
	{ "https://127.0.0.1:5000", "127.0.0.1:5000", 1 },
	{ "http://127.0.0.1:5000/v1/", "127.0.0.1:5000", 1 },
	{ "127.0.0.1:5001", "127.0.0.1:5000", 0 },
	{ "127.0.0.1", "127.0.0.1:5000", 0 },
	{ "127.0.0.1:5000", "127.0.0.1", 0 },
	{ "REG.example.com", "reg.example.com", 1 },
	{ "reg.example.com.evil", "reg.example.com", 0 },
	{ CREDS_HUB_KEY, CREDS_HUB_KEY, 1 },
	{ "docker.io", CREDS_HUB_KEY, 1 },
	{ "https://index.docker.io/v1/", CREDS_HUB_KEY, 1 },
	{ "registry-1.docker.io", CREDS_HUB_KEY, 1 },
	{ "quay.io", CREDS_HUB_KEY, 0 },
	{ "", "127.0.0.1:5000", 0 },
};

static void
run_keys(void)
{
	char k[300];
	size_t i;

	for (i = 0; i < sizeof keycases / sizeof keycases[0]; i++) {
		const struct keycase *t = &keycases[i];
		unit_report(creds_key_matches(t->key, t->want) == t->match,
		    "wrong", "config key \"%s\" %s \"%s\"", t->key,
		    t->match ? "matches" : "does not match", t->want);
	}
	creds_key("registry-1.docker.io", k, sizeof k);
	CHECK_STR(k, CREDS_HUB_KEY, "creds_key for Docker Hub");
	creds_key("127.0.0.1:5000", k, sizeof k);
	CHECK_STR(k, "127.0.0.1:5000", "creds_key for another registry");
}

static void
run_decode(void)
{
	char *u, *s;

	CHECK(creds_decode_auth("dXNlcjpwYXNz", &u, &s) == 0 &&
	    unit_streq(u, "user") && unit_streq(s, "pass"), "auth user:pass");
	free(u);
	free(s);
	CHECK(creds_decode_auth("dXNlcjpwOnc=", &u, &s) == 0 &&
	    unit_streq(u, "user") && unit_streq(s, "p:w"),
	    "auth password with a colon");
	free(u);
	free(s);
	CHECK(creds_decode_auth("dXNlcjpwOnc", &u, &s) == 0 &&
	    unit_streq(s, "p:w"), "auth without its padding");
	free(u);
	free(s);
	CHECK(creds_decode_auth("dTo=", &u, &s) == 0 &&
	    unit_streq(u, "u") && unit_streq(s, ""), "auth empty password");
	free(u);
	free(s);
	CHECK(creds_decode_auth("dXNlcg==", &u, &s) == -1 && u == NULL,
	    "auth without a colon is refused");
	CHECK(creds_decode_auth("OnBhc3M=", &u, &s) == -1,
	    "auth with an empty user is refused");
	CHECK(creds_decode_auth("", &u, &s) == -1, "empty auth is refused");
	CHECK(creds_decode_auth("!!!!", &u, &s) == -1,
	    "auth that is not base64 is refused");
}

/* --creds wins without reading any config. */
static void
run_override(void)
{
	struct creds c;
	char *cause = NULL;

	setenv("DOCKER_CONFIG", "/nonexistent/pulltop-unit", 1);
	CHECK(creds_lookup("127.0.0.1:5000", "me:se:cret", &c, &cause) == 0 &&
	    unit_streq(c.user, "me") && unit_streq(c.secret, "se:cret") &&
	    unit_streq(c.source, "--creds"),
	    "--creds splits at the first colon");
	creds_free(&c);
	CHECK(creds_lookup("127.0.0.1:5000", NULL, &c, &cause) == 1,
	    "no config file: no credentials");
	free(cause);
}

/* ratelimit-limit / ratelimit-remaining: "N;w=SECONDS" */
static void
run_ratelimit(void)
{
	static const struct {
		const char *in;
		int ok;
		long n, w;
	} c[] = {
		{ "100;w=21600", 1, 100, 21600 },
		{ "87;w=21600", 1, 87, 21600 },
		{ " 0;w=60", 1, 0, 60 },
		{ "200", 1, 200, 0 },
		{ "5000;w=3600;comment=\"x\"", 1, 5000, 3600 },
		{ "100;w=abc", 1, 100, 0 },
		{ "100;w=-5", 1, 100, 0 },
		{ "", 0, 0, 0 },
		{ "abc", 0, 0, 0 },
		{ "-1;w=60", 0, 0, 0 },
		{ "12x;w=60", 0, 0, 0 },
		{ "99999999999999999999999", 0, 0, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof c / sizeof c[0]; i++) {
		long n = -7, w = -7;
		int r = reg_ratelimit_parse(c[i].in, &n, &w);
		char d[128];

		snprintf(d, sizeof d, "rc %d n %ld w %ld", r, n, w);
		unit_report(c[i].ok ? r == 0 && n == c[i].n && w == c[i].w :
		    r == -1, d, "ratelimit '%s'", c[i].in);
	}
}

int
main(void)
{
	size_t i;

	for (i = 0; i < sizeof chcases / sizeof chcases[0]; i++)
		run_challenge(i, &chcases[i]);
	run_long_realm();
	run_keys();
	run_decode();
	run_override();
	run_ratelimit();
	return unit_summary();
}
