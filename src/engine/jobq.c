/*
 * jobq.c - the jobs queue: pull state under one mutex, worker threads that
 * take blob jobs, the keyboard's cancel and retry operations, events, and
 * snapshots for the front ends. See jobq.h for the design.
 */
#include "jobq_int.h"
#include "oci.h"
#include "registry.h"
#include "store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

const char *
blob_state_name(enum blob_state s)
{
	switch (s) {
	case BLOB_WAITING:	return "Waiting";
	case BLOB_DOWNLOADING:	return "Downloading";
	case BLOB_RETRYING:	return "Retrying";
	case BLOB_STALLED:	return "Stalled";
	case BLOB_VERIFYING:	return "Verifying Checksum";
	case BLOB_EXTRACTING:	return "Extracting";
	case BLOB_DONE:		return "Download complete";
	case BLOB_EXISTS:	return "Already exists";
	case BLOB_FAILED:	return "Failed";
	case BLOB_CANCELLED:	return "Cancelled";
	}
	return "?";
}

const char *
image_state_name(enum image_state s)
{
	switch (s) {
	case IMAGE_RESOLVING:	return "Resolving";
	case IMAGE_DOWNLOADING:	return "Downloading";
	case IMAGE_COMPLETE:	return "Complete";
	case IMAGE_FAILED:	return "Failed";
	case IMAGE_CANCELLED:	return "Cancelled";
	}
	return "?";
}

int
blob_state_final(enum blob_state s)
{
	return s == BLOB_DONE || s == BLOB_EXISTS || s == BLOB_FAILED ||
	    s == BLOB_CANCELLED;
}

int
blob_state_active(enum blob_state s)
{
	return !blob_state_final(s);
}

static int
image_final(enum image_state s)
{
	return s == IMAGE_COMPLETE || s == IMAGE_FAILED || s == IMAGE_CANCELLED;
}

void
jq_changed(struct jobq *q)
{
	uint64_t one = 1;

	q->gen++;
	pthread_cond_broadcast(&q->change);
	if (write(q->wake_wr, &one, sizeof one) < 0) {
		/* EAGAIN: already woken */
	}
}

void
jq_wait_until(struct jobq *q, pthread_cond_t *c, double deadline)
{
	struct timespec ts;
	double wall;

	if (deadline <= 0) {
		pthread_cond_wait(c, &q->mu);
		return;
	}
	wall = now_wall() + (deadline - now_mono());
	ts.tv_sec = (time_t)wall;
	ts.tv_nsec = (long)((wall - (double)ts.tv_sec) * 1e9);
	if (ts.tv_nsec < 0)
		ts.tv_nsec = 0;
	if (ts.tv_nsec > 999999999)
		ts.tv_nsec = 999999999;
	pthread_cond_timedwait(c, &q->mu, &ts);
}

static void
event_add(struct jobq *q, int level, const char *text)
{
	struct snap_event *e;
	int slot;

	slot = (q->ev_head + q->ev_count) % JOBQ_EVENTS;
	if (q->ev_count == JOBQ_EVENTS)
		q->ev_head = (q->ev_head + 1) % JOBQ_EVENTS;
	else
		q->ev_count++;
	e = &q->events[slot];
	e->seq = ++q->ev_seq;
	e->wall = now_wall();
	e->level = level;
	sanitize(e->text, sizeof e->text, text);
}

/* Lock held: format an event, store it, wake the front end. */
static void
event_vadd(struct jobq *q, int level, const char *fmt, va_list ap)
{
	char text[512];

	vsnprintf(text, sizeof text, fmt, ap);
	event_add(q, level, text);
	jq_changed(q);
}

void
jq_event_locked(struct jobq *q, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	event_vadd(q, level, fmt, ap);
	va_end(ap);
}

void
jobq_event(struct jobq *q, int level, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&q->mu);
	va_start(ap, fmt);
	event_vadd(q, level, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&q->mu);
}

const char *
short_id(const char *digest, char *out)
{
	const char *hex = strchr(digest, ':');

	snprintf(out, 13, "%.12s", hex ? hex + 1 : digest);
	return out;
}

/* Take the next wanted, waiting blob, in the order they were added. */
static struct blob *
next_job(struct jobq *q)
{
	int i;

	for (i = 0; i < q->nblobs; i++) {
		struct blob *b = q->blobs[i];
		if (b->state == BLOB_WAITING && !b->running && b->want != 0)
			return b;
	}
	return NULL;
}

static void *
worker_main(void *arg)
{
	struct jobq *q = arg;
	struct regconn *k = reg_conn_new(q->reg);
	struct blob *b;

	pthread_mutex_lock(&q->mu);
	while (!q->quit) {
		if (q->active >= q->jobs_limit || (b = next_job(q)) == NULL) {
			pthread_cond_wait(&q->work, &q->mu);
			continue;
		}
		b->running = 1;
		q->active++;
		pthread_mutex_unlock(&q->mu);
		fetch_blob(q, k, b);
		pthread_mutex_lock(&q->mu);
		b->running = 0;
		q->active--;
		jq_changed(q);
		pthread_cond_broadcast(&q->work);
	}
	pthread_mutex_unlock(&q->mu);
	reg_conn_free(k);
	return NULL;
}

struct jobq *
jobq_new(const struct options *opt)
{
	struct jobq *q = xcalloc(1, sizeof *q);
	char *cause = NULL;
	char host[64];

	q->opt = opt;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->work, NULL);
	pthread_cond_init(&q->change, NULL);
	q->wake_rd = q->wake_wr = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->wake_rd < 0) {
		int p[2];
		if (pipe(p) != 0)
			abort();
		q->wake_rd = p[0];
		q->wake_wr = p[1];
	}
	if (store_open(opt->store, &q->store, &cause) != 0) {
		char clean[512];
		sanitize(clean, sizeof clean, cause);
		fprintf(stderr, "pulltop: %s\n", clean);
		free(cause);
		free(q);
		return NULL;
	}
	q->reg = reg_new(opt);
	platform_host(host, sizeof host);
	q->platform = xstrdup(opt->platform ? opt->platform : host);
	q->started = now_mono();
	jobq_set_jobs(q, opt->jobs);
	return q;
}

int
jobq_set_jobs(struct jobq *q, int n)
{
	if (n < 1)
		n = 1;
	if (n > MAX_WORKERS)
		n = MAX_WORKERS;
	pthread_mutex_lock(&q->mu);
	q->jobs_limit = n;
	while (q->nworkers < n && !q->quit) {
		if (pthread_create(&q->workers[q->nworkers], NULL, worker_main,
		    q) != 0)
			break;
		q->nworkers++;
	}
	pthread_cond_broadcast(&q->work);
	jq_changed(q);
	pthread_mutex_unlock(&q->mu);
	return n;
}

int
jobq_add_image(struct jobq *q, const char *s, char **cause)
{
	struct image *im;
	struct ref r;
	pthread_t t;
	pthread_attr_t attr;
	int i, id;

	if (ref_parse(s, &r, cause) != 0)
		return -1;
	pthread_mutex_lock(&q->mu);
	for (i = 0; i < q->nimages; i++)
		if (strcmp(q->images[i]->ref.full, r.full) == 0) {
			pthread_mutex_unlock(&q->mu);
			*cause = xasprintf("already being pulled");
			ref_free(&r);
			return -1;
		}
	if (q->nimages == MAX_IMAGES || q->quit) {
		pthread_mutex_unlock(&q->mu);
		*cause = xasprintf(q->quit ? "shutting down" :
		    "too many images (at most %d in one run)", MAX_IMAGES);
		ref_free(&r);
		return -1;
	}
	im = xcalloc(1, sizeof *im);
	id = im->id = q->nimages;
	im->q = q;
	im->ref = r;
	snprintf(im->registry, sizeof im->registry, "%s", r.domain);
	im->state = IMAGE_RESOLVING;
	im->started = now_mono();
	buf_init(&im->manifest, 4u << 20);
	q->images[q->nimages++] = im;
	q->image_threads++;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, image_main, im) != 0) {
		q->image_threads--;
		im->state = IMAGE_FAILED;
		snprintf(im->error, sizeof im->error, "cannot start a thread");
	}
	pthread_attr_destroy(&attr);
	jq_changed(q);
	pthread_mutex_unlock(&q->mu);
	return id;
}


struct blob *
jq_blob_add(struct jobq *q, const struct ref *src, const char *digest,
    const char *media_type, uint64_t size, int is_layer)
{
	struct blob *b;
	int i;

	for (i = 0; i < q->nblobs; i++)
		if (strcmp(q->blobs[i]->digest, digest) == 0)
			return q->blobs[i];
	if (q->nblobs == q->cap_blobs) {
		q->cap_blobs = q->cap_blobs ? q->cap_blobs * 2 : 64;
		q->blobs = xrealloc(q->blobs, q->cap_blobs * sizeof *q->blobs);
	}
	b = xcalloc(1, sizeof *b);
	b->id = q->nblobs;
	snprintf(b->digest, sizeof b->digest, "%s", digest);
	sanitize(b->media_type, sizeof b->media_type, media_type);
	b->size = size;
	b->is_layer = is_layer;
	b->src = src;
	b->state = store_has_blob(q->store, digest, size) ? BLOB_EXISTS :
	    BLOB_WAITING;
	q->blobs[q->nblobs++] = b;
	pthread_cond_broadcast(&q->work);
	return b;
}

int
jobq_wakeup_fd(struct jobq *q)
{
	return q->wake_rd;
}

void
jobq_drain_wakeup(struct jobq *q)
{
	char buf[64];

	while (read(q->wake_rd, buf, sizeof buf) > 0)
		;
}

/* "alpine:3.20" from docker.io/library/alpine:3.20 */
static void
image_short(const struct image *im, char *out, size_t n)
{
	const char *name = strrchr(im->ref.path, '/');

	name = name ? name + 1 : im->ref.path;
	if (im->ref.tag != NULL)
		snprintf(out, n, "%s:%s", name, im->ref.tag);
	else
		snprintf(out, n, "%s@%.19s", name, im->ref.digest);
}

void
jobq_snapshot(struct jobq *q, struct snapshot *s)
{
	int i, j;

	memset(s, 0, sizeof *s);
	pthread_mutex_lock(&q->mu);
	s->gen = q->gen;
	s->now = now_mono();
	s->started = q->started;
	s->jobs_limit = q->jobs_limit;
	s->nimages = q->nimages;
	s->nblobs = q->nblobs;
	s->images = xcalloc(q->nimages ? q->nimages : 1, sizeof *s->images);
	s->blobs = xcalloc(q->nblobs ? q->nblobs : 1, sizeof *s->blobs);
	s->all_final = 1;
	for (i = 0; i < q->nblobs; i++) {
		const struct blob *b = q->blobs[i];
		struct snap_blob *o = &s->blobs[i];
		size_t len = 0;

		o->id = b->id;
		memcpy(o->digest, b->digest, sizeof o->digest);
		short_id(b->digest, o->short_id);
		memcpy(o->media_type, b->media_type, sizeof o->media_type);
		o->state = b->state;
		o->size = b->size;
		o->done = b->done > b->size ? b->size : b->done;
		if (b->state == BLOB_DONE || b->state == BLOB_EXISTS)
			o->done = b->size;
		o->speed = b->speed;
		o->attempts = b->attempts;
		o->max_attempts = q->opt->retries;
		o->retry_at = b->retry_at;
		o->started = b->started;
		o->finished = b->finished;
		memcpy(o->error, b->error, sizeof o->error);
		o->is_layer = b->is_layer;
		o->extracted = b->extracted;
		for (j = 0; j < q->nimages; j++) {
			const struct image *im = q->images[j];
			int k, uses = 0;
			for (k = 0; k < im->nlayers; k++)
				if (im->layers[k] == b->id)
					uses = 1;
			if (!uses)
				continue;
			o->image_mask |= 1ull << j;
			if (len + 2 < sizeof o->images) {
				char name[96];
				image_short(im, name, sizeof name);
				snprintf(o->images + len, sizeof o->images - len,
				    "%s%s", len ? ", " : "", name);
				len = strlen(o->images);
			}
		}
		if (b->is_layer) {
			s->bytes_total += o->size;
			s->bytes_done += o->done;
			if (blob_state_active(b->state))
				s->speed += b->speed;
		}
	}
	for (i = 0; i < q->nimages; i++) {
		const struct image *im = q->images[i];
		struct snap_image *o = &s->images[i];

		o->id = im->id;
		sanitize(o->ref, sizeof o->ref, im->ref.full);
		snprintf(o->platform, sizeof o->platform, "%s", im->platform);
		memcpy(o->registry, im->registry, sizeof o->registry);
		o->state = im->state;
		memcpy(o->digest, im->repo_digest, sizeof o->digest);
		o->layers_total = im->nlayers;
		for (j = 0; j < im->nlayers; j++) {
			const struct snap_blob *b = &s->blobs[im->layers[j]];
			o->bytes_total += b->size;
			o->bytes_done += b->done;
			if (b->state == BLOB_DONE || b->state == BLOB_EXISTS)
				o->layers_done++;
		}
		o->up_to_date = im->up_to_date;
		o->started = im->started;
		o->finished = im->finished;
		memcpy(o->error, im->error, sizeof o->error);
		sanitize(o->unpack_dir, sizeof o->unpack_dir, im->unpack_dir);
		if (!image_final(im->state))
			s->all_final = 0;
	}
	s->nevents = q->ev_count;
	s->events = xcalloc(q->ev_count ? q->ev_count : 1, sizeof *s->events);
	for (i = 0; i < q->ev_count; i++)
		s->events[i] = q->events[(q->ev_head + i) % JOBQ_EVENTS];
	pthread_mutex_unlock(&q->mu);
}

void
snapshot_free(struct snapshot *s)
{
	free(s->images);
	free(s->blobs);
	free(s->events);
	memset(s, 0, sizeof *s);
}

/* Is blob b wanted by an image other than skip that is still going? */
static int
wanted_elsewhere(struct jobq *q, struct blob *b, int skip)
{
	int i;

	for (i = 0; i < q->nimages; i++)
		if (i != skip && (b->want & (1ull << i)) && !q->images[i]->cancel)
			return 1;
	return 0;
}

static void
blob_cancel_locked(struct jobq *q, struct blob *b)
{
	char sid[13];

	/* a downloaded layer being unpacked: cancel its image instead */
	if (blob_state_final(b->state) || b->state == BLOB_EXTRACTING)
		return;
	b->cancel = 1;
	if (!b->running) {
		b->state = BLOB_CANCELLED;
		b->finished = now_mono();
	}
	jq_event_locked(q, 1, "%s: cancelled", short_id(b->digest, sid));
}

int
jobq_cancel_blob(struct jobq *q, int id)
{
	int r = -1;

	pthread_mutex_lock(&q->mu);
	if (id >= 0 && id < q->nblobs && !blob_state_final(q->blobs[id]->state) &&
	    q->blobs[id]->state != BLOB_EXTRACTING) {
		blob_cancel_locked(q, q->blobs[id]);
		r = 0;
	}
	jq_changed(q);
	pthread_mutex_unlock(&q->mu);
	return r;
}

/* Lock held: put a failed or cancelled blob back in the queue. */
static int
blob_retry_locked(struct jobq *q, struct blob *b)
{
	char sid[13];

	if (b->state != BLOB_FAILED && b->state != BLOB_CANCELLED)
		return -1;
	b->cancel = 0;
	b->attempts = 0;
	b->state = BLOB_WAITING;
	b->finished = 0;
	jq_event_locked(q, 0, "%s: retry requested", short_id(b->digest, sid));
	pthread_cond_broadcast(&q->work);
	return 0;
}

int
jobq_retry_blob(struct jobq *q, int id)
{
	int r = -1, i, j;

	pthread_mutex_lock(&q->mu);
	if (id >= 0 && id < q->nblobs) {
		struct blob *b = q->blobs[id];
		r = blob_retry_locked(q, b);
		/* images that gave up because of it go back to waiting */
		for (i = 0; r == 0 && i < q->nimages; i++) {
			struct image *im = q->images[i];
			for (j = 0; j < im->nlayers; j++)
				if (im->layers[j] == id && (im->state ==
				    IMAGE_FAILED || im->state == IMAGE_CANCELLED)) {
					im->cancel = 0;
					im->retry = 1;
					b->want |= 1ull << i;
				}
		}
	}
	jq_changed(q);
	pthread_mutex_unlock(&q->mu);
	return r;
}

/*
 * Lock held: im failed before its layers were of use (its config could not
 * be had): it wants them no more, and those no other image wants stop,
 * quietly; the image's own error says why. A retry queues them again.
 */
void
jq_image_drop_locked(struct jobq *q, struct image *im)
{
	int i;

	for (i = 0; i < im->nlayers; i++) {
		struct blob *b = q->blobs[im->layers[i]];

		if (!wanted_elsewhere(q, b, im->id) &&
		    !blob_state_final(b->state) && b->state != BLOB_EXTRACTING) {
			b->cancel = 1;
			if (!b->running) {
				b->state = BLOB_CANCELLED;
				b->finished = now_mono();
			}
		}
		b->want &= ~(1ull << im->id);
	}
	jq_changed(q);
}

int
jobq_cancel_image(struct jobq *q, int id)
{
	struct image *im;
	int i;

	pthread_mutex_lock(&q->mu);
	if (id < 0 || id >= q->nimages || image_final(q->images[id]->state)) {
		pthread_mutex_unlock(&q->mu);
		return -1;
	}
	im = q->images[id];
	im->cancel = 1;
	im->state = IMAGE_CANCELLED;
	im->finished = now_mono();
	snprintf(im->error, sizeof im->error, "cancelled");
	for (i = 0; i < im->nlayers; i++) {
		struct blob *b = q->blobs[im->layers[i]];
		if (!wanted_elsewhere(q, b, id))
			blob_cancel_locked(q, b);
		b->want &= ~(1ull << id);
	}
	jq_event_locked(q, 1, "%s: cancelled", im->ref.full);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

static int
image_retry_locked(struct jobq *q, struct image *im)
{
	int i;

	if (im->state != IMAGE_FAILED && im->state != IMAGE_CANCELLED)
		return -1;
	im->cancel = 0;
	im->retry = 1;
	im->error[0] = '\0';
	im->finished = 0;
	im->state = im->resolved ? IMAGE_DOWNLOADING : IMAGE_RESOLVING;
	for (i = 0; i < im->nlayers; i++) {
		struct blob *b = q->blobs[im->layers[i]];
		b->want |= 1ull << im->id;
		blob_retry_locked(q, b);
	}
	jq_event_locked(q, 0, "%s: retry requested", im->ref.full);
	return 0;
}

int
jobq_retry_image(struct jobq *q, int id)
{
	int r = -1;

	pthread_mutex_lock(&q->mu);
	if (id >= 0 && id < q->nimages)
		r = image_retry_locked(q, q->images[id]);
	jq_changed(q);
	pthread_mutex_unlock(&q->mu);
	return r;
}

int
jobq_retry_all(struct jobq *q)
{
	int i, n = 0;

	pthread_mutex_lock(&q->mu);
	for (i = 0; i < q->nimages; i++)
		if (image_retry_locked(q, q->images[i]) == 0)
			n++;
	for (i = 0; i < q->nblobs; i++)
		if (q->blobs[i]->want != 0 &&
		    blob_retry_locked(q, q->blobs[i]) == 0)
			n++;
	jq_changed(q);
	pthread_mutex_unlock(&q->mu);
	return n;
}

void
jobq_cancel_all(struct jobq *q)
{
	int i;

	pthread_mutex_lock(&q->mu);
	for (i = 0; i < q->nimages; i++) {
		struct image *im = q->images[i];
		if (image_final(im->state))
			continue;
		im->cancel = 1;
		im->state = IMAGE_CANCELLED;
		im->finished = now_mono();
		snprintf(im->error, sizeof im->error, "cancelled");
	}
	for (i = 0; i < q->nblobs; i++) {
		struct blob *b = q->blobs[i];
		if (!blob_state_final(b->state)) {
			b->cancel = 1;
			if (!b->running)
				b->state = BLOB_CANCELLED;
		}
	}
	jq_changed(q);
	pthread_mutex_unlock(&q->mu);
}

void
jobq_wait_all(struct jobq *q)
{
	int i, done;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		done = 1;
		for (i = 0; i < q->nimages; i++)
			if (!image_final(q->images[i]->state))
				done = 0;
		if (done)
			break;
		pthread_cond_wait(&q->change, &q->mu);
	}
	pthread_mutex_unlock(&q->mu);
}

void
jobq_shutdown(struct jobq *q)
{
	int i;

	pthread_mutex_lock(&q->mu);
	q->quit = 1;
	pthread_cond_broadcast(&q->work);
	pthread_cond_broadcast(&q->change);
	pthread_mutex_unlock(&q->mu);
	jobq_cancel_all(q);
	for (i = 0; i < q->nworkers; i++)
		pthread_join(q->workers[i], NULL);
	pthread_mutex_lock(&q->mu);
	q->nworkers = 0;
	while (q->image_threads > 0) {
		pthread_cond_broadcast(&q->change);
		jq_wait_until(q, &q->change, now_mono() + 0.1);
	}
	pthread_mutex_unlock(&q->mu);
}

void
jobq_free(struct jobq *q)
{
	int i;

	if (q == NULL)
		return;
	jobq_shutdown(q);
	for (i = 0; i < q->nimages; i++) {
		ref_free(&q->images[i]->ref);
		buf_free(&q->images[i]->manifest);
		free(q->images[i]->layers);
		free(q->images[i]->diff_ids);
		free(q->images[i]);
	}
	for (i = 0; i < q->nblobs; i++)
		free(q->blobs[i]);
	free(q->blobs);
	free(q->platform);
	reg_free(q->reg);
	store_close(q->store);
	if (q->wake_wr != q->wake_rd)
		close(q->wake_wr);
	close(q->wake_rd);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->work);
	pthread_cond_destroy(&q->change);
	free(q);
}
