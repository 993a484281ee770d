/*
 * fetch.c - every attempt at one blob, run by a worker: resume from the
 * partial on disk, stream into it while hashing, watch for cancel and
 * stalls, retry transient failures with growing delays, verify and commit.
 * A big blob goes to chunks.c first, which fetches it as ranges at once
 * or hands it back to be fetched here as one stream.
 */
#include "engine_int.h"
#include "registry.h"
#include "store.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PUBLISH_EVERY 0.1	/* seconds between progress updates */
/* a blob this small is committed in a moment: it keeps its slot (jobq.c) */
#define SLOT_KEEP_MAX (2u << 20)

/* STOP_SPLIT: the probe found one stream too slow (chunks.c) */
enum stop_why { STOP_NONE, STOP_CANCEL, STOP_STALL, STOP_SPLIT };

struct fetch {
	struct jobq *q;
	struct blob *b;
	struct ingest *in;
	double last_byte;	/* worker-local: no lock needed */
	double last_pub;
	uint64_t pub_bytes;
	enum stop_why why;
	int probe;		/* this stream may still be split */
	double t0;		/* start of this attempt, for --limit-rate */
	uint64_t have0;
	int ep;			/* the model's endpoint serving it, 0 none */
};

/* Lock held: publish bytes and a smoothed speed. */
static void
publish(struct fetch *f, double now)
{
	struct blob *b = f->b;
	double dt = now - f->last_pub, speed = b->m->speed;

	if (dt > 0) {
		double inst = (double)(f->in->have - f->pub_bytes) / dt;
		double a = 1 - exp(-dt / 1.5);
		speed = speed > 0 ? speed + a * (inst - speed) : inst;
	}
	st_blob_progress(f->q, b, f->in->have, speed);
	model_endpoint_bytes(f->q->m, f->ep, f->in->have - f->pub_bytes);
	f->pub_bytes = f->in->have;
	f->last_pub = now;
}

/*
 * --limit-rate: hold the worker until the bytes so far are due, which
 * stops reading the socket and so slows the sender (curl's own limiter
 * averages over seconds and lets small blobs through unthrottled).
 * Sleeps in short slices so a cancel is still seen quickly.
 */
static double
pace(struct fetch *f, double now)
{
	double due = f->t0 + (double)(f->in->have - f->have0) /
	    (double)f->q->opt->limit_rate;
	int stop = 0;

	while (now < due && !stop) {
		double d = due - now < 0.05 ? due - now : 0.05;
		struct timespec ts = { 0, (long)(d * 1e9) };
		nanosleep(&ts, NULL);
		now = now_mono();
		pthread_mutex_lock(f->q->mu);
		stop = f->b->cancel || f->q->quit;
		pthread_mutex_unlock(f->q->mu);
	}
	f->last_byte = now;
	return now;
}

static int
on_write(void *ctx, const void *p, size_t n)
{
	struct fetch *f = ctx;
	double now;

	if (store_ingest_write(f->in, p, n) != 0)
		return -1;
	now = now_mono();
	f->last_byte = now;
	if (f->q->opt->limit_rate > 0) {
		now = pace(f, now);
		/* while bytes keep coming, curl may not return to the check
		 * callback until the body ends: stop here instead */
		pthread_mutex_lock(f->q->mu);
		if (f->b->cancel || f->q->quit)
			f->why = STOP_CANCEL;
		pthread_mutex_unlock(f->q->mu);
		if (f->why == STOP_CANCEL)
			return -1;
	}
	if (now - f->last_pub >= PUBLISH_EVERY) {
		pthread_mutex_lock(f->q->mu);
		st_blob_stalled(f->q, f->b, 0);
		publish(f, now);
		pthread_mutex_unlock(f->q->mu);
	}
	return 0;
}

static int
on_check(void *ctx)
{
	struct fetch *f = ctx;
	struct jobq *q = f->q;
	double now = now_mono(), idle = now - f->last_byte;
	double stall = q->opt->stall_timeout;
	double show = stall / 3 < 5 ? stall / 3 : 5;
	int stop = 0;

	pthread_mutex_lock(q->mu);
	if (f->b->cancel || q->quit) {
		f->why = STOP_CANCEL;
		stop = 1;
	} else if (idle >= stall) {
		f->why = STOP_STALL;
		stop = 1;
	} else if (f->probe && now - f->t0 >= CHUNKS_PROBE) {
		f->probe = 0;
		if (chunks_worth(f->b->m->size - f->in->have,
		    f->in->have - f->have0, now - f->t0)) {
			f->why = STOP_SPLIT;
			stop = 1;
		}
	} else if (idle >= show && f->b->m->state == BLOB_DOWNLOADING) {
		st_blob_stalled(q, f->b, 1);
	} else if (now - f->last_pub >= PUBLISH_EVERY) {
		if (idle < show)
			st_blob_stalled(q, f->b, 0);
		publish(f, now);
	}
	pthread_mutex_unlock(q->mu);
	return stop;
}

/* The registry client's notes on this blob (registry.h). */
static void
on_note(void *ctx, const struct reg_note *n)
{
	struct fetch *f = ctx;

	pthread_mutex_lock(f->q->mu);
	st_note(f->q, NULL, f->b, n, &f->ep);
	pthread_mutex_unlock(f->q->mu);
}

/* Lock held: is the job over before an attempt starts? */
static int
cancelled(struct jobq *q, struct blob *b)
{
	if (b->cancel || q->quit || b->want.n == 0) {
		st_blob_finish(q, b, BLOB_CANCELLED, NULL);
		return 1;
	}
	return 0;
}

/*
 * Open the blob's partial. Returns 0 with *in open, 1 when the blob is
 * settled (already in the store, cancelled, or failed to open).
 */
static int
fetch_open(struct jobq *q, struct blob *b, struct ingest *in)
{
	char *cause = NULL;
	int r;

	for (;;) {
		pthread_mutex_lock(q->mu);
		if (cancelled(q, b)) {
			pthread_mutex_unlock(q->mu);
			return 1;
		}
		pthread_mutex_unlock(q->mu);
		r = store_ingest_open(q->store, b->m->digest, b->m->size, in,
		    &cause);
		if (r == 0 && !store_has_blob(q->store, b->m->digest,
		    b->m->size))
			return 0;
		if (r == 0)
			store_ingest_close(in);
		pthread_mutex_lock(q->mu);
		if (r < 0) {
			st_blob_finish(q, b, BLOB_FAILED, cause);
			pthread_mutex_unlock(q->mu);
			free(cause);
			return 1;
		}
		if (store_has_blob(q->store, b->m->digest, b->m->size)) {
			st_blob_finish(q, b, BLOB_EXISTS, NULL);
			pthread_mutex_unlock(q->mu);
			return 1;
		}
		/* another pulltop is fetching it: wait for it */
		st_blob_waiting(q, b, "being downloaded by another pulltop "
		    "process");
		jq_wait_until(q, &q->change, now_mono() + 0.25);
		pthread_mutex_unlock(q->mu);
	}
}

/* One attempt: transfer the rest, verify and commit. 0 when committed. */
static int
fetch_attempt(struct jobq *q, struct regconn *k, struct blob *b,
    struct ingest *in, struct fetch *f, struct reg_result *res)
{
	char *cause = NULL;
	int r = 0;

	memset(f, 0, sizeof *f);
	memset(res, 0, sizeof *res);
	f->q = q;
	f->b = b;
	f->in = in;
	f->last_byte = f->last_pub = f->t0 = now_mono();
	f->pub_bytes = f->have0 = in->have;
	pthread_mutex_lock(q->mu);
	jq_slot_take(q, b);	/* a retry after a failed commit */
	st_blob_attempt(q, b, in->have);
	pthread_mutex_unlock(q->mu);

	f->probe = chunks_may_split(q, b, in);
	if (in->have < b->m->size) {
		reg_conn_notes(k, on_note);
		r = reg_get_blob(k, b->src, b->m->digest, b->m->size, in->have,
		    q->opt->limit_rate, on_write, on_check, f, res);
	}
	if (r != 0)
		return -1;
	pthread_mutex_lock(q->mu);
	publish(f, now_mono());
	st_blob_verifying(q, b);
	/* the end of a big blob's hash (and, with --fsync, its fsync) needs
	 * no connection: the next download starts on another worker
	 * meanwhile. A small one is hashed and committed at once: its worker
	 * keeps the slot and goes on with the next (jobq.c). */
	if (b->m->size >= SLOT_KEEP_MAX || q->opt->fsync_each)
		jq_slot_give(q, b);
	pthread_mutex_unlock(q->mu);
	if (in->have != b->m->size) {
		/* the server closed early and said it was done */
		res->err = REG_RETRY;
		snprintf(res->cause, sizeof res->cause,
		    "short body: %llu of %llu bytes",
		    (unsigned long long)in->have,
		    (unsigned long long)b->m->size);
		return -1;
	}
	if (store_ingest_commit(q->store, in, &cause) != 0) {
		res->err = REG_RETRY;
		snprintf(res->cause, sizeof res->cause, "%s", cause);
		free(cause);
		return -1;
	}
	return 0;
}

/*
 * Lock held: what a failed attempt comes to. Returns 1 when the blob is
 * settled (cancelled or failed), 0 after waiting for the next attempt.
 */
static int
fetch_failed(struct jobq *q, struct blob *b, const struct fetch *f,
    struct reg_result *res, int partial)
{
	const struct options *o = q->opt;
	double delay;
	char *msg;

	if ((res->err == REG_ABORTED || res->err == REG_LOCAL) &&
	    f->why == STOP_CANCEL) {
		st_blob_finish(q, b, BLOB_CANCELLED, NULL);
		return 1;
	}
	if (res->err == REG_ABORTED && f->why == STOP_STALL) {
		res->err = REG_RETRY;
		snprintf(res->cause, sizeof res->cause,
		    "stalled: no data for %.0fs", o->stall_timeout);
	}
	if (res->err == REG_LOCAL || res->err != REG_RETRY ||
	    b->m->attempts >= o->retries) {
		if (res->err == REG_LOCAL && res->local_errno == ENOSPC) {
			/* say what pulltop --prune would free */
			char *hint;

			pthread_mutex_unlock(q->mu);
			hint = store_prune_hint(q->store);
			pthread_mutex_lock(q->mu);
			msg = xasprintf("writing %s: %s%s%s%s", partial ?
			    "partial" : "blob", res->cause, hint ? " (" : "",
			    hint ? hint : "", hint ? ")" : "");
			free(hint);
		} else if (res->err == REG_LOCAL)
			msg = xasprintf("writing %s: %s", partial ? "partial" :
			    "blob", res->cause);
		else if (res->err == REG_RETRY && o->retries > 1)
			msg = xasprintf("%s (gave up after %d attempts)",
			    res->cause, b->m->attempts);
		else
			msg = xstrdup(res->cause);
		st_blob_finish(q, b, BLOB_FAILED, msg);
		free(msg);
		return 1;
	}
	delay = b->m->attempts * o->retry_delay;
	if (res->retry_after > delay)
		delay = res->retry_after;
	st_blob_retry_wait(q, b, delay, res->cause);
	while (!b->cancel && !q->quit && now_mono() < b->m->retry_at)
		jq_wait_until(q, &q->change, b->m->retry_at);
	return 0;
}

void
fetch_blob(struct jobq *q, struct regconn *k, struct blob *b)
{
	struct reg_result res;
	struct ingest in;
	struct fetch f;
	int r, settled, partial, cancelled;

	for (;;) {
		if (fetch_open(q, b, &in) != 0)
			return;
		r = chunks_fetch(q, b, &in, &res, &cancelled);
		if (r == 1) {	/* as one stream */
			r = fetch_attempt(q, k, b, &in, &f, &res);
			if (r != 0 && f.why == STOP_SPLIT) {
				/* too slow for one stream: what it got stays
				 * in the partial, the rest goes split */
				store_ingest_close(&in);
				b->split = b->same_attempt = 1;
				continue;
			}
		} else {
			memset(&f, 0, sizeof f);
			f.why = cancelled ? STOP_CANCEL : STOP_NONE;
		}
		if (res.range_broken && store_ingest_reset(&in) != 0) {
			/* the next open re-hashes and resets anyway */
		}
		partial = in.digest[0] != '\0';	/* close clears it */
		store_ingest_close(&in);
		pthread_mutex_lock(q->mu);
		if (r == 0) {
			st_blob_finish(q, b, BLOB_DONE, NULL);
			settled = 1;
		} else
			settled = fetch_failed(q, b, &f, &res, partial);
		pthread_mutex_unlock(q->mu);
		if (settled)
			return;
	}
}
