/*
 * jobq.c - the jobs queue: worker threads that take blob jobs, images
 * added to the run, and the engine as a source (the operations the
 * views call). See engine.h for the design, engine_int.h for the lock.
 */
#include "engine_int.h"
#include "registry.h"
#include "store.h"
#include "unpack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IMAGE_STACK (256 * 1024)	/* an image thread's stack */

void
jq_changed(struct jobq *q)
{
	pthread_cond_broadcast(&q->change);
}

void
jq_image_wake(struct jobq *q, struct image *im)
{
	(void)q;
	pthread_cond_broadcast(&im->cv);
}

int
jq_layers_final(struct jobq *q, const struct image *im, struct blob **bad)
{
	int i;

	if (bad != NULL)
		*bad = NULL;
	for (i = 0; i < im->nlayers; i++) {
		struct blob *b = q->blobs[im->layers[i]];
		if (!blob_state_final(b->m->state))
			return 0;
		if (bad != NULL && (b->m->state == BLOB_FAILED ||
		    b->m->state == BLOB_CANCELLED) &&
		    (*bad == NULL || (*bad)->m->state == BLOB_CANCELLED))
			*bad = b;
	}
	return 1;
}

/*
 * An image's thread waits for all its layers to be final, or, once one
 * failed, for one to be wanted again; with --unpack, for each layer in
 * turn. So it is woken when the last of them becomes final, not by each
 * one before it.
 */
void
jq_blob_wake(struct jobq *q, struct blob *b)
{
	int i, final = blob_state_final(b->m->state);

	for (i = 0; i < b->m->nimages; i++) {
		struct image *im;

		if (b->m->images[i] < 0 || b->m->images[i] >= q->nimages)
			continue;
		im = q->images[b->m->images[i]];
		if (!final || q->opt->unpack != NULL ||
		    jq_layers_final(q, im, NULL))
			pthread_cond_broadcast(&im->cv);
	}
	pthread_cond_broadcast(&q->change);
}

void
jq_wait_until(struct jobq *q, pthread_cond_t *c, double deadline)
{
	struct timespec ts;
	double wall;

	if (deadline <= 0) {
		pthread_cond_wait(c, q->mu);
		return;
	}
	wall = now_wall() + (deadline - now_mono());
	ts.tv_sec = (time_t)wall;
	ts.tv_nsec = (long)((wall - (double)ts.tv_sec) * 1e9);
	if (ts.tv_nsec < 0)
		ts.tv_nsec = 0;
	if (ts.tv_nsec > 999999999)
		ts.tv_nsec = 999999999;
	pthread_cond_timedwait(c, q->mu, &ts);
}

int
idset_has(const struct idset *s, int id)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (s->v[i] == id)
			return 1;
	return 0;
}

void
idset_add(struct idset *s, int id)
{
	if (idset_has(s, id))
		return;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 2;
		s->v = xrealloc(s->v, (size_t)s->cap * sizeof *s->v);
	}
	s->v[s->n++] = id;
}

void
idset_del(struct idset *s, int id)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (s->v[i] == id) {
			s->v[i] = s->v[--s->n];
			return;
		}
}

/* Take the next wanted, waiting blob, in the order they were added. */
static struct blob *
next_job(struct jobq *q)
{
	int i;

	/* nothing below scan_from is WAITING: skip what is settled */
	while (q->scan_from < q->nblobs &&
	    q->blobs[q->scan_from]->m->state != BLOB_WAITING)
		q->scan_from++;
	for (i = q->scan_from; i < q->nblobs; i++) {
		struct blob *b = q->blobs[i];
		if (b->m->state == BLOB_WAITING && !b->running && b->want.n > 0)
			return b;
	}
	return NULL;
}

/* What is free on the store's filesystem, for the header; no lock held.
 * Unless forced, at most every half second: not a statvfs per blob. */
static void
jq_space(struct jobq *q, int force)
{
	long long now = (long long)(now_mono() * 1000), last = q->space_ms;
	uint64_t free_bytes;

	if (!force && (now - last < 500 ||
	    !atomic_compare_exchange_strong(&q->space_ms, &last, now)))
		return;
	if (force)
		q->space_ms = now;
	if (store_free_bytes(q->store, &free_bytes) != 0)
		return;
	pthread_mutex_lock(q->mu);
	model_set_space(q->m, (int64_t)free_bytes);
	pthread_mutex_unlock(q->mu);
}

/*
 * Lock held: blob b's worker is done with it. A small blob keeps its
 * download slot while it is committed (fetch.c): the worker goes on with
 * the next job in that slot itself, at once, rather than waking another
 * worker to take it, a wake-up that costs a millisecond or more on a busy
 * machine, between every two small layers. Returns the next job, or NULL
 * with the slot given back.
 */
static struct blob *
slot_carry(struct jobq *q, struct blob *b)
{
	struct blob *next = NULL;

	if (b->slot && q->slot_waiters == 0 && q->active <= q->jobs_limit &&
	    !q->quit)
		next = next_job(q);
	if (next != NULL) {
		b->slot = 0;
		next->running = 1;
		next->slot = 1;
	} else
		jq_slot_give(q, b);
	jq_changed(q);
	/* requeued while it ran: any idle worker may take it */
	if (b->m->state == BLOB_WAITING)
		pthread_cond_broadcast(&q->work);
	return next;
}

static void *
worker_main(void *arg)
{
	struct jobq *q = arg;
	struct regconn *k = reg_conn_new(q->reg);
	struct blob *b;

	sha256_warm();	/* idle now: the image threads hash first */
	pthread_mutex_lock(q->mu);
	b = NULL;
	while (!q->quit) {
		if (b == NULL) {
			if (q->active >= q->jobs_limit ||
			    (b = next_job(q)) == NULL) {
				pthread_cond_wait(&q->work, q->mu);
				continue;
			}
			b->running = 1;
			b->slot = 1;
			q->active++;
		}
		pthread_mutex_unlock(q->mu);
		fetch_blob(q, k, b);
		jq_space(q, 0);
		pthread_mutex_lock(q->mu);
		b->running = 0;
		b = slot_carry(q, b);
	}
	pthread_mutex_unlock(q->mu);
	reg_conn_free(k);
	return NULL;
}

void
jq_slot_take(struct jobq *q, struct blob *b)
{
	while (!b->slot) {
		if (q->active < q->jobs_limit || b->cancel || q->quit) {
			q->active++;
			b->slot = 1;
		} else {
			q->slot_waiters++;
			pthread_cond_wait(&q->work, q->mu);
			q->slot_waiters--;
		}
	}
}

/*
 * One slot is free: one idle worker is enough to take the next job (idle
 * workers are alike, and one that finds no job leaves nothing undone),
 * unless a retrying blob waits for a slot too: then all of them.
 */
void
jq_slot_give(struct jobq *q, struct blob *b)
{
	if (!b->slot)
		return;
	b->slot = 0;
	q->active--;
	if (q->slot_waiters > 0)
		pthread_cond_broadcast(&q->work);
	else
		pthread_cond_signal(&q->work);
}

struct blob *
jq_blob_add(struct jobq *q, const struct ref *src, const char *digest,
    const char *media_type, uint64_t size, int there)
{
	struct blob *b;
	int added, id;

	id = model_blob_add(q->m, digest, media_type, size, 1, &added);
	if (!added)
		return q->blobs[id];
	if (q->nblobs == q->cap_blobs) {
		q->cap_blobs = q->cap_blobs ? q->cap_blobs * 2 : 64;
		q->blobs = xrealloc(q->blobs,
		    (size_t)q->cap_blobs * sizeof *q->blobs);
	}
	b = xcalloc(1, sizeof *b);
	b->id = id;
	b->m = model_blob(q->m, id);
	b->src = src;
	b->m->max_attempts = q->opt->retries;
	q->blobs[q->nblobs++] = b;
	if (there)
		st_blob_finish(q, b, BLOB_EXISTS, NULL);
	return b;
}

/* ------------------------------------------------- the source's ops */

static int
eng_set_jobs(void *impl, int n)
{
	struct jobq *q = impl;

	if (n < 1)
		n = 1;
	if (n > MAX_WORKERS)
		n = MAX_WORKERS;
	pthread_mutex_lock(q->mu);
	q->jobs_limit = n;
	while (q->nworkers < n * WORKERS_PER_JOB && !q->quit) {
		if (pthread_create(&q->workers[q->nworkers], NULL, worker_main,
		    q) != 0)
			break;
		q->nworkers++;
	}
	model_set_jobs(q->m, n);
	pthread_cond_broadcast(&q->work);
	jq_changed(q);
	pthread_mutex_unlock(q->mu);
	return n;
}

static int
eng_add_image(void *impl, const char *s, char **cause)
{
	struct jobq *q = impl;
	struct image *im;
	struct ref r;
	pthread_t t;
	pthread_attr_t attr;
	int i, id;

	if (ref_parse(s, &r, cause) != 0)
		return -1;
	pthread_mutex_lock(q->mu);
	for (i = 0; i < q->nimages; i++)
		if (strcmp(q->images[i]->ref.full, r.full) == 0) {
			pthread_mutex_unlock(q->mu);
			*cause = xasprintf("already being pulled");
			ref_free(&r);
			return -1;
		}
	if (q->quit) {
		pthread_mutex_unlock(q->mu);
		*cause = xasprintf("shutting down");
		ref_free(&r);
		return -1;
	}
	if (q->nimages == q->cap_images) {
		q->cap_images = q->cap_images ? q->cap_images * 2 : 16;
		q->images = xrealloc(q->images,
		    (size_t)q->cap_images * sizeof *q->images);
	}
	im = xcalloc(1, sizeof *im);
	id = im->id = model_image_add(q->m, r.full, r.domain);
	im->m = model_image(q->m, id);
	im->q = q;
	im->ref = r;
	pthread_cond_init(&im->cv, NULL);
	buf_init(&im->manifest, 4u << 20);
	q->images[q->nimages++] = im;
	q->image_threads++;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, IMAGE_STACK);
	if (pthread_create(&t, &attr, image_main, im) != 0) {
		q->image_threads--;
		st_image_fail(q, im, IMAGE_FAILED, "cannot start a thread");
	}
	pthread_attr_destroy(&attr);
	jq_changed(q);
	pthread_mutex_unlock(q->mu);
	return id;
}

static int
eng_cancel_blob(void *impl, int id, char **cause)
{
	struct jobq *q = impl;
	int r = -1;

	pthread_mutex_lock(q->mu);
	if (id >= 0 && id < q->nblobs)
		r = st_blob_cancel(q, q->blobs[id], 0);
	pthread_mutex_unlock(q->mu);
	if (r != 0)
		*cause = xasprintf("that layer is not running");
	return r;
}

static int
eng_retry_blob(void *impl, int id, char **cause)
{
	struct jobq *q = impl;
	int r = -1;

	pthread_mutex_lock(q->mu);
	if (id >= 0 && id < q->nblobs)
		r = st_blob_retry(q, q->blobs[id]);
	pthread_mutex_unlock(q->mu);
	if (r != 0)
		*cause = xasprintf("only a failed or cancelled layer can be "
		    "retried");
	return r;
}

static int
eng_cancel_image(void *impl, int id, char **cause)
{
	struct jobq *q = impl;
	int r = -1;

	pthread_mutex_lock(q->mu);
	if (id >= 0 && id < q->nimages)
		r = st_image_cancel(q, q->images[id]);
	pthread_mutex_unlock(q->mu);
	if (r != 0)
		*cause = xasprintf("that image is not running");
	return r;
}

static int
eng_retry_image(void *impl, int id, char **cause)
{
	struct jobq *q = impl;
	int r = -1;

	pthread_mutex_lock(q->mu);
	if (id >= 0 && id < q->nimages)
		r = st_image_retry(q, q->images[id]);
	pthread_mutex_unlock(q->mu);
	if (r != 0)
		*cause = xasprintf("only a failed or cancelled image can be "
		    "retried");
	return r;
}

static int
eng_retry_all(void *impl)
{
	struct jobq *q = impl;
	int i, n = 0;

	pthread_mutex_lock(q->mu);
	for (i = 0; i < q->nimages; i++)
		if (st_image_retry(q, q->images[i]) == 0)
			n++;
	for (i = 0; i < q->nblobs; i++)
		if (q->blobs[i]->want.n > 0 && st_blob_retry(q, q->blobs[i]) == 0)
			n++;
	pthread_mutex_unlock(q->mu);
	return n;
}

/* Is blob id used by an image of this run other than skip, still kept? */
static int
used_elsewhere(struct jobq *q, int id, int skip)
{
	struct model_blob *b = q->blobs[id]->m;
	int i;

	for (i = 0; i < b->nimages; i++)
		if (b->images[i] != skip && !q->images[b->images[i]]->m->removed)
			return 1;
	return 0;
}

/*
 * Lock held: the blobs of im that this run no longer holds once it is
 * removed: its layers no other image of the run uses, and its manifest
 * and config unless another image of the run is the same manifest.
 */
static int
forget_list(struct jobq *q, struct image *im, char ***out)
{
	struct manifest m;
	char *cause = NULL, **v;
	int i, n = 0, same = 0;

	v = xcalloc((size_t)im->nlayers + 2, sizeof *v);
	for (i = 0; i < im->nlayers; i++)
		if (!used_elsewhere(q, im->layers[i], im->id))
			v[n++] = xstrdup(q->blobs[im->layers[i]]->m->digest);
	for (i = 0; i < q->nimages; i++)
		if (i != im->id && !q->images[i]->m->removed &&
		    strcmp(q->images[i]->digest, im->digest) == 0)
			same = 1;
	if (!same && im->manifest.len > 0 && manifest_parse(im->manifest.data,
	    im->manifest.len, im->media_type, &m, &cause) == 0) {
		v[n++] = xstrdup(im->digest);
		v[n++] = xstrdup(m.config.digest);
		manifest_free(&m);
	}
	free(cause);
	*out = v;
	return n;
}

/*
 * d: take a complete image out of the store (its index.json entry), then
 * prune the blobs nothing else reaches any more; partials are left alone.
 */
static int
eng_remove_image(void *impl, int id, char **cause)
{
	struct jobq *q = impl;
	struct store_prune p = { .age = 1e18 };
	struct image *im;
	char *ref, **forget;
	int r, n;

	pthread_mutex_lock(q->mu);
	im = id >= 0 && id < q->nimages ? q->images[id] : NULL;
	if (im == NULL || im->m->state != IMAGE_COMPLETE || im->m->removed) {
		pthread_mutex_unlock(q->mu);
		*cause = xstrdup(im != NULL && im->m->removed ? "already removed "
		    "from the store" : "only a complete image can be removed");
		return -1;
	}
	ref = xstrdup(im->ref.full);
	n = forget_list(q, im, &forget);
	pthread_mutex_unlock(q->mu);
	r = store_index_remove(q->store, ref, cause);
	if (r == 0 && store_lease_forget(q->store, (const char *const *)forget,
	    n) != 0) {
		/* still in the lease: the next prune after this run takes them */
	}
	while (n > 0)
		free(forget[--n]);
	free(forget);
	if (r == 0 && store_prune(q->store, &p, cause) != 0)
		r = -1;
	free(ref);
	if (r < 0)
		return -1;
	pthread_mutex_lock(q->mu);
	im->m->removed = 1;
	model_touch_image(q->m, im->m);
	model_event(q->m, 0, EV_NOTE, im->id, -1, "removed from the store "
	    "(%llu unused blobs, %llu bytes freed)",
	    (unsigned long long)p.blobs, (unsigned long long)p.blob_bytes);
	pthread_mutex_unlock(q->mu);
	jq_space(q, 1);
	return 0;
}

static void
eng_cancel_all(void *impl)
{
	struct jobq *q = impl;
	int i;

	pthread_mutex_lock(q->mu);
	for (i = 0; i < q->nimages; i++) {
		struct image *im = q->images[i];

		if (image_state_final(im->m->state))
			continue;
		q->gave_up = 1;
		im->cancel = 1;
		st_image_fail(q, im, IMAGE_CANCELLED, "cancelled");
	}
	for (i = 0; i < q->nblobs; i++)
		st_blob_cancel(q, q->blobs[i], 1);
	pthread_mutex_unlock(q->mu);
}

/* Stop the workers and image threads; safe after cancel_all. */
static void
eng_shutdown(struct jobq *q)
{
	int i;

	pthread_mutex_lock(q->mu);
	q->quit = 1;
	pthread_cond_broadcast(&q->work);
	pthread_cond_broadcast(&q->change);
	for (i = 0; i < q->nimages; i++)
		jq_image_wake(q, q->images[i]);
	pthread_mutex_unlock(q->mu);
	eng_cancel_all(q);
	for (i = 0; i < q->nworkers; i++)
		pthread_join(q->workers[i], NULL);
	pthread_mutex_lock(q->mu);
	q->nworkers = 0;
	while (q->image_threads > 0) {
		pthread_cond_broadcast(&q->change);
		jq_wait_until(q, &q->change, now_mono() + 0.1);
	}
	pthread_mutex_unlock(q->mu);
}

static void
eng_free(void *impl)
{
	struct jobq *q = impl;
	int i;

	eng_shutdown(q);
	/* a run that ended on its own waits for the deletion of the trash
	 * of earlier unpacks; a signal ends the wait (unpack.h) */
	if (!q->gave_up)
		unpack_sweep_wait(&sig_caught);
	for (i = 0; i < q->nimages; i++) {
		ref_free(&q->images[i]->ref);
		pthread_cond_destroy(&q->images[i]->cv);
		buf_free(&q->images[i]->manifest);
		free(q->images[i]->layers);
		free(q->images[i]->diff_ids);
		free(q->images[i]);
	}
	for (i = 0; i < q->nblobs; i++) {
		free(q->blobs[i]->want.v);
		free(q->blobs[i]);
	}
	free(q->images);
	free(q->blobs);
	free(q->platform);
	reg_free(q->reg);
	store_close(q->store);
	pthread_cond_destroy(&q->work);
	pthread_cond_destroy(&q->change);
	free(q);
}

static const struct source_ops engine_ops = {
	.cancel_blob = eng_cancel_blob,
	.retry_blob = eng_retry_blob,
	.cancel_image = eng_cancel_image,
	.retry_image = eng_retry_image,
	.retry_all = eng_retry_all,
	.add_image = eng_add_image,
	.set_jobs = eng_set_jobs,
	.remove_image = eng_remove_image,
	.cancel_all = eng_cancel_all,
	.free = eng_free,
};

/* Say what store_open found of runs that a restart cut short. */
static void
jq_recovered(struct jobq *q)
{
	int removed;
	char *msg = store_recovery(q->store, &removed);

	if (msg == NULL)
		return;
	model_event(q->m, removed, EV_NOTE, -1, -1, "%s", msg);
	if (q->opt->progress != PROGRESS_TTY &&
	    (removed || q->opt->progress != PROGRESS_QUIET))
		fprintf(stderr, "pulltop: %s\n", msg);
	free(msg);
}

struct source *
engine_new(const struct options *opt, char **cause)
{
	struct jobq *q = xcalloc(1, sizeof *q);
	struct source *s;
	char host[64];

	if (store_open(opt->store, &q->store, cause) != 0) {
		free(q);
		return NULL;
	}
	store_set_fsync(q->store, opt->fsync_each);
	q->opt = opt;
	q->m = model_new();
	q->mu = model_mutex(q->m);
	model_set_rate_cap(q->m, (double)opt->limit_rate);
	pthread_cond_init(&q->work, NULL);
	pthread_cond_init(&q->change, NULL);
	q->reg = reg_new(opt);
	platform_host(host, sizeof host);
	q->platform = xstrdup(opt->platform ? opt->platform : host);
	s = xcalloc(1, sizeof *s);
	s->name = "pulltop";
	s->caps = SRC_CANCEL_BLOB | SRC_RETRY_BLOB | SRC_CANCEL_IMAGE |
	    SRC_RETRY_IMAGE | SRC_RETRY_ALL | SRC_ADD_IMAGE | SRC_SET_JOBS |
	    SRC_REMOVE_IMAGE;
	s->ops = &engine_ops;
	s->impl = q;
	s->model = q->m;
	eng_set_jobs(q, opt->jobs);
	jq_space(q, 1);
	jq_recovered(q);
	return s;
}
