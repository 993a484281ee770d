/*
 * fuzz_sanitize.c - libFuzzer target for sanitize(), the filter every
 * registry or user text passes before it reaches a terminal, and for
 * parse_size(). The first byte is the output buffer's size (0-255, the
 * buffer allocated exactly so ASan sees an overrun); the rest is the text.
 * The output must be valid UTF-8, NUL-terminated within the size, free of
 * C0 controls, DEL, ESC, C1 controls (U+0080-U+009F) and bidi controls
 * (U+200E/F, U+202A-U+202E, U+2066-U+2069), and sanitizing it again must
 * change nothing.
 *
 * Sources: src/util/util.c
 * Check-runs: 400000
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static void
fail(const char *what, const char *in, size_t at)
{
	fprintf(stderr, "fuzz_sanitize: %s (output byte %zu)\n  input: '",
	    what, at);
	for (; *in; in++)
		fprintf(stderr, (unsigned char)*in < 0x20 ||
		    (unsigned char)*in >= 0x7f ? "\\x%02x" : "%c",
		    (unsigned char)*in);
	fprintf(stderr, "'\n");
	abort();
}

/* Strict UTF-8 decoding (RFC 3629): length of the sequence, 0 if invalid. */
static size_t
fz_utf8_decode(const unsigned char *p, uint32_t *cp)
{
	size_t len, i;
	uint32_t c;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		c = p[0] & 0x07;
	} else
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static int
forbidden(uint32_t c)
{
	return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) ||
	    c == 0x200e || c == 0x200f || (c >= 0x202a && c <= 0x202e) ||
	    (c >= 0x2066 && c <= 0x2069);
}

static void
check_output(const char *in, const char *out, size_t n)
{
	const unsigned char *p = (const unsigned char *)out;
	size_t i = 0, len;
	uint32_t c;

	if (memchr(out, '\0', n) == NULL)
		fail("output not NUL-terminated within its size", in, n);
	while (p[i] != '\0') {
		len = fz_utf8_decode(p + i, &c);
		if (len == 0)
			fail("output is not valid UTF-8", in, i);
		if (forbidden(c))
			fail("output holds a control or bidi character", in, i);
		i += len;
	}
}

static void
check_size(const char *s)
{
	uint64_t v = 12345;

	if (parse_size(s, &v) == 0) {
		if (v > 1000000000000000ull)
			fail("parse_size accepted more than 1e15", s, 0);
	} else if (v != 12345)
		fail("parse_size wrote *out on failure", s, 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in, *out, *again;
	size_t n;

	if (size == 0 || size > 65536)
		return 0;
	n = data[0];
	in = malloc(size);
	memcpy(in, data + 1, size - 1);
	in[size - 1] = '\0';
	out = malloc(n ? n : 1);
	if (n == 0) {
		out[0] = 'x';
		sanitize(out, 0, in);
		if (out[0] != 'x')
			fail("size 0 but the buffer was written", in, 0);
	} else {
		memset(out, 0xa5, n);
		sanitize(out, n, in);
		check_output(in, out, n);
		/* idempotent: clean text passes through unchanged */
		again = malloc(n);
		sanitize(again, n, out);
		if (strcmp(again, out) != 0)
			fail("sanitize is not idempotent", in, 0);
		free(again);
	}
	check_size(in);
	free(out);
	free(in);
	return 0;
}
