/*
 * overlay.c - the boxes drawn over the panes: the help listing every key,
 * the details of the selected image, layer or event (drawn live from each
 * snapshot, so they keep moving), the quit question, and the notice that
 * replaces everything when the terminal is too small.
 */
#include "dash.h"
#include "colors.h"
#include "draw.h"
#include "keys.h"
#include "util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define DETAIL_LINES 48
#define LABEL_W 12

/* One line of a box: a label (may be "") and its text. */
struct line {
	char label[24];
	char text[320];
	enum role role;
};

struct lines {
	struct line l[DETAIL_LINES];
	int n;
};

static void
lines_add(struct lines *ls, const char *label, enum role role,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
lines_add(struct lines *ls, const char *label, enum role role,
    const char *fmt, ...)
{
	struct line *l;
	va_list ap;

	if (ls->n == DETAIL_LINES)
		return;
	l = &ls->l[ls->n++];
	snprintf(l->label, sizeof l->label, "%s", label);
	va_start(ap, fmt);
	vsnprintf(l->text, sizeof l->text, fmt, ap);
	va_end(ap);
	l->role = role;
}

/* Bytes of s that fit in width columns, broken after a space if can be. */
static size_t
wrap_at(const char *s, int width)
{
	size_t i = 0, space = 0;
	int used = 0;

	while (s[i] != '\0') {
		size_t j = i + 1;
		char one[8];

		while ((s[j] & 0xc0) == 0x80)
			j++;
		snprintf(one, sizeof one, "%.*s", (int)(j - i), s + i);
		used += draw_width(one);
		if (used > width)
			break;
		if (s[i] == ' ')
			space = j;
		i = j;
	}
	if (s[i] != '\0' && space > 0)
		return space;
	return i > 0 ? i : strlen(s) > 0 ? 1 : 0;
}

/* A centred box of h x w with a title; returns its window or NULL. */
static WINDOW *
box_open(struct dash *d, int h, int w, const char *title)
{
	WINDOW *win;
	char t[96];

	if (w > d->cols)
		w = d->cols;
	if (h > d->lines)
		h = d->lines;
	if (w < 4 || h < 3)
		return NULL;
	win = newwin(h, w, (d->lines - h) / 2, (d->cols - w) / 2);
	if (win == NULL)
		return NULL;
	leaveok(win, TRUE);
	draw_box(win, 0, 0, h, w, colors_attr(ROLE_BOX));
	snprintf(t, sizeof t, " %s ", title);
	draw_text(win, 0, 2, w - 4, t, colors_attr(ROLE_PANE_TITLE_FOCUS));
	return win;
}

static void
box_close(WINDOW *win)
{
	if (win == NULL)
		return;
	wnoutrefresh(win);
	delwin(win);
}

/* Draw lines in a box: labels in one column, text wrapped beside them. */
static void
box_lines(struct dash *d, const char *title, const struct lines *ls,
    const char *footer, int want_w)
{
	WINDOW *win;
	int w = want_w < d->cols - 2 ? want_w : d->cols - 2, tw, rows, i, y;
	int lw = 0;
	const char *s;

	for (i = 0; i < ls->n; i++)
		if ((int)strlen(ls->l[i].label) > lw)
			lw = (int)strlen(ls->l[i].label);
	if (lw > 0)
		lw += 2;
	tw = w - 4 - lw;
	if (tw < 8)
		return;
	/* count the wrapped rows first */
	rows = 0;
	for (i = 0; i < ls->n; i++) {
		s = ls->l[i].text;
		do {
			s += wrap_at(s, tw);
			rows++;
			while (*s == ' ')
				s++;
		} while (*s != '\0');
	}
	win = box_open(d, rows + 4, w, title);
	if (win == NULL)
		return;
	getmaxyx(win, rows, w);
	y = 1;
	for (i = 0; i < ls->n && y < rows - 2; i++) {
		size_t n;
		char part[320];

		draw_text(win, y, 2, lw, ls->l[i].label,
		    colors_attr(ROLE_LABEL));
		s = ls->l[i].text;
		do {
			n = wrap_at(s, tw);
			snprintf(part, sizeof part, "%.*s", (int)n, s);
			draw_text(win, y, 2 + lw, tw, part,
			    colors_attr(ls->l[i].role));
			y++;
			s += n;
			while (*s == ' ')
				s++;
		} while (*s != '\0' && y < rows - 2);
	}
	draw_text_right(win, rows - 2, 2, w - 4, footer,
	    colors_attr(ROLE_LABEL));
	box_close(win);
}

static void
overlay_help(struct dash *d)
{
	struct lines ls;
	size_t i;

	memset(&ls, 0, sizeof ls);
	if (d->src->read_only != NULL)
		lines_add(&ls, "", ROLE_STATE_RETRYING, "%s",
		    d->src->read_only);
	for (i = 0; i < key_table_len; i++) {
		const struct key_action *a = &key_table[i];

		if (keys_offered(a, d->src))
			lines_add(&ls, a->name, ROLE_NORMAL, "%s", a->help);
		else
			lines_add(&ls, a->name, ROLE_LABEL, "%s (not offered: "
			    "%s decides)", a->help, d->src->name);
	}
	box_lines(d, "Keys", &ls, "Esc or q closes", 76);
}

static void
overlay_image(struct dash *d, const struct model_image *im, struct lines *ls)
{
	char st[320], a[32], b[32], t[32];

	rows_image_state(im, st, sizeof st);
	lines_add(ls, "Reference", ROLE_NORMAL, "%s", im->ref);
	lines_add(ls, "Platform", ROLE_NORMAL, "%s",
	    im->platform ? im->platform : "-");
	lines_add(ls, "Registry", ROLE_NORMAL, "%s", im->registry);
	lines_add(ls, "Digest", ROLE_NORMAL, "%s",
	    im->digest ? im->digest : "-");
	lines_add(ls, "State", ROLE_HEADER, "%s", st);
	fmt_bytes(a, sizeof a, im->bytes_done);
	fmt_bytes(b, sizeof b, im->bytes_total);
	lines_add(ls, "Layers", ROLE_NORMAL, "%d of %d done, %s / %s",
	    im->layers_done, im->nlayers, a, b);
	draw_secs(t, sizeof t, (im->finished > 0 ? im->finished :
	    d->snap.now) - im->started);
	lines_add(ls, "Time", ROLE_NORMAL, "%s", t);
	if (im->unpack_dir != NULL)
		lines_add(ls, "Unpacked", ROLE_NORMAL, "%s", im->unpack_dir);
	if (im->note != NULL)
		lines_add(ls, "Status", ROLE_NORMAL, "%s", im->note);
	lines_add(ls, "Error", im->error ? ROLE_STATE_FAILED : ROLE_NORMAL,
	    "%s", im->error ? im->error : "none");
}

/* A split blob's ranges: where each is, its bytes and its speed. */
static void
overlay_ranges(const struct model_blob *b, struct lines *ls)
{
	char name[24], a[32], s[32], t[32];
	int i;

	for (i = 0; i < b->nranges; i++) {
		const struct model_range *r = &b->ranges[i];

		snprintf(name, sizeof name, "Range %d", i + 1);
		fmt_bytes(a, sizeof a, r->done);
		fmt_bytes(s, sizeof s, r->end - r->start);
		if (r->done == r->end - r->start)
			snprintf(t, sizeof t, "done");
		else
			draw_speed(t, sizeof t, r->speed);
		lines_add(ls, name, ROLE_NORMAL, "%llu-%llu  %s / %s  %s",
		    (unsigned long long)r->start,
		    (unsigned long long)r->end - 1, a, s, t);
	}
}

static void
overlay_blob(struct dash *d, const struct model_blob *b, struct lines *ls)
{
	char a[32], s[32], t[32];
	const char *host = "-";
	char *names = rows_blob_images(d, b);

	if (b->nimages > 0 && b->images[0] < d->snap.nimages)
		host = d->snap.images[b->images[0]].registry;
	fmt_bytes(a, sizeof a, b->done);
	fmt_bytes(s, sizeof s, b->size);
	lines_add(ls, "Digest", ROLE_NORMAL, "%s", b->digest);
	lines_add(ls, "Media type", ROLE_NORMAL, "%s", b->media_type);
	lines_add(ls, "Size", ROLE_NORMAL, "%s (%llu bytes)", s,
	    (unsigned long long)b->size);
	lines_add(ls, "Done", ROLE_NORMAL, "%s (%d%%)", a, b->size ?
	    (int)(100.0 * b->done / b->size) : 0);
	lines_add(ls, "State", ROLE_HEADER, "%s", blob_state_name(b->state));
	lines_add(ls, "Registry", ROLE_NORMAL, "%s", host);
	lines_add(ls, "Images", ROLE_NORMAL, "%s", names[0] ? names : "-");
	free(names);
	if (b->where != NULL)
		lines_add(ls, "From", ROLE_NORMAL, "%s", b->where);
	if (snapshot_endpoint(&d->snap, b) != NULL)
		lines_add(ls, "Endpoint", ROLE_NORMAL, "%s%s",
		    snapshot_endpoint(&d->snap, b),
		    d->snap.tally.ep[b->endpoint - 1].mirror ? " (mirror)" :
		    "");
	lines_add(ls, "Attempts", ROLE_NORMAL, "%d of %d", b->attempts,
	    b->max_attempts);
	if (b->state == BLOB_DOWNLOADING) {
		draw_speed(t, sizeof t, b->speed);
		lines_add(ls, "Speed", ROLE_NORMAL, "%s", t);
	}
	if (b->started > 0) {
		draw_secs(t, sizeof t, (b->finished > 0 ? b->finished :
		    d->snap.now) - b->started);
		lines_add(ls, "Time", ROLE_NORMAL, "%s", t);
	}
	lines_add(ls, "Last error", b->error ? ROLE_STATE_FAILED :
	    ROLE_NORMAL, "%s", b->error ? b->error : "none");
	overlay_ranges(b, ls);
}

static void
overlay_event(struct dash *d, const struct model_event *e,
    struct lines *ls)
{
	char line[1024];

	static const char *level[3] = { "info", "warning", "error" };
	char ts[32];
	struct tm tm;
	time_t t = (time_t)e->wall;

	localtime_r(&t, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
	lines_add(ls, "Time", ROLE_NORMAL, "%s", ts);
	lines_add(ls, "Level", ROLE_NORMAL, "%s",
	    level[e->level >= 0 && e->level <= 2 ? e->level : 0]);
	model_event_line(&d->snap, e, line, sizeof line);
	lines_add(ls, "Text", ROLE_NORMAL, "%s", line);
}

static void
overlay_detail(struct dash *d)
{
	struct lines ls;
	const char *title = "Details";

	memset(&ls, 0, sizeof ls);
	if (d->detail_pane == PANE_IMAGES) {
		const struct model_image *im = rows_image(d, d->detail_key);
		title = "Image";
		if (im != NULL)
			overlay_image(d, im, &ls);
	} else if (d->detail_pane == PANE_EVENTS) {
		const struct model_event *e = rows_event(d, d->detail_key);
		title = "Event";
		if (e != NULL)
			overlay_event(d, e, &ls);
		else
			lines_add(&ls, "", ROLE_LABEL, "no longer in the log");
	} else {
		const struct model_blob *b = rows_blob(d, d->detail_key);
		title = "Layer";
		if (b != NULL)
			overlay_blob(d, b, &ls);
	}
	box_lines(d, title, &ls, "Esc closes", 96);
}

static void
overlay_quit(struct dash *d)
{
	const char *q = "Quit? Pulls are still running (y/n)";
	int h, w = draw_width(q) + 6;
	WINDOW *win = box_open(d, 5, w, "Quit");

	if (win == NULL)
		return;
	getmaxyx(win, h, w);
	(void)h;
	draw_text(win, 2, 3, w - 4, q, colors_attr(ROLE_HEADER));
	box_close(win);
}

static void
overlay_remove(struct dash *d)
{
	const struct model_image *im = rows_image(d, d->remove_id);
	char *q = xasprintf("Remove %s from the store? (y/n)", im != NULL ?
	    im->ref : "?");
	int h, w = draw_width(q) + 6;
	WINDOW *win = box_open(d, 5, w, "Remove");

	if (win != NULL) {
		getmaxyx(win, h, w);
		(void)h;
		draw_text_tail(win, 2, 3, w - 4, q, colors_attr(ROLE_HEADER));
		box_close(win);
	}
	free(q);
}

void
overlay_draw(struct dash *d)
{
	switch (d->overlay) {
	case OVERLAY_REMOVE:
		overlay_remove(d);
		break;
	case OVERLAY_HELP:
		overlay_help(d);
		break;
	case OVERLAY_DETAIL:
		overlay_detail(d);
		break;
	case OVERLAY_QUIT:
		overlay_quit(d);
		break;
	default:
		break;
	}
}

void
overlay_too_small(WINDOW *w, int lines, int cols)
{
	char msg[64];
	const char *s;
	int y, n, rows = 0;

	snprintf(msg, sizeof msg, "Terminal too small (need %dx%d)", MIN_COLS,
	    MIN_LINES);
	for (s = msg; *s != '\0'; rows++) {
		s += wrap_at(s, cols);
		while (*s == ' ')
			s++;
	}
	y = (lines - rows) / 2;
	if (y < 0)
		y = 0;
	for (s = msg; *s != '\0' && y < lines; y++) {
		char part[64];

		n = (int)wrap_at(s, cols);
		snprintf(part, sizeof part, "%.*s", n, s);
		draw_text(w, y, (cols - draw_width(part)) / 2, cols, part,
		    colors_attr(ROLE_HEADER));
		s += n;
		while (*s == ' ')
			s++;
	}
}
