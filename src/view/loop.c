/*
 * loop.c - the one front-end loop (see view.h): poll, snapshot at a
 * bounded rate, signals, exit status.
 */
#include "view.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

#define MAX_FDS 8
/*
 * The share of one core that frames for changes may take. A frame costs
 * about O(blobs + images): a few microseconds for one image, a few
 * milliseconds for thousands of layers. Past the budget, changes are drawn
 * less often than hz; keys and ticks are still drawn at once.
 */
#define FRAME_BUDGET 0.02

/* CPU seconds this thread has used. */
static double
thread_cpu(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
view_status(const struct source *src, const struct snapshot *s)
{
	int i;

	if (sig_caught)
		return sig_exit_status();
	if (src->read_only != NULL)
		return 0;	/* a watch: what others pull is not our failure */
	if (src->add_failures > 0)
		return 1;
	for (i = 0; i < s->nimages; i++)
		if (s->images[i].state != IMAGE_COMPLETE)
			return 1;
	return 0;
}

static int
loop_done(const struct view_ops *ops, void *ctx, const struct snapshot *s)
{
	if (ops->done != NULL)
		return ops->done(ctx, s);
	return s->all_final;
}

int
view_loop(struct source *src, const struct view_ops *ops, void *ctx,
    struct snapshot *s, double hz)
{
	struct model *m = src->model;
	struct pollfd fds[MAX_FDS + 2];
	double frame = 1.0 / hz, last = -1, now, wait, cpu, cost = 0;
	double every = frame;	/* between frames for changes */
	int dirty = 1, want = 1, cancelled = 0, n, r;

	for (;;) {
		now = now_mono();
		if (sig_caught && !cancelled) {
			source_cancel_all(src);
			cancelled = 1;
		}
		/* the last change of all is drawn at once, not a frame on:
		 * a short pull ends when it is done */
		if ((dirty || want) && (now - last >= (want ? frame : every) ||
		    (dirty && model_settled(m)))) {
			cpu = thread_cpu();
			if (dirty)
				model_snapshot(m, s);
			else
				s->now = now;
			ops->frame(ctx, s, dirty);
			if (dirty) {	/* what a frame costs, smoothed */
				cpu = thread_cpu() - cpu;
				cost = cost > 0 ? 0.8 * cost + 0.2 * cpu : cpu;
				every = fmax(frame, cost / FRAME_BUDGET);
			}
			last = now;
			dirty = want = 0;
			if (loop_done(ops, ctx, s) || (cancelled && s->all_final))
				break;
		}
		if (dirty || want) {
			wait = last + (want ? frame : every) - now;
		} else {
			wait = ops->tick != NULL ? ops->tick(ctx, s, now) : -1;
			if (cancelled && (wait < 0 || wait > 0.1))
				wait = 0.1;
		}
		n = ops->fds != NULL ? ops->fds(ctx, fds + 2, MAX_FDS) : 0;
		fds[0].fd = model_wakeup_fd(m);
		/* while a frame is due, the source's wake-ups wait for it;
		 * only the end of the pull is drawn before */
		fds[0].events = dirty ? 0 : POLLIN;
		fds[0].revents = 0;
		fds[1].fd = model_settle_fd(m);
		fds[1].events = POLLIN;
		fds[1].revents = 0;
		r = poll(fds, (nfds_t)n + 2, wait < 0 ? -1 :
		    (int)ceil(wait * 1000));
		if (r < 0 && errno != EINTR)
			break;
		if (r < 0)
			continue;
		if (fds[0].revents & POLLIN) {
			model_drain(m);
			dirty = 1;
		}
		if (fds[1].revents & POLLIN) {
			model_settle_drain(m);
			dirty = 1;	/* the frame test asks model_settled */
		}
		if (r == 0 && !dirty)
			want = 1;	/* a tick */
		if (n > 0 && ops->input != NULL && ops->input(ctx, fds + 2, n))
			want = 1;
	}
	return view_status(src, s);
}
