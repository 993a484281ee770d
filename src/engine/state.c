/*
 * state.c - the one writer of blob and image states. Each transition is
 * written once here: it changes the engine's record and the model's
 * together, records the event that goes with it, and wakes whoever waits
 * (workers, the threads of the images concerned, views). Every function is called with the lock
 * held.
 *
 *   blob:  WAITING -> DOWNLOADING <-> STALLED -> VERIFYING -> DONE
 *          DOWNLOADING/STALLED/VERIFYING -> RETRYING -> DOWNLOADING
 *          any unfinished state -> CANCELLED, FAILED
 *          WAITING -> EXISTS (already in the store)
 *          FAILED, CANCELLED -> WAITING (requeue: retry, or wanted again)
 *          DONE, EXISTS -> EXTRACTING -> DONE, EXISTS (with --unpack)
 *   image: RESOLVING -> DOWNLOADING -> COMPLETE
 *          RESOLVING, DOWNLOADING -> FAILED, CANCELLED -> (retry)
 */
#include "engine_int.h"
#include "registry.h"

#include <stdio.h>
#include <string.h>

/* Every blob state is written here; views learn the states passed. */
static void
blob_state_set(struct blob *b, enum blob_state st)
{
	if (blob_state_final(b->m->state) != blob_state_final(st))
		b->flipped = 1;
	b->m->state = st;
	b->m->visited |= 1u << st;
}

/*
 * The views learn every change, and so do the workers that wait (a retry
 * wait ends on a cancel). The images' threads wait for their layers to be
 * final (or, after a failure, to be wanted again): they are woken only
 * when a layer becomes final or stops being so, not at each of the three
 * or four states every layer passes on its way.
 */
static void
blob_touch(struct jobq *q, struct blob *b)
{
	model_touch_blob(q->m, b->m);
	if (b->flipped) {
		b->flipped = 0;
		jq_blob_wake(q, b);
	} else
		jq_changed(q);
}

static void
blob_error(struct jobq *q, struct blob *b, const char *text)
{
	model_set_str(q->m, &b->m->error, &b->m->meta_gen, text);
}

void
st_blob_waiting(struct jobq *q, struct blob *b, const char *note)
{
	blob_state_set(b, BLOB_WAITING);
	blob_error(q, b, note);
	blob_touch(q, b);
}

int
st_blob_requeue(struct jobq *q, struct blob *b, int asked)
{
	enum blob_state s = b->m->state;

	if (s != BLOB_FAILED && s != BLOB_CANCELLED && s != BLOB_ABORTED)
		return -1;
	b->cancel = 0;
	b->m->attempts = 0;
	blob_state_set(b, BLOB_WAITING);
	b->m->finished = 0;
	b->m->speed = 0;
	blob_error(q, b, NULL);
	if (b->id < q->scan_from)
		q->scan_from = b->id;
	if (asked)
		model_event(q->m, 0, EV_RETRY_ASKED, -1, b->id, "%s",
		    "retry requested");
	pthread_cond_broadcast(&q->work);
	blob_touch(q, b);
	return 0;
}

void
st_blob_attempt(struct jobq *q, struct blob *b, uint64_t have)
{
	double now = now_mono();

	b->m->attempts++;
	b->m->max_attempts = q->opt->retries;
	blob_state_set(b, BLOB_DOWNLOADING);
	b->m->done = have;
	b->m->speed = 0;
	b->m->last_byte = now;
	b->m->attempt_started = now;
	if (b->m->started == 0)
		b->m->started = now;
	blob_error(q, b, NULL);
	if (have > 0)
		model_event_resume(q->m, b->id, have, b->m->size);
	blob_touch(q, b);
}

void
st_blob_progress(struct jobq *q, struct blob *b, uint64_t done, double speed)
{
	b->m->done = done;
	b->m->speed = speed;
	b->m->last_byte = now_mono();
	model_touch_blob(q->m, b->m);
}

void
st_blob_ranges(struct jobq *q, struct blob *b, const struct model_range *r,
    int n)
{
	if (n > MODEL_RANGES_MAX)
		n = MODEL_RANGES_MAX;
	b->m->nranges = n;
	if (n > 0)
		memcpy(b->m->ranges, r, (size_t)n * sizeof *r);
	model_touch_blob(q->m, b->m);
}

void
st_blob_stalled(struct jobq *q, struct blob *b, int stalled)
{
	if (stalled && b->m->state == BLOB_DOWNLOADING) {
		blob_state_set(b, BLOB_STALLED);
		b->m->speed = 0;
		blob_touch(q, b);
	} else if (!stalled && b->m->state == BLOB_STALLED) {
		blob_state_set(b, BLOB_DOWNLOADING);
		blob_touch(q, b);
	}
}

void
st_blob_verifying(struct jobq *q, struct blob *b)
{
	blob_state_set(b, BLOB_VERIFYING);
	b->m->speed = 0;
	blob_touch(q, b);
}

void
st_blob_retry_wait(struct jobq *q, struct blob *b, double delay,
    const char *cause)
{
	blob_state_set(b, BLOB_RETRYING);
	b->m->speed = 0;
	b->m->retry_at = now_mono() + delay;
	blob_error(q, b, cause);
	model_event_retry(q->m, -1, b->id, b->m->attempts + 1,
	    q->opt->retries, delay, b->m->error);
	blob_touch(q, b);
}

void
st_blob_finish(struct jobq *q, struct blob *b, enum blob_state st,
    const char *cause)
{
	blob_state_set(b, st);
	b->m->finished = now_mono();
	b->m->speed = 0;
	if (cause != NULL)
		blob_error(q, b, cause);
	if (st == BLOB_FAILED)
		model_event(q->m, 2, EV_FAILED, -1, b->id, "%s",
		    b->m->error ? b->m->error : "failed");
	blob_touch(q, b);
}

/*
 * Cancel a blob that is still to come. A worker holding it sees the flag
 * and finishes it CANCELLED itself; one nobody holds is cancelled here.
 * A layer verified or being unpacked is past cancelling (its image can
 * be).
 */
int
st_blob_cancel(struct jobq *q, struct blob *b, int quiet)
{
	if (blob_state_final(b->m->state) || b->m->state == BLOB_EXTRACTING ||
	    b->m->state == BLOB_VERIFYING)
		return -1;
	b->cancel = 1;
	if (!b->running) {
		blob_state_set(b, BLOB_CANCELLED);
		b->m->finished = now_mono();
		b->m->speed = 0;
	}
	if (!quiet)
		model_event(q->m, 1, EV_CANCELLED, -1, b->id, "cancelled");
	blob_touch(q, b);
	return 0;
}

void
st_blob_extracting(struct jobq *q, struct blob *b)
{
	blob_state_set(b, BLOB_EXTRACTING);
	b->m->xdone = 0;
	b->m->xsize = b->m->size;
	blob_touch(q, b);
}

void
st_blob_extract_progress(struct jobq *q, struct blob *b, uint64_t done,
    uint64_t total)
{
	b->m->xdone = done;
	if (total > 0)
		b->m->xsize = total;
	model_touch_blob(q->m, b->m);
}

void
st_blob_extracted(struct jobq *q, struct blob *b, enum blob_state back,
    int ok)
{
	blob_state_set(b, back);
	if (ok) {
		b->m->extracted = 1;
		b->m->xdone = b->m->xsize;
	}
	blob_touch(q, b);
}

/* ------------------------------------------------------------ images */

static void
image_touch(struct jobq *q, struct image *im)
{
	model_touch_image(q->m, im->m);
	jq_image_wake(q, im);
}

static void
image_error(struct jobq *q, struct image *im, const char *text)
{
	model_set_str(q->m, &im->m->error, &im->m->meta_gen, text);
}

void
st_image_resolved(struct jobq *q, struct image *im, const char *platform,
    const char *repo_digest)
{
	model_set_str(q->m, &im->m->platform, &im->m->meta_gen, platform);
	if (repo_digest != NULL)
		model_set_str(q->m, &im->m->digest, &im->m->meta_gen,
		    repo_digest);
	im->m->state = IMAGE_DOWNLOADING;
	image_touch(q, im);
}

void
st_image_resolving(struct jobq *q, struct image *im)
{
	im->m->state = IMAGE_RESOLVING;
	im->m->finished = 0;
	image_error(q, im, NULL);
	image_touch(q, im);
}

void
st_image_downloading(struct jobq *q, struct image *im)
{
	im->m->state = IMAGE_DOWNLOADING;
	im->m->finished = 0;
	image_error(q, im, NULL);
	image_touch(q, im);
}

void
st_image_fail(struct jobq *q, struct image *im, enum image_state st,
    const char *cause)
{
	/* a cancel the user asked for is not overwritten by its effects */
	if (im->m->state != IMAGE_CANCELLED || st == IMAGE_CANCELLED) {
		im->m->state = st;
		image_error(q, im, cause);
	}
	im->m->finished = now_mono();
	if (st == IMAGE_FAILED)
		model_event(q->m, 2, EV_FAILED, im->id, -1, "%s",
		    im->m->error ? im->m->error : "failed");
	image_touch(q, im);
}

/* --load: the engine is getting the image; line says how far. */
void
st_image_loading(struct jobq *q, struct image *im, const char *line)
{
	im->m->state = IMAGE_LOADING;
	model_set_str(q->m, &im->m->note, &im->m->meta_gen, line);
	image_touch(q, im);
}

/* --load done: the note says so (views add " for REF"). */
void
st_image_loaded(struct jobq *q, struct image *im, int engine_had_it)
{
	model_set_str(q->m, &im->m->note, &im->m->meta_gen, engine_had_it ?
	    "Image is up to date in docker" : im->m->up_to_date ?
	    "Image is up to date, loaded into docker" :
	    "Downloaded newer image, loaded into docker");
	image_touch(q, im);
}

void
st_image_complete(struct jobq *q, struct image *im)
{
	im->m->state = IMAGE_COMPLETE;
	im->m->finished = now_mono();
	image_error(q, im, NULL);
	model_event(q->m, 0, EV_COMPLETE, im->id, -1, "%s",
	    im->m->digest ? im->m->digest : "");
	image_touch(q, im);
}

/* Is blob b wanted by an image other than skip that is still going? */
static int
wanted_elsewhere(struct jobq *q, struct blob *b, int skip)
{
	int i;

	for (i = 0; i < b->want.n; i++)
		if (b->want.v[i] != skip && !q->images[b->want.v[i]]->cancel)
			return 1;
	return 0;
}

int
st_image_cancel(struct jobq *q, struct image *im)
{
	int i;

	if (image_state_final(im->m->state))
		return -1;
	im->cancel = 1;
	im->m->state = IMAGE_CANCELLED;
	im->m->finished = now_mono();
	image_error(q, im, "cancelled");
	for (i = 0; i < im->nlayers; i++) {
		struct blob *b = q->blobs[im->layers[i]];

		/* its shared layers go on for the other images */
		if (!wanted_elsewhere(q, b, im->id))
			st_blob_cancel(q, b, 0);
		idset_del(&b->want, im->id);
	}
	model_event(q->m, 1, EV_CANCELLED, im->id, -1, "cancelled");
	image_touch(q, im);
	return 0;
}

/*
 * The image failed before its layers were of use (its config could not
 * be had): it wants them no more, and those no other image wants stop,
 * quietly; the image's own error says why. A retry queues them again.
 */
void
st_image_drop(struct jobq *q, struct image *im)
{
	int i;

	for (i = 0; i < im->nlayers; i++) {
		struct blob *b = q->blobs[im->layers[i]];

		if (!wanted_elsewhere(q, b, im->id))
			st_blob_cancel(q, b, 1);
		idset_del(&b->want, im->id);
	}
	jq_changed(q);
}

int
st_image_retry(struct jobq *q, struct image *im)
{
	int i;

	if (im->m->state != IMAGE_FAILED && im->m->state != IMAGE_CANCELLED)
		return -1;
	im->cancel = 0;
	im->retry = 1;
	im->m->finished = 0;
	im->m->state = im->resolved ? IMAGE_DOWNLOADING : IMAGE_RESOLVING;
	image_error(q, im, NULL);
	for (i = 0; i < im->nlayers; i++) {
		struct blob *b = q->blobs[im->layers[i]];

		idset_add(&b->want, im->id);
		st_blob_requeue(q, b, 0);
	}
	model_event(q->m, 0, EV_RETRY_ASKED, im->id, -1, "retry requested");
	image_touch(q, im);
	return 0;
}

/*
 * Retry one layer; the images that gave up because of it (failed or
 * cancelled) want it again and go back to waiting for it.
 */
int
st_blob_retry(struct jobq *q, struct blob *b)
{
	int i;

	if (st_blob_requeue(q, b, 1) != 0)
		return -1;
	for (i = 0; i < b->m->nimages; i++) {
		struct image *im = q->images[b->m->images[i]];

		if (im->m->state == IMAGE_FAILED ||
		    im->m->state == IMAGE_CANCELLED) {
			im->cancel = 0;
			im->retry = 1;
			idset_add(&b->want, im->id);
		}
	}
	jq_changed(q);
	return 0;
}

/* ------------------------------------------------ mirrors, rate limits */

void
st_note(struct jobq *q, struct image *im, struct blob *b,
    const struct reg_note *n, int *ep)
{
	int e;

	switch (n->kind) {
	case REG_NOTE_SERVING:
		e = n->mirrored ? model_endpoint(q->m, n->endpoint,
		    n->is_mirror) : 0;
		if (ep != NULL)
			*ep = e;
		if (b != NULL && b->m->endpoint != e) {
			b->m->endpoint = e;
			model_touch_blob(q->m, b->m);
		}
		break;
	case REG_NOTE_FALLBACK:
		model_event(q->m, 1, EV_FALLBACK, b != NULL ? -1 : im != NULL ?
		    im->id : -1, b != NULL ? b->id : -1, "%s %s failed (%s); "
		    "trying %s", n->is_mirror ? "mirror" : "endpoint",
		    n->endpoint, n->cause, n->next);
		break;
	case REG_NOTE_RATELIMIT:
		model_set_limit(q->m, n->endpoint, n->limit, n->remaining,
		    n->window);
		break;
	}
}
