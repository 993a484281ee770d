/*
 * snapshot.c - a view's copy of the model: model_snapshot() copies, under
 * the lock, the records stamped since the view's last copy and the events
 * it has not seen; then, without the lock, it derives the totals every
 * view shows. Also the one formatter of event lines.
 */
#include "model_int.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static int *
dup_ints(const int *p, int n)
{
	int *o;

	if (n <= 0)
		return NULL;
	o = xmalloc((size_t)n * sizeof *o);
	memcpy(o, p, (size_t)n * sizeof *o);
	return o;
}

static void
blob_free_owned(struct model_blob *b)
{
	free(b->error);
	free(b->where);
	free(b->images);
}

/* Copy src into dst; what dst owns is replaced only on a pointer change. */
static void
copy_blob(struct model_blob *dst, const struct model_blob *src, int fresh)
{
	char *error = dst->error, *where = dst->where;
	int *images = dst->images;

	if (!fresh && src->meta_gen <= dst->meta_gen) {
		int n = dst->nimages;

		*dst = *src;
		dst->error = error;
		dst->where = where;
		dst->images = images;
		dst->nimages = n;
	} else {
		if (!fresh)
			blob_free_owned(dst);
		*dst = *src;
		dst->error = dup_or_null(src->error);
		dst->where = dup_or_null(src->where);
		dst->images = dup_ints(src->images, src->nimages);
	}
	dst->cap_images = dst->nimages;
	if (dst->state == BLOB_DONE || dst->state == BLOB_EXISTS)
		dst->done = dst->size;
	else if (dst->size > 0 && dst->done > dst->size)
		dst->done = dst->size;
}

static void
image_free_owned(struct model_image *im)
{
	free(im->platform);
	free(im->digest);
	free(im->error);
	free(im->unpack_dir);
	free(im->note);
	free(im->layers);
}

static void
copy_image(struct model_image *dst, const struct model_image *src, int fresh)
{
	struct model_image keep = *dst;

	*dst = *src;
	if (!fresh && src->meta_gen <= keep.meta_gen) {
		dst->platform = keep.platform;
		dst->digest = keep.digest;
		dst->error = keep.error;
		dst->unpack_dir = keep.unpack_dir;
		dst->note = keep.note;
		dst->layers = keep.layers;
		dst->nlayers = keep.nlayers;
		return;
	}
	if (!fresh)
		image_free_owned(&keep);
	dst->platform = dup_or_null(src->platform);
	dst->digest = dup_or_null(src->digest);
	dst->error = dup_or_null(src->error);
	dst->unpack_dir = dup_or_null(src->unpack_dir);
	dst->note = dup_or_null(src->note);
	dst->layers = dup_ints(src->layers, src->nlayers);
}

static void
add_event(void *ctx, const struct model_event *e)
{
	struct snapshot *s = ctx;
	struct model_event *o;

	if (s->events == NULL)
		s->events = xcalloc(MODEL_EVENTS, sizeof *s->events);
	if (s->nevents == MODEL_EVENTS) {
		free(s->events[0].text);
		memmove(&s->events[0], &s->events[1],
		    (MODEL_EVENTS - 1) * sizeof *s->events);
		s->nevents--;
	}
	o = &s->events[s->nevents++];
	*o = *e;
	o->text = xstrdup(e->text);
	if (s->events_new == 0)
		s->events_new = e->seq;
	s->ev_seq = e->seq;
}

/* Lock held: copy what changed since s->gen. */
static void
copy_changed(struct model *m, struct snapshot *s)
{
	struct model_view v;
	int i;

	model_view_get(m, &v);
	if (v.nimages > s->cap_images) {
		int cap = v.nimages * 2;
		s->images = xrealloc(s->images, (size_t)cap * sizeof *s->images);
		memset(s->images + s->cap_images, 0,
		    (size_t)(cap - s->cap_images) * sizeof *s->images);
		s->cap_images = cap;
	}
	if (v.nblobs > s->cap_blobs) {
		int cap = v.nblobs * 2;
		s->blobs = xrealloc(s->blobs, (size_t)cap * sizeof *s->blobs);
		memset(s->blobs + s->cap_blobs, 0,
		    (size_t)(cap - s->cap_blobs) * sizeof *s->blobs);
		s->cap_blobs = cap;
	}
	for (i = 0; i < v.nimages; i++)
		if (i >= s->nimages || v.images[i]->gen > s->gen ||
		    v.images[i]->meta_gen > s->gen)
			copy_image(&s->images[i], v.images[i], i >= s->nimages);
	for (i = 0; i < v.nblobs; i++)
		if (i >= s->nblobs || v.blobs[i]->gen > s->gen ||
		    v.blobs[i]->meta_gen > s->gen)
			copy_blob(&s->blobs[i], v.blobs[i], i >= s->nblobs);
	s->nimages = v.nimages;
	s->nblobs = v.nblobs;
	s->events_new = 0;
	model_view_events(m, s->ev_seq, add_event, s);
	s->gen = v.gen;
	s->started = v.started;
	s->jobs_limit = v.jobs_limit;
	s->rate_cap = v.rate_cap;
	s->space_free = v.space_free;
	s->final = v.final;
	s->tally = *v.tally;
}

/* No lock: the totals every view shows, from the copy. */
static void
derive(struct snapshot *s)
{
	int i, j;

	s->bytes_total = s->bytes_done = 0;
	s->speed = 0;
	for (i = 0; i < s->nblobs; i++) {
		const struct model_blob *b = &s->blobs[i];

		if (!b->is_layer)
			continue;
		s->bytes_total += b->size;
		s->bytes_done += b->done;
		if (blob_state_active(b->state))
			s->speed += b->speed;
	}
	s->all_final = 1;
	for (i = 0; i < s->nimages; i++) {
		struct model_image *im = &s->images[i];

		im->layers_done = 0;
		im->bytes_total = im->bytes_done = 0;
		im->speed = 0;
		for (j = 0; j < im->nlayers; j++) {
			const struct model_blob *b;

			if (im->layers[j] < 0 || im->layers[j] >= s->nblobs)
				continue;
			b = &s->blobs[im->layers[j]];
			im->bytes_total += b->size;
			im->bytes_done += b->done;
			if (b->state == BLOB_DONE || b->state == BLOB_EXISTS)
				im->layers_done++;
			else if (blob_state_active(b->state))
				im->speed += b->speed;
		}
		if (!image_state_final(im->state))
			s->all_final = 0;
	}
	if (s->final != MODEL_FINAL_RECORDS)
		s->all_final = s->final == MODEL_FINAL_YES;
}

void
model_snapshot(struct model *m, struct snapshot *s)
{
	model_lock(m);
	copy_changed(m, s);
	model_unlock(m);
	s->now = now_mono();
	derive(s);
	model_estimate(s);
}

void
snapshot_free(struct snapshot *s)
{
	int i;

	for (i = 0; i < s->nimages; i++)
		image_free_owned(&s->images[i]);
	for (i = 0; i < s->nblobs; i++)
		blob_free_owned(&s->blobs[i]);
	for (i = 0; i < s->nevents; i++)
		free(s->events[i].text);
	free(s->images);
	free(s->blobs);
	free(s->events);
	memset(s, 0, sizeof *s);
}

const char *
snapshot_endpoint(const struct snapshot *s, const struct model_blob *b)
{
	if (b->endpoint < 1 || b->endpoint > s->tally.nep)
		return NULL;
	return s->tally.ep[b->endpoint - 1].name;
}

void
model_image_short(const char *ref, char *out, size_t n)
{
	const char *name = strrchr(ref, '/');

	snprintf(out, n, "%s", name != NULL ? name + 1 : ref);
	if (strchr(out, '@') != NULL && strlen(strchr(out, '@')) > 20)
		strchr(out, '@')[20] = '\0';
}

/* The name an event is about: the layer's short id, else the image. */
static const char *
event_name(const struct snapshot *s, const struct model_event *e)
{
	if (e->blob >= 0 && e->blob < s->nblobs)
		return s->blobs[e->blob].short_id;
	if (e->image >= 0 && e->image < s->nimages)
		return s->images[e->image].ref;
	return NULL;
}

void
model_event_line(const struct snapshot *s, const struct model_event *e,
    char *out, size_t n)
{
	const char *name = event_name(s, e);
	char *body;

	switch (e->kind) {
	case EV_RETRYING:
		body = xasprintf("Retrying in %.0fs (attempt %d/%d)%s%s",
		    e->delay, e->attempt, e->max_attempts,
		    e->text[0] ? ": " : "", e->text);
		break;
	case EV_RESUMING:
		body = xasprintf("resuming at %llu of %llu bytes",
		    (unsigned long long)e->offset,
		    (unsigned long long)e->total);
		break;
	case EV_CANCELLED:
		body = xstrdup("cancelled");
		break;
	case EV_RETRY_ASKED:
		body = xstrdup("retry requested");
		break;
	case EV_ADDED:
		body = xstrdup("added");
		break;
	case EV_COMPLETE:
		body = xasprintf("complete (%s)", e->text);
		break;
	default:
		body = xstrdup(e->text);
		break;
	}
	if (name != NULL)
		snprintf(out, n, "%s: %s", name, body);
	else
		snprintf(out, n, "%s", body);
	free(body);
}
