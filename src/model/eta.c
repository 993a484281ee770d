/*
 * eta.c - when a pull will end, as one estimate that the header, each
 * image and each layer read (model_estimate, run on a snapshot after
 * its totals are derived, without the lock).
 *
 * Dividing the bytes left by the speed of the moment is wrong at both
 * ends of a pull: early on only a few layers move, and at the end small
 * layers are done and the biggest alone sets the finish. So the estimate
 * plays the rest of the pull forward on the source's job slots:
 *   - each active layer needs its remaining bytes at its own smoothed
 *     rate (capped by --limit-rate); in its first two seconds, at the
 *     better of that and what its registry has shown;
 *   - waiting layers take the next free slot, in queue order, at the rate
 *     this registry's connections show: that of its downloads running
 *     now, else that of those finished in this run, each weighted by its
 *     size (a small layer's rate is mostly its requests' latency, and
 *     says little of a big one's);
 *   - a layer's end is its ETA, an image's the last of its layers', the
 *     pull's the last of all.
 * A layer stalled or retrying, or one with no rate known yet, has no ETA
 * ("--"), and neither have the images waiting on it, nor the pull.
 */
#include "model.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define MAX_REGISTRIES 16
#define YOUNG 2.0	/* seconds before a download's own rate is trusted */

/* What this run learned of a registry's per-connection rate. */
struct learned {
	const char *registry;
	double wbytes, wrate;	/* finished: sum of size, of size x rate */
	double active_sum;	/* speeds of layers moving now */
	int active_n;
	double young_sum;	/* ... of those just started */
	int young_n;
};

static const char *
blob_registry(const struct snapshot *s, const struct model_blob *b)
{
	if (b->nimages > 0 && b->images[0] >= 0 && b->images[0] < s->nimages)
		return s->images[b->images[0]].registry;
	return "";
}

static struct learned *
learned_for(struct learned *l, int *n, const char *registry)
{
	int i;

	for (i = 0; i < *n; i++)
		if (strcmp(l[i].registry, registry) == 0)
			return &l[i];
	if (*n == MAX_REGISTRIES)
		return &l[0];
	memset(&l[*n], 0, sizeof l[*n]);
	l[*n].registry = registry;
	return &l[(*n)++];
}

static int
moving(enum blob_state st)
{
	return st == BLOB_DOWNLOADING || st == BLOB_STALLED ||
	    st == BLOB_RETRYING || st == BLOB_VERIFYING;
}

/* The rate a new download from this registry can expect; 0: unknown. */
static double
learned_rate(const struct learned *l, double cap)
{
	double r = 0;

	if (l->active_n > 0)
		r = l->active_sum / l->active_n;
	else if (l->wbytes > 0)
		r = l->wrate / l->wbytes;
	else if (l->young_n > 0)
		r = l->young_sum / l->young_n;
	if (cap > 0 && (r <= 0 || r > cap))
		r = r > 0 ? cap : 0;
	return r;
}

static void
learn(const struct snapshot *s, struct learned *l, int *nl)
{
	int i;

	for (i = 0; i < s->nblobs; i++) {
		const struct model_blob *b = &s->blobs[i];
		struct learned *g;

		if (!b->is_layer)
			continue;
		g = learned_for(l, nl, blob_registry(s, b));
		if (b->state == BLOB_DONE && b->attempt_started > 0 &&
		    b->finished > b->attempt_started && b->size > 0) {
			double size = (double)b->size;
			g->wbytes += size;
			g->wrate += size * size / (b->finished - b->attempt_started);
		} else if (b->state == BLOB_DOWNLOADING && b->speed > 0) {
			if (s->now - b->attempt_started >= YOUNG) {
				g->active_sum += b->speed;
				g->active_n++;
			} else {
				g->young_sum += b->speed;
				g->young_n++;
			}
		}
	}
}

/* A min-heap of the times job slots come free. */
struct slots {
	double *t;
	int n;
};

static void
slots_push(struct slots *h, double v)
{
	int i = h->n++;

	while (i > 0 && h->t[(i - 1) / 2] > v) {
		h->t[i] = h->t[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->t[i] = v;
}

static double
slots_pop(struct slots *h)
{
	double top = h->t[0], v = h->t[--h->n];
	int i = 0, c;

	while ((c = 2 * i + 1) < h->n) {
		if (c + 1 < h->n && h->t[c + 1] < h->t[c])
			c++;
		if (h->t[c] >= v)
			break;
		h->t[i] = h->t[c];
		i = c;
	}
	if (h->n > 0)
		h->t[i] = v;
	return top;
}

/* Is the blob still wanted by an image that is not final? */
static int
wanted(const struct snapshot *s, const struct model_blob *b)
{
	int i;

	if (b->nimages == 0)
		return 1;	/* a watched download with no image */
	for (i = 0; i < b->nimages; i++)
		if (b->images[i] < s->nimages &&
		    !image_state_final(s->images[b->images[i]].state))
			return 1;
	return 0;
}

/* Active layers: their ends from their own rates; they hold slots. */
static int
play_active(struct snapshot *s, struct learned *l, int nl, struct slots *h,
    int *unknown)
{
	int i, busy = 0;

	for (i = 0; i < s->nblobs; i++) {
		struct model_blob *b = &s->blobs[i];
		double rate, left;

		if (!b->is_layer || !moving(b->state) || !wanted(s, b))
			continue;
		busy++;
		/* a download's first moments say little (slow start, a
		 * first burst): till then the better of its own rate and
		 * what its registry has shown */
		rate = b->speed;
		if (s->now - b->attempt_started < YOUNG) {
			double lr = learned_rate(learned_for(l, &nl,
			    blob_registry(s, b)), s->rate_cap);
			if (lr > rate)
				rate = lr;
		}
		if (s->rate_cap > 0 && rate > s->rate_cap)
			rate = s->rate_cap;
		left = b->size > b->done ? (double)(b->size - b->done) : 0;
		if (b->state == BLOB_STALLED || b->state == BLOB_RETRYING ||
		    (rate <= 0 && left > 0)) {
			b->eta = -1;
			*unknown = 1;
			/* it still holds its slot for a while */
			slots_push(h, 0);
			continue;
		}
		b->eta = rate > 0 ? left / rate : 0;
		slots_push(h, b->eta);
	}
	return busy;
}

/* Waiting layers, in queue order, on the next free slot. */
static void
play_waiting(struct snapshot *s, struct learned *l, int nl, struct slots *h,
    int nslots, int *unknown)
{
	int i;

	for (i = 0; i < s->nblobs; i++) {
		struct model_blob *b = &s->blobs[i];
		double rate, start = 0;

		if (!b->is_layer || b->state != BLOB_WAITING || !wanted(s, b))
			continue;
		rate = learned_rate(learned_for(l, &nl, blob_registry(s, b)),
		    s->rate_cap);
		if (rate <= 0) {
			b->eta = -1;
			*unknown = 1;
			continue;
		}
		if (h->n >= nslots)
			start = slots_pop(h);
		b->eta = start + (double)b->size / rate;
		slots_push(h, b->eta);
	}
}

void
model_estimate(struct snapshot *s)
{
	struct learned l[MAX_REGISTRIES];
	struct slots h;
	int i, j, nl = 0, unknown = 0, nslots, busy;

	for (i = 0; i < s->nblobs; i++)
		s->blobs[i].eta = blob_state_final(s->blobs[i].state) ? 0 : -1;
	learn(s, l, &nl);
	h.t = xmalloc(((size_t)s->nblobs + 1) * sizeof *h.t);
	h.n = 0;
	busy = play_active(s, l, nl, &h, &unknown);
	nslots = s->jobs_limit > 0 ? s->jobs_limit : busy > 3 ? busy : 3;
	play_waiting(s, l, nl, &h, nslots, &unknown);
	free(h.t);

	s->eta = 0;
	for (i = 0; i < s->nimages; i++) {
		struct model_image *im = &s->images[i];

		im->eta = image_state_final(im->state) ? 0 :
		    im->state == IMAGE_RESOLVING ? -1 : 0;
		for (j = 0; im->eta >= 0 && j < im->nlayers; j++) {
			const struct model_blob *b;

			if (im->layers[j] < 0 || im->layers[j] >= s->nblobs)
				continue;
			b = &s->blobs[im->layers[j]];
			if (b->eta < 0)
				im->eta = -1;
			else if (b->eta > im->eta)
				im->eta = b->eta;
		}
		if (im->eta < 0)
			unknown = 1;
		else if (im->eta > s->eta)
			s->eta = im->eta;
	}
	for (i = 0; i < s->nblobs; i++)
		if (s->blobs[i].eta > s->eta)
			s->eta = s->blobs[i].eta;
	if (unknown)
		s->eta = -1;
	if (s->all_final)
		s->eta = 0;
}
