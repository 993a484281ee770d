/*
 * dash.c - the dashboard: ui_run's loop, the keys, and the summary left on
 * the normal screen.
 *
 * The loop sleeps in poll() on three things: the engine's wake-up fd, the
 * keyboard, and a self-pipe for SIGWINCH (the handler may run on any
 * thread, so a flag alone could be missed). It draws at most FRAME_HZ
 * times a second and only when something changed: a new snapshot
 * generation, a key, a resize, or a second passing while anything moves
 * (the clock, the ETA, the sparkline). While it waits for the next frame
 * it stops watching the engine's fd, so a busy engine cannot spin it.
 * Each frame redraws every window into curses' buffers and lets doupdate()
 * send the terminal only what differs. When all is done and the sparkline
 * is flat it sleeps until a key or an event.
 */
#include "ui.h"
#include "dash.h"
#include "colors.h"
#include "draw.h"
#include "engine.h"
#include "config.h"
#include "util.h"

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
#define UI_CTRL(c) ((c) & 0x1f)
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
	jobq_event((struct jobq *)ctx, 1, "theme: %s", msg);
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
	    dash_theme_warn, d->q);
	colors_apply(&t);
	clearok(curscr, TRUE);		/* every cell in the new colours */
	dash_status(d, "Theme: %s", dash_theme);
	jobq_event(d->q, 0, "theme %s", dash_theme);
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

static void
dash_cancel(struct dash *d)
{
	long key = pane_selected(&d->panes[d->focus]);

	if (key < 0 || d->focus == PANE_EVENTS) {
		dash_status(d, "Select an image or a layer to cancel");
		return;
	}
	if (d->focus == PANE_IMAGES) {
		if (jobq_cancel_image(d->q, (int)key) != 0)
			dash_status(d, "That image is not running");
	} else if (jobq_cancel_blob(d->q, (int)key) != 0)
		dash_status(d, "That layer is not running");
}

static void
dash_retry(struct dash *d)
{
	long key = pane_selected(&d->panes[d->focus]);

	if (key < 0 || d->focus == PANE_EVENTS) {
		dash_status(d, "Select an image or a layer to retry");
		return;
	}
	if (d->focus == PANE_IMAGES) {
		if (jobq_retry_image(d->q, (int)key) != 0)
			dash_status(d, "Only a failed or cancelled image can "
			    "be retried");
	} else if (jobq_retry_blob(d->q, (int)key) != 0)
		dash_status(d, "Only a failed or cancelled layer can be "
		    "retried");
}

static void
dash_jobs(struct dash *d, int delta)
{
	d->jobs = jobq_set_jobs(d->q, d->jobs + delta);
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
	id = jobq_add_image(d->q, s, &cause);
	if (id < 0) {
		jobq_event(d->q, 2, "add %s: %s", clean, cause ? cause :
		    "failed");
		dash_status(d, "Cannot add %s: %s", clean, cause ? cause :
		    "failed");
		free(cause);
		return;
	}
	jobq_event(d->q, 0, "%s: added", clean);
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
	case OVERLAY_QUIT:
		if (!is_key && (c == 'y' || c == 'Y')) {
			jobq_cancel_all(d->q);
			d->quit = 1;
		} else if (esc || (!is_key && (c == 'n' || c == 'N')))
			d->overlay = OVERLAY_NONE;
		return 1;
	}
	return 0;
}

static void
dash_key(struct dash *d, wint_t c, int is_key)
{
	if (is_key && c == KEY_RESIZE)
		return;			/* the loop re-lays out every frame */
	if (dash_overlay_key(d, c, is_key))
		return;
	if (is_key) {
		if (c == KEY_F(1))
			d->overlay = OVERLAY_HELP;
		else if (c == KEY_BTAB)
			dash_focus(d, d->focus - 1);
		else if (c == KEY_ENTER)
			dash_detail(d);
		else
			pane_key(&d->panes[d->focus], (int)c);
		return;
	}
	switch (c) {
	case 'q':
	case 'Q':
		if (dash_running(d))
			d->overlay = OVERLAY_QUIT;
		else
			d->quit = 1;
		break;
	case '?':
	case 'h':
		d->overlay = OVERLAY_HELP;
		break;
	case '\t':
		dash_focus(d, d->focus + 1);
		break;
	case '\r':
	case '\n':
		dash_detail(d);
		break;
	case 'c':
		dash_cancel(d);
		break;
	case 'r':
		dash_retry(d);
		break;
	case 'R':
		dash_status(d, "Retrying %d failed or cancelled",
		    jobq_retry_all(d->q));
		break;
	case 't':
		dash_theme_next(d);
		break;
	case 'a':
		prompt_open(&d->prompt, "Add image: ", NULL);
		d->overlay = OVERLAY_ADD;
		break;
	case '+':
	case '=':
		dash_jobs(d, 1);
		break;
	case '-':
	case '_':
		dash_jobs(d, -1);
		break;
	case '/':
		prompt_open(&d->prompt, "Filter: ", d->filter);
		d->overlay = OVERLAY_FILTER;
		break;
	case 27:
		if (d->filter[0] != '\0') {
			d->filter[0] = '\0';
			rows_build(d);
		}
		break;
	case UI_CTRL('L'):
		clearok(curscr, TRUE);
		break;
	default:
		pane_key(&d->panes[d->focus], (int)c);
		break;
	}
}

/* Build one frame in curses' buffers, then send the difference. */
static void
dash_draw(struct dash *d, double now)
{
	int i, prompt = d->overlay == OVERLAY_ADD ||
	    d->overlay == OVERLAY_FILTER;

	layout_update(d);
	werase(stdscr);
	if (d->too_small) {
		overlay_too_small(stdscr, d->lines, d->cols);
		wnoutrefresh(stdscr);
		curs_set(0);
		doupdate();
		return;
	}
	wnoutrefresh(stdscr);
	if (d->header.win != NULL) {
		werase(d->header.win);
		header_draw(d, d->header.win, d->header.w);
		wnoutrefresh(d->header.win);
	}
	for (i = 0; i < PANE_COUNT; i++) {
		struct region *r = &d->pane[i];

		if (r->win == NULL)
			continue;
		werase(r->win);
		rows_draw(d, i, r->win, r->h, r->w);
		wnoutrefresh(r->win);
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
		const struct snap_image *im = &s->images[i];
		char size[32], t[32], dig[32];

		fmt_bytes(size, sizeof size, im->bytes_total);
		draw_secs(t, sizeof t, (im->finished > 0 ? im->finished :
		    s->now) - im->started);
		snprintf(dig, sizeof dig, "%.19s", im->digest[0] ? im->digest :
		    "-");
		printf("%s%*s  %-11s  %-19s  %9s  %6s", im->ref,
		    rw - draw_width(im->ref), "", image_state_name(im->state),
		    dig, size, t);
		if (im->state == IMAGE_FAILED && im->error[0])
			printf("  %s", im->error);
		putchar('\n');
	}
	fflush(stdout);
}

static int
dash_status_code(const struct snapshot *s)
{
	int i;

	for (i = 0; i < s->nimages; i++)
		if (s->images[i].state != IMAGE_COMPLETE)
			return 1;
	return 0;
}

/* Does the picture change with time alone (clock, ETA, sparkline)? */
static int
dash_ticking(const struct dash *d)
{
	return !d->snap.all_final || !header_spark_idle(d);
}

/* The loop; returns when the user quits, a signal came, or all is done. */
static void
dash_loop(struct dash *d, WINDOW *input, int in_fd)
{
	const double frame = 1.0 / FRAME_HZ;
	double last_draw = -1, now, wait;
	long tick, last_tick = (long)floor(now_mono());
	uint64_t drawn_gen = 0;
	int engine_dirty = 0, ui_dirty = 1, tick_due, status_due, due, n, i, r;
	struct pollfd fds[3];
	wint_t c;

	for (;;) {
		now = now_mono();
		tick = (long)floor(now);
		tick_due = tick != last_tick && dash_ticking(d);
		status_due = d->status[0] != '\0' && now >= d->status_until;
		if (sig_caught || d->quit)
			return;
		if ((engine_dirty || ui_dirty || tick_due || status_due) &&
		    now - last_draw >= frame) {
			if (engine_dirty || tick_due) {
				snapshot_free(&d->snap);
				jobq_snapshot(d->q, &d->snap);
				d->jobs = d->snap.jobs_limit;
				engine_dirty = 0;
			}
			if (tick_due) {
				/* seconds slept through were idle ones */
				for (n = 1; n < tick - last_tick &&
				    n < SPARK_SLOTS; n++)
					header_sample(d, 0);
				header_sample(d, d->snap.speed);
			}
			last_tick = tick;
			if (status_due)
				d->status[0] = '\0';
			if (d->snap.gen != drawn_gen || ui_dirty || tick_due ||
			    status_due) {
				rows_build(d);
				dash_draw(d, now);
				drawn_gen = d->snap.gen;
				ui_dirty = 0;
				last_draw = now;
			}
			if (d->o->exit_when_done && d->snap.all_final)
				return;
		}

		/* sleep to the next frame, the next second, or until woken */
		due = engine_dirty || ui_dirty || tick_due || status_due;
		if (due) {
			wait = last_draw + frame - now;
			if (wait < 0)
				wait = 0;
		} else {
			wait = dash_ticking(d) ? (double)(tick + 1) - now : -1;
			if (d->status[0] != '\0' && (wait < 0 ||
			    d->status_until - now < wait))
				wait = d->status_until - now;
		}
		n = 0;
		fds[n].fd = in_fd;
		fds[n++].events = in_fd >= 0 ? POLLIN : 0;
		fds[n].fd = dash_winch_pipe[0];
		fds[n++].events = POLLIN;
		fds[n].fd = jobq_wakeup_fd(d->q);
		fds[n++].events = engine_dirty ? 0 : POLLIN;
		r = poll(fds, (nfds_t)n, wait < 0 ? -1 :
		    (int)(wait * 1000) + 1);
		if (r < 0 && errno != EINTR)
			return;
		if (r > 0 && (fds[1].revents & POLLIN)) {
			dash_resize();
			ui_dirty = 1;
		}
		if (r > 0 && (fds[2].revents & POLLIN)) {
			jobq_drain_wakeup(d->q);
			engine_dirty = 1;
		}
		if (in_fd < 0)
			continue;
		for (i = 0; i < 64; i++) {
			int got = wget_wch(input, &c);

			if (got == ERR)
				break;
			dash_key(d, c, got == KEY_CODE_YES);
			ui_dirty = 1;
			if (d->quit)
				return;
		}
		if (i == 0 && r > 0 &&
		    (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)))
			in_fd = -1;	/* the terminal went away */
	}
}

static void
dash_init(struct dash *d, struct jobq *q, const struct options *o)
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
	d->q = q;
	d->o = o;
	for (i = 0; i < PANE_COUNT; i++)
		pane_init(&d->panes[i], titles[i], empty[i],
		    i == PANE_EVENTS || i == PANE_DONE);
	dash_focus(d, PANE_IMAGES);
	jobq_snapshot(q, &d->snap);
	d->jobs = d->snap.jobs_limit;
	header_sample(d, d->snap.speed);
}

int
ui_run(struct jobq *q, const struct options *o)
{
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
	    dash_theme_warn, q);
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

	dash_init(&d, q, o);
	dash_loop(&d, input, fileno(in));

	if (sig_caught || d.quit)
		jobq_cancel_all(q);
	snapshot_free(&d.snap);
	jobq_snapshot(q, &d.snap);

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
	status = sig_caught ? sig_exit_status() : dash_status_code(&d.snap);
	for (i = 0; i < PANE_COUNT; i++)
		pane_free(&d.panes[i]);
	snapshot_free(&d.snap);
	return status;
}
