/*
 * rows.c - what every pane lists and how each row reads. rows_build turns
 * the snapshot (and the filter) into each pane's keys; the renderers draw
 * one row from the snapshot by key: an image with its state, bar and ETA;
 * an active layer with state, images, bar, bytes, speed and ETA (failed
 * and cancelled layers stay here, where they can be retried); finished
 * and already present layers; and timestamped events.
 */
#include "dash.h"
#include "colors.h"
#include "draw.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const struct model_image *
rows_image(const struct dash *d, long id)
{
	if (id < 0 || id >= d->snap.nimages || d->snap.images[id].id != id)
		return NULL;
	return &d->snap.images[id];
}

const struct model_blob *
rows_blob(const struct dash *d, long id)
{
	if (id < 0 || id >= d->snap.nblobs || d->snap.blobs[id].id != id)
		return NULL;
	return &d->snap.blobs[id];
}

const struct model_event *
rows_event(const struct dash *d, long seq)
{
	int lo = 0, hi = d->snap.nevents - 1;

	/* in seq order, with gaps where the model's log overflowed */
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		long at = (long)d->snap.events[mid].seq;

		if (at == seq)
			return &d->snap.events[mid];
		if (at < seq)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/* "alpine:3.20, debian:12": the images using b, short names (malloc'd). */
char *
rows_blob_images(const struct dash *d, const struct model_blob *b)
{
	char name[256], *out = xstrdup(""), *t;
	int i;

	for (i = 0; i < b->nimages; i++) {
		if (b->images[i] < 0 || b->images[i] >= d->snap.nimages)
			continue;
		model_image_short(d->snap.images[b->images[i]].ref, name,
		    sizeof name);
		t = xasprintf("%s%s%s", out, out[0] ? ", " : "", name);
		free(out);
		out = t;
		if (strlen(out) > 200)
			break;	/* wider than any screen */
	}
	return out;
}

/* What an event is about, for the filter. */
static const char *
event_name(const struct snapshot *s, const struct model_event *e)
{
	if (e->blob >= 0 && e->blob < s->nblobs)
		return s->blobs[e->blob].short_id;
	if (e->image >= 0 && e->image < s->nimages)
		return s->images[e->image].ref;
	return NULL;
}

/* Does any of the texts contain the filter (ignoring case)? */
static int
rows_match(const struct dash *d, const char *a, const char *b, const char *c)
{
	const char *f = d->filter;

	if (f[0] == '\0')
		return 1;
	return (a && strcasestr(a, f)) || (b && strcasestr(b, f)) ||
	    (c && strcasestr(c, f));
}

static int
rows_by_finish(const void *x, const void *y, void *ctx)
{
	const struct dash *d = ctx;
	const struct model_blob *a = rows_blob(d, *(const long *)x);
	const struct model_blob *b = rows_blob(d, *(const long *)y);

	/* in the order they finished, like a log */
	if (a->finished != b->finished)
		return a->finished < b->finished ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

void
rows_build(struct dash *d)
{
	const struct snapshot *s = &d->snap;
	struct pane *p;
	int i, total[PANE_COUNT] = { 0 };

	for (i = 0; i < PANE_COUNT; i++)
		pane_clear(&d->panes[i]);
	d->ref_w = d->images_w = 8;
	for (i = 0; i < s->nimages; i++) {
		const struct model_image *im = &s->images[i];
		int w = draw_width(im->ref);
		if (w > d->ref_w)
			d->ref_w = w;
		total[PANE_IMAGES]++;
		if (rows_match(d, im->ref, im->platform, im->digest))
			pane_add(&d->panes[PANE_IMAGES], im->id);
	}
	for (i = 0; i < s->nblobs; i++) {
		const struct model_blob *b = &s->blobs[i];
		int id;

		if (b->state == BLOB_DONE)
			id = PANE_DONE;
		else if (b->state == BLOB_EXISTS)
			id = PANE_EXISTS;
		else {
			char *names = rows_blob_images(d, b);
			int w = draw_width(names);
			const char *ep = snapshot_endpoint(s, b);

			/* the endpoint serving it takes the names' place */
			if (ep != NULL && b->where == NULL)
				w = draw_width(ep);
			id = PANE_ACTIVE;	/* failed and cancelled too */
			if (w > d->images_w)
				d->images_w = w;
			free(names);
		}
		total[id]++;
		if (rows_match(d, b->short_id, b->digest, b->where))
			pane_add(&d->panes[id], b->id);
	}
	p = &d->panes[PANE_DONE];
	if (p->nrows > 1)
		qsort_r(p->keys, (size_t)p->nrows, sizeof p->keys[0],
		    rows_by_finish, d);
	for (i = 0; i < s->nevents; i++) {
		total[PANE_EVENTS]++;
		if (rows_match(d, s->events[i].text, event_name(s,
		    &s->events[i]), NULL))
			pane_add(&d->panes[PANE_EVENTS],
			    (long)s->events[i].seq);
	}
	for (i = 0; i < PANE_COUNT; i++)
		pane_end(&d->panes[i], total[i]);
}

static attr_t
rows_attr(int sel, enum role r)
{
	return sel ? colors_attr(ROLE_SELECTED) : colors_attr(r);
}

void
rows_image_state(const struct model_image *im, char *out, size_t n)
{
	switch (im->state) {
	case IMAGE_RESOLVING:
		snprintf(out, n, "Resolving");
		break;
	case IMAGE_DOWNLOADING:
		snprintf(out, n, "Downloading %d/%d layers", im->layers_done,
		    im->nlayers);
		break;
	case IMAGE_LOADING:	/* the engine's step: "Sending 1 MB / 4 MB" */
		snprintf(out, n, "Loading%s%s", im->note ? ": " : "",
		    im->note ? im->note : "");
		break;
	case IMAGE_COMPLETE:
		snprintf(out, n, "%s %.19s%s", im->removed ? "Removed" :
		    "Complete", im->digest ? im->digest : "",
		    !im->removed && im->up_to_date ? " (up to date)" : "");
		break;
	case IMAGE_FAILED:
		snprintf(out, n, "Failed: %s", im->error ? im->error :
		    "unknown error");
		break;
	case IMAGE_CANCELLED:
		snprintf(out, n, "Cancelled");
		break;
	}
}

static enum role
rows_image_role(enum image_state s)
{
	switch (s) {
	case IMAGE_RESOLVING:	return ROLE_LABEL;
	case IMAGE_DOWNLOADING:	return ROLE_STATE_DOWNLOADING;
	case IMAGE_LOADING:	return ROLE_STATE_DOWNLOADING;
	case IMAGE_COMPLETE:	return ROLE_STATE_COMPLETE;
	case IMAGE_FAILED:	return ROLE_STATE_FAILED;
	case IMAGE_CANCELLED:	return ROLE_STATE_FAILED;
	}
	return ROLE_NORMAL;
}

/* The columns from a to b (shown ones) as one span: its width from x. */
static int
rows_span(const struct col *c, int a, int b, int x)
{
	int i, end = x;

	for (i = a; i <= b; i++)
		if (c[i].w > 0 && c[i].x + c[i].w > end)
			end = c[i].x + c[i].w;
	return end - x;
}

static void
rows_image_draw(WINDOW *w, int y, int width, long key, int sel, void *ctx)
{
	struct dash *d = ctx;
	const struct model_image *im = rows_image(d, key);
	int refmin = (width - 2) * 2 / 5 > 12 ? (width - 2) * 2 / 5 : 12;
	struct col c[6] = {
		{ .flex = 3, .min = d->ref_w < refmin ? d->ref_w : refmin,
		  .width = d->ref_w, .prio = 0 },		/* reference */
		{ .width = 14, .prio = 5 },			/* platform */
		{ .flex = 2, .min = 24, .width = 44, .prio = 0 }, /* state */
		{ .flex = 2, .min = 8, .prio = 2 },		/* bar */
		{ .width = 4, .prio = 4 },			/* percent */
		{ .width = 9, .prio = 3 },			/* ETA */
	};
	char st[320], t[32];
	double frac;
	int final;

	if (im == NULL)
		return;
	cols_fit(c, 6, 1, width - 2, 2);
	final = image_state_final(im->state);
	draw_text_tail(w, y, c[0].x, c[0].w, im->ref,
	    rows_attr(sel, ROLE_NORMAL));
	draw_text(w, y, c[1].x, c[1].w, im->platform ? im->platform : "-",
	    rows_attr(sel, ROLE_LABEL));
	rows_image_state(im, st, sizeof st);
	if (im->state == IMAGE_FAILED) {
		/* the cause needs the room: it takes the bar's columns */
		draw_text(w, y, c[2].x, rows_span(c, 2, 4, c[2].x), st,
		    rows_attr(sel, ROLE_STATE_FAILED));
	} else {
		draw_text(w, y, c[2].x, c[2].w, st,
		    rows_attr(sel, rows_image_role(im->state)));
		frac = im->bytes_total ? (double)im->bytes_done /
		    im->bytes_total : 0;
		if (im->state == IMAGE_COMPLETE)
			frac = 1;
		if (c[3].w > 0)
			draw_bar(w, y, c[3].x, c[3].w, frac,
			    rows_attr(sel, ROLE_BAR_DONE),
			    rows_attr(sel, ROLE_BAR_TODO));
		snprintf(t, sizeof t, "%3d%%", (int)(frac * 100));
		draw_text(w, y, c[4].x, c[4].w, t, rows_attr(sel, ROLE_NORMAL));
	}
	if (final) {
		draw_secs(t, sizeof t, (im->finished > 0 ? im->finished :
		    d->snap.now) - im->started);
	} else if (im->state == IMAGE_RESOLVING) {
		snprintf(t, sizeof t, " ");
	} else {
		char e[16];
		draw_eta_at(e, sizeof e, im->eta, now_mono() - d->snap.now);
		snprintf(t, sizeof t, "ETA %s", e);
	}
	draw_text_right(w, y, c[5].x, c[5].w, t, rows_attr(sel, ROLE_LABEL));
}

static enum role
rows_blob_role(enum blob_state s)
{
	switch (s) {
	case BLOB_WAITING:	return ROLE_LABEL;
	case BLOB_RETRYING:	return ROLE_STATE_RETRYING;
	case BLOB_STALLED:	return ROLE_STATE_STALLED;
	case BLOB_FAILED:
	case BLOB_CANCELLED:	return ROLE_STATE_FAILED;
	case BLOB_DONE:		return ROLE_STATE_COMPLETE;
	case BLOB_EXISTS:	return ROLE_STATE_EXISTS;
	default:		return ROLE_STATE_DOWNLOADING;
	}
}

/*
 * A split blob's bar: one segment per range, each as wide as its share of
 * the blob (at least one column), filled as far as that range is.
 */
static void
rows_range_bar(WINDOW *w, int y, int x, int width, const struct model_blob *b,
    int sel)
{
	int i, at = 0, n = b->nranges, seg;

	for (i = 0; i < n && at < width; i++) {
		const struct model_range *r = &b->ranges[i];
		uint64_t len = r->end - r->start;

		seg = i == n - 1 ? width - at : (int)((double)r->end /
		    (double)b->size * width + 0.5) - at;
		if (seg < 1)
			seg = 1;
		if (seg > width - at)
			seg = width - at;
		draw_bar(w, y, x + at, seg, len ? (double)r->done / len : 1,
		    rows_attr(sel, ROLE_BAR_DONE), rows_attr(sel, ROLE_BAR_TODO));
		at += seg;
	}
}

static void
rows_active_draw(WINDOW *w, int y, int width, long key, int sel, void *ctx)
{
	struct dash *d = ctx;
	const struct model_blob *b = rows_blob(d, key);
	struct col c[7] = {
		{ .width = 12, .prio = 0 },			/* short id */
		{ .width = 20, .prio = 0 },			/* state */
		{ .flex = 1, .min = 8, .width = d->images_w,
		  .prio = 4 },					/* images */
		{ .flex = 2, .min = 6, .prio = 1 },		/* bar */
		{ .width = 19, .prio = 2 },			/* bytes */
		{ .width = 10, .prio = 3 },			/* speed */
		{ .width = 6, .prio = 5 },			/* ETA */
	};
	char st[320], t[96], a[32], bb[32];
	enum role role;
	double frac;
	uint64_t done, size;
	int loud;

	if (b == NULL)
		return;
	/* extracting: how far the extraction is, not the download */
	done = b->state == BLOB_EXTRACTING && b->xsize > 0 ? b->xdone : b->done;
	size = b->state == BLOB_EXTRACTING && b->xsize > 0 ? b->xsize : b->size;
	cols_fit(c, 7, 1, width - 2, 2);
	role = rows_blob_role(b->state);
	loud = b->state == BLOB_RETRYING || b->state == BLOB_STALLED ||
	    b->state == BLOB_FAILED;
	draw_text(w, y, c[0].x, c[0].w, b->short_id,
	    rows_attr(sel, loud ? role : ROLE_NORMAL));
	switch (b->state) {
	case BLOB_RETRYING: {
		double in = ceil(b->retry_at - d->snap.now);
		snprintf(st, sizeof st, "Retrying in %.0fs (%d/%d)",
		    in > 0 ? in : 0, b->attempts + 1, b->max_attempts);
		break;
	}
	case BLOB_FAILED:
		snprintf(st, sizeof st, "Failed: %s", b->error ? b->error :
		    "unknown error");
		break;
	default:
		snprintf(st, sizeof st, "%s", blob_state_name(b->state));
		break;
	}
	if (b->state == BLOB_FAILED) {
		draw_text(w, y, c[1].x, rows_span(c, 1, 3, c[1].x), st,
		    rows_attr(sel, role));
	} else {
		draw_text(w, y, c[1].x, c[1].w, st, rows_attr(sel, role));
		char *names = rows_blob_images(d, b);
		draw_text(w, y, c[2].x, c[2].w, b->where ? b->where :
		    snapshot_endpoint(&d->snap, b) ? snapshot_endpoint(&d->snap,
		    b) : names, rows_attr(sel, ROLE_LABEL));
		free(names);
		frac = size ? (double)done / size : 0;
		if (c[3].w > 0 && b->nranges > 0 &&
		    b->state != BLOB_EXTRACTING)
			rows_range_bar(w, y, c[3].x, c[3].w, b, sel);
		else if (c[3].w > 0)
			draw_bar(w, y, c[3].x, c[3].w, frac,
			    rows_attr(sel, b->state == BLOB_CANCELLED ?
			    ROLE_BAR_TODO : ROLE_BAR_DONE),
			    rows_attr(sel, ROLE_BAR_TODO));
	}
	fmt_bytes(a, sizeof a, done);
	fmt_bytes(bb, sizeof bb, size);
	snprintf(t, sizeof t, "%s / %s", a, bb);
	draw_text_right(w, y, c[4].x, c[4].w, t, rows_attr(sel, ROLE_NORMAL));
	if (b->state == BLOB_DOWNLOADING) {
		draw_speed(t, sizeof t, b->speed);
		draw_text_right(w, y, c[5].x, c[5].w, t,
		    rows_attr(sel, ROLE_NORMAL));
		draw_eta_at(t, sizeof t, b->eta, now_mono() - d->snap.now);
		draw_text_right(w, y, c[6].x, c[6].w, t,
		    rows_attr(sel, ROLE_LABEL));
	}
}

/* Completed and Already exists: id, size, time taken (Completed), images. */
static void
rows_final_draw(WINDOW *w, int y, int width, long key, int sel, void *ctx)
{
	struct dash *d = ctx;
	const struct model_blob *b = rows_blob(d, key);
	struct col c[4] = {
		{ .width = 12, .prio = 0 },		/* short id */
		{ .width = 9, .prio = 1 },		/* size */
		{ .flex = 1, .min = 6, .prio = 3 },	/* images */
		{ .width = 6, .prio = 2 },		/* time: Completed */
	};
	char t[32], *names;
	int timed;

	if (b == NULL)
		return;
	timed = b->state == BLOB_DONE;
	cols_fit(c, timed ? 4 : 3, 1, width - 2, 2);
	draw_text(w, y, c[0].x, c[0].w, b->short_id,
	    rows_attr(sel, rows_blob_role(b->state)));
	fmt_bytes(t, sizeof t, b->size);
	draw_text_right(w, y, c[1].x, c[1].w, t, rows_attr(sel, ROLE_NORMAL));
	names = rows_blob_images(d, b);
	draw_text(w, y, c[2].x, c[2].w, b->where ? b->where : names,
	    rows_attr(sel, ROLE_LABEL));
	free(names);
	if (timed && c[3].w > 0 && b->started > 0 && b->finished > 0) {
		draw_secs(t, sizeof t, b->finished - b->started);
		draw_text_right(w, y, c[3].x, c[3].w, t,
		    rows_attr(sel, ROLE_LABEL));
	}
}

static void
rows_event_draw(WINDOW *w, int y, int width, long key, int sel, void *ctx)
{
	struct dash *d = ctx;
	const struct model_event *e = rows_event(d, key);
	static const enum role level_role[3] = {
		ROLE_NORMAL, ROLE_EVENT_WARN, ROLE_EVENT_ERROR
	};
	char ts[16], line[1024];
	struct tm tm;
	time_t t;
	int x;

	if (e == NULL)
		return;
	model_event_line(&d->snap, e, line, sizeof line);
	t = (time_t)e->wall;
	localtime_r(&t, &tm);
	strftime(ts, sizeof ts, "%H:%M:%S", &tm);
	x = 1 + draw_text(w, y, 1, width - 2, ts, rows_attr(sel, ROLE_LABEL));
	draw_text(w, y, x + 1, width - x - 2, line, rows_attr(sel,
	    level_role[e->level >= 0 && e->level <= 2 ? e->level : 0]));
}

static uint64_t
mix(uint64_t h, uint64_t v)
{
	return (h ^ v) * 1099511628211ull;
}

uint64_t
rows_signature(struct dash *d, int id, int h, int width, double now)
{
	const struct pane *p = &d->panes[id];
	uint64_t s = 1469598103934665603ull;
	int i, top = p->top;

	s = mix(s, (uint64_t)p->focus);
	s = mix(s, (uint64_t)(p->sel + 1));
	s = mix(s, (uint64_t)(p->sel_key + 1));
	s = mix(s, (uint64_t)p->nrows);
	s = mix(s, (uint64_t)p->total);
	s = mix(s, (uint64_t)top);
	s = mix(s, (uint64_t)h);
	s = mix(s, (uint64_t)width);
	s = mix(s, (uint64_t)d->ref_w);
	s = mix(s, (uint64_t)d->images_w);
	for (i = 0; d->filter[i] != '\0'; i++)
		s = mix(s, (unsigned char)d->filter[i]);
	/* the rows that can be seen, from a little before the top */
	for (i = top > h ? top - h : 0; i < p->nrows && i < top + 2 * h; i++) {
		long key = p->keys[i];
		const struct model_image *im;
		const struct model_blob *b;

		s = mix(s, (uint64_t)key);
		if (id == PANE_IMAGES && (im = rows_image(d, key)) != NULL) {
			s = mix(s, im->gen ^ (im->meta_gen << 1));
			s = mix(s, im->bytes_done);
			s = mix(s, (uint64_t)im->layers_done);
			s = mix(s, (uint64_t)im->speed);
			if (!image_state_final(im->state))
				s = mix(s, (uint64_t)now);
		} else if (id != PANE_EVENTS &&
		    (b = rows_blob(d, key)) != NULL) {
			s = mix(s, b->gen ^ (b->meta_gen << 1));
			if (b->state == BLOB_RETRYING)
				s = mix(s, (uint64_t)now);
		}
	}
	return s;
}

void
rows_draw(struct dash *d, int id, WINDOW *w, int h, int width)
{
	static const pane_row_fn fns[PANE_COUNT] = {
		[PANE_IMAGES] = rows_image_draw,
		[PANE_ACTIVE] = rows_active_draw,
		[PANE_DONE] = rows_final_draw,
		[PANE_EXISTS] = rows_final_draw,
		[PANE_EVENTS] = rows_event_draw,
	};

	pane_draw(&d->panes[id], w, h, width, fns[id], d);
}
