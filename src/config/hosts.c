/*
 * hosts.c - containerd's hosts folder (certs.d) as containerd 1.6/1.7
 * reads it: the folder a registry takes (HOST_PORT_, HOST:PORT, _default),
 * its hosts.toml turned into endpoints ([host."URL"] tables in file order,
 * then `server` or the registry itself), and the docker-style certificate
 * files of a folder that has no hosts.toml.
 */
#include "config.h"
#include "mirrors_int.h"
#include "toml.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* What reading one hosts.toml needs at hand. */
struct hctx {
	const char *path;	/* the hosts.toml, for messages */
	char *base;		/* its folder: relative paths start there */
	struct mirror_plan *p;
	char **cause;
};

static int __attribute__((format(printf, 3, 4)))
hfail(struct hctx *c, const struct toml *at, const char *fmt, ...)
{
	va_list ap;
	char *where = xasprintf("%s:%d", c->path, at->line);

	va_start(ap, fmt);
	cause_at(c->cause, where, fmt, ap);
	va_end(ap);
	free(where);
	return -1;
}

static char *
abs_path(const struct hctx *c, const char *p)
{
	return p[0] == '/' ? xstrdup(p) : xasprintf("%s/%s", c->base, p);
}

/* A string, or an array of strings, into a list of paths. */
static int
path_list(struct hctx *c, const struct toml *v, char ***out, int *n)
{
	int i;

	if (v->kind == TOML_STRING) {
		*out = xrealloc(*out, (size_t)(*n + 1) * sizeof **out);
		(*out)[(*n)++] = abs_path(c, v->str);
		return 0;
	}
	if (v->kind != TOML_ARRAY)
		return hfail(c, v, "%s: expected a path or an array of paths, "
		    "not %s", v->key, toml_kind_name(v->kind));
	for (i = 0; i < v->nkid; i++)
		if (v->kid[i]->kind != TOML_STRING)
			return hfail(c, v, "%s: expected an array of paths, "
			    "not of %s", v->key,
			    toml_kind_name(v->kid[i]->kind));
	for (i = 0; i < v->nkid; i++)
		path_list(c, v->kid[i], out, n);
	return 0;
}

static void
client_add(struct hctx *c, struct mirror_endpoint *e, const char *cert,
    const char *key)
{
	e->client = xrealloc(e->client, (size_t)(e->nclient + 1) *
	    sizeof *e->client);
	e->client[e->nclient].cert = abs_path(c, cert);
	e->client[e->nclient].key = key != NULL && *key != '\0' ?
	    abs_path(c, key) : NULL;
	e->nclient++;
}

/* client: "pem", ["pem", ...] or [["cert", "key"], ["pem", ""], ...]. */
static int
client_list(struct hctx *c, const struct toml *v, struct mirror_endpoint *e)
{
	const struct toml *it;
	int i;

	if (v->kind == TOML_STRING) {
		client_add(c, e, v->str, NULL);
		return 0;
	}
	if (v->kind != TOML_ARRAY)
		return hfail(c, v, "client: expected a path, an array of paths "
		    "or of [cert, key] pairs, not %s", toml_kind_name(v->kind));
	for (i = 0; i < v->nkid; i++) {
		it = v->kid[i];
		if (it->kind == TOML_STRING) {
			client_add(c, e, it->str, NULL);
		} else if (it->kind == TOML_ARRAY && it->nkid == 2 &&
		    it->kid[0]->kind == TOML_STRING &&
		    it->kid[1]->kind == TOML_STRING) {
			client_add(c, e, it->kid[0]->str, it->kid[1]->str);
		} else {
			return hfail(c, v, "client: item %d is not a path or a "
			    "[cert, key] pair of paths", i + 1);
		}
	}
	return 0;
}

static int
token_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~",
	    c) != NULL);
}

static int
header_add(struct hctx *c, const struct toml *v, const char *name,
    const char *value, struct mirror_endpoint *e)
{
	const unsigned char *s;

	for (s = (const unsigned char *)value; *s != '\0'; s++)
		if ((*s < 0x20 && *s != '\t') || *s == 0x7f)
			return hfail(c, v, "header %s: a control character "
			    "in its value", name);
	e->header = xrealloc(e->header, (size_t)(e->nheader + 1) *
	    sizeof *e->header);
	e->header[e->nheader].name = xstrdup(name);
	e->header[e->nheader].value = xstrdup(value);
	e->nheader++;
	return 0;
}

/* [header]: name = "value" or name = ["value", ...]. */
static int
header_table(struct hctx *c, const struct toml *h, struct mirror_endpoint *e)
{
	const struct toml *v;
	char clean[128];
	const char *s;
	int i, j;

	if (h->kind != TOML_TABLE)
		return hfail(c, h, "header: expected a table, not %s",
		    toml_kind_name(h->kind));
	for (i = 0; i < h->nkid; i++) {
		v = h->kid[i];
		for (s = v->key; *s != '\0' && token_char((unsigned char)*s);
		    s++)
			;
		if (*s != '\0' || s == v->key) {
			sanitize(clean, sizeof clean, v->key);
			return hfail(c, v, "header '%s': not an HTTP header "
			    "name", clean);
		}
		if (v->kind == TOML_STRING) {
			if (header_add(c, v, v->key, v->str, e) != 0)
				return -1;
			continue;
		}
		if (v->kind != TOML_ARRAY)
			return hfail(c, v, "header %s: expected a string or "
			    "an array of strings", v->key);
		for (j = 0; j < v->nkid; j++)
			if (v->kid[j]->kind != TOML_STRING)
				return hfail(c, v, "header %s: expected an "
				    "array of strings", v->key);
		for (j = 0; j < v->nkid; j++)
			if (header_add(c, v, v->key, v->kid[j]->str, e) != 0)
				return -1;
	}
	return 0;
}

static int
capabilities(struct hctx *c, const struct toml *v, struct mirror_endpoint *e)
{
	static const char *const names[] = { "pull", "resolve", "push" };
	char clean[64];
	int i, k;

	if (v->kind != TOML_ARRAY)
		return hfail(c, v, "capabilities: expected an array of "
		    "strings, not %s", toml_kind_name(v->kind));
	if (v->nkid == 0)
		return 0;	/* containerd: none listed is all */
	e->caps = 0;
	for (i = 0; i < v->nkid; i++) {
		if (v->kid[i]->kind != TOML_STRING)
			return hfail(c, v, "capabilities: expected an array "
			    "of strings");
		for (k = 0; k < 3; k++)
			if (strcasecmp(v->kid[i]->str, names[k]) == 0)
				break;
		if (k == 3) {
			sanitize(clean, sizeof clean, v->kid[i]->str);
			return hfail(c, v, "capabilities: unknown capability "
			    "'%s' (pull, resolve, push)", clean);
		}
		e->caps |= 1u << k;
	}
	return 0;
}

static int
boolean(struct hctx *c, const struct toml *t, const char *key, int *out)
{
	const struct toml *v = toml_get(t, key);

	if (v == NULL)
		return 0;
	if (v->kind != TOML_BOOL)
		return hfail(c, v, "%s: expected true or false, not %s", key,
		    toml_kind_name(v->kind));
	*out = v->boolean;
	return 0;
}

/* The settings of table t (a [host."URL"] or the top) onto e. */
static int
host_settings(struct hctx *c, const struct toml *t, struct mirror_endpoint *e,
    int is_default)
{
	const struct toml *v;

	if (boolean(c, t, "skip_verify", &e->skip_verify) != 0)
		return -1;
	if ((v = toml_get(t, "capabilities")) != NULL && !is_default &&
	    capabilities(c, v, e) != 0)
		return -1;
	if ((v = toml_get(t, "ca")) != NULL &&
	    path_list(c, v, &e->ca, &e->nca) != 0)
		return -1;
	if ((v = toml_get(t, "client")) != NULL && client_list(c, v, e) != 0)
		return -1;
	if ((v = toml_get(t, "header")) != NULL && header_table(c, v, e) != 0)
		return -1;
	return 0;
}

/* One endpoint for URL text of table t (line of at for messages). */
static int
host_endpoint(struct hctx *c, const char *text, const struct toml *t,
    const struct toml *at)
{
	struct mirror_endpoint *e;
	struct url u;
	char *why = NULL, clean[256];
	int override = 0;

	if (boolean(c, t, "override_path", &override) != 0)
		return -1;
	if (url_parse(text, 1, &u, &why) != 0) {
		sanitize(clean, sizeof clean, text);
		hfail(c, at, "host \"%s\": %s", clean, why);
		free(why);
		return -1;
	}
	if ((e = plan_add(c->p)) == NULL) {
		url_free(&u);
		return hfail(c, at, "more than %d hosts",
		    MIRROR_MAX_ENDPOINTS - 1);
	}
	endpoint_from_url(c->p, e, &u, override);
	url_free(&u);
	e->caps = MIRROR_CAP_PULL | MIRROR_CAP_RESOLVE | MIRROR_CAP_PUSH;
	e->origin = xasprintf("hosts.toml %s:%d", c->path, at->line);
	return host_settings(c, t, e, 0);
}

int
hosts_parse(const char *text, size_t len, const char *path,
    struct mirror_plan *p, char **cause)
{
	struct hctx c = { path, NULL, p, cause };
	const struct toml *hosts, *server, *h;
	struct mirror_endpoint *e;
	struct toml *root;
	const char *slash = strrchr(path, '/');
	int i, rc = -1;

	if ((root = toml_parse(text, len, path, cause)) == NULL)
		return -1;
	c.base = slash != NULL ? xstrndup(path, (size_t)(slash - path)) :
	    xstrdup(".");
	hosts = toml_get(root, "host");
	server = toml_get(root, "server");
	if (hosts != NULL && hosts->kind != TOML_TABLE) {
		hfail(&c, hosts, "host: expected [host.\"URL\"] tables");
		goto out;
	}
	for (i = 0; hosts != NULL && i < hosts->nkid; i++) {
		h = hosts->kid[i];
		if (h->kind != TOML_TABLE) {
			char clean[256];
			sanitize(clean, sizeof clean, h->key);
			hfail(&c, h, "host \"%s\": expected a [host.\"URL\"] "
			    "table, not %s", clean, toml_kind_name(h->kind));
			goto out;
		}
		if (host_endpoint(&c, h->key, h, h) != 0)
			goto out;
	}
	if (server != NULL && server->kind != TOML_STRING) {
		hfail(&c, server, "server: expected a URL string, not %s",
		    toml_kind_name(server->kind));
		goto out;
	}
	if (server != NULL && *server->str != '\0') {
		if (host_endpoint(&c, server->str, root, server) != 0)
			goto out;
	} else {
		/* the registry itself, with the top's TLS and headers */
		if ((e = plan_add_registry(p, "")) == NULL) {
			hfail(&c, root, "more than %d hosts",
			    MIRROR_MAX_ENDPOINTS - 1);
			goto out;
		}
		free(e->origin);
		e->origin = xasprintf("hosts.toml %s (the registry itself)",
		    path);
		if (host_settings(&c, root, e, 1) != 0)
			goto out;
	}
	rc = 0;
out:
	free(c.base);
	toml_free(root);
	return rc;
}

/* ------------------------------------------------------------ folders */

static int
name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && strcmp(s + n - k, suffix) == 0;
}

/* containerd's loadCertFiles: *.crt are CAs, *.cert (+ *.key) clients. */
static int
cert_files(const char *folder, struct mirror_plan *p, char **cause)
{
	struct dirent **names;
	struct mirror_endpoint *e;
	struct hctx c = { folder, (char *)folder, p, cause };
	struct stat st;
	char *key, *keypath;
	int n, i, rc = 0;

	if ((n = scandir(folder, &names, NULL, name_cmp)) < 0) {
		*cause = xasprintf("%s: %s", folder, strerror(errno));
		return -1;
	}
	e = plan_add_registry(p, "");
	free(e->origin);
	e->origin = xasprintf("hosts.toml folder %s (certificates)", folder);
	for (i = 0; i < n; i++) {
		const char *f = names[i]->d_name;
		if (rc == 0 && ends_with(f, ".crt")) {
			e->ca = xrealloc(e->ca, (size_t)(e->nca + 1) *
			    sizeof *e->ca);
			e->ca[e->nca++] = abs_path(&c, f);
		} else if (rc == 0 && ends_with(f, ".cert")) {
			key = xasprintf("%.*s.key", (int)(strlen(f) - 5), f);
			keypath = abs_path(&c, key);
			if (stat(keypath, &st) == 0) {
				client_add(&c, e, f, key);
			} else if (errno == ENOENT) {
				client_add(&c, e, f, NULL);
			} else {
				*cause = xasprintf("%s: %s", keypath,
				    strerror(errno));
				rc = -1;
			}
			free(key);
			free(keypath);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

/* The folder of dir that registry takes: 1 and *found, 0 none, -1. */
static int
hosts_folder(const char *dir, const char *registry, char **found,
    char **cause)
{
	const char *colon = strrchr(registry, ':');
	char *cand[3];
	struct stat st;
	int i, n = 0, rc = 0;

	if (colon != NULL && colon > registry)
		cand[n++] = xasprintf("%s/%.*s_%s_", dir,
		    (int)(colon - registry), registry, colon + 1);
	cand[n++] = xasprintf("%s/%s", dir, registry);
	cand[n++] = xasprintf("%s/_default", dir);
	for (i = 0; i < n && rc == 0; i++) {
		if (stat(cand[i], &st) != 0) {
			if (errno == ENOENT || errno == ENOTDIR)
				continue;
			*cause = xasprintf("%s: %s", cand[i], strerror(errno));
			rc = -1;
		} else if (!S_ISDIR(st.st_mode)) {
			*cause = xasprintf("%s: not a directory", cand[i]);
			rc = -1;
		} else {
			*found = cand[i];
			cand[i] = NULL;
			rc = 1;
		}
	}
	for (i = 0; i < n; i++)
		free(cand[i]);
	return rc;
}

int
hosts_plan(const char *dir, struct mirror_plan *p, char **cause)
{
	char *folder = NULL, *file, *text = NULL;
	size_t len = 0;
	int rc;

	if (strchr(p->registry, '/') != NULL ||
	    strcmp(p->registry, "..") == 0 || strcmp(p->registry, ".") == 0)
		return 0;
	if ((rc = hosts_folder(dir, p->registry, &folder, cause)) <= 0)
		return rc;
	file = xasprintf("%s/hosts.toml", folder);
	rc = config_read_file(file, MIRROR_FILE_MAX, &text, &len, cause);
	if (rc == 0 && len > 0) {
		rc = hosts_parse(text, len, file, p, cause);
		p->source_path = file;
		file = NULL;
	} else if (rc >= 0) {
		/* no hosts.toml, or an empty one: containerd's fallback */
		rc = cert_files(folder, p, cause);
		p->source_path = folder;
		folder = NULL;
	}
	free(text);
	free(file);
	free(folder);
	if (rc < 0)
		return -1;
	p->source = MIRROR_SRC_HOSTS;
	return 1;
}
