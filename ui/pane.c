/*
 * pane.c - the generic list pane: rows by key, a selection kept by key
 * (when its row goes away the selection stays at the same place in the
 * list, as htop does), scrolling that keeps the selection visible, and
 * the title rule that shows focus, counts and the scroll position.
 */
#include "pane.h"
#include "colors.h"
#include "draw.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
pane_init(struct pane *p, const char *title, const char *empty, int log)
{
	memset(p, 0, sizeof *p);
	p->title = title;
	p->empty = empty;
	p->sel_key = -1;
	p->sel = -1;
	p->log = log;
	p->follow = log;
}

void
pane_free(struct pane *p)
{
	free(p->keys);
	p->keys = NULL;
	p->nrows = p->cap = 0;
}

void
pane_clear(struct pane *p)
{
	p->nrows = 0;
}

void
pane_add(struct pane *p, long key)
{
	if (p->nrows == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->keys = xrealloc(p->keys, (size_t)p->cap * sizeof *p->keys);
	}
	p->keys[p->nrows++] = key;
}

static int
pane_find(const struct pane *p, long key)
{
	int i;

	for (i = 0; i < p->nrows; i++)
		if (p->keys[i] == key)
			return i;
	return -1;
}

/* Keep top so that the selection is visible and no space is wasted. */
static void
pane_scroll(struct pane *p)
{
	int vis = p->height > 0 ? p->height : 1;

	if (p->sel >= 0) {
		if (p->sel < p->top)
			p->top = p->sel;
		if (p->sel >= p->top + vis)
			p->top = p->sel - vis + 1;
	}
	if (p->top > p->nrows - vis)
		p->top = p->nrows - vis;
	if (p->top < 0)
		p->top = 0;
}

void
pane_end(struct pane *p, int total)
{
	int i;

	p->total = total;
	if (p->nrows == 0) {
		p->sel = -1;		/* sel_key stays: the row may return */
		p->top = 0;
		return;
	}
	if (p->log && p->follow)
		i = p->nrows - 1;
	else if ((i = pane_find(p, p->sel_key)) < 0) {
		i = p->sel < 0 ? 0 : p->sel;
		if (i >= p->nrows)
			i = p->nrows - 1;
	}
	p->sel = i;
	p->sel_key = p->keys[i];
	pane_scroll(p);
}

static void
pane_move(struct pane *p, int to)
{
	if (p->nrows == 0)
		return;
	if (to < 0)
		to = 0;
	if (to >= p->nrows)
		to = p->nrows - 1;
	p->sel = to;
	p->sel_key = p->keys[to];
	/* a log pane follows new rows again once back at its end */
	if (p->log)
		p->follow = to == p->nrows - 1;
	pane_scroll(p);
}

int
pane_key(struct pane *p, int key)
{
	int page = p->height > 1 ? p->height - 1 : 1;

	switch (key) {
	case KEY_UP:
	case 'k':
		pane_move(p, p->sel - 1);
		return 1;
	case KEY_DOWN:
	case 'j':
		pane_move(p, p->sel + 1);
		return 1;
	case KEY_PPAGE:
		pane_move(p, p->sel - page);
		return 1;
	case KEY_NPAGE:
		pane_move(p, p->sel + page);
		return 1;
	case KEY_HOME:
	case 'g':
		pane_move(p, 0);
		return 1;
	case KEY_END:
	case 'G':
		pane_move(p, p->nrows - 1);
		return 1;
	}
	return 0;
}

long
pane_selected(const struct pane *p)
{
	return p->sel >= 0 && p->sel < p->nrows ? p->keys[p->sel] : -1;
}

void
pane_select(struct pane *p, long key)
{
	int i = pane_find(p, key);

	p->sel_key = key;
	if (i >= 0)
		pane_move(p, i);
}

/* "─ Active (3 of 12) ──────── 4-10/12 ─" */
static void
pane_title(struct pane *p, WINDOW *w, int width)
{
	attr_t rule = colors_attr(ROLE_PANE_TITLE);
	char t[96], pos[64];
	int x;

	draw_hline(w, 0, 0, width, rule);
	if (p->sep_right)
		draw_tee_down(w, 0, width - 1, rule);
	if (p->total != p->nrows)
		snprintf(t, sizeof t, " %s (%d of %d) ", p->title, p->nrows,
		    p->total);
	else
		snprintf(t, sizeof t, " %s (%d) ", p->title, p->nrows);
	x = 1 + draw_text(w, 0, 1, width - 2, t, p->focus ?
	    colors_attr(ROLE_PANE_TITLE_FOCUS) : colors_attr(ROLE_PANE_TITLE) |
	    A_BOLD);
	if (p->nrows > p->height && p->height > 0) {
		snprintf(pos, sizeof pos, " %d-%d/%d ", p->top + 1,
		    p->top + p->height < p->nrows ? p->top + p->height :
		    p->nrows, p->nrows);
		if (x + draw_width(pos) + 2 < width)
			draw_text_right(w, 0, x, width - x - 2, pos,
			    colors_attr(ROLE_PANE_TITLE));
	}
}

void
pane_draw(struct pane *p, WINDOW *w, int h, int width, pane_row_fn fn,
    void *ctx)
{
	int i, inner = p->sep_right ? width - 1 : width;

	if (w == NULL || h < 1 || width < 1)
		return;
	p->height = h - 1;
	pane_scroll(p);
	pane_title(p, w, width);
	if (p->sep_right)
		draw_vline(w, 1, width - 1, h - 1,
		    colors_attr(ROLE_PANE_TITLE));
	if (p->nrows == 0 && h > 1) {
		draw_text(w, 1, 1, inner - 1, p->empty,
		    colors_attr(ROLE_LABEL));
		return;
	}
	for (i = 0; i < p->height && p->top + i < p->nrows; i++) {
		int sel = p->focus && p->top + i == p->sel;

		if (sel)
			draw_blank(w, 1 + i, 0, inner,
			    colors_attr(ROLE_SELECTED));
		fn(w, 1 + i, inner, p->keys[p->top + i], sel, ctx);
	}
}
