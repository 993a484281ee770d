/*
 * fuzz_toml.c - libFuzzer target for src/config's TOML reader and the two
 * readers built on it: the input is read as TOML, as a hosts.toml for
 * docker.io and as a registries.conf (then matched against a few names).
 * Checks: an error is one line "NAME:LINE: what" with LINE within the
 * text and no control characters; a tree has no key twice in a table and
 * kinds of its own; written back out as TOML (every key quoted, tables as
 * headers) it reads again into the same tree; a hosts.toml plan's
 * endpoints have an http(s) URL, an api_root that is empty or starts with
 * '/', headers without CR or LF, and a request URL that starts with the
 * endpoint's scheme and host; a registries.conf plan that is blocked has
 * no endpoint and a cause, one that is not has at least one.
 *
 * Sources: src/config/toml.c src/config/mirrors.c src/config/hosts.c src/config/regconf.c src/util/util.c
 * Check-runs: 30000
 * Packages: jansson
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "mirrors_int.h"
#include "toml.h"
#include "util.h"

static void
fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_toml: %s%s%s\n", what, detail ? ": " : "",
	    detail ? detail : "");
	abort();
}

/* cause is "name:LINE: what" with 1 <= LINE <= lines + 1, one line. */
static void
check_cause(const char *cause, const char *name, const uint8_t *data,
    size_t size)
{
	size_t n = strlen(name), i, lines = 1;
	const unsigned char *s;
	long line;
	char *end;

	if (cause == NULL || strncmp(cause, name, n) != 0 || cause[n] != ':')
		fail("a cause that does not start with the file name", cause);
	for (s = (const unsigned char *)cause; *s != '\0'; s++)
		if (*s < 0x20 || *s == 0x7f)
			fail("a control character in a cause", NULL);
	if (strlen(cause) > 1200)
		fail("a cause longer than 1200 bytes", NULL);
	for (i = 0; i < size; i++)
		lines += data[i] == '\n';
	line = strtol(cause + n + 1, &end, 10);
	if (end != cause + n + 1 && (line < 1 || (size_t)line > lines ||
	    *end != ':'))
		fail("a cause with a line outside the text", cause);
}

/* ------------------------------------------------------------ the tree */

static int
is_aot(const struct toml *v)
{
	return v->kind == TOML_ARRAY && v->nkid > 0 &&
	    v->kid[0]->kind == TOML_TABLE;
}

static int
depth_of(const struct toml *t)
{
	int i, d, best = 0;

	for (i = 0; i < t->nkid; i++) {
		d = depth_of(t->kid[i]);
		if (d > best)
			best = d;
	}
	return best + (t->kind == TOML_TABLE || is_aot(t));
}

static void
check_tree(const struct toml *t)
{
	int i, j;

	if (t->kind < TOML_STRING || t->kind > TOML_TABLE)
		fail("a value of no kind", NULL);
	if (t->kind == TOML_STRING && t->str == NULL)
		fail("a string without text", NULL);
	for (i = 0; i < t->nkid; i++) {
		if (t->kind == TOML_TABLE) {
			if (t->kid[i]->key == NULL)
				fail("a table value without a key", NULL);
			for (j = 0; j < i; j++)
				if (strcmp(t->kid[i]->key, t->kid[j]->key) == 0)
					fail("a key twice in a table",
					    t->kid[i]->key);
		}
		check_tree(t->kid[i]);
	}
}

static void
put(struct buf *b, const char *s)
{
	if (buf_append(b, s, strlen(s)) != 0)
		b->overflow = 1;
}

/* s as a basic string, every control character and '"' '\' escaped. */
static void
put_quoted(struct buf *b, const char *s)
{
	char e[8];

	put(b, "\"");
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
			snprintf(e, sizeof e, "\\u%04X", c);
			put(b, e);
		} else if (buf_append(b, s, 1) != 0)
			b->overflow = 1;
	}
	put(b, "\"");
}

static void
put_value(struct buf *b, const struct toml *v)
{
	char n[32];
	int i;

	switch (v->kind) {
	case TOML_STRING:
		put_quoted(b, v->str);
		break;
	case TOML_INT:
		snprintf(n, sizeof n, "%lld", v->num);
		put(b, n);
		break;
	case TOML_BOOL:
		put(b, v->boolean ? "true" : "false");
		break;
	case TOML_ARRAY:
		put(b, "[");
		for (i = 0; i < v->nkid; i++) {
			if (i > 0)
				put(b, ",\n");
			put_value(b, v->kid[i]);
		}
		put(b, "]");
		break;
	case TOML_TABLE:
		fail("a table inside an array", NULL);
	}
}

/* Table t at path (quoted keys joined with '.'): values, then tables. */
static void
put_table(struct buf *b, const struct toml *t, const char *path)
{
	const struct toml *v;
	struct buf sub;
	int i, j;

	for (i = 0; i < t->nkid; i++) {
		v = t->kid[i];
		if (v->kind == TOML_TABLE || is_aot(v))
			continue;
		put_quoted(b, v->key);
		put(b, " = ");
		put_value(b, v);
		put(b, "\n");
	}
	for (i = 0; i < t->nkid; i++) {
		v = t->kid[i];
		if (v->kind != TOML_TABLE && !is_aot(v))
			continue;
		buf_init(&sub, 1 << 20);
		if (*path != '\0') {
			put(&sub, path);
			put(&sub, ".");
		}
		put_quoted(&sub, v->key);
		for (j = 0; j < (v->kind == TOML_TABLE ? 1 : v->nkid); j++) {
			put(b, v->kind == TOML_TABLE ? "[" : "[[");
			put(b, buf_str(&sub));
			put(b, v->kind == TOML_TABLE ? "]\n" : "]]\n");
			put_table(b, v->kind == TOML_TABLE ? v : v->kid[j],
			    buf_str(&sub));
		}
		buf_free(&sub);
	}
}

static int
same(const struct toml *a, const struct toml *b)
{
	int i;

	if (a->kind != b->kind || a->nkid != b->nkid)
		return 0;
	switch (a->kind) {
	case TOML_STRING: return strcmp(a->str, b->str) == 0;
	case TOML_INT: return a->num == b->num;
	case TOML_BOOL: return a->boolean == b->boolean;
	case TOML_ARRAY:
		for (i = 0; i < a->nkid; i++)
			if (!same(a->kid[i], b->kid[i]))
				return 0;
		return 1;
	case TOML_TABLE:
		for (i = 0; i < a->nkid; i++) {
			const struct toml *o = toml_get(b, a->kid[i]->key);
			if (o == NULL || !same(a->kid[i], o))
				return 0;
		}
		return 1;
	}
	return 0;
}

static void
round_trip(const struct toml *t)
{
	struct toml *again;
	struct buf b;
	char *cause = NULL;

	if (depth_of(t) > TOML_MAX_PARTS)
		return;		/* headers would need more parts than allowed */
	buf_init(&b, TOML_MAX_BYTES);
	put_table(&b, t, "");
	if (b.overflow) {
		buf_free(&b);
		return;
	}
	again = toml_parse(b.len ? b.data : "", b.len, "again.toml", &cause);
	if (again == NULL)
		fail("the tree written back does not read", cause);
	if (!same(t, again))
		fail("the tree written back reads differently", NULL);
	toml_free(again);
	buf_free(&b);
}

/* ------------------------------------------------------------ readers */

static void
check_plan(const struct mirror_plan *p)
{
	const struct mirror_endpoint *e;
	char *u;
	int i, j;

	if (p->blocked != (p->blocked_cause != NULL))
		fail("blocked without a cause, or a cause unblocked", NULL);
	if (p->blocked && p->nep != 0)
		fail("a blocked plan with endpoints", NULL);
	if (!p->blocked && p->nep == 0)
		fail("a plan with no endpoint", NULL);
	for (i = 0; i < p->nep; i++) {
		e = &p->ep[i];
		if (strcmp(e->scheme, "http") != 0 &&
		    strcmp(e->scheme, "https") != 0)
			fail("an endpoint of another scheme", e->scheme);
		if (*e->api_root != '\0' && *e->api_root != '/')
			fail("an api_root not starting with /", e->api_root);
		if (!registry_name_valid(e->host) || e->origin == NULL ||
		    e->repository == NULL || *e->repository == '\0')
			fail("an endpoint without a valid host, origin or "
			    "repository", e->host);
		for (j = 0; j < e->nheader; j++)
			if (strpbrk(e->header[j].value, "\r\n") ||
			    strpbrk(e->header[j].name, "\r\n: "))
				fail("a header that could split a request",
				    e->header[j].name);
		u = mirror_url(e, NULL, "/manifests/x");
		if (strncmp(u, e->scheme, strlen(e->scheme)) != 0 ||
		    strncmp(u + strlen(e->scheme), "://", 3) != 0 ||
		    strncmp(u + strlen(e->scheme) + 3, e->host,
		    strlen(e->host)) != 0 || strpbrk(u, " \r\n") != NULL)
			fail("a request URL not at the endpoint", u);
		free(u);
	}
}

static struct mirror_plan *
plan_new(const char *registry, const char *repository)
{
	struct mirror_plan *p = xcalloc(1, sizeof *p);

	p->registry = xstrdup(registry);
	p->repository = xstrdup(repository);
	return p;
}

static void
fuzz_hosts(const uint8_t *data, size_t size)
{
	static const char name[] = "/etc/containerd/certs.d/docker.io/hosts.toml";
	struct mirror_plan *p = plan_new("docker.io", "library/alpine");
	char *cause = NULL;

	if (hosts_parse((const char *)data, size, name, p, &cause) == 0)
		check_plan(p);
	else
		check_cause(cause, name, data, size);
	free(cause);
	mirror_plan_free(p);
}

static void
fuzz_regconf(const uint8_t *data, size_t size)
{
	static const char name[] = "/etc/containers/registries.conf";
	static const char *const names[][2] = {
		{ "docker.io", "library/alpine" },
		{ "example.com", "foo/bar" },
		{ "a.b.example.com:5000", "x" },
	};
	struct regconf *rc;
	struct mirror_plan *p;
	char *cause = NULL;
	size_t i;
	int r;

	if ((rc = regconf_parse((const char *)data, size, name, &cause)) ==
	    NULL) {
		check_cause(cause, name, data, size);
		free(cause);
		return;
	}
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		p = plan_new(names[i][0], names[i][1]);
		r = regconf_plan(rc, p, &cause);
		if (r == 1)
			check_plan(p);
		else if (r < 0)
			check_cause(cause, name, data, size);
		else if (p->nep != 0)
			fail("no match, but endpoints", NULL);
		free(cause);
		cause = NULL;
		mirror_plan_free(p);
	}
	regconf_free(rc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct toml *t;
	char *cause = NULL;

	t = toml_parse((const char *)data, size, "fuzz.toml", &cause);
	if (t == NULL) {
		check_cause(cause, "fuzz.toml", data, size);
		free(cause);
		return 0;
	}
	check_tree(t);
	round_trip(t);
	toml_free(t);
	fuzz_hosts(data, size);
	fuzz_regconf(data, size);
	return 0;
}
