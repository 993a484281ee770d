/*
 * fuzz_theme.c - libFuzzer target for theme_parse.
 *
 * Sources: ui/theme.c
 * Check-runs: 125000
 * Packages:
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "theme.h"

static int nwarn;
static void
warn(void *ctx, const char *msg)
{
	const unsigned char *s;
	(void)ctx;
	nwarn++;
	for (s = (const unsigned char *)msg; *s; s++)
		if (*s < 0x20 || *s == 0x7f) abort();
	if (strlen(msg) > 600) abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct theme t;
	int i, rc, bold;

	nwarn = 0;
	rc = theme_parse((const char *)data, size, "fuzz.theme", &t, warn, NULL);
	if (rc > 0 && nwarn != (rc > THEME_WARN_MAX ? THEME_WARN_MAX + 1 : rc)) abort();
	for (i = 0; i < ROLE_COUNT; i++) {
		int n[] = { 8, 16, 256 };
		for (int k = 0; k < 3; k++) {
			bold = 0;
			int f = theme_colour_map(&t.style[i].fg, n[k], 0, &bold);
			if (f < -1 || f >= n[k]) abort();
		}
		if (t.style[i].fg.kind != THEME_COLOUR_DEFAULT &&
		    t.style[i].fg.kind == t.style[i].bg.kind &&
		    t.style[i].fg.value == t.style[i].bg.value) abort();
	}
	return 0;
}
