/*
 * fuzz_ratelimit.c - libFuzzer target for reg_ratelimit_parse, which reads
 * Docker Hub's ratelimit-limit and ratelimit-remaining values,
 * "N;w=SECONDS". The count is checked against an independent reading (blanks,
 * then decimal digits that fit a long, then the end, ';' or a blank); the
 * window is never negative, and is 0 unless the value names a "w=".
 *
 * It lives in src/registry/mirror.c, which links against much of the
 * engine, so this target takes it all.
 *
 * Sources: all
 * Check-runs: 500000
 * Packages: all
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

/* The count, or -1 when the value is not one. */
static long
oracle(const char *s)
{
	unsigned long v = 0;
	int digits = 0;

	while (*s == ' ')
		s++;
	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		if (v > ((unsigned long)LONG_MAX - (unsigned)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (digits == 0 || (*s != '\0' && *s != ';' && *s != ' '))
		return -1;
	return (long)v;
}

static void
fail(const char *s, const char *what, long n, long w)
{
	fprintf(stderr, "fuzz_ratelimit: '%s': %s (n %ld, w %ld)\n", s, what,
	    n, w);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	long n = -7, w = -7, want;
	int r;

	/* xfer.c keeps at most 63 bytes of the header */
	if (size > 4096)
		return 0;
	s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	want = oracle(s);
	r = reg_ratelimit_parse(s, &n, &w);
	if (want < 0 && r != -1)
		fail(s, "taken, but it is not a count", n, w);
	if (want >= 0 && (r != 0 || n != want))
		fail(s, "count misread", n, w);
	if (r == 0 && (w < 0 || (w > 0 && strstr(s, "w=") == NULL)))
		fail(s, "bad window", n, w);
	n = -7;
	if (reg_ratelimit_parse(s, &n, NULL) != r || (r == 0 && n != want))
		fail(s, "without a window, another answer", n, 0);
	free(s);
	return 0;
}
