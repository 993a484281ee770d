/*
 * pane.h - a generic scrollable list pane: a title rule, rows identified
 * by a stable key (an image id, a blob id, an event number), a selection
 * that follows its key across refreshes, focus, and scrolling. What a row
 * looks like is the caller's: pane_draw calls back for every visible row.
 */
#ifndef PULLTOP_PANE_H
#define PULLTOP_PANE_H

#include "tui.h"

/* Draw row key at line y of w, width columns; sel: it is highlighted. */
typedef void (*pane_row_fn)(WINDOW *w, int y, int width, long key, int sel,
    void *ctx);

struct pane {
	const char *title;
	const char *empty;	/* shown when there are no rows */
	long *keys;
	int nrows, cap;
	int total;		/* rows before the filter */
	long sel_key;		/* selected row's key; -1 none yet */
	int sel;		/* its index, -1 if no rows */
	int top;		/* first visible row */
	int height;		/* visible rows at the last draw */
	int focus;
	int log;		/* a log: new rows arrive at the end */
	int follow;		/* log at its end: stick to the newest row */
	int sep_right;		/* draw a vertical rule on the last column */
};

void pane_init(struct pane *p, const char *title, const char *empty,
    int log);
void pane_free(struct pane *p);

/* Rebuild the rows: clear, add each, end (re-finds the selection). */
void pane_clear(struct pane *p);
void pane_add(struct pane *p, long key);
void pane_end(struct pane *p, int total);

/* Movement keys; 1 if the key was one. */
int pane_key(struct pane *p, int key);
/* The selected key, or -1. */
long pane_selected(const struct pane *p);
/* Select key if it is a row. */
void pane_select(struct pane *p, long key);

/* Draw title and visible rows into w (h lines, width columns). */
void pane_draw(struct pane *p, WINDOW *w, int h, int width, pane_row_fn fn,
    void *ctx);

#endif
