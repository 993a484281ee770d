/*
 * auth.c - WWW-Authenticate challenge parsing (RFC 7235 auth-params):
 *   Bearer realm="https://auth.example/token",service="reg",scope="a:b:pull"
 * Values may be quoted (with backslash escapes) or bare tokens. Unknown
 * parameters are skipped; over-long values are rejected, never truncated,
 * and named in c->toolong so that the cause can say so.
 * One header may hold several challenges ("Basic realm=x, Bearer ..."):
 * the first Bearer one is taken, else the first Basic, else the first.
 */
#include "auth.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *
skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/*
 * Copy a quoted or token value at p into out; returns the end, or NULL
 * with *over set if it did not fit in n bytes.
 */
static const char *
parse_value(const char *p, char *out, size_t n, int *over)
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
				return (*over = 1, NULL);
			out[o++] = *p++;
		}
		p++;
	} else {
		while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t') {
			if (o + 1 >= n)
				return (*over = 1, NULL);
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	return p;
}

/* RFC 7230 tchar: what a scheme or parameter name is made of. */
static size_t
token_len(const char *p)
{
	return strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789!#$%&'*+-.^_`|~");
}

/* Parse one challenge at *pp, leaving *pp at the next one or the end. */
static int
parse_one(const char **pp, struct challenge *c)
{
	const char *p = *pp;
	size_t n = token_len(p);
	char key[32], tmp[1024];

	memset(c, 0, sizeof *c);
	if (n >= sizeof c->scheme) {
		snprintf(c->toolong, sizeof c->toolong, "scheme");
		c->toolong_max = sizeof c->scheme - 1;
	}
	if (n == 0 || n >= sizeof c->scheme)
		return -1;
	memcpy(c->scheme, p, n);
	p = skip_ws(p + n);
	while (*p != '\0') {
		const char *start = p, *q;
		char *dst;
		size_t k, dn;
		int over = 0;

		if (*p == ',') {
			p = skip_ws(p + 1);
			continue;
		}
		k = token_len(p);
		if (k == 0)
			return -1;
		q = skip_ws(p + k);
		if (*q != '=') {
			/* not key=value: the scheme of the next challenge */
			p = start;
			break;
		}
		/* unknown (or over-long) names are parsed into tmp, dropped */
		dst = tmp;
		dn = sizeof tmp;
		if (k < sizeof key) {
			memcpy(key, p, k);
			key[k] = '\0';
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
			}
		}
		p = skip_ws(q + 1);
		p = parse_value(p, dst, dn, &over);
		if (p == NULL && over) {
			snprintf(c->toolong, sizeof c->toolong, "%.*s",
			    (int)(k < sizeof c->toolong ? k :
			    sizeof c->toolong - 1), start);
			c->toolong_max = dn - 1;
		}
		if (p == NULL)
			return -1;
		p = skip_ws(p);
		if (*p != ',' && *p != '\0')
			return -1;
	}
	*pp = p;
	return 0;
}

/* Bearer over Basic over anything else. */
static int
rank(const char *scheme)
{
	if (strcasecmp(scheme, "Bearer") == 0)
		return 2;
	return strcasecmp(scheme, "Basic") == 0;
}

int
auth_parse_challenge(const char *value, struct challenge *c)
{
	struct challenge cur;
	const char *p = value;
	int have = 0;

	memset(c, 0, sizeof *c);
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		if (parse_one(&p, &cur) != 0) {
			memset(c, 0, sizeof *c);
			memcpy(c->toolong, cur.toolong, sizeof c->toolong);
			c->toolong_max = cur.toolong_max;
			return -1;
		}
		if (!have || rank(cur.scheme) > rank(c->scheme))
			*c = cur;
		have = 1;
	}
	return have ? 0 : -1;
}
