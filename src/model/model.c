/*
 * model.c - the records of a pull, their lock and generations, the event
 * log, the wake-up fd, and incremental snapshots. See model.h for the
 * design.
 */
#include "model_int.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define EVENT_RING 4096		/* events the model keeps for late views */

/* An fd a view polls, written at most once between two drains. */
struct waker {
	int rd, wr;
	int woken;		/* the fd is readable: no need to write */
};

struct model {
	pthread_mutex_t mu;
	uint64_t gen;
	struct waker wake;	/* any change */
	struct waker settle;	/* an image became final, or final was set */
	double started;
	int jobs_limit;
	double rate_cap;
	int64_t space_free;
	enum model_final final;
	struct model_tally tally;	/* endpoints and rate limits */

	struct model_image **images;
	int nimages, cap_images;
	struct model_blob **blobs;
	int nblobs, cap_blobs;

	/* digest -> blob id, open addressing, size a power of two */
	int *hash;
	size_t hash_cap;

	struct model_event ring[EVENT_RING];
	int ev_head, ev_count;
	uint64_t ev_seq;
};

/* ------------------------------------------------------------- names */

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
	case BLOB_ABORTED:	return "Aborted";
	}
	return "?";
}

const char *
image_state_name(enum image_state s)
{
	switch (s) {
	case IMAGE_RESOLVING:	return "Resolving";
	case IMAGE_DOWNLOADING:	return "Downloading";
	case IMAGE_LOADING:	return "Loading";
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
	    s == BLOB_CANCELLED || s == BLOB_ABORTED;
}

int
blob_state_active(enum blob_state s)
{
	return !blob_state_final(s);
}

int
image_state_final(enum image_state s)
{
	return s == IMAGE_COMPLETE || s == IMAGE_FAILED ||
	    s == IMAGE_CANCELLED;
}

/* ---------------------------------------------------------- the model */

static void
waker_init(struct waker *w)
{
	int p[2];

	w->woken = 0;
	w->rd = w->wr = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->rd >= 0)
		return;
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0)
		abort();
	w->rd = p[0];
	w->wr = p[1];
}

static void
waker_close(struct waker *w)
{
	if (w->wr != w->rd)
		close(w->wr);
	close(w->rd);
}

struct model *
model_new(void)
{
	struct model *m = xcalloc(1, sizeof *m);

	pthread_mutex_init(&m->mu, NULL);
	waker_init(&m->wake);
	waker_init(&m->settle);
	m->started = now_mono();
	m->space_free = -1;
	m->hash_cap = 256;
	m->hash = xmalloc(m->hash_cap * sizeof *m->hash);
	memset(m->hash, 0xff, m->hash_cap * sizeof *m->hash);
	return m;
}

void
model_free(struct model *m)
{
	int i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nimages; i++) {
		struct model_image *im = m->images[i];
		free((char *)im->ref);
		free((char *)im->registry);
		free(im->platform);
		free(im->digest);
		free(im->error);
		free(im->unpack_dir);
		free(im->note);
		free(im->layers);
		free(im);
	}
	for (i = 0; i < m->nblobs; i++) {
		struct model_blob *b = m->blobs[i];
		free((char *)b->digest);
		free((char *)b->media_type);
		free(b->error);
		free(b->where);
		free(b->images);
		free(b);
	}
	for (i = 0; i < m->ev_count; i++)
		free(m->ring[(m->ev_head + i) % EVENT_RING].text);
	free(m->images);
	free(m->blobs);
	free(m->hash);
	waker_close(&m->wake);
	waker_close(&m->settle);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

int
model_wakeup_fd(struct model *m)
{
	return m->wake.rd;
}

int
model_settle_fd(struct model *m)
{
	return m->settle.rd;
}

/* Lock held, or not: a spurious wake-up costs one poll round. */
static void
waker_wake(struct waker *w)
{
	uint64_t one = 1;

	if (__atomic_exchange_n(&w->woken, 1, __ATOMIC_ACQ_REL))
		return;
	if (write(w->wr, &one, sizeof one) < 0) {
		/* EAGAIN: already readable */
	}
}

static void
waker_drain(struct waker *w)
{
	char buf[64];

	/* read first, then re-arm: a wake-up in between is seen by the
	 * snapshot that follows this drain */
	while (read(w->rd, buf, sizeof buf) > 0)
		;
	__atomic_store_n(&w->woken, 0, __ATOMIC_RELEASE);
}

static void
wake(struct model *m)
{
	waker_wake(&m->wake);
}

void
model_wake(struct model *m)
{
	__atomic_store_n(&m->wake.woken, 0, __ATOMIC_RELEASE);
	wake(m);
}

void
model_drain(struct model *m)
{
	waker_drain(&m->wake);
}

void
model_settle_drain(struct model *m)
{
	waker_drain(&m->settle);
}

void
model_lock(struct model *m)
{
	pthread_mutex_lock(&m->mu);
}

void
model_unlock(struct model *m)
{
	pthread_mutex_unlock(&m->mu);
}

pthread_mutex_t *
model_mutex(struct model *m)
{
	return &m->mu;
}

void
model_set_jobs(struct model *m, int jobs_limit)
{
	m->jobs_limit = jobs_limit;
	m->gen++;
	wake(m);
}

void
model_set_rate_cap(struct model *m, double bytes_per_s)
{
	m->rate_cap = bytes_per_s;
}

void
model_set_space(struct model *m, int64_t free_bytes)
{
	if (m->space_free == free_bytes)
		return;
	m->space_free = free_bytes;
	m->gen++;
	wake(m);
}

void
model_set_final(struct model *m, enum model_final f)
{
	if (m->final == f)
		return;
	m->final = f;
	m->gen++;
	wake(m);
	waker_wake(&m->settle);
}

int
model_settled(struct model *m)
{
	int i, r = 1;

	model_lock(m);
	if (m->final != MODEL_FINAL_RECORDS)
		r = m->final == MODEL_FINAL_YES;
	else
		for (i = 0; i < m->nimages && r; i++)
			r = image_state_final(m->images[i]->state);
	model_unlock(m);
	return r;
}

/* ----------------------------------------------------------- records */

static char *
dup_clean(const char *s)
{
	size_t n = strlen(s ? s : "") + 1;
	char *o = xmalloc(n);

	sanitize(o, n, s);
	return o;
}

int
model_image_add(struct model *m, const char *ref, const char *registry)
{
	struct model_image *im = xcalloc(1, sizeof *im);

	if (m->nimages == m->cap_images) {
		m->cap_images = m->cap_images ? m->cap_images * 2 : 16;
		m->images = xrealloc(m->images,
		    (size_t)m->cap_images * sizeof *m->images);
	}
	im->id = m->nimages;
	im->ref = dup_clean(ref);
	im->registry = dup_clean(registry);
	im->state = IMAGE_RESOLVING;
	im->started = now_mono();
	m->images[m->nimages++] = im;
	model_touch_image(m, im);
	im->meta_gen = im->gen;
	return im->id;
}

struct model_image *
model_image(struct model *m, int id)
{
	return id >= 0 && id < m->nimages ? m->images[id] : NULL;
}

int
model_nimages(const struct model *m)
{
	return m->nimages;
}

/* FNV-1a over the digest text. */
static size_t
hash_of(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (size_t)h;
}

static void
hash_put(struct model *m, int id)
{
	size_t i = hash_of(m->blobs[id]->digest) & (m->hash_cap - 1);

	while (m->hash[i] >= 0)
		i = (i + 1) & (m->hash_cap - 1);
	m->hash[i] = id;
}

static void
hash_grow(struct model *m)
{
	int i;

	m->hash_cap *= 2;
	m->hash = xrealloc(m->hash, m->hash_cap * sizeof *m->hash);
	memset(m->hash, 0xff, m->hash_cap * sizeof *m->hash);
	for (i = 0; i < m->nblobs; i++)
		hash_put(m, i);
}

int
model_blob_find(struct model *m, const char *digest)
{
	size_t i = hash_of(digest) & (m->hash_cap - 1);

	while (m->hash[i] >= 0) {
		if (strcmp(m->blobs[m->hash[i]]->digest, digest) == 0)
			return m->hash[i];
		i = (i + 1) & (m->hash_cap - 1);
	}
	return -1;
}

int
model_blob_add(struct model *m, const char *digest, const char *media_type,
    uint64_t size, int is_layer, int *added)
{
	struct model_blob *b;
	const char *hex;
	int id = model_blob_find(m, digest);

	if (added != NULL)
		*added = id < 0;
	if (id >= 0)
		return id;
	if (m->nblobs == m->cap_blobs) {
		m->cap_blobs = m->cap_blobs ? m->cap_blobs * 2 : 64;
		m->blobs = xrealloc(m->blobs,
		    (size_t)m->cap_blobs * sizeof *m->blobs);
	}
	b = xcalloc(1, sizeof *b);
	b->id = m->nblobs;
	b->digest = dup_clean(digest);
	hex = strchr(b->digest, ':');
	snprintf(b->short_id, sizeof b->short_id, "%.12s",
	    hex ? hex + 1 : b->digest);
	b->media_type = dup_clean(media_type);
	b->size = size;
	b->is_layer = is_layer;
	b->state = BLOB_WAITING;
	b->visited = 1u << BLOB_WAITING;
	m->blobs[m->nblobs++] = b;
	if ((size_t)m->nblobs * 2 > m->hash_cap)
		hash_grow(m);
	else
		hash_put(m, b->id);
	model_touch_blob(m, b);
	b->meta_gen = b->gen;
	return b->id;
}

struct model_blob *
model_blob(struct model *m, int id)
{
	return id >= 0 && id < m->nblobs ? m->blobs[id] : NULL;
}

int
model_nblobs(const struct model *m)
{
	return m->nblobs;
}

void
model_blob_link(struct model *m, int blob, int image)
{
	struct model_blob *b = model_blob(m, blob);
	int i;

	if (b == NULL)
		return;
	for (i = 0; i < b->nimages; i++)
		if (b->images[i] == image)
			return;
	if (b->nimages == b->cap_images) {
		b->cap_images = b->cap_images ? b->cap_images * 2 : 2;
		b->images = xrealloc(b->images,
		    (size_t)b->cap_images * sizeof *b->images);
	}
	b->images[b->nimages++] = image;
	model_touch_blob(m, b);
	b->meta_gen = b->gen;
}

void
model_blob_unlink(struct model *m, int blob, int image)
{
	struct model_blob *b = model_blob(m, blob);
	int i;

	if (b == NULL)
		return;
	for (i = 0; i < b->nimages; i++)
		if (b->images[i] == image) {
			memmove(&b->images[i], &b->images[i + 1],
			    (size_t)(b->nimages - i - 1) * sizeof *b->images);
			b->nimages--;
			model_touch_blob(m, b);
			b->meta_gen = b->gen;
			return;
		}
}

void
model_image_layers(struct model *m, int image, const int *ids, int n)
{
	struct model_image *im = model_image(m, image);

	if (im == NULL)
		return;
	free(im->layers);
	im->layers = xcalloc(n > 0 ? (size_t)n : 1, sizeof *im->layers);
	if (n > 0)
		memcpy(im->layers, ids, (size_t)n * sizeof *ids);
	im->nlayers = n;
	model_touch_image(m, im);
	im->meta_gen = im->gen;
}

void
model_touch_blob(struct model *m, struct model_blob *b)
{
	b->gen = ++m->gen;
	wake(m);
}

void
model_touch_image(struct model *m, struct model_image *im)
{
	im->gen = ++m->gen;
	wake(m);
	if (image_state_final(im->state))
		waker_wake(&m->settle);
}

void
model_set_str(struct model *m, char **field, uint64_t *meta_gen,
    const char *text)
{
	int empty = text == NULL || *text == '\0';

	if (empty && *field == NULL)
		return;
	if (!empty && *field != NULL && strcmp(*field, text) == 0)
		return;
	free(*field);
	*field = empty ? NULL : dup_clean(text);
	*meta_gen = ++m->gen;
}

/* ------------------------------------------------------------ events */

static struct model_event *
event_new(struct model *m, int level, enum event_kind kind, int image,
    int blob, char *text)
{
	struct model_event *e;
	int slot = (m->ev_head + m->ev_count) % EVENT_RING;

	if (m->ev_count == EVENT_RING) {
		free(m->ring[m->ev_head].text);
		m->ev_head = (m->ev_head + 1) % EVENT_RING;
	} else
		m->ev_count++;
	e = &m->ring[slot];
	memset(e, 0, sizeof *e);
	e->seq = ++m->ev_seq;
	e->wall = now_wall();
	e->level = level;
	e->kind = kind;
	e->image = image;
	e->blob = blob;
	e->text = dup_clean(text);
	free(text);
	m->gen++;
	wake(m);
	return e;
}

void
model_event(struct model *m, int level, enum event_kind kind, int image,
    int blob, const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	event_new(m, level, kind, image, blob, text);
}

void
model_event_retry(struct model *m, int image, int blob, int attempt,
    int max_attempts, double delay, const char *cause)
{
	struct model_event *e = event_new(m, 1, EV_RETRYING, image, blob,
	    xstrdup(cause ? cause : ""));

	e->attempt = attempt;
	e->max_attempts = max_attempts;
	e->delay = delay;
}

void
model_event_resume(struct model *m, int blob, uint64_t offset,
    uint64_t total)
{
	struct model_event *e = event_new(m, 0, EV_RESUMING, -1, blob,
	    xstrdup(""));

	e->offset = offset;
	e->total = total;
}

/* ------------------------------------------- for snapshot.c, lock held */

void
model_view_get(struct model *m, struct model_view *v)
{
	v->gen = m->gen;
	v->started = m->started;
	v->jobs_limit = m->jobs_limit;
	v->rate_cap = m->rate_cap;
	v->space_free = m->space_free;
	v->final = m->final;
	v->nimages = m->nimages;
	v->nblobs = m->nblobs;
	v->images = m->images;
	v->blobs = m->blobs;
	v->tally = &m->tally;
}

/* ---------------------------------------- endpoints and rate limits */

int
model_endpoint(struct model *m, const char *name, int mirror)
{
	struct model_tally *t = &m->tally;
	int i;

	for (i = 0; i < t->nep; i++)
		if (strncmp(t->ep[i].name, name, sizeof t->ep[i].name - 1) == 0)
			return i + 1;
	if (t->nep == MODEL_ENDPOINTS)
		return 0;
	snprintf(t->ep[t->nep].name, sizeof t->ep[0].name, "%s", name);
	t->ep[t->nep].mirror = mirror;
	t->ep[t->nep].bytes = 0;
	m->gen++;
	return ++t->nep;
}

void
model_endpoint_bytes(struct model *m, int endpoint, uint64_t n)
{
	if (endpoint < 1 || endpoint > m->tally.nep || n == 0)
		return;
	m->tally.ep[endpoint - 1].bytes += n;
	m->gen++;
}

void
model_set_limit(struct model *m, const char *name, long limit,
    long remaining, long window)
{
	struct model_tally *t = &m->tally;
	struct model_limit *l = NULL;
	int i;

	for (i = 0; i < t->nlim && l == NULL; i++)
		if (strncmp(t->lim[i].name, name, sizeof t->lim[i].name - 1) == 0)
			l = &t->lim[i];
	if (l == NULL) {
		if (t->nlim == MODEL_LIMITS)
			return;
		l = &t->lim[t->nlim++];
		snprintf(l->name, sizeof l->name, "%s", name);
	}
	l->limit = limit;
	l->remaining = remaining;
	l->window = window;
	m->gen++;
	wake(m);
}

void
model_view_events(struct model *m, uint64_t after,
    void (*fn)(void *ctx, const struct model_event *e), void *ctx)
{
	int i, skip = 0;

	/* the ring is in seq order: skip what the view has seen */
	if (m->ev_count > 0 && after >= m->ring[m->ev_head].seq)
		skip = (int)(after - m->ring[m->ev_head].seq + 1);
	for (i = skip; i < m->ev_count; i++)
		fn(ctx, &m->ring[(m->ev_head + i) % EVENT_RING]);
}
