/*
 * fetch.c - every attempt at one blob, run by a worker: resume from the
 * partial on disk, stream into it while hashing, watch for cancel and
 * stalls, retry transient failures with growing delays, verify and commit.
 */
#include "jobq_int.h"
#include "registry.h"
#include "store.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PUBLISH_EVERY 0.1	/* seconds between progress updates */

enum stop_why { STOP_NONE, STOP_CANCEL, STOP_STALL };

struct fetch {
	struct jobq *q;
	struct blob *b;
	struct ingest *in;
	double last_byte;	/* worker-local: no lock needed */
	double last_pub;
	uint64_t pub_bytes;
	enum stop_why why;
	double t0;		/* start of this attempt, for --limit-rate */
	uint64_t have0;
};

/* Lock held: publish bytes and a smoothed speed. */
static void
publish(struct fetch *f, double now)
{
	struct blob *b = f->b;
	double dt = now - f->last_pub;

	if (dt > 0) {
		double inst = (double)(f->in->have - f->pub_bytes) / dt;
		double a = 1 - exp(-dt / 1.5);
		b->speed = b->speed > 0 ? b->speed + a * (inst - b->speed) : inst;
	}
	b->done = f->in->have;
	f->pub_bytes = f->in->have;
	f->last_pub = now;
	jq_changed(f->q);
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
		pthread_mutex_lock(&f->q->mu);
		stop = f->b->cancel || f->q->quit;
		pthread_mutex_unlock(&f->q->mu);
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
		pthread_mutex_lock(&f->q->mu);
		if (f->b->cancel || f->q->quit)
			f->why = STOP_CANCEL;
		pthread_mutex_unlock(&f->q->mu);
		if (f->why == STOP_CANCEL)
			return -1;
	}
	if (now - f->last_pub >= PUBLISH_EVERY) {
		pthread_mutex_lock(&f->q->mu);
		if (f->b->state == BLOB_STALLED)
			f->b->state = BLOB_DOWNLOADING;
		publish(f, now);
		pthread_mutex_unlock(&f->q->mu);
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

	pthread_mutex_lock(&q->mu);
	if (f->b->cancel || q->quit) {
		f->why = STOP_CANCEL;
		stop = 1;
	} else if (idle >= stall) {
		f->why = STOP_STALL;
		stop = 1;
	} else if (idle >= show && f->b->state == BLOB_DOWNLOADING) {
		f->b->state = BLOB_STALLED;
		f->b->speed = 0;
		jq_changed(q);
	} else if (now - f->last_pub >= PUBLISH_EVERY) {
		if (idle < show && f->b->state == BLOB_STALLED)
			f->b->state = BLOB_DOWNLOADING;
		publish(f, now);
	}
	pthread_mutex_unlock(&q->mu);
	return stop;
}

/* Lock held: finish the blob in a final state. */
static void
finish(struct jobq *q, struct blob *b, enum blob_state st, const char *err)
{
	b->state = st;
	b->finished = now_mono();
	b->speed = 0;
	if (err != NULL)
		sanitize(b->error, sizeof b->error, err);
	jq_changed(q);
}

/* Lock held: is the job over before an attempt starts? */
static int
cancelled(struct jobq *q, struct blob *b)
{
	if (b->cancel || q->quit || b->want == 0) {
		finish(q, b, BLOB_CANCELLED, NULL);
		return 1;
	}
	return 0;
}

void
fetch_blob(struct jobq *q, struct regconn *k, struct blob *b)
{
	const struct options *o = q->opt;
	struct reg_result res;
	struct ingest in;
	struct fetch f;
	char *cause = NULL, sid[13];
	double delay;
	int r;

	short_id(b->digest, sid);
	for (;;) {
		pthread_mutex_lock(&q->mu);
		if (cancelled(q, b)) {
			pthread_mutex_unlock(&q->mu);
			return;
		}
		pthread_mutex_unlock(&q->mu);

		r = store_ingest_open(q->store, b->digest, b->size, &in, &cause);
		if (r == 1 || (r == 0 && store_has_blob(q->store, b->digest,
		    b->size))) {
			if (r == 0)
				store_ingest_close(&in);
			pthread_mutex_lock(&q->mu);
			if (store_has_blob(q->store, b->digest, b->size)) {
				finish(q, b, BLOB_EXISTS, NULL);
				pthread_mutex_unlock(&q->mu);
				return;
			}
			/* another pulltop is fetching it: wait for it */
			b->state = BLOB_WAITING;
			snprintf(b->error, sizeof b->error,
			    "being downloaded by another pulltop process");
			jq_changed(q);
			jq_wait_until(q, &q->change, now_mono() + 0.25);
			pthread_mutex_unlock(&q->mu);
			continue;
		}
		if (r != 0) {
			pthread_mutex_lock(&q->mu);
			finish(q, b, BLOB_FAILED, cause);
			jq_event_locked(q, 2, "%s: %s", sid, b->error);
			pthread_mutex_unlock(&q->mu);
			free(cause);
			return;
		}

		memset(&f, 0, sizeof f);
		f.q = q;
		f.b = b;
		f.in = &in;
		f.last_byte = f.last_pub = f.t0 = now_mono();
		f.pub_bytes = f.have0 = in.have;
		pthread_mutex_lock(&q->mu);
		b->attempts++;
		b->state = BLOB_DOWNLOADING;
		b->done = in.have;
		b->speed = 0;
		b->error[0] = '\0';
		if (b->started == 0)
			b->started = now_mono();
		if (in.have > 0)
			jq_event_locked(q, 0, "%s: resuming at %llu of %llu bytes",
			    sid, (unsigned long long)in.have,
			    (unsigned long long)b->size);
		jq_changed(q);
		pthread_mutex_unlock(&q->mu);

		if (in.have < b->size)
			r = reg_get_blob(k, b->src, b->digest, b->size, in.have,
			    o->limit_rate, on_write, on_check, &f, &res);
		else {
			r = 0;
			memset(&res, 0, sizeof res);
		}
		if (r == 0) {
			pthread_mutex_lock(&q->mu);
			b->state = BLOB_VERIFYING;
			publish(&f, now_mono());
			pthread_mutex_unlock(&q->mu);
			if (in.have != b->size) {
				/* the server closed early and said it was done */
				res.err = REG_RETRY;
				snprintf(res.cause, sizeof res.cause,
				    "short body: %llu of %llu bytes",
				    (unsigned long long)in.have,
				    (unsigned long long)b->size);
				r = -1;
			} else if (store_ingest_commit(q->store, &in, &cause) != 0) {
				res.err = REG_RETRY;
				snprintf(res.cause, sizeof res.cause, "%s", cause);
				free(cause);
				cause = NULL;
				r = -1;
			}
		}
		if (res.range_broken && store_ingest_reset(&in) != 0) {
			/* the next open re-hashes and resets anyway */
		}
		store_ingest_close(&in);

		pthread_mutex_lock(&q->mu);
		if (r == 0) {
			finish(q, b, BLOB_DONE, NULL);
			pthread_mutex_unlock(&q->mu);
			return;
		}
		if ((res.err == REG_ABORTED || res.err == REG_LOCAL) &&
		    f.why == STOP_CANCEL) {
			finish(q, b, BLOB_CANCELLED, NULL);
			pthread_mutex_unlock(&q->mu);
			return;
		}
		if (res.err == REG_ABORTED && f.why == STOP_STALL) {
			res.err = REG_RETRY;
			snprintf(res.cause, sizeof res.cause,
			    "stalled: no data for %.0fs", o->stall_timeout);
		}
		if (res.err == REG_LOCAL) {
			char msg[300];
			snprintf(msg, sizeof msg, "writing %s: %s", in.digest[0] ?
			    "partial" : "blob", res.cause);
			finish(q, b, BLOB_FAILED, msg);
			jq_event_locked(q, 2, "%s: %s", sid, b->error);
			pthread_mutex_unlock(&q->mu);
			return;
		}
		if (res.err != REG_RETRY || b->attempts >= o->retries) {
			char msg[300];
			if (res.err == REG_RETRY && o->retries > 1)
				snprintf(msg, sizeof msg, "%s (gave up after %d "
				    "attempts)", res.cause, b->attempts);
			else
				snprintf(msg, sizeof msg, "%s", res.cause);
			finish(q, b, BLOB_FAILED, msg);
			jq_event_locked(q, 2, "%s: %s", sid, b->error);
			pthread_mutex_unlock(&q->mu);
			return;
		}
		delay = b->attempts * o->retry_delay;
		if (res.retry_after > delay)
			delay = res.retry_after;
		b->state = BLOB_RETRYING;
		b->speed = 0;
		b->retry_at = now_mono() + delay;
		sanitize(b->error, sizeof b->error, res.cause);
		jq_event_locked(q, 1, "%s: Retrying in %.0fs (attempt %d/%d): %s",
		    sid, delay, b->attempts + 1, o->retries, b->error);
		while (!b->cancel && !q->quit && now_mono() < b->retry_at)
			jq_wait_until(q, &q->change, b->retry_at);
		pthread_mutex_unlock(&q->mu);
	}
}
