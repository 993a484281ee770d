/*
 * layout.c - where everything goes for the terminal's size: the header on
 * top, the key bar at the bottom, and between them Images, Active,
 * Completed beside Already exists, and Events. Each band gets the rows it
 * has to show up to a fair share, the rest goes where rows are hidden, and
 * a band shrinks only after needing less for a while, so panes do not jump
 * about. Too short for all of them, only the focused pane is shown;
 * below MIN_COLS x MIN_LINES nothing but a notice is.
 */
#include "dash.h"
#include "util.h"

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

enum { BAND_IMAGES, BAND_ACTIVE, BAND_DONE, BAND_EVENTS, BANDS };

#define SHRINK_AFTER 1.5	/* seconds a band must need less to shrink */

/*
 * The rows each band would show (title included), with hysteresis: a band
 * grows at once, but shrinks only once it has needed less for a while, so
 * heights do not jump on every frame as rows come and go.
 */
static void
layout_needs(struct dash *d, int need[BANDS], double now)
{
	int raw[BANDS], b;

	raw[BAND_IMAGES] = d->panes[PANE_IMAGES].nrows + 1;
	raw[BAND_ACTIVE] = d->panes[PANE_ACTIVE].nrows + 1;
	raw[BAND_DONE] = d->panes[PANE_DONE].nrows > d->panes[PANE_EXISTS].nrows ?
	    d->panes[PANE_DONE].nrows + 1 : d->panes[PANE_EXISTS].nrows + 1;
	raw[BAND_EVENTS] = d->panes[PANE_EVENTS].nrows + 1;
	for (b = 0; b < BANDS; b++) {
		if (raw[b] < 2)
			raw[b] = 2;	/* the title and "None" */
		if (raw[b] >= d->band_need[b] || d->band_need[b] == 0) {
			d->band_need[b] = raw[b];
			d->band_less_since[b] = 0;
		} else if (d->band_less_since[b] == 0)
			d->band_less_since[b] = now;
		else if (now - d->band_less_since[b] >= SHRINK_AFTER) {
			d->band_need[b] = raw[b];
			d->band_less_since[b] = 0;
		}
		need[b] = d->band_need[b];
	}
}

static int
band_of(int pane)
{
	switch (pane) {
	case PANE_IMAGES:	return BAND_IMAGES;
	case PANE_ACTIVE:	return BAND_ACTIVE;
	case PANE_EVENTS:	return BAND_EVENTS;
	default:		return BAND_DONE;
	}
}

/*
 * Split rows r among the bands. Each gets what it needs up to a fair
 * share (the focused one at least its share when it needs it); what is
 * left goes to the band with the most rows still hidden, then the next.
 */
static void
layout_bands(struct dash *d, int r, int h[BANDS])
{
	int need[BANDS], b, fair = r / BANDS, left = r, best, focus;

	layout_needs(d, need, now_mono());
	focus = band_of(d->focus);
	for (b = 0; b < BANDS; b++) {
		h[b] = need[b] < fair ? need[b] : fair;
		if (h[b] < 2)
			h[b] = 2;
		left -= h[b];
	}
	while (left > 0) {
		/* the focused band first, then the one hiding most */
		best = need[focus] > h[focus] ? focus : -1;
		for (b = 0; best < 0 && b < BANDS; b++)
			if (need[b] > h[b] && (best < 0 ||
			    need[b] - h[b] > need[best] - h[best]))
				best = b;
		if (best < 0)
			best = BAND_EVENTS;	/* nothing hidden: the log */
		h[best]++;
		left--;
	}
	while (left < 0) {
		/* too short for every band's minimum: take from the biggest */
		best = 0;
		for (b = 1; b < BANDS; b++)
			if (h[b] > h[best])
				best = b;
		if (h[best] <= 1)
			break;
		h[best]--;
		left++;
	}
}

int
layout_update(struct dash *d)
{
	int lines = LINES, cols = COLS, r, y, i, h[BANDS], half;
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
		layout_bands(d, r, h);
		half = cols / 2;
		region_set(&d->pane[PANE_IMAGES], y, 0, h[BAND_IMAGES], cols);
		y += h[BAND_IMAGES];
		region_set(&d->pane[PANE_ACTIVE], y, 0, h[BAND_ACTIVE], cols);
		y += h[BAND_ACTIVE];
		region_set(&d->pane[PANE_DONE], y, 0, h[BAND_DONE], half + 1);
		region_set(&d->pane[PANE_EXISTS], y, half + 1, h[BAND_DONE],
		    cols - half - 1);
		y += h[BAND_DONE];
		region_set(&d->pane[PANE_EVENTS], y, 0, lines - 1 - y, cols);
	}
	for (i = 0; i < PANE_COUNT; i++)
		if (old[i][0] != d->pane[i].y || old[i][1] != d->pane[i].x ||
		    old[i][2] != d->pane[i].h || old[i][3] != d->pane[i].w)
			changed = 1;
	return changed;
}
