/*
 * layout.c - where everything goes for the terminal's size: the header on
 * top, the key bar at the bottom, and between them Images, Active,
 * Completed beside Already exists, and Events. Sizes follow the terminal
 * (and the number of images), not the rows of the moment, so panes do not
 * jump about. Too short for all of them, only the focused pane is shown;
 * below MIN_COLS x MIN_LINES nothing but a notice is.
 */
#include "dash.h"

#include <string.h>

static void
region_set(struct region *r, int y, int x, int h, int w)
{
	if (r->win != NULL && (r->y != y || r->x != x || r->h != h ||
	    r->w != w)) {
		delwin(r->win);
		r->win = NULL;
	}
	r->y = y;
	r->x = x;
	r->h = h;
	r->w = w;
	if (r->win == NULL && h > 0 && w > 0) {
		r->win = newwin(h, w, y, x);
		if (r->win != NULL)
			leaveok(r->win, TRUE);
	}
}

static void
region_hide(struct region *r)
{
	region_set(r, 0, 0, 0, 0);
}

void
layout_free(struct dash *d)
{
	int i;

	region_hide(&d->header);
	region_hide(&d->keybar);
	for (i = 0; i < PANE_COUNT; i++)
		region_hide(&d->pane[i]);
}

/* Split rows r among the bands: images, active, done/exists, events. */
static void
layout_bands(const struct dash *d, int r, int *img, int *act, int *done,
    int *ev)
{
	int n = d->snap.nimages > 0 ? d->snap.nimages : 1, cap = r / 5;

	if (cap < 1)
		cap = 1;
	*img = (n < cap ? n : cap) + 1;
	*ev = r / 6;
	if (*ev < 2)
		*ev = 2;
	if (*ev > 8)
		*ev = 8;
	*ev += 1;
	*done = r / 4 > 3 ? r / 4 : 3;
	*act = r - *img - *ev - *done;
	while (*act < 3) {
		if (*done > 2)
			(*done)--;
		else if (*ev > 2)
			(*ev)--;
		else if (*img > 2)
			(*img)--;
		else
			break;
		(*act)++;
	}
}

int
layout_update(struct dash *d)
{
	int lines = LINES, cols = COLS, r, y, i, img, act, done, ev, half;
	int old[PANE_COUNT][4], changed, single;

	for (i = 0; i < PANE_COUNT; i++) {
		old[i][0] = d->pane[i].y;
		old[i][1] = d->pane[i].x;
		old[i][2] = d->pane[i].h;
		old[i][3] = d->pane[i].w;
	}
	changed = lines != d->lines || cols != d->cols;
	d->lines = lines;
	d->cols = cols;
	d->too_small = cols < MIN_COLS || lines < MIN_LINES;
	if (d->too_small) {
		layout_free(d);
		return changed;
	}
	region_set(&d->header, 0, 0, HEADER_LINES, cols);
	region_set(&d->keybar, lines - 1, 0, 1, cols);
	r = lines - HEADER_LINES - 1;
	y = HEADER_LINES;
	single = r < 8;
	d->single = single;
	d->panes[PANE_DONE].sep_right = !single;
	if (single) {
		for (i = 0; i < PANE_COUNT; i++)
			if (i == d->focus)
				region_set(&d->pane[i], y, 0, r, cols);
			else
				region_hide(&d->pane[i]);
	} else {
		layout_bands(d, r, &img, &act, &done, &ev);
		half = cols / 2;
		region_set(&d->pane[PANE_IMAGES], y, 0, img, cols);
		y += img;
		region_set(&d->pane[PANE_ACTIVE], y, 0, act, cols);
		y += act;
		region_set(&d->pane[PANE_DONE], y, 0, done, half + 1);
		region_set(&d->pane[PANE_EXISTS], y, half + 1, done,
		    cols - half - 1);
		y += done;
		region_set(&d->pane[PANE_EVENTS], y, 0, lines - 1 - y, cols);
	}
	for (i = 0; i < PANE_COUNT; i++)
		if (old[i][0] != d->pane[i].y || old[i][1] != d->pane[i].x ||
		    old[i][2] != d->pane[i].h || old[i][3] != d->pane[i].w)
			changed = 1;
	return changed;
}
