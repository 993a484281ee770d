/*
 * ref.c - owns image reference parsing: splitting "name[:tag][@digest]",
 * docker's normalization (docker.io, library/, index.docker.io) and the
 * grammar checks for domains, repository paths, tags and sha256 digests,
 * following github.com/distribution/reference (normalize.go, regexp.go).
 */
#include <stdlib.h>
#include <string.h>

#include "oci.h"
#include "util.h"

#define DEFAULT_DOMAIN	"docker.io"
#define LEGACY_DOMAIN	"index.docker.io"
#define DOCKER_REGISTRY	"registry-1.docker.io"
#define OFFICIAL_PREFIX	"library/"
#define DEFAULT_TAG	"latest"
#define MAX_PATH_LEN	255	/* RepositoryNameTotalLengthMax */
#define MAX_DOMAIN_LEN	255	/* a DNS name; registry.c keeps 256 bytes */
#define MAX_TAG_LEN	128
#define SHA256_HEX_LEN	64

#define ERR_EMPTY	"repository name must have at least one component"
#define ERR_FORMAT	"invalid reference format"
#define ERR_UPPER	"repository name must be lowercase"
#define ERR_CANONICAL	"repository name must be canonical"
#define ERR_TOO_LONG	"reference is too long"
#define ERR_TAG		"invalid tag"
#define ERR_DIGEST	"invalid digest: expected sha256:<64 lowercase hex>"
#define ERR_ALGORITHM	"unsupported digest algorithm"

/* ASCII-only classes: the grammar is not locale dependent. */
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_lower(char c) { return c >= 'a' && c <= 'z'; }
static int is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static int is_lower_alnum(char c) { return is_lower(c) || is_digit(c); }
static int is_alnum(char c) { return is_lower_alnum(c) || is_upper(c); }
static int is_word(char c) { return is_alnum(c) || c == '_'; }
static int is_lower_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }
static int is_hex(char c) { return is_lower_hex(c) || (c >= 'A' && c <= 'F'); }

static int has_upper(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (is_upper(s[i]))
			return 1;
	return 0;
}

/* Exactly 64 lowercase hex digits: an image ID, not a name. */
static int is_identifier(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!is_lower_hex(s[i]))
			return 0;
	return i == SHA256_HEX_LEN;
}

/*
 * Whether the text before the first '/' names a registry (splitDockerDomain):
 * "localhost", anything with '.' or ':', or anything with an uppercase letter
 * (repository paths are lowercase, so such a component can only be a host).
 */
static int looks_like_domain(const char *s, size_t n)
{
	if (n == strlen("localhost") && memcmp(s, "localhost", n) == 0)
		return 1;
	if (memchr(s, '.', n) || memchr(s, ':', n))
		return 1;
	return has_upper(s, n);
}

/*
 * domain := host [':' port], host := name ('.' name)* | '[' ipv6 ']',
 * name := [a-zA-Z0-9] with inner '-', ipv6 := [a-fA-F0-9:]+, port := [0-9]+
 */
static int valid_domain(const char *d, size_t n)
{
	size_t i = 0;

	if (n > 0 && d[0] == '[') {
		const char *end = memchr(d, ']', n);

		if (!end || end == d + 1)
			return 0;
		for (i = 1; d + i < end; i++)
			if (!is_hex(d[i]) && d[i] != ':')
				return 0;
		i++;			/* the ']' */
	} else {
		for (;;) {
			size_t start = i;

			while (i < n && (is_alnum(d[i]) || d[i] == '-'))
				i++;
			if (i == start || d[start] == '-' || d[i - 1] == '-')
				return 0;
			if (i < n && d[i] == '.') {
				i++;
				continue;
			}
			break;
		}
	}
	if (i == n)
		return 1;
	if (d[i] != ':' || ++i == n)
		return 0;
	while (i < n && is_digit(d[i]))
		i++;
	return i == n;
}

/*
 * path := component ('/' component)*, component := alnum (sep alnum)*,
 * alnum := [a-z0-9]+, sep := '.' | '_' | '__' | '-'+
 * Every separator and '/' must be followed by another alnum run.
 */
static int valid_path(const char *p)
{
	size_t i = 0;

	for (;;) {
		size_t start = i;

		while (is_lower_alnum(p[i]))
			i++;
		if (i == start)
			return 0;
		if (p[i] == '\0')
			return 1;
		if (p[i] == '/' || p[i] == '.')
			i++;
		else if (p[i] == '_')
			i += p[i + 1] == '_' ? 2 : 1;
		else if (p[i] == '-')
			while (p[i] == '-')
				i++;
		else
			return 0;
	}
}

/* tag := [\w][\w.-]{0,127} */
static int valid_tag(const char *t)
{
	size_t i;

	if (!is_word(t[0]))
		return 0;
	for (i = 1; t[i]; i++)
		if (!is_word(t[i]) && t[i] != '.' && t[i] != '-')
			return 0;
	return i <= MAX_TAG_LEN;
}

/* NULL if d is "sha256:<64 lowercase hex>", else why not. */
static const char *digest_error(const char *d)
{
	const char *colon = strchr(d, ':');
	size_t i;

	if (!colon || colon == d)
		return ERR_DIGEST;
	if ((size_t)(colon - d) != strlen("sha256") ||
	    memcmp(d, "sha256", strlen("sha256")) != 0)
		return ERR_ALGORITHM;
	for (i = 0; colon[1 + i]; i++)
		if (!is_lower_hex(colon[1 + i]))
			return ERR_DIGEST;
	return i == SHA256_HEX_LEN ? NULL : ERR_DIGEST;
}

int ref_parse(const char *s, struct ref *r, char **cause)
{
	const char *err = NULL, *at, *slash, *rest, *colon;
	char *name = NULL, *domain = NULL, *path = NULL;
	char *tag = NULL, *digest = NULL;
	size_t plen;

	memset(r, 0, sizeof(*r));
	if (cause)
		*cause = NULL;
	if (!s || !*s) {
		err = ERR_EMPTY;
		goto fail;
	}
	if (is_identifier(s)) {
		err = ERR_CANONICAL;
		goto fail;
	}

	/* name[:tag] '@' digest; neither tag nor digest may contain '@'. */
	at = strchr(s, '@');
	name = at ? xstrndup(s, (size_t)(at - s)) : xstrdup(s);
	if (at)
		digest = xstrdup(at + 1);

	/* The first component is the registry only if it looks like one. */
	slash = strchr(name, '/');
	rest = name;
	if (slash && looks_like_domain(name, (size_t)(slash - name))) {
		domain = xstrndup(name, (size_t)(slash - name));
		rest = slash + 1;
		if (strcmp(domain, LEGACY_DOMAIN) == 0) {
			free(domain);
			domain = xstrdup(DEFAULT_DOMAIN);
		}
	} else {
		domain = xstrdup(DEFAULT_DOMAIN);
	}

	/* Paths never contain ':', so the first one after the domain starts the tag. */
	colon = strchr(rest, ':');
	plen = colon ? (size_t)(colon - rest) : strlen(rest);
	if (colon)
		tag = xstrdup(colon + 1);
	if (strcmp(domain, DEFAULT_DOMAIN) == 0 && !memchr(rest, '/', plen))
		path = xasprintf(OFFICIAL_PREFIX "%.*s", (int)plen, rest);
	else
		path = xstrndup(rest, plen);

	if (has_upper(path, strlen(path)))
		err = ERR_UPPER;
	else if (!valid_domain(domain, strlen(domain)) || !valid_path(path))
		err = ERR_FORMAT;
	else if (tag && !valid_tag(tag))
		err = ERR_TAG;
	else if (strlen(path) > MAX_PATH_LEN || strlen(domain) > MAX_DOMAIN_LEN)
		err = ERR_TOO_LONG;
	else if (digest)
		err = digest_error(digest);
	if (err)
		goto fail;

	if (!tag && !digest)
		tag = xstrdup(DEFAULT_TAG);
	r->full = xasprintf("%s/%s%s%s%s%s", domain, path,
			    tag ? ":" : "", tag ? tag : "",
			    digest ? "@" : "", digest ? digest : "");
	r->domain = domain;
	r->path = path;
	r->tag = tag;
	r->digest = digest;
	free(name);
	return 0;

fail:
	free(name);
	free(domain);
	free(path);
	free(tag);
	free(digest);
	if (cause)
		*cause = xstrdup(err);
	return -1;
}

void ref_free(struct ref *r)
{
	if (!r)
		return;
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	free(r->full);
	memset(r, 0, sizeof(*r));
}

const char *ref_registry_host(const struct ref *r)
{
	if (r->domain && strcmp(r->domain, DEFAULT_DOMAIN) == 0)
		return DOCKER_REGISTRY;
	return r->domain;
}

const char *ref_reference(const struct ref *r)
{
	return r->digest ? r->digest : r->tag;
}
