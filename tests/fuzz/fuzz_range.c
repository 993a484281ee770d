/*
 * fuzz_range.c - libFuzzer target for reg_content_range_start, which reads
 * START out of a Content-Range answer "bytes START-END/TOTAL". Checked
 * against an independent reading of the same grammar: "bytes" in any case,
 * optional spaces, decimal digits that fit a long long, then '-'. And for
 * reg_content_range_parse (all three, for bounded ranges): what it accepts
 * has that START, START <= END < TOTAL (or TOTAL "*"), and reads back the
 * same from its canonical form.
 *
 * It lives in src/registry/xfer.c, which links against much of the
 * engine, so this target takes it all.
 *
 * Sources: all
 * Check-runs: 1500000
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

static void
check_parse(const char *s, long long start)
{
	long long a, b, t, a2, b2, t2;
	char canon[96];

	if (reg_content_range_parse(s, &a, &b, &t) != 0)
		return;
	if (t >= 0)
		snprintf(canon, sizeof canon, "bytes %lld-%lld/%lld", a, b, t);
	else
		snprintf(canon, sizeof canon, "bytes %lld-%lld/*", a, b);
	if (a != start || b < a || (t >= 0 && t <= b) ||
	    reg_content_range_parse(canon, &a2, &b2, &t2) != 0 || a2 != a ||
	    b2 != b || t2 != t) {
		fprintf(stderr, "fuzz_range: '%s' parsed as %lld-%lld/%lld\n",
		    s, a, b, t);
		abort();
	}
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
	check_parse(s, want);
	free(s);
	return 0;
}
