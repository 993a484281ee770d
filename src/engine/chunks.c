/*
 * chunks.c - one big blob over several connections. A big blob first goes
 * as one stream (fetch.c), a probe: only when that stream's first
 * CHUNKS_PROBE seconds say the rest would take more than CHUNKS_WORTH
 * does it stop and the blob go split, from what it got. Then the worker
 * that holds the blob splits its partial into byte ranges (store
 * ranges.c), starts
 * lanes - threads with a connection each - that fetch ranges with bounded
 * Range requests and write them in place, and itself hashes the contiguous
 * prefix as it grows, publishes progress, and commits.
 *
 * The first lane goes alone until its answer proves that the server (or
 * the storage it redirects to) honours a bounded Range: a 206 with exactly
 * that Content-Range. Any lane that gets a 200 or another range stops every
 * lane, and the blob goes back to one stream (fetch.c) from its prefix.
 *
 * Each range is retried on its own (--retries attempts, growing delays)
 * while the others go on. The map of what each range holds is saved at
 * least every CH_SAVE bytes of each range, so a killed run refetches at
 * most that much per range.
 *
 * BUDGET: -j counts layer downloads (each holds one worker and one
 * connection). The extra connections of split blobs come from a budget of
 * -j more per registry host, shared by every split blob to it: a blob
 * takes what is free when it starts (at least its own one), so one huge
 * layer never takes more than 2 x -j connections to a registry, nor keeps
 * other layers from starting.
 *
 * LOCKS: c->mu guards the lanes' shared state and the map's counts; q->mu
 * the model. Never both at once.
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

#define CH_SAVE (1u << 20)	/* map saved this often per range, at most */
#define CH_MIN_RANGE (1u << 20)	/* no range smaller */
#define CH_RANGE (16u << 20)	/* ranges of a big blob, about */
#define CH_TICK 0.1		/* seconds between hashing and publishing */

struct chunks;

struct lane {
	struct chunks *c;
	pthread_t th;
	int idx;		/* the range it fetches */
	int live;
	int ep;			/* the model's endpoint serving it, 0 none */
};

struct chunks {
	struct jobq *q;
	struct blob *b;
	struct ingest *in;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int busy[STORE_RANGES_MAX];	/* a lane has the range */
	int tries[STORE_RANGES_MAX];	/* attempts at the range */
	double speed[STORE_RANGES_MAX];	/* the coordinator's */
	uint64_t pub[STORE_RANGES_MAX];
	int proven;		/* a bounded 206 came: go wide */
	int broken;		/* the server mishandled a range */
	int stop;		/* cancelled or failed: lanes stop */
	int cancel;
	int failed;
	struct reg_result res;	/* why it failed */
	int nlive;
	struct lane lanes[STORE_RANGES_MAX];
	int nlanes;
};

/* ---- the connection budget (q->mu held) ---- */

static int *
budget_slot(struct jobq *q, const char *host)
{
	int i;

	for (i = 0; i < q->nconns; i++)
		if (strcmp(q->conns[i].host, host) == 0)
			return &q->conns[i].used;
	if (q->nconns == JQ_HOSTS_MAX)
		return NULL;
	snprintf(q->conns[q->nconns].host, sizeof q->conns[0].host, "%s",
	    host);
	q->conns[q->nconns].used = 0;
	return &q->conns[q->nconns++].used;
}

static int
budget_take(struct jobq *q, const char *host, int want)
{
	int *used = budget_slot(q, host), got;

	if (used == NULL)
		return 0;
	got = q->jobs_limit - *used;
	got = got < 0 ? 0 : got > want ? want : got;
	*used += got;
	return got;
}

static void
budget_give(struct jobq *q, const char *host, int n)
{
	int *used = budget_slot(q, host);

	if (used != NULL)
		*used -= n;
}

/* ---- a lane ---- */

static uint64_t
range_len(const struct store_range *r)
{
	return r->end - r->start;
}

static int
lane_write(void *ctx, const void *p, size_t n)
{
	struct lane *l = ctx;
	struct chunks *c = l->c;
	struct store_range *r = &c->in->map->r[l->idx];
	int ret;

	/* only this lane moves r->done: read it unlocked */
	if (store_ingest_pwrite(c->in, r->start + r->done, p, n) != 0)
		return -1;
	pthread_mutex_lock(&c->mu);
	r->done += n;
	if (!c->proven) {
		c->proven = 1;
		pthread_cond_broadcast(&c->cv);
	}
	ret = store_ingest_map_save(c->in, CH_SAVE);
	pthread_mutex_unlock(&c->mu);
	return ret;
}

static int
lane_check(void *ctx)
{
	struct lane *l = ctx;
	struct chunks *c = l->c;
	int cancel, stop;

	pthread_mutex_lock(c->q->mu);
	cancel = c->b->cancel || c->q->quit;
	pthread_mutex_unlock(c->q->mu);
	pthread_mutex_lock(&c->mu);
	if (cancel && !c->stop) {
		c->stop = c->cancel = 1;
		pthread_cond_broadcast(&c->cv);
	}
	stop = c->stop || c->broken;
	pthread_mutex_unlock(&c->mu);
	return stop;
}

/* c->mu held: the next range nobody fetches, marked busy; -1 when none. */
static int
lane_pick(struct chunks *c)
{
	struct ingest_map *m = c->in->map;
	int i;

	if (c->stop || c->broken)
		return -1;
	for (i = 0; i < m->n; i++)
		if (!c->busy[i] && m->r[i].done < range_len(&m->r[i])) {
			c->busy[i] = 1;
			return i;
		}
	return -1;
}

/* c->mu held: the range failed for good; the blob fails with it. */
static void
range_give_up(struct chunks *c, int i, const struct reg_result *res)
{
	const struct store_range *r = &c->in->map->r[i];

	if (c->stop)
		return;
	c->stop = c->failed = 1;
	c->res = *res;
	if (res->err == REG_RETRY) {
		c->res.err = REG_FATAL;	/* its attempts are spent */
		snprintf(c->res.cause, sizeof c->res.cause, "range %llu-%llu: "
		    "%.180s (gave up after %d attempts)",
		    (unsigned long long)r->start,
		    (unsigned long long)r->end - 1, res->cause, c->tries[i]);
	}
	pthread_cond_broadcast(&c->cv);
}

/* c->mu held: wait out a failed attempt's delay; 0 to try again. */
static int
range_wait(struct chunks *c, int i, const struct reg_result *res)
{
	const struct options *o = c->q->opt;
	double delay = c->tries[i] * o->retry_delay, until;
	struct timespec ts;

	if (res->err != REG_RETRY || c->tries[i] >= o->retries) {
		range_give_up(c, i, res);
		return -1;
	}
	if (res->retry_after > delay)
		delay = res->retry_after;
	until = now_mono() + delay;
	while (!c->stop && !c->broken && now_mono() < until) {
		double d = until - now_mono();

		d = d > 0.1 ? 0.1 : d;	/* lane_check is not called here */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(d * 1e9);
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&c->cv, &c->mu, &ts);
		pthread_mutex_unlock(&c->mu);
		lane_check(&c->lanes[0]);	/* sees a cancel */
		pthread_mutex_lock(&c->mu);
	}
	return c->stop || c->broken ? -1 : 0;
}

/* The registry client's notes on a range (registry.h): which endpoint
 * serves it, a mirror that failed, a rate limit. */
static void
lane_note(void *ctx, const struct reg_note *n)
{
	struct lane *l = ctx;

	pthread_mutex_lock(l->c->q->mu);
	st_note(l->c->q, NULL, l->c->b, n, &l->ep);
	pthread_mutex_unlock(l->c->q->mu);
}

/* Every attempt at range l->idx; c->mu held on entry and return. */
static void
lane_range(struct lane *l, struct regconn *k)
{
	struct chunks *c = l->c;
	struct store_range *r = &c->in->map->r[l->idx];
	struct reg_result res;
	uint64_t from;
	int rc;

	for (;;) {
		from = r->start + r->done;
		c->tries[l->idx]++;
		pthread_mutex_unlock(&c->mu);
		reg_conn_notes(k, lane_note);
		rc = reg_get_blob_range(k, c->b->src, c->b->m->digest,
		    c->in->size, from, r->end, lane_write, lane_check, l, &res);
		/* the bytes this call wrote (only this lane moves r->done),
		 * for the endpoint that served them; never both locks */
		pthread_mutex_lock(c->q->mu);
		model_endpoint_bytes(c->q->m, l->ep, r->start + r->done - from);
		pthread_mutex_unlock(c->q->mu);
		pthread_mutex_lock(&c->mu);
		if (rc == 0 && r->done == range_len(r))
			break;
		if (rc == 0) {
			res.err = REG_RETRY;
			snprintf(res.cause, sizeof res.cause, "short body: "
			    "%llu of %llu bytes",
			    (unsigned long long)(r->start + r->done - from),
			    (unsigned long long)(r->end - from));
		}
		if (res.range_broken) {
			c->broken = 1;
			c->res = res;
			pthread_cond_broadcast(&c->cv);
			break;
		}
		if (c->stop || c->broken)
			break;
		if (res.err == REG_ABORTED || res.err == REG_LOCAL) {
			range_give_up(c, l->idx, &res);
			break;
		}
		if (range_wait(c, l->idx, &res) != 0)
			break;
	}
	c->busy[l->idx] = 0;
	pthread_cond_broadcast(&c->cv);
}

static void *
lane_main(void *arg)
{
	struct lane *l = arg;
	struct chunks *c = l->c;
	struct regconn *k = reg_conn_new(c->q->reg);

	pthread_mutex_lock(&c->mu);
	while ((l->idx = lane_pick(c)) >= 0)
		lane_range(l, k);
	c->nlive--;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	reg_conn_free(k);
	return NULL;
}

/* c->mu held: start lanes up to n. */
static void
lanes_start(struct chunks *c, int n)
{
	while (c->nlanes < n) {
		struct lane *l = &c->lanes[c->nlanes];

		l->c = c;
		if (pthread_create(&l->th, NULL, lane_main, l) != 0)
			break;
		l->live = 1;
		c->nlanes++;
		c->nlive++;
	}
}

/* ---- the worker: hash, publish, wait ---- */

/* Hash the grown prefix and publish the bytes; 0, or -1 with errno. */
static int
coord_tick(struct chunks *c, double *last, uint64_t *last_total)
{
	struct ingest_map *m = c->in->map;
	struct model_range mr[STORE_RANGES_MAX];
	uint64_t prefix, total = 0;
	double now, dt, a;
	int i;

	pthread_mutex_lock(&c->mu);
	prefix = store_ingest_prefix(c->in);
	for (i = 0; i < m->n; i++) {
		mr[i].start = m->r[i].start;
		mr[i].end = m->r[i].end;
		mr[i].done = m->r[i].done;
		total += m->r[i].done;
	}
	pthread_mutex_unlock(&c->mu);
	if (store_ingest_hash_to(c->in, prefix) != 0)
		return -1;
	now = now_mono();
	dt = now - *last;
	if (dt < CH_TICK && prefix < c->in->size)
		return 0;
	a = 1 - exp(-dt / 1.5);
	for (i = 0; i < m->n && dt > 0; i++) {
		double inst = (double)(mr[i].done - c->pub[i]) / dt;

		c->speed[i] = c->speed[i] > 0 ? c->speed[i] + a * (inst -
		    c->speed[i]) : inst;
		c->pub[i] = mr[i].done;
		mr[i].speed = mr[i].done == mr[i].end - mr[i].start ? 0 :
		    c->speed[i];
	}
	pthread_mutex_lock(c->q->mu);
	if (dt > 0) {
		double inst = (double)(total - *last_total) / dt;
		double sp = c->b->m->speed;

		st_blob_progress(c->q, c->b, total, sp > 0 ?
		    sp + a * (inst - sp) : inst);
		st_blob_ranges(c->q, c->b, mr, m->n);
	}
	pthread_mutex_unlock(c->q->mu);
	*last = now;
	*last_total = total;
	return 0;
}

/* Run the lanes until none is left; hash as the prefix grows. */
static void
coord_run(struct chunks *c, int want)
{
	double last = now_mono();
	uint64_t last_total = 0;
	struct timespec ts;
	int i;

	for (i = 0; i < c->in->map->n; i++) {
		c->pub[i] = c->in->map->r[i].done;
		last_total += c->pub[i];
	}
	pthread_mutex_lock(&c->mu);
	lanes_start(c, 1);
	while (c->nlive > 0) {
		if (c->proven && c->nlanes < want && !c->stop && !c->broken)
			lanes_start(c, want);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(CH_TICK * 1e9);
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&c->cv, &c->mu, &ts);
		pthread_mutex_unlock(&c->mu);
		if (coord_tick(c, &last, &last_total) != 0) {
			pthread_mutex_lock(&c->mu);
			if (!c->stop) {
				c->stop = c->failed = 1;
				c->res.err = REG_LOCAL;
				c->res.local_errno = errno;
				snprintf(c->res.cause, sizeof c->res.cause,
				    "reading back: %s", strerror(errno));
			}
			continue;
		}
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	for (i = 0; i < c->nlanes; i++)
		pthread_join(c->lanes[i].th, NULL);
}

/*
 * How many ranges for this blob; 0: fetch it as one stream. At least one
 * per connection, and more (up to CH_RANGE bytes each, at most
 * STORE_RANGES_MAX) so that lanes taking them in order keep the hashed
 * prefix close behind the bytes received: little is left to hash at the
 * end.
 */
int
chunks_may_split(const struct jobq *q, const struct blob *b,
    const struct ingest *in)
{
	const struct options *o = q->opt;

	return o->chunks >= 2 && o->limit_rate == 0 && !b->split &&
	    in->size >= o->chunk_min &&
	    in->size - in->have >= o->chunk_min / 2;
}

int
chunks_worth(uint64_t left, uint64_t got, double secs)
{
	return got == 0 || (double)left * secs / (double)got > CHUNKS_WORTH;
}

static int
chunks_wanted(const struct jobq *q, const struct blob *b,
    const struct ingest *in)
{
	const struct options *o = q->opt;
	uint64_t left = in->size - in->have, n;

	if (o->chunks < 2 || o->limit_rate > 0)
		return 0;
	if (in->map != NULL)
		return in->map->n;	/* a split that was under way */
	if (!b->split || left < o->chunk_min / 2)
		return 0;	/* not yet found too slow for one stream */
	n = left / CH_RANGE;
	n = n < (uint64_t)o->chunks ? (uint64_t)o->chunks : n;
	n = n > STORE_RANGES_MAX ? STORE_RANGES_MAX : n;
	n = n > left / CH_MIN_RANGE ? left / CH_MIN_RANGE : n;
	return n < 2 ? 0 : (int)n;
}

/* The lanes are done: what it comes to. */
static int
chunks_end(struct chunks *c, struct reg_result *res, int *cancelled)
{
	struct jobq *q = c->q;
	char *cause = NULL;

	if (c->cancel) {
		*cancelled = 1;
		res->err = REG_ABORTED;
		return -1;
	}
	if (c->failed) {
		*res = c->res;
		return -1;
	}
	if (c->broken) {
		/* keep the prefix, go on as one stream from there */
		if (store_ingest_hash_to(c->in, store_ingest_prefix(c->in)) !=
		    0 || store_ingest_unsplit(c->in) != 0) {
			if (store_ingest_reset(c->in) != 0) {
				/* the next open re-hashes and resets */
			}
		}
		return 1;
	}
	if (store_ingest_hash_to(c->in, c->in->size) != 0) {
		res->err = REG_LOCAL;
		res->local_errno = errno;
		snprintf(res->cause, sizeof res->cause, "reading back: %s",
		    strerror(errno));
		return -1;
	}
	pthread_mutex_lock(q->mu);
	st_blob_verifying(q, c->b);
	pthread_mutex_unlock(q->mu);
	if (store_ingest_commit(q->store, c->in, &cause) != 0) {
		res->err = REG_RETRY;
		snprintf(res->cause, sizeof res->cause, "%s", cause);
		free(cause);
		return -1;
	}
	return 0;
}

int
chunks_fetch(struct jobq *q, struct blob *b, struct ingest *in,
    struct reg_result *res, int *cancelled)
{
	struct chunks *c;
	const char *host = reg_host(b->src);
	char *cause = NULL;
	int n = chunks_wanted(q, b, in), extra, lanes, r;

	memset(res, 0, sizeof *res);
	*cancelled = 0;
	if (n == 0) {
		if (in->map != NULL && store_ingest_unsplit(in) != 0 &&
		    store_ingest_reset(in) != 0) {
			/* the next open re-hashes and resets anyway */
		}
		return 1;
	}
	if (store_ingest_split(in, n, &cause) != 0) {
		free(cause);	/* one stream still works */
		return 1;
	}
	c = xcalloc(1, sizeof *c);
	c->q = q;
	c->b = b;
	c->in = in;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	pthread_mutex_lock(q->mu);
	lanes = q->opt->chunks < in->map->n ? q->opt->chunks : in->map->n;
	extra = budget_take(q, host, lanes - 1);
	if (!b->same_attempt)
		st_blob_attempt(q, b, in->have);
	b->same_attempt = 0;
	pthread_mutex_unlock(q->mu);
	coord_run(c, 1 + extra);
	pthread_mutex_lock(q->mu);
	budget_give(q, host, extra);
	pthread_mutex_unlock(q->mu);
	r = chunks_end(c, res, cancelled);
	pthread_mutex_lock(q->mu);
	st_blob_ranges(q, b, NULL, 0);
	pthread_mutex_unlock(q->mu);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
	return r;
}
