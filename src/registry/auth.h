/*
 * auth.h - parsing of WWW-Authenticate challenges.
 */
#ifndef PULLTOP_AUTH_H
#define PULLTOP_AUTH_H

#include <stddef.h>

struct challenge {
	char scheme[16];	/* "Bearer", "Basic" */
	char realm[1024];
	char service[256];
	char scope[512];
	char error[64];		/* error="insufficient_scope" etc */
	/* when parsing failed for a value over its size: which, and that */
	char toolong[16];	/* "realm", "service", "scope"... or "" */
	size_t toolong_max;	/* the most bytes it may have */
};

/*
 * Parse one WWW-Authenticate value into c: its first Bearer challenge, else
 * its first Basic one, else its first. 0 on success, -1 if unparseable
 * (with c->toolong naming a value that was too long, if that was why).
 */
int auth_parse_challenge(const char *value, struct challenge *c);

#endif
