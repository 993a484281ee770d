/*
 * auth.h - parsing of WWW-Authenticate challenges.
 */
#ifndef PULLTOP_AUTH_H
#define PULLTOP_AUTH_H

struct challenge {
	char scheme[16];	/* "Bearer", "Basic" */
	char realm[1024];
	char service[256];
	char scope[512];
	char error[64];		/* error="insufficient_scope" etc */
};

/*
 * Parse one WWW-Authenticate value into c: its first Bearer challenge, else
 * its first Basic one, else its first. 0 on success, -1 if unparseable.
 */
int auth_parse_challenge(const char *value, struct challenge *c);

#endif
