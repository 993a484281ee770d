/*
 * dash.c - the dashboard: ui_run's loop, the keys, and the summary left on
 * the normal screen.
 *
 * The loop sleeps in poll() on three things: the engine's wake-up fd, the
 * keyboard, and a self-pipe for SIGWINCH (the handler may run on any
 * thread, so a flag alone could be missed). It draws at most FRAME_HZ
 * times a second (fewer for changes when frames would take over 2% of a
 * core: thousands of layers) and only when something changed: a new snapshot
 * generation, a key, a resize, or a second passing while anything moves
 * (the clock, the ETA, the sparkline). While it waits for the next frame
 * it stops watching the engine's fd, so a busy engine cannot spin it.
 * Each frame redraws every window into curses' buffers and lets doupdate()
 * send the terminal only what differs. When all is done and the sparkline
 * is flat it sleeps until a key or an event.
 */
#include "ui.h"
#include "view.h"
#include "dash.h"
#include "colors.h"
#include "draw.h"
#include "keys.h"
#include "model.h"
#include "config.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define FRAME_HZ 15
#define STATUS_SECS 4
#define THEME_WARNS 16		/* theme warnings kept for stderr */

static int dash_curses_on;		/* between newterm and endwin */
static int dash_winch_pipe[2] = { -1, -1 };

/* The theme drawn with, and its warnings, printed after the dashboard. */
static char dash_theme[THEME_NAME_MAX] = "default";
static char dash_theme_warns[THEME_WARNS][512];
static int dash_theme_nwarns;

/* atexit: whatever ends the program leaves the terminal usable. */
static void
dash_atexit(void)
{
	if (dash_curses_on && !isendwin())
		endwin();
}

static void
dash_on_winch(int sig)
{
	char c = 1;
	int saved = errno;

	(void)sig;
	if (write(dash_winch_pipe[1], &c, 1) < 0) {
		/* full: a resize is already pending */
	}
	errno = saved;
}

/* Set a passing notice on the bottom line. */
static void
dash_status(struct dash *d, const char *fmt, ...)
{
	va_list ap;
	char raw[512];

	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	sanitize(d->status, sizeof d->status, raw);
	d->status_until = now_mono() + STATUS_SECS;
}

/* A theme file's problem: an event now, a line on stderr at the end. */
static void
dash_theme_warn(void *ctx, const char *msg)
{
	source_note((struct source *)ctx, 1, "theme: %s", msg);
	if (dash_theme_nwarns < THEME_WARNS)
		snprintf(dash_theme_warns[dash_theme_nwarns], 512, "%s", msg);
	dash_theme_nwarns++;
}

/* t: the next theme by name (files in the theme folders, and default). */
static void
dash_theme_next(struct dash *d)
{
	static char names[THEME_LIST_MAX][THEME_NAME_MAX];
	struct theme t;
	int n, i;

	n = theme_list(names, THEME_LIST_MAX);	/* sorted, "default" in it */
	if (n == 0)
		return;
	for (i = 0; i < n && strcmp(names[i], dash_theme) <= 0; i++)
		;
	theme_load(names[i < n ? i : 0], &t, dash_theme, sizeof dash_theme,
	    dash_theme_warn, d->src);
	colors_apply(&t);
	clearok(curscr, TRUE);		/* every cell in the new colours */
	d->redraw_all = 1;
	dash_status(d, "Theme: %s", dash_theme);
	source_note(d->src, 0, "theme %s", dash_theme);
}

static void
dash_focus(struct dash *d, int to)
{
	d->panes[d->focus].focus = 0;
	d->focus = (to + PANE_COUNT) % PANE_COUNT;
	d->panes[d->focus].focus = 1;
}

static int
dash_running(const struct dash *d)
{
	return !d->snap.all_final;
}

/* The outcome of an operation: its cause on the bottom line. */
static void
dash_result(struct dash *d, int r, char *cause)
{
	if (r < 0 && cause != NULL) {
		cause[0] = (char)toupper((unsigned char)cause[0]);
		dash_status(d, "%s", cause);
	}
	free(cause);
}

static void
dash_cancel(struct dash *d)
{
	long key = pane_selected(&d->panes[d->focus]);
	char *cause = NULL;
	int r;

	if (key < 0 || d->focus == PANE_EVENTS) {
		dash_status(d, "Select an image or a layer to cancel");
		return;
	}
	if (d->focus == PANE_IMAGES)
		r = source_cancel_image(d->src, (int)key, &cause);
	else
		r = source_cancel_blob(d->src, (int)key, &cause);
	dash_result(d, r, cause);
}

static void
dash_retry(struct dash *d)
{
	long key = pane_selected(&d->panes[d->focus]);
	char *cause = NULL;
	int r;

	if (key < 0 || d->focus == PANE_EVENTS) {
		dash_status(d, "Select an image or a layer to retry");
		return;
	}
	if (d->focus == PANE_IMAGES)
		r = source_retry_image(d->src, (int)key, &cause);
	else
		r = source_retry_blob(d->src, (int)key, &cause);
	dash_result(d, r, cause);
}

static void
dash_jobs(struct dash *d, int delta)
{
	int n;

	if (!source_has(d->src, SRC_SET_JOBS)) {
		dash_status(d, "%s decides how many downloads run",
		    d->src->name);
		return;
	}
	n = source_set_jobs(d->src, d->jobs + delta);
	if (n > 0)
		d->jobs = n;
	dash_status(d, "Concurrent downloads: %d", d->jobs);
}

/* Enter on the "Add image" prompt. */
static void
dash_add(struct dash *d)
{
	char raw[PROMPT_MAX * 4 + 1], clean[PROMPT_MAX * 4 + 1], *s, *e;
	char *cause = NULL;
	int id;

	prompt_text(&d->prompt, raw, sizeof raw);
	for (s = raw; *s == ' '; s++)
		;
	for (e = s + strlen(s); e > s && e[-1] == ' '; e--)
		;
	*e = '\0';
	if (*s == '\0')
		return;
	sanitize(clean, sizeof clean, s);
	id = source_add_image(d->src, s, &cause);
	if (id < 0) {
		source_note(d->src, 2, "add %s: %s", clean, cause ? cause :
		    "failed");
		dash_status(d, "Cannot add %s: %s", clean, cause ? cause :
		    "failed");
		free(cause);
		return;
	}
	source_note(d->src, 0, "%s: added", clean);
	pane_select(&d->panes[PANE_IMAGES], id);
}

static void
dash_prompt_key(struct dash *d, wint_t c, int is_key)
{
	enum prompt_result r = prompt_key(&d->prompt, c, is_key);
	char raw[PROMPT_MAX * 4 + 1];

	if (d->overlay == OVERLAY_FILTER) {
		if (r == PROMPT_CANCEL)
			d->filter[0] = '\0';
		else {
			prompt_text(&d->prompt, raw, sizeof raw);
			sanitize(d->filter, sizeof d->filter, raw);
		}
		rows_build(d);		/* filter as you type */
	} else if (r == PROMPT_ACCEPT)
		dash_add(d);
	if (r != PROMPT_EDITING)
		d->overlay = OVERLAY_NONE;
}

static void
dash_detail(struct dash *d)
{
	long key = pane_selected(&d->panes[d->focus]);

	if (key < 0)
		return;
	d->overlay = OVERLAY_DETAIL;
	d->detail_pane = d->focus;
	d->detail_key = key;
}

static void dash_remove_now(struct dash *d);

/* A key while a box is open; 1 if the box took it. */
static int
dash_overlay_key(struct dash *d, wint_t c, int is_key)
{
	int esc = !is_key && (c == 27 || c == 'q' || c == 'Q');
	int enter = (!is_key && (c == '\r' || c == '\n')) ||
	    (is_key && c == KEY_ENTER);

	switch (d->overlay) {
	case OVERLAY_NONE:
		return 0;
	case OVERLAY_ADD:
	case OVERLAY_FILTER:
		dash_prompt_key(d, c, is_key);
		return 1;
	case OVERLAY_HELP:
		if (esc || enter || (!is_key && c == '?') ||
		    (is_key && c == KEY_F(1)))
			d->overlay = OVERLAY_NONE;
		return 1;
	case OVERLAY_DETAIL:
		if (esc || enter)
			d->overlay = OVERLAY_NONE;
		return 1;
	case OVERLAY_REMOVE:
		if (!is_key && (c == 'y' || c == 'Y'))
			dash_remove_now(d);
		else if (!(esc || (!is_key && (c == 'n' || c == 'N'))))
			return 1;
		d->overlay = OVERLAY_NONE;
		return 1;
	case OVERLAY_QUIT:
		if (!is_key && (c == 'y' || c == 'Y')) {
			source_cancel_all(d->src);
			d->quit = 1;
		} else if (esc || (!is_key && (c == 'n' || c == 'N')))
			d->overlay = OVERLAY_NONE;
		return 1;
	}
	return 0;
}

/* d: ask before taking the selected image out of the store. */
static void
dash_remove(struct dash *d)
{
	long key = pane_selected(&d->panes[PANE_IMAGES]);
	const struct model_image *im = rows_image(d, key);

	if (d->focus != PANE_IMAGES || im == NULL) {
		dash_status(d, "Select an image in Images to remove it");
		return;
	}
	if (im->state != IMAGE_COMPLETE || im->removed) {
		dash_status(d, im->removed ? "Already removed from the store" :
		    "Only a complete image can be removed");
		return;
	}
	d->remove_id = (int)key;
	d->overlay = OVERLAY_REMOVE;
}

static void
dash_remove_now(struct dash *d)
{
	char *cause = NULL;
	int r = source_remove_image(d->src, d->remove_id, &cause);

	if (r == 0)
		dash_status(d, "Removed from the store");
	dash_result(d, r, cause);
}

/* q: quit, asking first while pulls run. */
static void
dash_quit(struct dash *d)
{
	if (dash_running(d))
		d->overlay = OVERLAY_QUIT;
	else
		d->quit = 1;
}

/* Esc: clear the filter. */
static void
dash_escape(struct dash *d)
{
	if (d->filter[0] != '\0') {
		d->filter[0] = '\0';
		rows_build(d);
	}
}

static void
dash_act(struct dash *d, const struct key_action *a, wint_t c)
{
	switch (a->op) {
	case KEYS_HELP:		d->overlay = OVERLAY_HELP; break;
	case KEYS_MOVE:		pane_key(&d->panes[d->focus], (int)c); break;
	case KEYS_PANE:
		dash_focus(d, d->focus + (c == KEY_BTAB ? -1 : 1));
		break;
	case KEYS_DETAIL:	dash_detail(d); break;
	case KEYS_CANCEL:	dash_cancel(d); break;
	case KEYS_RETRY:	dash_retry(d); break;
	case KEYS_RETRY_ALL:
		dash_status(d, "Retrying %d failed or cancelled",
		    source_retry_all(d->src));
		break;
	case KEYS_ADD:
		prompt_open(&d->prompt, "Add image: ", NULL);
		d->overlay = OVERLAY_ADD;
		break;
	case KEYS_JOBS:
		dash_jobs(d, c == '+' || c == '=' ? 1 : -1);
		break;
	case KEYS_FILTER:
		prompt_open(&d->prompt, "Filter: ", d->filter);
		d->overlay = OVERLAY_FILTER;
		break;
	case KEYS_THEME:	dash_theme_next(d); break;
	case KEYS_ESCAPE:	dash_escape(d); break;
	case KEYS_REDRAW:
		clearok(curscr, TRUE);
		d->redraw_all = 1;
		break;
	case KEYS_QUIT:		dash_quit(d); break;
	case KEYS_REMOVE:	dash_remove(d); break;
	}
}

static void
dash_key(struct dash *d, wint_t c, int is_key)
{
	const struct key_action *a;

	if (is_key && c == KEY_RESIZE)
		return;			/* the loop re-lays out every frame */
	if (dash_overlay_key(d, c, is_key))
		return;
	a = keys_find(c, is_key);
	if (a == NULL) {
		pane_key(&d->panes[d->focus], (int)c);
		return;
	}
	if (!keys_offered(a, d->src)) {
		dash_status(d, "%s: not offered here (%s)", a->name,
		    d->src->read_only ? d->src->read_only : d->src->name);
		return;
	}
	dash_act(d, a, c);
}

/*
 * Build one frame in curses' buffers, then send the difference. Like
 * tmux's redraw flags, only what changed is drawn again: the header when
 * the snapshot or the second changed, a pane when its signature (what
 * its visible rows show) changed, everything after a resize, a theme, an
 * overlay opening or closing, or Ctrl-L.
 */
static void
dash_draw(struct dash *d, double now)
{
	int i, all, prompt = d->overlay == OVERLAY_ADD ||
	    d->overlay == OVERLAY_FILTER;
	long sec = (long)now;

	all = layout_update(d) || d->redraw_all ||
	    d->overlay != d->drawn_overlay || d->too_small;
	d->redraw_all = 0;
	d->drawn_overlay = d->overlay;
	if (all)
		werase(stdscr);
	if (d->too_small) {
		overlay_too_small(stdscr, d->lines, d->cols);
		wnoutrefresh(stdscr);
		curs_set(0);
		doupdate();
		return;
	}
	if (all)
		wnoutrefresh(stdscr);
	if (d->header.win != NULL && (all || d->snap.gen != d->drawn_gen ||
	    sec != d->drawn_sec)) {
		werase(d->header.win);
		header_draw(d, d->header.win, d->header.w);
		wnoutrefresh(d->header.win);
		d->drawn_gen = d->snap.gen;
		d->drawn_sec = sec;
	}
	for (i = 0; i < PANE_COUNT; i++) {
		struct region *r = &d->pane[i];
		uint64_t sig;

		if (r->win == NULL)
			continue;
		sig = rows_signature(d, i, r->h, r->w, now);
		if (!all && sig == d->pane_sig[i])
			continue;
		werase(r->win);
		rows_draw(d, i, r->win, r->h, r->w);
		wnoutrefresh(r->win);
		d->pane_sig[i] = sig;
		d->panes_drawn++;
	}
	overlay_draw(d);
	if (d->keybar.win != NULL) {
		werase(d->keybar.win);
		leaveok(d->keybar.win, prompt ? FALSE : TRUE);
		header_keybar_draw(d, d->keybar.win, d->keybar.w, now);
		wnoutrefresh(d->keybar.win);
	}
	curs_set(prompt ? 1 : 0);
	doupdate();
}

/* The terminal changed size: tell curses (our handler replaced its own). */
static void
dash_resize(void)
{
	struct winsize ws;
	char buf[64];

	while (read(dash_winch_pipe[0], buf, sizeof buf) > 0)
		;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
	    ws.ws_col > 0)
		resizeterm(ws.ws_row, ws.ws_col);
}

/* One line per image on the normal screen, columns aligned. */
static void
dash_summary(const struct snapshot *s)
{
	int i, rw = 0, w;

	for (i = 0; i < s->nimages; i++)
		if ((w = draw_width(s->images[i].ref)) > rw)
			rw = w;
	for (i = 0; i < s->nimages; i++) {
		const struct model_image *im = &s->images[i];
		char size[32], t[32], dig[32];

		fmt_bytes(size, sizeof size, im->bytes_total);
		draw_secs(t, sizeof t, (im->finished > 0 ? im->finished :
		    s->now) - im->started);
		snprintf(dig, sizeof dig, "%.19s", im->digest ? im->digest :
		    "-");
		printf("%s%*s  %-11s  %-19s  %9s  %6s", im->ref,
		    rw - draw_width(im->ref), "", image_state_name(im->state),
		    dig, size, t);
		if (im->state == IMAGE_FAILED && im->error != NULL)
			printf("  %s", im->error);
		putchar('\n');
	}
	fflush(stdout);
}

/* Does the picture change with time alone (clock, ETA, sparkline)? */
static int
dash_ticking(const struct dash *d)
{
	return !d->snap.all_final || !header_spark_idle(d);
}

/* The view's fds: the keyboard and the resize pipe. */
static int
dash_fds(void *ctx, struct pollfd *fds, int max)
{
	struct dash *d = ctx;
	int n = 0;

	if (max < 2)
		return 0;
	fds[n].fd = d->in_fd;
	fds[n++].events = d->in_fd >= 0 ? POLLIN : 0;
	fds[n].fd = dash_winch_pipe[0];
	fds[n++].events = POLLIN;
	return n;
}

static int
dash_input(void *ctx, struct pollfd *fds, int n)
{
	struct dash *d = ctx;
	wint_t c;
	int i, any = 0;

	if (n >= 2 && (fds[1].revents & POLLIN)) {
		dash_resize();
		any = 1;
	}
	if (d->in_fd < 0)
		return any;
	for (i = 0; i < 64; i++) {
		int got = wget_wch(d->input, &c);

		if (got == ERR)
			break;
		dash_key(d, c, got == KEY_CODE_YES);
		any = 1;
		if (d->quit)
			return 1;
	}
	if (i == 0 && (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)))
		d->in_fd = -1;	/* the terminal went away */
	return any;
}

/* One frame: the sparkline's second, the rows, and the screen. */
static void
dash_frame(void *ctx, const struct snapshot *s, int changed)
{
	struct dash *d = ctx;
	double now = now_mono();
	long tick = (long)floor(now), n;

	if (changed && s->jobs_limit > 0)
		d->jobs = s->jobs_limit;
	if (tick != d->last_tick) {
		/* seconds slept through were idle ones */
		for (n = 1; n < tick - d->last_tick && n < SPARK_SLOTS; n++)
			header_sample(d, 0);
		header_sample(d, s->speed);
		d->last_tick = tick;
	}
	if (d->status[0] != '\0' && now >= d->status_until)
		d->status[0] = '\0';
	rows_build(d);
	dash_draw(d, now);
}

static double
dash_tick(void *ctx, const struct snapshot *s, double now)
{
	struct dash *d = ctx;
	double wait = dash_ticking(d) ? floor(now) + 1 - now : -1;

	(void)s;
	if (d->status[0] != '\0' && (wait < 0 || d->status_until - now < wait))
		wait = d->status_until - now;
	return wait < 0 ? -1 : wait + 0.001;
}

static int
dash_done(void *ctx, const struct snapshot *s)
{
	struct dash *d = ctx;

	return d->quit || sig_caught || (d->o->exit_when_done && s->all_final);
}

static void
dash_init(struct dash *d, struct source *src, const struct options *o)
{
	static const char *titles[PANE_COUNT] = {
		"Images", "Active", "Completed", "Already exists", "Events"
	};
	static const char *empty[PANE_COUNT] = {
		"No images: press a to add one", "Nothing downloading",
		"Nothing finished yet", "None", "No events yet"
	};
	int i;

	memset(d, 0, sizeof *d);
	d->src = src;
	d->o = o;
	for (i = 0; i < PANE_COUNT; i++)
		pane_init(&d->panes[i], titles[i], empty[i],
		    i == PANE_EVENTS || i == PANE_DONE);
	dash_focus(d, PANE_IMAGES);
	d->jobs = o->jobs;
	d->last_tick = (long)floor(now_mono());
}

int
ui_run(struct source *src, const struct options *o)
{
	static const struct view_ops ops = {
		.fds = dash_fds,
		.input = dash_input,
		.frame = dash_frame,
		.tick = dash_tick,
		.done = dash_done,
	};
	static int registered;
	struct sigaction sa, old_winch;
	struct dash d;
	struct theme theme;
	SCREEN *scr;
	FILE *in = stdin, *tty = NULL;
	WINDOW *input;
	const char *nc;
	int utf8, status, i;

	setlocale(LC_ALL, "");
	setlocale(LC_NUMERIC, "C");	/* "1.5 MB", whatever the locale */
	utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	if (!isatty(STDIN_FILENO) && (tty = fopen("/dev/tty", "r")) != NULL)
		in = tty;

	if (pipe2(dash_winch_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
		fprintf(stderr, "pulltop: pipe: %s\n", strerror(errno));
		return 1;
	}
	/* ours, installed first, so curses does not install its own */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = dash_on_winch;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGWINCH, &sa, &old_winch);

	if (!registered) {
		atexit(dash_atexit);
		registered = 1;
	}
	/* before the screen: its warnings go to Events and, later, stderr */
	dash_theme_nwarns = 0;
	theme_load(o->theme, &theme, dash_theme, sizeof dash_theme,
	    dash_theme_warn, src);
	scr = newterm(NULL, stdout, in);
	if (scr == NULL) {
		fprintf(stderr, "pulltop: cannot start the dashboard on this "
		    "terminal\n");
		sigaction(SIGWINCH, &old_winch, NULL);
		if (tty != NULL)
			fclose(tty);
		return 1;
	}
	dash_curses_on = 1;
	set_escdelay(25);
	typeahead(-1);		/* one write per frame, no polling mid-update */
	cbreak();
	noecho();
	nonl();
	curs_set(0);
	input = newpad(1, 1);
	keypad(input, TRUE);
	nodelay(input, TRUE);
	nc = getenv("NO_COLOR");
	colors_init(nc == NULL || *nc == '\0');	/* NO_COLOR wins */
	colors_apply(&theme);
	draw_setup(utf8);

	dash_init(&d, src, o);
	d.input = input;
	d.in_fd = fileno(in);
	view_loop(src, &ops, &d, &d.snap, FRAME_HZ);

	if (sig_caught || d.quit)
		source_cancel_all(src);
	model_snapshot(src->model, &d.snap);

	layout_free(&d);
	delwin(input);
	endwin();
	dash_curses_on = 0;
	delscreen(scr);
	sigaction(SIGWINCH, &old_winch, NULL);
	close(dash_winch_pipe[0]);
	close(dash_winch_pipe[1]);
	dash_winch_pipe[0] = dash_winch_pipe[1] = -1;
	if (tty != NULL)
		fclose(tty);

	for (i = 0; i < dash_theme_nwarns && i < THEME_WARNS; i++)
		fprintf(stderr, "pulltop: theme: %s\n", dash_theme_warns[i]);
	if (dash_theme_nwarns > THEME_WARNS)
		fprintf(stderr, "pulltop: theme: %d more warnings\n",
		    dash_theme_nwarns - THEME_WARNS);
	dash_summary(&d.snap);
	status = view_status(src, &d.snap);
	for (i = 0; i < PANE_COUNT; i++)
		pane_free(&d.panes[i]);
	snapshot_free(&d.snap);
	return status;
}
