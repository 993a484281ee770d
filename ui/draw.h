/*
 * draw.h - the dashboard's drawing primitives: UTF-8 text clipped to a
 * number of terminal columns, progress bars with eighth blocks, the
 * throughput sparkline, boxes and rules, and a column fitter for rows.
 * In ASCII mode (a locale that is not UTF-8) nothing drawn here is ever
 * outside 0x20..0x7e.
 */
#ifndef PULLTOP_DRAW_H
#define PULLTOP_DRAW_H

#include <stddef.h>
#include <stdint.h>

#include "tui.h"

/* Pick the glyph set: UTF-8 block/box glyphs, or plain ASCII. */
void draw_setup(int utf8);
int draw_is_utf8(void);

/* Display width of UTF-8 text s (as draw_text would print it). */
int draw_width(const char *s);

/*
 * Print UTF-8 text s at (y, x), clipped to width columns (a wide
 * character that would straddle the edge is left out). Returns the
 * columns used.
 */
int draw_text(WINDOW *w, int y, int x, int width, const char *s, attr_t a);
/* The same, right-aligned inside width columns. */
int draw_text_right(WINDOW *w, int y, int x, int width, const char *s,
    attr_t a);
/* The same, but a text too long loses its start ("…/test/big:v1"). */
int draw_text_tail(WINDOW *w, int y, int x, int width, const char *s,
    attr_t a);
/* n blank cells in attribute a. */
void draw_blank(WINDOW *w, int y, int x, int n, attr_t a);

/* A bar width cells wide, frac (0..1) of it done. */
void draw_bar(WINDOW *w, int y, int x, int width, double frac, attr_t done,
    attr_t todo);
/* The last width of n values (oldest first), scaled to max. */
void draw_sparkline(WINDOW *w, int y, int x, int width, const double *v,
    int n, double max, attr_t a);

/* Rules and boxes. */
void draw_hline(WINDOW *w, int y, int x, int n, attr_t a);
void draw_vline(WINDOW *w, int y, int x, int n, attr_t a);
void draw_box(WINDOW *w, int y, int x, int h, int width, attr_t a);
/* The tee where a vertical rule meets a horizontal one from below. */
void draw_tee_down(WINDOW *w, int y, int x, attr_t a);

/* Helpers for rows. */
void draw_speed(char *out, size_t n, double bytes_per_s);	/* "1.2 MB/s" */
void draw_eta(char *out, size_t n, uint64_t left, double speed);
void draw_secs(char *out, size_t n, double secs);		/* "3.2s" */
/* An estimate made age seconds ago ("--" when eta < 0). */
void draw_eta_at(char *out, size_t n, double eta, double age);

/*
 * A row's columns: give each a width (fixed) or flex > 0 (shares what is
 * left, at least min), and a priority; cols_fit drops the least important
 * columns (highest prio) until the rest fit, then sets x and w of each
 * (w 0: not shown). gap columns separate neighbours.
 */
struct col {
	int width;	/* wanted width when not flex */
	int flex;	/* weight for the leftover space; 0 fixed */
	int min;	/* least width of a flex column */
	int prio;	/* 0 never dropped; bigger goes first */
	int x, w;	/* result */
};
void cols_fit(struct col *c, int n, int x, int width, int gap);

#endif
