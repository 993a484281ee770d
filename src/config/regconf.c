/*
 * regconf.c - containers-registries.conf(5) as containers/image's
 * pkg/sysregistriesv2 reads it: [[registry]] tables (v1's
 * [registries.block] and [registries.insecure] turned into them), checked
 * as it checks them, the longest matching prefix found, and its mirrors
 * and location turned into endpoints with the repository rewritten.
 */
#include "config.h"
#include "mirrors_int.h"
#include "toml.h"
#include "util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REGCONF_MAX_REGISTRIES	1000
#define REGCONF_MAX_MIRRORS	(MIRROR_MAX_ENDPOINTS - 1)

struct rc_mirror {
	char *location;
	int insecure;
	enum mirror_pull_from pull_from;
	int pull_from_set;
	int line;
};

struct rc_registry {
	char *prefix, *location;
	int insecure, blocked, by_digest_only;
	int line;
	struct rc_mirror *mirror;
	int nmirror;
};

struct regconf {
	char *path;
	struct rc_registry *reg;
	int nreg;
};

static int __attribute__((format(printf, 3, 4)))
rfail(char **cause, const char *path_line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cause_at(cause, path_line, fmt, ap);
	va_end(ap);
	return -1;
}

/* "PATH:LINE" of value v, in a static-free way: the caller frees. */
static char *
at_line(const struct regconf *rc, int line)
{
	return xasprintf("%s:%d", rc->path, line);
}

static int __attribute__((format(printf, 4, 5)))
fail_at(const struct regconf *rc, int line, char **cause, const char *fmt,
    ...)
{
	va_list ap;
	char *msg, *where = at_line(rc, line);

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	rfail(cause, where, "%s", msg);
	free(msg);
	free(where);
	return -1;
}

void
regconf_free(struct regconf *rc)
{
	int i, j;

	if (rc == NULL)
		return;
	for (i = 0; i < rc->nreg; i++) {
		for (j = 0; j < rc->reg[i].nmirror; j++)
			free(rc->reg[i].mirror[j].location);
		free(rc->reg[i].mirror);
		free(rc->reg[i].prefix);
		free(rc->reg[i].location);
	}
	free(rc->reg);
	free(rc->path);
	free(rc);
}

/* ------------------------------------------------------------ typed keys */

static int
get_string(const struct regconf *rc, const struct toml *t, const char *key,
    char **out, char **cause)
{
	const struct toml *v = toml_get(t, key);

	if (v == NULL)
		return 0;
	if (v->kind != TOML_STRING)
		return fail_at(rc, v->line, cause, "%s: expected a string, "
		    "not %s", key, toml_kind_name(v->kind));
	free(*out);
	*out = xstrdup(v->str);
	return 0;
}

static int
get_bool(const struct regconf *rc, const struct toml *t, const char *key,
    int *out, char **cause)
{
	const struct toml *v = toml_get(t, key);

	if (v == NULL)
		return 0;
	if (v->kind != TOML_BOOL)
		return fail_at(rc, v->line, cause, "%s: expected true or "
		    "false, not %s", key, toml_kind_name(v->kind));
	*out = v->boolean;
	return 0;
}

/* The number of strings in array key of t (0 when absent), or -1. */
static int
get_strings(const struct regconf *rc, const struct toml *t, const char *key,
    char **cause)
{
	const struct toml *v = toml_get(t, key);
	int i;

	if (v == NULL)
		return 0;
	if (v->kind == TOML_ARRAY) {
		for (i = 0; i < v->nkid; i++)
			if (v->kid[i]->kind != TOML_STRING)
				break;
		if (i == v->nkid)
			return v->nkid;
	}
	return fail_at(rc, v->line, cause, "%s: expected an array of strings",
	    key);
}

/*
 * containers/image's parseLocation: trailing slashes off, no scheme.
 * An empty result is allowed here; the callers say when it is not.
 */
static int
location(const struct regconf *rc, int line, char **s, char **cause)
{
	char clean[256];
	size_t n;

	if (*s == NULL)
		*s = xstrdup("");
	n = strlen(*s);
	while (n > 0 && (*s)[n - 1] == '/')
		(*s)[--n] = '\0';
	if (strncmp(*s, "http://", 7) == 0 || strncmp(*s, "https://", 8) == 0) {
		sanitize(clean, sizeof clean, *s);
		return fail_at(rc, line, cause, "invalid location '%s': URI "
		    "schemes are not supported", clean);
	}
	return 0;
}

/* ------------------------------------------------------------ reading */

static int
read_mirror(struct regconf *rc, const struct toml *t, struct rc_mirror *m,
    int by_digest_only, char **cause)
{
	char *pf = NULL, clean[64];
	int rc_ = -1;

	m->line = t->line;
	if (t->kind != TOML_TABLE)
		return fail_at(rc, t->line, cause, "mirror: expected "
		    "[[registry.mirror]] tables");
	if (get_string(rc, t, "location", &m->location, cause) != 0 ||
	    get_bool(rc, t, "insecure", &m->insecure, cause) != 0 ||
	    get_string(rc, t, "pull-from-mirror", &pf, cause) != 0 ||
	    location(rc, t->line, &m->location, cause) != 0)
		goto out;
	if (*m->location == '\0') {
		fail_at(rc, t->line, cause, "[[registry.mirror]] has no "
		    "location");
		goto out;
	}
	if (pf != NULL && *pf != '\0') {
		if (by_digest_only) {
			fail_at(rc, t->line, cause, "pull-from-mirror and the "
			    "registry's mirror-by-digest-only cannot both be "
			    "set");
			goto out;
		}
		m->pull_from_set = 1;
		if (strcmp(pf, "all") == 0)
			m->pull_from = MIRROR_PULL_ALL;
		else if (strcmp(pf, "digest-only") == 0)
			m->pull_from = MIRROR_PULL_DIGEST_ONLY;
		else if (strcmp(pf, "tag-only") == 0)
			m->pull_from = MIRROR_PULL_TAG_ONLY;
		else {
			sanitize(clean, sizeof clean, pf);
			fail_at(rc, t->line, cause, "pull-from-mirror: '%s' is "
			    "not all, digest-only or tag-only", clean);
			goto out;
		}
	}
	if (by_digest_only)
		m->pull_from = MIRROR_PULL_DIGEST_ONLY;
	rc_ = 0;
out:
	free(pf);
	return rc_;
}

static int
read_registry(struct regconf *rc, const struct toml *t, struct rc_registry *r,
    char **cause)
{
	const struct toml *mirrors = toml_get(t, "mirror");
	char *pf = NULL;
	int i, rc_ = -1;

	r->line = t->line;
	if (t->kind != TOML_TABLE)
		return fail_at(rc, t->line, cause, "registry: expected "
		    "[[registry]] tables");
	if (get_string(rc, t, "prefix", &r->prefix, cause) != 0 ||
	    get_string(rc, t, "location", &r->location, cause) != 0 ||
	    get_bool(rc, t, "insecure", &r->insecure, cause) != 0 ||
	    get_bool(rc, t, "blocked", &r->blocked, cause) != 0 ||
	    get_bool(rc, t, "mirror-by-digest-only", &r->by_digest_only,
	    cause) != 0 ||
	    get_string(rc, t, "pull-from-mirror", &pf, cause) != 0 ||
	    location(rc, t->line, &r->location, cause) != 0 ||
	    location(rc, t->line, &r->prefix, cause) != 0)
		goto out;
	if (pf != NULL && *pf != '\0') {
		fail_at(rc, t->line, cause, "pull-from-mirror is only for "
		    "[[registry.mirror]], not for the registry itself");
		goto out;
	}
	if (*r->prefix == '\0' && *r->location == '\0') {
		fail_at(rc, t->line, cause, "[[registry]] has neither prefix "
		    "nor location");
		goto out;
	}
	if (*r->prefix == '\0') {
		free(r->prefix);
		r->prefix = xstrdup(r->location);
	} else if (strncmp(r->prefix, "*.", 2) != 0 && *r->location == '\0') {
		fail_at(rc, t->line, cause, "[[registry]] has no location and "
		    "its prefix is not of the form *.example.com");
		goto out;
	}
	if (strncmp(r->prefix, "*.", 2) == 0 && strpbrk(r->prefix, "/@:")) {
		fail_at(rc, t->line, cause, "wildcard prefix '%s' must be of "
		    "the form *.example.com", r->prefix);
		goto out;
	}
	if (mirrors != NULL && (mirrors->kind != TOML_ARRAY ||
	    (mirrors->nkid > 0 && mirrors->kid[0]->kind != TOML_TABLE))) {
		fail_at(rc, mirrors->line, cause, "mirror: expected "
		    "[[registry.mirror]] tables");
		goto out;
	}
	if (mirrors != NULL && mirrors->nkid > REGCONF_MAX_MIRRORS) {
		fail_at(rc, mirrors->line, cause, "more than %d mirrors",
		    REGCONF_MAX_MIRRORS);
		goto out;
	}
	r->mirror = xcalloc(mirrors ? (size_t)mirrors->nkid + 1 : 1,
	    sizeof *r->mirror);
	for (i = 0; mirrors != NULL && i < mirrors->nkid; i++) {
		r->nmirror++;
		if (read_mirror(rc, mirrors->kid[i], &r->mirror[i],
		    r->by_digest_only, cause) != 0)
			goto out;
	}
	rc_ = 0;
out:
	free(pf);
	return rc_;
}

/* v1: [registries.block] / [registries.insecure] registries = [...]. */
static int
read_v1(struct regconf *rc, const struct toml *v1, char **cause)
{
	static const char *const lists[] = { "block", "insecure" };
	const struct toml *t, *list;
	struct rc_registry *r;
	int k, i, j;

	for (k = 0; k < 2; k++) {
		t = toml_get(v1, lists[k]);
		if (t == NULL)
			continue;
		if (get_strings(rc, t, "registries", cause) < 0)
			return -1;
		list = toml_get(t, "registries");
		for (i = 0; list != NULL && i < list->nkid; i++) {
			char *loc = xstrdup(list->kid[i]->str);
			if (location(rc, list->line, &loc, cause) != 0) {
				free(loc);
				return -1;
			}
			for (j = 0; j < rc->nreg; j++)
				if (strcmp(rc->reg[j].location, loc) == 0)
					break;
			if (j == rc->nreg) {
				if (rc->nreg == REGCONF_MAX_REGISTRIES) {
					free(loc);
					return fail_at(rc, list->line, cause,
					    "more than %d registries",
					    REGCONF_MAX_REGISTRIES);
				}
				r = &rc->reg[rc->nreg++];
				memset(r, 0, sizeof *r);
				r->location = xstrdup(loc);
				r->prefix = xstrdup(loc);
				r->line = list->line;
			}
			free(loc);
			if (k == 0)
				rc->reg[j].blocked = 1;
			else
				rc->reg[j].insecure = 1;
		}
	}
	return 0;
}

/* v2's other top keys: checked as containers/image checks them. */
static int
read_v2_rest(struct regconf *rc, const struct toml *root, int *nonempty,
    char **cause)
{
	const struct toml *v;
	char *mode = NULL, *helper = NULL;
	int n, i, rc_ = -1;

	if ((n = get_strings(rc, root, "unqualified-search-registries",
	    cause)) < 0)
		return -1;
	*nonempty |= n > 0;
	v = toml_get(root, "unqualified-search-registries");
	for (i = 0; i < n; i++) {
		char *s = xstrdup(v->kid[i]->str);
		int bad = location(rc, v->line, &s, cause) != 0;
		if (!bad && !registry_name_valid(s))
			bad = fail_at(rc, v->line, cause, "unqualified-search-"
			    "registries: '%s' is not a registry HOST[:PORT]",
			    s) != 0;
		free(s);
		if (bad)
			return -1;
	}
	if ((n = get_strings(rc, root, "credential-helpers", cause)) < 0)
		return -1;
	*nonempty |= n > 0;
	if (get_string(rc, root, "short-name-mode", &mode, cause) != 0 ||
	    get_string(rc, root, "additional-layer-store-auth-helper",
	    &helper, cause) != 0)
		goto out;
	*nonempty |= (mode != NULL && *mode) || (helper != NULL && *helper);
	if (mode != NULL && *mode && strcmp(mode, "disabled") != 0 &&
	    strcmp(mode, "enforcing") != 0 && strcmp(mode, "permissive") != 0) {
		fail_at(rc, toml_get(root, "short-name-mode")->line, cause,
		    "short-name-mode: not disabled, enforcing or permissive");
		goto out;
	}
	if ((v = toml_get(root, "aliases")) != NULL) {
		if (v->kind != TOML_TABLE) {
			fail_at(rc, v->line, cause, "aliases: expected a table");
			goto out;
		}
		for (i = 0; i < v->nkid; i++)
			if (v->kid[i]->kind != TOML_STRING) {
				fail_at(rc, v->kid[i]->line, cause, "aliases: "
				    "expected \"name\" = \"reference\"");
				goto out;
			}
		*nonempty |= v->nkid > 0;
	}
	rc_ = 0;
out:
	free(mode);
	free(helper);
	return rc_;
}

/* One location twice with a different insecure or blocked is an error. */
static int
check_conflicts(const struct regconf *rc, char **cause)
{
	const struct rc_registry *a, *b;
	int i, j;

	for (i = 0; i < rc->nreg; i++) {
		a = &rc->reg[i];
		for (j = 0; j < i; j++) {
			b = &rc->reg[j];
			if (strcmp(*a->location ? a->location : a->prefix,
			    *b->location ? b->location : b->prefix) != 0)
				continue;
			if (a->insecure != b->insecure || a->blocked != b->blocked)
				return fail_at(rc, a->line, cause, "registry '%s' "
				    "is defined again (line %d) with a "
				    "different '%s'", a->location, b->line,
				    a->insecure != b->insecure ? "insecure" :
				    "blocked");
		}
	}
	return 0;
}

/* The [[registry]] tables (or v1's lists) into rc->reg. */
static int
read_registries(struct regconf *rc, const struct toml *root, char **cause)
{
	const struct toml *regs = toml_get(root, "registry");
	const struct toml *v1 = toml_get(root, "registries");
	int i, v2 = 0;

	if (read_v2_rest(rc, root, &v2, cause) != 0)
		return -1;
	if (regs != NULL && (regs->kind != TOML_ARRAY ||
	    (regs->nkid > 0 && regs->kid[0]->kind != TOML_TABLE)))
		return fail_at(rc, regs->line, cause, "registry: expected "
		    "[[registry]] tables");
	if (regs != NULL && regs->nkid > REGCONF_MAX_REGISTRIES)
		return fail_at(rc, regs->line, cause, "more than %d "
		    "[[registry]] tables", REGCONF_MAX_REGISTRIES);
	v2 |= regs != NULL && regs->nkid > 0;
	rc->reg = xcalloc(REGCONF_MAX_REGISTRIES, sizeof *rc->reg);
	if (v1 != NULL && v1->kind != TOML_TABLE)
		return fail_at(rc, v1->line, cause, "registries: expected the "
		    "v1 [registries.*] tables");
	if (v1 != NULL) {
		if (read_v1(rc, v1, cause) != 0)
			return -1;
		if (rc->nreg > 0 && v2)
			return fail_at(rc, v1->line, cause, "v1 [registries.*] "
			    "and v2 settings cannot be mixed");
	}
	for (i = 0; regs != NULL && i < regs->nkid; i++) {
		rc->nreg++;
		if (read_registry(rc, regs->kid[i], &rc->reg[i], cause) != 0)
			return -1;
	}
	return check_conflicts(rc, cause);
}

struct regconf *
regconf_parse(const char *text, size_t len, const char *path, char **cause)
{
	struct regconf *rc;
	struct toml *root;
	int i, j, n;

	if ((root = toml_parse(text, len, path, cause)) == NULL)
		return NULL;
	rc = xcalloc(1, sizeof *rc);
	rc->path = xstrdup(path);
	if (read_registries(rc, root, cause) != 0) {
		toml_free(root);
		regconf_free(rc);
		return NULL;
	}
	toml_free(root);
	/* the first of a prefix wins; later ones are never matched */
	for (i = n = 0; i < rc->nreg; i++) {
		for (j = 0; j < n; j++)
			if (strcmp(rc->reg[j].prefix, rc->reg[i].prefix) == 0)
				break;
		if (j < n) {
			struct rc_registry *r = &rc->reg[i];
			for (j = 0; j < r->nmirror; j++)
				free(r->mirror[j].location);
			free(r->mirror);
			free(r->prefix);
			free(r->location);
			continue;
		}
		rc->reg[n++] = rc->reg[i];
	}
	rc->nreg = n;
	return rc;
}

/* ------------------------------------------------------------ matching */

/* How much of name prefix matches, as refMatchingPrefix; -1 if not. */
static int
prefix_match(const char *name, const char *prefix)
{
	size_t n = strlen(name), k = strlen(prefix);
	const char *at;
	char c;

	if (strncmp(prefix, "*.", 2) == 0) {
		if ((at = strstr(name, prefix + 1)) == NULL ||
		    memchr(name, '/', (size_t)(at - name)) != NULL)
			return -1;
		at += k - 1;
		return *at == '\0' || *at == ':' || *at == '/' || *at == '@' ?
		    (int)(at - name) : -1;
	}
	if (n < k || strncmp(name, prefix, k) != 0)
		return -1;
	c = name[k];
	return c == '\0' || c == ':' || c == '/' || c == '@' ? (int)k : -1;
}

/* The [[registry]] with the longest prefix of name, or NULL. */
static const struct rc_registry *
find(const struct regconf *rc, const char *name, int *matched)
{
	const struct rc_registry *best = NULL;
	size_t best_len = 0;
	int i, m;

	for (i = 0; i < rc->nreg; i++) {
		m = prefix_match(name, rc->reg[i].prefix);
		if (m >= 0 && strlen(rc->reg[i].prefix) > best_len) {
			best = &rc->reg[i];
			best_len = strlen(best->prefix);
			*matched = m;
		}
	}
	return best;
}

/* docker's rule: a first part with '.' or ':', or localhost, is a host. */
static int
is_host_part(const char *s, size_t n)
{
	return memchr(s, '.', n) != NULL || memchr(s, ':', n) != NULL ||
	    (n == 9 && strncmp(s, "localhost", 9) == 0);
}

static int
lower_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/*
 * A repository path of docker's reference grammar: components of
 * lowercase letters and digits, separated inside by '.', '_', "__" or
 * dashes, joined with '/'.
 */
static int
repo_path_valid(const char *s)
{
	const char *q;

	for (;;) {
		if (!lower_alnum((unsigned char)*s))
			return 0;
		while (lower_alnum((unsigned char)*s))
			s++;
		if (*s == '\0')
			return 1;
		if (*s == '/') {
			s++;
			continue;
		}
		q = s;
		if (*s == '.' || (*s == '_' && s[1] != '_'))
			s++;
		else if (*s == '_')
			s += 2;
		else
			while (*s == '-')
				s++;
		if (s == q)
			return 0;
	}
}

/*
 * One endpoint at loc (a location, "" to keep the name) for name, whose
 * first matched bytes the prefix matched. 1 added, 0 left out because a
 * blocked [[registry]] covers it (*why says which), -1 on error.
 */
static int
add_endpoint(const struct regconf *rc, struct mirror_plan *p,
    const char *name, int matched, const char *loc, int line, int insecure,
    enum mirror_pull_from pull_from, char **why, char **cause)
{
	char *phys = *loc ? xasprintf("%s%s", loc, name + matched) :
	    xstrdup(name);
	const char *slash = strchr(phys, '/');
	const struct rc_registry *b;
	struct mirror_endpoint *e;
	char *host;
	int m, rc_ = -1;

	if (slash == NULL || slash[1] == '\0' ||
	    !is_host_part(phys, (size_t)(slash - phys))) {
		fail_at(rc, line, cause, "location '%s' does not make "
		    "HOST/REPOSITORY of %s", loc, name);
		goto out;
	}
	host = xstrndup(phys, (size_t)(slash - phys));
	if (!registry_name_valid(host)) {
		fail_at(rc, line, cause, "location '%s': '%s' is not a "
		    "registry HOST[:PORT]", loc, host);
		free(host);
		goto out;
	}
	if (!repo_path_valid(slash + 1)) {
		fail_at(rc, line, cause, "location '%s' makes '%s', not a "
		    "valid repository", loc, phys);
		free(host);
		goto out;
	}
	if ((b = find(rc, phys, &m)) != NULL && b->blocked) {
		if (*why == NULL)
			*why = xasprintf("registry %s is blocked in %s:%d",
			    b->prefix, rc->path, b->line);
		free(host);
		rc_ = 0;
		goto out;
	}
	e = plan_add(p);
	e->scheme = xstrdup("https");
	e->default_scheme = 1;
	e->host = xstrdup(registry_api_host(host));
	e->url = xasprintf("https://%s", e->host);
	e->api_root = xstrdup("/v2");
	e->repository = xstrdup(slash + 1);
	e->origin = xasprintf("registries.conf %s:%d", rc->path, line);
	e->is_mirror = !registry_same(host, p->registry);
	e->insecure = e->skip_verify = insecure;
	e->caps = MIRROR_CAP_PULL | MIRROR_CAP_RESOLVE | MIRROR_CAP_PUSH;
	e->pull_from = pull_from;
	free(host);
	rc_ = 1;
out:
	free(phys);
	return rc_;
}

int
regconf_plan(const struct regconf *rc, struct mirror_plan *p, char **cause)
{
	char *name = xasprintf("%s/%s", p->registry, p->repository);
	const struct rc_registry *r;
	char *why = NULL;
	int matched = 0, i, rc_ = -1;

	if ((r = find(rc, name, &matched)) == NULL) {
		free(name);
		return 0;
	}
	for (i = 0; i < r->nmirror; i++)
		if (add_endpoint(rc, p, name, matched, r->mirror[i].location,
		    r->mirror[i].line, r->mirror[i].insecure,
		    r->mirror[i].pull_from, &why, cause) < 0)
			goto out;
	if (add_endpoint(rc, p, name, matched, r->location, r->line,
	    r->insecure, MIRROR_PULL_ALL, &why, cause) < 0)
		goto out;
	p->source = MIRROR_SRC_REGISTRIES;
	if (p->nep == 0) {
		p->blocked = 1;
		p->blocked_cause = why;
		why = NULL;
	}
	rc_ = 1;
out:
	free(why);
	free(name);
	return rc_;
}
