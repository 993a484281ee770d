/*
 * fuzz_auth.c - libFuzzer target for auth_parse_challenge: WWW-Authenticate
 * values as a registry sends them. Whatever the outcome, every output field
 * must be NUL-terminated within its array; on success the scheme is a
 * non-empty token without blanks and nothing is named too long; a value
 * named too long comes with its limit.
 *
 * Sources: src/registry/auth.c
 * Check-runs: 700000
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

#define TERMINATED(f) (memchr((f), '\0', sizeof(f)) != NULL)

static void
fail(const char *what, const char *in)
{
	fprintf(stderr, "fuzz_auth: %s\n  input: '%s'\n", what, in);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct challenge c;
	char *s;
	int r;

	/* header_cb keeps at most 4095 bytes; allow more to stress the parser */
	if (size > 8192)
		return 0;
	s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&c, 0xa5, sizeof c);	/* garbage the parser must overwrite */
	r = auth_parse_challenge(s, &c);
	if (r != 0 && r != -1)
		fail("result neither 0 nor -1", s);
	if (!TERMINATED(c.scheme) || !TERMINATED(c.realm) ||
	    !TERMINATED(c.service) || !TERMINATED(c.scope) ||
	    !TERMINATED(c.error) || !TERMINATED(c.toolong))
		fail("a field is not NUL-terminated within its size", s);
	if (r == 0 && c.toolong[0] != '\0')
		fail("success, yet a value named too long", s);
	if (c.toolong[0] != '\0' && (c.toolong_max == 0 ||
	    c.toolong_max >= 8192))
		fail("a too-long value without a sane limit", s);
	if (r == 0) {
		if (c.scheme[0] == '\0')
			fail("success with an empty scheme", s);
		if (strpbrk(c.scheme, " \t") != NULL)
			fail("scheme holds a blank", s);
	}
	free(s);
	return 0;
}
