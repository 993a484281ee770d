/*
 * draw.c - the dashboard's drawing primitives. Text arrives as UTF-8 (the
 * engine's snapshots are already sanitized) and is decoded here, without
 * the C library's locale-dependent converters, into wide characters for
 * curses; widths come from wcwidth() in UTF-8 mode. In ASCII mode every
 * character outside ASCII prints as '?', and bars, boxes and the
 * sparkline use ASCII glyphs, so a LANG=C terminal gets pure ASCII.
 */
#include "draw.h"
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <wchar.h>

static int draw_utf8;

/* One glyph in both sets. */
struct glyph {
	wchar_t wide;
	char ascii;
};

static const struct glyph g_hline = { L'\x2500', '-' };	/* ─ */
static const struct glyph g_vline = { L'\x2502', '|' };	/* │ */
static const struct glyph g_ul = { L'\x250c', '+' };		/* ┌ */
static const struct glyph g_ur = { L'\x2510', '+' };		/* ┐ */
static const struct glyph g_ll = { L'\x2514', '+' };		/* └ */
static const struct glyph g_lr = { L'\x2518', '+' };		/* ┘ */
static const struct glyph g_tee = { L'\x252c', '+' };		/* ┬ */
static const struct glyph g_full = { L'\x2588', '#' };		/* █ */
static const struct glyph g_todo = { L'\x00b7', '.' };		/* · */

/* ▏▎▍▌▋▊▉: 1/8 .. 7/8 of a cell */
static const wchar_t g_eighths[7] = {
	L'\x258f', L'\x258e', L'\x258d', L'\x258c', L'\x258b', L'\x258a',
	L'\x2589'
};
/* ▁▂▃▄▅▆▇█ and the ASCII ramp */
static const wchar_t g_spark[8] = {
	L'\x2581', L'\x2582', L'\x2583', L'\x2584', L'\x2585', L'\x2586',
	L'\x2587', L'\x2588'
};
static const char g_spark_ascii[] = ".:-=+*#";

void
draw_setup(int utf8)
{
	draw_utf8 = utf8;
}

int
draw_is_utf8(void)
{
	return draw_utf8;
}

/* Decode one UTF-8 character at *s, advancing; invalid bytes give '?'. */
static wchar_t
draw_next(const char **s)
{
	uint32_t c;
	size_t len = utf8_decode((const unsigned char *)*s, &c);

	if (len == 0) {
		*s += 1;
		return L'?';
	}
	*s += len;
	return (wchar_t)c;
}

/* Columns c takes, after mapping it to what will be printed in *out. */
static int
draw_cell_width(wchar_t c, wchar_t *out)
{
	int cw;

	if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0)) {
		*out = L'?';
		return 1;
	}
	if (!draw_utf8) {
		*out = c < 0x80 ? c : L'?';
		return 1;
	}
	cw = wcwidth(c);
	if (cw < 0) {
		*out = L'?';
		return 1;
	}
	*out = c;
	return cw;
}

int
draw_width(const char *s)
{
	wchar_t c, out;
	int n = 0;

	while (s != NULL && *s != '\0') {
		c = draw_next(&s);
		n += draw_cell_width(c, &out);
	}
	return n;
}

int
draw_text(WINDOW *w, int y, int x, int width, const char *s, attr_t a)
{
	wchar_t buf[128], c, out;
	int used = 0, n = 0, cw;

	if (w == NULL || width <= 0 || s == NULL)
		return 0;
	wattrset(w, (int)a);
	wmove(w, y, x);
	while (*s != '\0') {
		c = draw_next(&s);
		cw = draw_cell_width(c, &out);
		if (cw == 0)
			continue;	/* combining marks: dropped */
		if (used + cw > width)
			break;
		buf[n++] = out;
		used += cw;
		if (n == (int)(sizeof buf / sizeof buf[0])) {
			waddnwstr(w, buf, n);
			n = 0;
		}
	}
	if (n > 0)
		waddnwstr(w, buf, n);
	wattrset(w, A_NORMAL);
	return used;
}

int
draw_text_right(WINDOW *w, int y, int x, int width, const char *s, attr_t a)
{
	int tw = draw_width(s);

	if (tw >= width)
		return draw_text(w, y, x, width, s, a);
	return draw_text(w, y, x + width - tw, tw, s, a);
}

int
draw_text_tail(WINDOW *w, int y, int x, int width, const char *s, attr_t a)
{
	wchar_t c, out;
	int tw = draw_width(s);

	if (tw <= width || width < 2)
		return draw_text(w, y, x, width, s, a);
	/* drop characters from the front until the rest fits after the mark */
	while (*s != '\0' && tw > width - 1) {
		c = draw_next(&s);
		tw -= draw_cell_width(c, &out);
	}
	/* U+2026 HORIZONTAL ELLIPSIS */
	draw_text(w, y, x, 1, draw_utf8 ? "\xe2\x80\xa6" : "<", a);
	return 1 + draw_text(w, y, x + 1, width - 1, s, a);
}

void
draw_blank(WINDOW *w, int y, int x, int n, attr_t a)
{
	if (w == NULL || n <= 0)
		return;
	wattrset(w, (int)a);
	mvwhline(w, y, x, ' ' | a, n);
	wattrset(w, A_NORMAL);
}

/* Put n copies of one wide character at (y, x). */
static void
draw_repeat(WINDOW *w, int y, int x, int n, wchar_t wc, attr_t a)
{
	cchar_t cc;
	wchar_t s[2] = { wc, L'\0' };
	int i;

	if (w == NULL || n <= 0)
		return;
	setcchar(&cc, s, a & ~A_COLOR, (short)PAIR_NUMBER(a), NULL);
	for (i = 0; i < n; i++)
		mvwadd_wch(w, y, x + i, &cc);
}

static void
draw_glyph(WINDOW *w, int y, int x, int n, const struct glyph *g, attr_t a)
{
	draw_repeat(w, y, x, n, draw_utf8 ? g->wide : (wchar_t)g->ascii, a);
}

void
draw_bar(WINDOW *w, int y, int x, int width, double frac, attr_t done,
    attr_t todo)
{
	int eighths, full, part;

	if (width <= 0)
		return;
	if (!(frac >= 0))
		frac = 0;
	if (frac > 1)
		frac = 1;
	if (draw_utf8) {
		eighths = (int)(frac * width * 8 + 0.5);
		full = eighths / 8;
		part = eighths % 8;
	} else {
		full = (int)(frac * width + 0.5);
		part = 0;
	}
	draw_glyph(w, y, x, full, &g_full, done);
	if (part > 0 && full < width) {
		draw_repeat(w, y, x + full, 1, g_eighths[part - 1], done);
		full++;
	}
	draw_glyph(w, y, x + full, width - full, &g_todo, todo);
}

void
draw_sparkline(WINDOW *w, int y, int x, int width, const double *v, int n,
    double max, attr_t a)
{
	int i, first, level, levels = draw_utf8 ? 8 : 7;

	if (width <= 0)
		return;
	first = n > width ? n - width : 0;
	/* right-align: the newest sample sits at the right edge */
	x += width - (n - first);
	for (i = first; i < n; i++, x++) {
		if (v[i] <= 0 || max <= 0) {
			draw_blank(w, y, x, 1, a);
			continue;
		}
		level = (int)(v[i] / max * levels + 0.5);
		if (level < 1)
			level = 1;
		if (level > levels)
			level = levels;
		if (draw_utf8)
			draw_repeat(w, y, x, 1, g_spark[level - 1], a);
		else
			draw_repeat(w, y, x, 1,
			    (wchar_t)g_spark_ascii[level - 1], a);
	}
}

void
draw_hline(WINDOW *w, int y, int x, int n, attr_t a)
{
	draw_glyph(w, y, x, n, &g_hline, a);
}

void
draw_vline(WINDOW *w, int y, int x, int n, attr_t a)
{
	int i;

	for (i = 0; i < n; i++)
		draw_glyph(w, y + i, x, 1, &g_vline, a);
}

void
draw_tee_down(WINDOW *w, int y, int x, attr_t a)
{
	draw_glyph(w, y, x, 1, &g_tee, a);
}

void
draw_box(WINDOW *w, int y, int x, int h, int width, attr_t a)
{
	if (h < 2 || width < 2)
		return;
	draw_glyph(w, y, x, 1, &g_ul, a);
	draw_hline(w, y, x + 1, width - 2, a);
	draw_glyph(w, y, x + width - 1, 1, &g_ur, a);
	draw_vline(w, y + 1, x, h - 2, a);
	draw_vline(w, y + 1, x + width - 1, h - 2, a);
	draw_glyph(w, y + h - 1, x, 1, &g_ll, a);
	draw_hline(w, y + h - 1, x + 1, width - 2, a);
	draw_glyph(w, y + h - 1, x + width - 1, 1, &g_lr, a);
}

void
draw_speed(char *out, size_t n, double bytes_per_s)
{
	char b[32];

	if (!(bytes_per_s > 0)) {
		snprintf(out, n, "--");
		return;
	}
	fmt_bytes(b, sizeof b, (uint64_t)bytes_per_s);
	snprintf(out, n, "%s/s", b);
}

void
draw_eta(char *out, size_t n, uint64_t left, double speed)
{
	if (left == 0) {
		snprintf(out, n, "0s");
		return;
	}
	if (!(speed > 0)) {
		snprintf(out, n, "--");
		return;
	}
	fmt_duration(out, n, (double)left / speed);
}

void
draw_eta_at(char *out, size_t n, double eta, double age)
{
	if (eta < 0) {
		snprintf(out, n, "--");
		return;
	}
	eta -= age;
	fmt_duration(out, n, eta > 0 ? eta : 0);
}

void
draw_secs(char *out, size_t n, double secs)
{
	if (secs >= 0 && secs < 60)
		snprintf(out, n, "%.1fs", secs);
	else
		fmt_duration(out, n, secs);
}

void
cols_fit(struct col *c, int n, int x, int width, int gap)
{
	int i, need, shown, left, flexsum, worst, capped, x0 = x;

	for (i = 0; i < n; i++)
		c[i].w = -1;		/* -1: still in the running */
	for (;;) {
		need = 0;
		shown = 0;
		for (i = 0; i < n; i++) {
			if (c[i].w == 0)
				continue;
			need += c[i].flex ? c[i].min : c[i].width;
			shown++;
		}
		need += shown > 1 ? (shown - 1) * gap : 0;
		if (need <= width)
			break;
		worst = -1;
		for (i = 0; i < n; i++)
			if (c[i].w != 0 && c[i].prio > 0 &&
			    (worst < 0 || c[i].prio >= c[worst].prio))
				worst = i;
		if (worst < 0)
			break;		/* nothing to drop: clipped below */
		c[worst].w = 0;
	}
	for (i = 0; i < n; i++)
		if (c[i].w != 0)
			c[i].w = c[i].flex ? c[i].min : c[i].width;
	/* share the leftover among flex columns; a capped one stops growing */
	left = width - need;
	do {
		capped = 0;
		flexsum = 0;
		for (i = 0; i < n; i++)
			if (c[i].w != 0 && c[i].flex &&
			    (c[i].width <= 0 || c[i].w < c[i].width))
				flexsum += c[i].flex;
		if (left <= 0 || flexsum == 0)
			break;
		need = left;
		for (i = 0; i < n && left > 0; i++) {
			int extra;

			if (c[i].w == 0 || !c[i].flex ||
			    (c[i].width > 0 && c[i].w >= c[i].width))
				continue;
			extra = need * c[i].flex / flexsum;
			if (extra < 1)
				extra = 1;
			if (extra > left)
				extra = left;
			if (c[i].width > 0 && c[i].w + extra >= c[i].width) {
				extra = c[i].width - c[i].w;
				capped = 1;
			}
			c[i].w += extra;
			left -= extra;
		}
	} while (capped || left > 0);
	for (i = 0; i < n; i++) {
		c[i].x = x;
		if (c[i].w == 0)
			continue;
		if (c[i].w > width - (x - x0))
			c[i].w = width - (x - x0);
		if (c[i].w < 0)
			c[i].w = 0;
		x += c[i].w + gap;
	}
}
