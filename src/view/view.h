/*
 * view.h - what shows a source: the one front-end loop, and the headless
 * views (docker-style plain lines, Docker JSONMessage lines, quiet).
 *
 * The loop is the same for the dashboard (ui/) and the headless views:
 * it sleeps in poll() on the model's wake-up fd and the view's own fds,
 * takes a snapshot at most `hz` times a second (a busy source cannot spin
 * it; fewer when frames would cost over 2% of a core), hands it to the
 * view, turns SIGINT/SIGTERM into cancel-everything, and works out the
 * exit status. A view is a table of callbacks.
 */
#ifndef PULLTOP_VIEW_H
#define PULLTOP_VIEW_H

#include <poll.h>

#include "config.h"
#include "model.h"

/*
 * A view's callbacks, all called on the loop's thread, never with the
 * model locked. Any may be NULL but frame.
 */
struct view_ops {
	/* Fill up to max pollfds the view wants watched; returns how many. */
	int (*fds)(void *ctx, struct pollfd *fds, int max);
	/* After poll(): fds as filled, with revents. Returns 1 when the
	 * view wants a frame drawn (a key, a resize). */
	int (*input)(void *ctx, struct pollfd *fds, int n);
	/* Show the snapshot. changed: a new one (else a tick or input). */
	void (*frame)(void *ctx, const struct snapshot *s, int changed);
	/* Seconds until the picture changes with time alone (a clock, an
	 * ETA), or -1 for never. */
	double (*tick)(void *ctx, const struct snapshot *s, double now);
	/* 1 to leave the loop now (the user quit, or --exit-when-done). */
	int (*done)(void *ctx, const struct snapshot *s);
};

/*
 * Run until the view is done, or (when the view has no done callback)
 * until every image is final. s is the view's snapshot, zeroed before the
 * first call; it holds the last copy on return. Returns the exit status:
 * 0 every image complete, 1 any not (or one could not be added), 128 +
 * signal after SIGINT/SIGTERM; a read-only source (a watch) ends with 0.
 */
int view_loop(struct source *src, const struct view_ops *ops, void *ctx,
    struct snapshot *s, double hz);

/* The exit status a finished snapshot stands for. */
int view_status(const struct source *src, const struct snapshot *s);

/* Plain, JSON or quiet output until every image is final. */
int view_headless(struct source *src, const struct options *o);

#endif
