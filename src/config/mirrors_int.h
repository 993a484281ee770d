/*
 * mirrors_int.h - what mirrors.c, hosts.c and regconf.c share (private to
 * src/config): URLs, plans being built, and each source's reader.
 */
#ifndef PULLTOP_MIRRORS_INT_H
#define PULLTOP_MIRRORS_INT_H

#include "config.h"

#include <stdarg.h>
#include <stddef.h>

#define HOSTS_DIR_DEFAULT	"/etc/containerd/certs.d"
#define REGISTRIES_CONF_DEFAULT	"/etc/containers/registries.conf"
#define DAEMON_JSON_DEFAULT	"/etc/docker/daemon.json"
#define MIRROR_FILE_MAX		(1u << 20)	/* bytes of one file read */
#define MIRROR_MAX_ENDPOINTS	64

/*
 * Read the file at path (at most max bytes) into a malloc'd buffer with a
 * NUL after it. 0, 1 when there is no such file (ENOENT, ENOTDIR), or -1
 * with *cause "PATH: why".
 */
int config_read_file(const char *path, size_t max, char **data, size_t *len,
    char **cause);

/* scheme://host[:port][/path], taken apart. */
struct url {
	char *scheme;	/* "http" or "https" */
	char *host;	/* host[:port], or [v6][:port] */
	char *path;	/* "" or "/a/b": no empty, "." or ".." parts, no
			   trailing slash */
};

/*
 * Parse in; without a scheme https is taken when scheme_optional, else it
 * is an error. No user:password, query or fragment. 0, or -1 with *why
 * (not naming in).
 */
int url_parse(const char *in, int scheme_optional, struct url *u,
    char **why);
void url_free(struct url *u);

/* s made printable (sanitize()) in a malloc'd copy: causes are one line. */
char *clean_dup(const char *s);
/* *cause = "WHERE: message" with the message made printable; -1. */
int cause_at(char **cause, const char *where, const char *fmt, va_list ap);

/* 1 if s is host[:port] as a reference names a registry. */
int registry_name_valid(const char *s);
/* Where registry's API is: docker.io's is registry-1.docker.io. */
const char *registry_api_host(const char *registry);
/* 1 if hosts a and b are one registry (docker.io is registry-1...). */
int registry_same(const char *a, const char *b);

/* A zeroed endpoint appended to p, or NULL past MIRROR_MAX_ENDPOINTS. */
struct mirror_endpoint *plan_add(struct mirror_plan *p);
/*
 * Fill e for URL u of a containerd-like source: scheme, host, url, the
 * api_root (u's path + "/v2" unless it ends so, or as is when
 * override_path), is_mirror, ns when the host is not the registry.
 */
void endpoint_from_url(const struct mirror_plan *p, struct mirror_endpoint *e,
    const struct url *u, int override_path);
/* The registry itself, as nothing configured it: default scheme, /v2. */
struct mirror_endpoint *plan_add_registry(struct mirror_plan *p,
    const char *origin);
void endpoint_free(struct mirror_endpoint *e);

/*
 * containerd's hosts folder dir for p->registry: 1 and p filled when it
 * configures the registry, 0 when not, -1 with *cause.
 */
int hosts_plan(const char *dir, struct mirror_plan *p, char **cause);
/*
 * hosts.toml text (len bytes) read from path (its folder is where relative
 * paths start) into p's endpoints. 0, or -1 with *cause "PATH:LINE: what".
 */
int hosts_parse(const char *text, size_t len, const char *path,
    struct mirror_plan *p, char **cause);

/* registries.conf, read and checked. */
struct regconf;
struct regconf *regconf_parse(const char *text, size_t len, const char *path,
    char **cause);
void regconf_free(struct regconf *rc);
/* 1 and p filled when a [[registry]] matches, 0 when none, -1 on error. */
int regconf_plan(const struct regconf *rc, struct mirror_plan *p,
    char **cause);

#endif
