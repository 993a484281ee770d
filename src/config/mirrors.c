/*
 * mirrors.c - a registry's plan of endpoints (config.h): the sources taken
 * in their order of precedence, --mirror and docker's daemon.json here
 * (containerd's hosts folder in hosts.c, registries.conf in regconf.c),
 * URLs taken apart and put together, and what an endpoint may serve.
 */
#include "config.h"
#include "mirrors_int.h"
#include "toml.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

const char *
mirror_source_name(enum mirror_source s)
{
	switch (s) {
	case MIRROR_SRC_FLAG: return "--mirror";
	case MIRROR_SRC_HOSTS: return "hosts.toml";
	case MIRROR_SRC_REGISTRIES: return "registries.conf";
	case MIRROR_SRC_DAEMON: return "daemon.json";
	case MIRROR_SRC_DEFAULT: break;
	}
	return "default";
}

/* ------------------------------------------------------------ files */

int
config_read_file(const char *path, size_t max, char **data, size_t *len,
    char **cause)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	char *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*cause = NULL;
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 1;
		*cause = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0)
		*cause = xasprintf("%s: %s", path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		*cause = xasprintf("%s: %s", path, S_ISDIR(st.st_mode) ?
		    "is a directory" : "not a regular file");
	if (*cause != NULL) {
		close(fd);
		return -1;
	}
	p = xmalloc(max + 2);
	while ((n = read(fd, p + got, max + 1 - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*cause = xasprintf("%s: %s", path, strerror(errno));
			break;
		}
		got += (size_t)n;
		if (got > max) {
			*cause = xasprintf("%s: larger than %zu bytes", path,
			    max);
			n = -1;
			break;
		}
	}
	close(fd);
	if (n < 0) {
		free(p);
		return -1;
	}
	p[got] = '\0';
	*data = p;
	*len = got;
	return 0;
}

char *
clean_dup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *c = xmalloc(n);

	sanitize(c, n, s);
	return c;
}

int
cause_at(char **cause, const char *where, const char *fmt, va_list ap)
{
	char *msg = xvasprintf(fmt, ap), *clean = clean_dup(msg);

	*cause = xasprintf("%s: %s", where, clean);
	free(clean);
	free(msg);
	return -1;
}

/* ------------------------------------------------------------ URLs */

void
url_free(struct url *u)
{
	free(u->scheme);
	free(u->host);
	free(u->path);
	memset(u, 0, sizeof *u);
}

/* host[:port]: a DNS name or IPv4 address, or [IPv6], then a port. */
static int
host_valid(const char *s, size_t n)
{
	size_t i = 0, h;
	long port;

	if (n > 0 && s[0] == '[') {
		for (i = 1; i < n && s[i] != ']'; i++)
			if (!isxdigit((unsigned char)s[i]) && s[i] != ':' &&
			    s[i] != '.')
				return 0;
		if (i == n || i == 1)
			return 0;
		i++;
	} else {
		for (; i < n && s[i] != ':'; i++)
			if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
			    s[i] != '-' && s[i] != '_')
				return 0;
		if (i == 0)
			return 0;
	}
	if (i == n)
		return 1;
	if (s[i] != ':' || i + 1 == n || n - i - 1 > 5)
		return 0;
	for (h = i + 1, port = 0; h < n; h++) {
		if (!isdigit((unsigned char)s[h]))
			return 0;
		port = port * 10 + (s[h] - '0');
	}
	return port >= 1 && port <= 65535;
}

int
registry_name_valid(const char *s)
{
	return s != NULL && *s != '\0' && strlen(s) < 256 &&
	    host_valid(s, strlen(s));
}

/* RFC 3986 pchar and '/', percent escapes as they are. */
static int
path_char(int c)
{
	return isalnum(c) || strchr("-._~!$&'()*+,;=:@%/", c) != NULL;
}

/* p ("/a//b/") into "/a/b"; -1 on a "." or ".." part or a bad byte. */
static int
path_clean(const char *p, struct buf *out)
{
	const char *s, *e;

	for (s = p; *s != '\0'; s = e) {
		while (*s == '/')
			s++;
		for (e = s; *e != '\0' && *e != '/'; e++)
			if (!path_char((unsigned char)*e))
				return -1;
		if (e == s)
			break;
		if ((e - s == 1 && s[0] == '.') ||
		    (e - s == 2 && s[0] == '.' && s[1] == '.'))
			return -1;
		if (buf_append(out, "/", 1) != 0 ||
		    buf_append(out, s, (size_t)(e - s)) != 0)
			return -1;
	}
	return 0;
}

int
url_parse(const char *in, int scheme_optional, struct url *u, char **why)
{
	const char *s = in, *h;
	struct buf path;
	size_t n;

	memset(u, 0, sizeof *u);
	*why = NULL;
	if (strncasecmp(s, "https://", 8) == 0) {
		u->scheme = xstrdup("https");
		s += 8;
	} else if (strncasecmp(s, "http://", 7) == 0) {
		u->scheme = xstrdup("http");
		s += 7;
	} else if (strstr(s, "://") != NULL) {
		*why = xstrdup("the scheme is not http:// or https://");
		return -1;
	} else if (scheme_optional) {
		u->scheme = xstrdup("https");
	} else {
		*why = xstrdup("expected http:// or https:// first");
		return -1;
	}
	h = s;
	n = strcspn(h, "/?#");
	if (memchr(h, '@', n) != NULL)
		*why = xstrdup("a user or password in a URL is not allowed");
	else if (n == 0)
		*why = xstrdup("no host");
	else if (!host_valid(h, n) || n >= 256)
		*why = xstrdup("the host is not HOST[:PORT]");
	else if (h[n] == '?' || h[n] == '#' || strpbrk(h + n, "?#") != NULL)
		*why = xstrdup("a query or fragment is not allowed");
	if (*why == NULL) {
		buf_init(&path, 4096);
		if (path_clean(h + n, &path) != 0)
			*why = xstrdup("the path is not a plain /a/b path");
		else
			u->path = xstrdup(path.len ? buf_str(&path) : "");
		buf_free(&path);
	}
	if (*why != NULL) {
		url_free(u);
		return -1;
	}
	u->host = xstrndup(h, n);
	return 0;
}

const char *
registry_api_host(const char *registry)
{
	if (strcasecmp(registry, "docker.io") == 0 ||
	    strcasecmp(registry, "index.docker.io") == 0)
		return "registry-1.docker.io";
	return registry;
}

int
registry_same(const char *a, const char *b)
{
	return strcasecmp(registry_api_host(a), registry_api_host(b)) == 0;
}

/* ------------------------------------------------------------ plans */

void
endpoint_free(struct mirror_endpoint *e)
{
	int i;

	free(e->url);
	free(e->scheme);
	free(e->host);
	free(e->api_root);
	free(e->repository);
	free(e->ns);
	free(e->origin);
	for (i = 0; i < e->nca; i++)
		free(e->ca[i]);
	free(e->ca);
	for (i = 0; i < e->nclient; i++) {
		free(e->client[i].cert);
		free(e->client[i].key);
	}
	free(e->client);
	for (i = 0; i < e->nheader; i++) {
		free(e->header[i].name);
		free(e->header[i].value);
	}
	free(e->header);
	memset(e, 0, sizeof *e);
}

void
mirror_plan_free(struct mirror_plan *p)
{
	int i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nep; i++)
		endpoint_free(&p->ep[i]);
	free(p->ep);
	free(p->registry);
	free(p->repository);
	free(p->source_path);
	free(p->blocked_cause);
	free(p);
}

struct mirror_endpoint *
plan_add(struct mirror_plan *p)
{
	if (p->nep == MIRROR_MAX_ENDPOINTS)
		return NULL;
	p->ep = xrealloc(p->ep, (size_t)(p->nep + 1) * sizeof *p->ep);
	memset(&p->ep[p->nep], 0, sizeof *p->ep);
	return &p->ep[p->nep++];
}

void
endpoint_from_url(const struct mirror_plan *p, struct mirror_endpoint *e,
    const struct url *u, int override_path)
{
	size_t n = strlen(u->path);

	e->scheme = xstrdup(u->scheme);
	e->host = xstrdup(u->host);
	e->url = xasprintf("%s://%s%s", u->scheme, u->host, u->path);
	if (override_path || (n >= 3 && strcmp(u->path + n - 3, "/v2") == 0))
		e->api_root = xstrdup(u->path);
	else
		e->api_root = xasprintf("%s/v2", u->path);
	e->override_path = override_path;
	e->repository = xstrdup(p->repository);
	/* containerd's isProxy: only docker.io's own host is not a proxy */
	e->is_mirror = strcasecmp(e->host, p->registry) != 0 &&
	    !(strcasecmp(p->registry, "docker.io") == 0 &&
	    strcasecmp(e->host, "registry-1.docker.io") == 0);
	e->ns = e->is_mirror ? xstrdup(p->registry) : NULL;
	e->caps = MIRROR_CAP_PULL | MIRROR_CAP_RESOLVE;
}

struct mirror_endpoint *
plan_add_registry(struct mirror_plan *p, const char *origin)
{
	struct mirror_endpoint *e = plan_add(p);
	const char *host = registry_api_host(p->registry);

	if (e == NULL)
		return NULL;
	e->scheme = xstrdup("https");
	e->default_scheme = strcmp(host, p->registry) == 0;
	e->host = xstrdup(host);
	e->url = xasprintf("https://%s", host);
	e->api_root = xstrdup("/v2");
	e->repository = xstrdup(p->repository);
	e->caps = MIRROR_CAP_PULL | MIRROR_CAP_RESOLVE | MIRROR_CAP_PUSH;
	e->origin = xstrdup(origin);
	return e;
}

/* ------------------------------------------------------------ --mirror */

/* REGISTRY=URL into registry (malloc'd) and u. */
static int
flag_split(const char *arg, char **registry, struct url *u, char **cause)
{
	const char *eq = strchr(arg, '=');
	char *why = NULL, *msg;

	*registry = NULL;
	if (eq == NULL || eq == arg) {
		*cause = xstrdup("--mirror: expected REGISTRY=URL");
		return -1;
	}
	*registry = xstrndup(arg, (size_t)(eq - arg));
	if (!registry_name_valid(*registry) || strchr(*registry, '/')) {
		*cause = xasprintf("--mirror: '%s' is not a registry "
		    "HOST[:PORT]", *registry);
	} else if (url_parse(eq + 1, 0, u, &why) != 0) {
		*cause = xasprintf("--mirror: %s: %s", eq + 1, why);
		free(why);
	} else {
		return 0;
	}
	msg = clean_dup(*cause);
	free(*cause);
	*cause = msg;
	free(*registry);
	*registry = NULL;
	return -1;
}

int
mirror_flag_check(const char *arg, char **cause)
{
	struct url u;
	char *registry;

	if (flag_split(arg, &registry, &u, cause) != 0)
		return -1;
	free(registry);
	url_free(&u);
	return 0;
}

/* 1 and p filled when a --mirror names p->registry, else 0; -1 on error. */
static int
flag_plan(const struct options *o, struct mirror_plan *p, char **cause)
{
	struct mirror_endpoint *e;
	struct url u;
	char *registry;
	int i;

	for (i = 0; i < o->nmirror; i++) {
		if (flag_split(o->mirror[i], &registry, &u, cause) != 0)
			return -1;
		if (strcasecmp(registry, p->registry) == 0) {
			if ((e = plan_add(p)) == NULL) {
				*cause = xstrdup("--mirror: too many mirrors");
				free(registry);
				url_free(&u);
				return -1;
			}
			endpoint_from_url(p, e, &u, 0);
			e->origin = xasprintf("--mirror %s", o->mirror[i]);
		}
		free(registry);
		url_free(&u);
	}
	if (p->nep == 0)
		return 0;
	p->source = MIRROR_SRC_FLAG;
	plan_add_registry(p, "the registry, after --mirror");
	return 1;
}

/* ------------------------------------------------------------ daemon.json */

/* Docker's registry-mirrors: the mirrors of docker.io, then docker.io. */
static int
daemon_mirrors(const json_t *list, const char *path, struct mirror_plan *p,
    char **cause)
{
	struct mirror_endpoint *e;
	struct url u;
	char *why = NULL;
	size_t i;

	if (!json_is_array(list)) {
		*cause = xasprintf("%s: registry-mirrors: expected an array "
		    "of URLs", path);
		return -1;
	}
	for (i = 0; i < json_array_size(list); i++) {
		const char *s = json_string_value(json_array_get(list, i));
		if (s == NULL || url_parse(s, 0, &u, &why) != 0) {
			*cause = xasprintf("%s: registry-mirrors[%zu]: %s",
			    path, i, why ? why : "expected a URL string");
			free(why);
			return -1;
		}
		/* room for the registry itself after them */
		if (p->nep == MIRROR_MAX_ENDPOINTS - 1 ||
		    (e = plan_add(p)) == NULL) {
			url_free(&u);
			*cause = xasprintf("%s: registry-mirrors: more than "
			    "%d", path, MIRROR_MAX_ENDPOINTS - 1);
			return -1;
		}
		endpoint_from_url(p, e, &u, 0);
		/* docker puts /v2 after whatever path; it sends no ns */
		free(e->api_root);
		e->api_root = xasprintf("%s/v2", u.path);
		free(e->ns);
		e->ns = NULL;
		e->origin = xasprintf("daemon.json %s", path);
		url_free(&u);
	}
	return 0;
}

/* daemon.json at path for docker.io: 1 configured, 0 not, -1 error. */
static int
daemon_plan(const char *path, struct mirror_plan *p, char **cause)
{
	json_error_t jerr;
	json_t *root;
	char *text, clean[200];
	size_t len;
	int rc;

	if (strcmp(p->registry, "docker.io") != 0)
		return 0;
	if ((rc = config_read_file(path, MIRROR_FILE_MAX, &text, &len,
	    cause)) != 0)
		return rc > 0 ? 0 : -1;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (root == NULL) {
		sanitize(clean, sizeof clean, jerr.text);
		*cause = xasprintf("%s:%d: %s", path, jerr.line, clean);
		return -1;
	}
	rc = 0;
	if (!json_is_object(root)) {
		*cause = xasprintf("%s: expected a JSON object", path);
		rc = -1;
	} else if (json_object_get(root, "registry-mirrors") != NULL) {
		rc = daemon_mirrors(json_object_get(root, "registry-mirrors"),
		    path, p, cause);
		if (rc == 0 && p->nep > 0) {
			p->source = MIRROR_SRC_DAEMON;
			p->source_path = xstrdup(path);
			plan_add_registry(p, "the registry, after daemon.json");
			rc = 1;
		}
	}
	json_decref(root);
	return rc;
}

/* ------------------------------------------------------------ the plan */

static const char *
env_or(const char *name, const char *dflt)
{
	const char *e = getenv(name);

	return e != NULL && *e != '\0' ? e : dflt;
}

/* registries.conf: 1 configured, 0 not, -1 error. */
static int
registries_plan(struct mirror_plan *p, char **cause)
{
	const char *env = getenv("CONTAINERS_REGISTRIES_CONF");
	const char *path = env != NULL && *env != '\0' ? env :
	    REGISTRIES_CONF_DEFAULT;
	struct regconf *rc;
	char *text;
	size_t len;
	int r;

	r = config_read_file(path, MIRROR_FILE_MAX, &text, &len, cause);
	if (r > 0 && path == env) {
		/* named on purpose, as containers/image wants it there */
		*cause = xasprintf("%s: %s", path, strerror(ENOENT));
		return -1;
	}
	if (r != 0)
		return r > 0 ? 0 : -1;
	rc = regconf_parse(text, len, path, cause);
	free(text);
	if (rc == NULL)
		return -1;
	r = regconf_plan(rc, p, cause);
	regconf_free(rc);
	if (r > 0)
		p->source_path = xstrdup(path);
	return r;
}

/* Undo what a source that failed half way left in p. */
static void
plan_reset(struct mirror_plan *p)
{
	int i;

	for (i = 0; i < p->nep; i++)
		endpoint_free(&p->ep[i]);
	p->nep = 0;
	free(p->source_path);
	p->source_path = NULL;
	free(p->blocked_cause);
	p->blocked_cause = NULL;
	p->blocked = 0;
	p->source = MIRROR_SRC_DEFAULT;
}

int
mirror_plan_get(const struct options *o, const char *registry,
    const char *repository, struct mirror_plan **out, char **cause)
{
	struct mirror_plan *p;
	const char *dir = o->hosts_dir != NULL ? o->hosts_dir :
	    env_or("PULLTOP_HOSTS_DIR", HOSTS_DIR_DEFAULT);
	int rc;

	*out = NULL;
	if (!registry_name_valid(registry) || repository == NULL ||
	    *repository == '\0') {
		*cause = xstrdup("mirrors: not a registry and repository");
		return -1;
	}
	p = xcalloc(1, sizeof *p);
	p->registry = xstrdup(registry);
	p->repository = xstrdup(repository);
	rc = flag_plan(o, p, cause);
	if (rc == 0)
		rc = hosts_plan(dir, p, cause);
	if (rc == 0)
		rc = registries_plan(p, cause);
	if (rc == 0)
		rc = daemon_plan(env_or("PULLTOP_DAEMON_JSON",
		    DAEMON_JSON_DEFAULT), p, cause);
	if (rc == 0) {
		plan_reset(p);
		plan_add_registry(p, "default");
	}
	if (rc < 0) {
		mirror_plan_free(p);
		return -1;
	}
	*out = p;
	return 0;
}

/* ------------------------------------------------------------ use */

int
mirror_may_serve(const struct mirror_endpoint *e, enum mirror_op op,
    int by_digest)
{
	if (e->pull_from == MIRROR_PULL_DIGEST_ONLY && !by_digest)
		return 0;
	if (e->pull_from == MIRROR_PULL_TAG_ONLY && by_digest)
		return 0;
	return (e->caps & (op == MIRROR_OP_RESOLVE ? MIRROR_CAP_RESOLVE :
	    MIRROR_CAP_PULL)) != 0;
}

/* Go's url.QueryEscape: all but unreserved bytes as %XX. */
static void
query_escape(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char esc[3];
	int rc = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			rc |= buf_append(b, s, 1);
			continue;
		}
		esc[0] = '%';
		esc[1] = hex[c >> 4];
		esc[2] = hex[c & 15];
		rc |= buf_append(b, esc, 3);
	}
	if (rc != 0)
		b->overflow = 1;
}

char *
mirror_url(const struct mirror_endpoint *e, const char *scheme,
    const char *tail)
{
	struct buf b;
	char *head, *s;

	if (tail == NULL)
		head = xasprintf("%s://%s%s/", scheme ? scheme : e->scheme,
		    e->host, e->api_root);
	else
		head = xasprintf("%s://%s%s/%s%s", scheme ? scheme : e->scheme,
		    e->host, e->api_root, e->repository, tail);
	if (e->ns == NULL)
		return head;
	buf_init(&b, strlen(head) + 3 * strlen(e->ns) + 8);
	if (buf_append(&b, head, strlen(head)) != 0 ||
	    buf_append(&b, "?ns=", 4) != 0)
		b.overflow = 1;
	query_escape(&b, e->ns);
	s = xstrdup(buf_str(&b));
	buf_free(&b);
	free(head);
	return s;
}
