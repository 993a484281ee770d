/*
 * auth.c - WWW-Authenticate challenge parsing (RFC 7235 auth-params):
 *   Bearer realm="https://auth.example/token",service="reg",scope="a:b:pull"
 * Values may be quoted (with backslash escapes) or bare tokens. Unknown
 * parameters are skipped; over-long values are rejected, never truncated.
 */
#include "auth.h"

#include <string.h>
#include <strings.h>

static const char *
skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Copy a quoted or token value at p into out; returns the end or NULL. */
static const char *
parse_value(const char *p, char *out, size_t n)
{
	size_t o = 0;

	if (*p == '"') {
		p++;
		while (*p != '"') {
			if (*p == '\0')
				return NULL;
			if (*p == '\\' && p[1] != '\0')
				p++;
			if (o + 1 >= n)
				return NULL;
			out[o++] = *p++;
		}
		p++;
	} else {
		while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t') {
			if (o + 1 >= n)
				return NULL;
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	return p;
}

int
auth_parse_challenge(const char *value, struct challenge *c)
{
	const char *p = skip_ws(value);
	size_t n = 0;
	char key[32], tmp[1024];

	memset(c, 0, sizeof *c);
	while (p[n] != '\0' && p[n] != ' ' && p[n] != '\t')
		n++;
	if (n == 0 || n >= sizeof c->scheme)
		return -1;
	memcpy(c->scheme, p, n);
	p = skip_ws(p + n);
	while (*p != '\0') {
		size_t k = 0;
		char *dst;
		size_t dn;

		while (*p != '\0' && *p != '=' && *p != ',' && *p != ' ') {
			if (k + 1 >= sizeof key)
				return -1;
			key[k++] = *p++;
		}
		key[k] = '\0';
		p = skip_ws(p);
		if (*p != '=')
			return -1;
		p = skip_ws(p + 1);
		if (strcasecmp(key, "realm") == 0) {
			dst = c->realm;
			dn = sizeof c->realm;
		} else if (strcasecmp(key, "service") == 0) {
			dst = c->service;
			dn = sizeof c->service;
		} else if (strcasecmp(key, "scope") == 0) {
			dst = c->scope;
			dn = sizeof c->scope;
		} else if (strcasecmp(key, "error") == 0) {
			dst = c->error;
			dn = sizeof c->error;
		} else {
			dst = tmp;
			dn = sizeof tmp;
		}
		p = parse_value(p, dst, dn);
		if (p == NULL)
			return -1;
		p = skip_ws(p);
		if (*p == ',')
			p = skip_ws(p + 1);
		else if (*p != '\0')
			return -1;
	}
	return 0;
}
