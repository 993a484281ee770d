/*
 * fuzz_range.c - libFuzzer target for reg_content_range_start, which reads
 * START out of a Content-Range answer "bytes START-END/TOTAL". Checked
 * against an independent reading of the same grammar: "bytes" in any case,
 * optional spaces, decimal digits that fit a long long, then '-'.
 *
 * It lives in src/registry/xfer.c, which links against much of the
 * engine, so this target takes it all.
 *
 * Sources: all
 * Check-runs: 3000000
 * Packages: all
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "registry.h"

static long long
oracle(const char *s)
{
	unsigned long long v = 0;
	int digits = 0;

	if (strncasecmp(s, "bytes", 5) != 0)
		return -1;
	s += 5;
	while (*s == ' ')
		s++;
	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		if (v > ((unsigned long long)LLONG_MAX - (unsigned)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (digits == 0 || *s != '-')
		return -1;
	return (long long)v;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	long long got, want;

	/* xfer.c keeps at most 127 bytes of the header */
	if (size > 4096)
		return 0;
	s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	got = reg_content_range_start(s);
	want = oracle(s);
	if (got != want) {
		fprintf(stderr, "fuzz_range: '%s': got %lld, want %lld\n", s,
		    got, want);
		abort();
	}
	free(s);
	return 0;
}
