/*
 * test_state.c - the engine's state machine (src/engine/state.c) walked
 * transition by transition on a queue built by hand (no threads, no
 * store, no network), and the model's incremental snapshots: a snapshot
 * copies what changed and keeps strings whole.
 */
#include "engine_int.h"
#include "model.h"
#include "unit.h"

#include <stdlib.h>

static struct options opt;

static struct jobq *
q_new(void)
{
	struct jobq *q = calloc(1, sizeof *q);

	options_defaults(&opt);
	opt.retries = 3;
	q->opt = &opt;
	q->m = model_new();
	q->mu = model_mutex(q->m);
	pthread_cond_init(&q->work, NULL);
	pthread_cond_init(&q->change, NULL);
	return q;
}

static void
q_free(struct jobq *q)
{
	int i;

	for (i = 0; i < q->nimages; i++) {
		pthread_cond_destroy(&q->images[i]->cv);
		free(q->images[i]->layers);
		free(q->images[i]);
	}
	for (i = 0; i < q->nblobs; i++) {
		free(q->blobs[i]->want.v);
		free(q->blobs[i]);
	}
	free(q->images);
	free(q->blobs);
	model_free(q->m);
	free(q);
}

static struct image *
add_image(struct jobq *q, const char *ref)
{
	struct image *im = calloc(1, sizeof *im);

	q->images = realloc(q->images, (size_t)(q->nimages + 1) *
	    sizeof *q->images);
	im->id = model_image_add(q->m, ref, "example.com");
	im->m = model_image(q->m, im->id);
	im->q = q;
	pthread_cond_init(&im->cv, NULL);
	q->images[q->nimages++] = im;
	return im;
}

static struct blob *
add_blob(struct jobq *q, char c)
{
	char digest[80];
	struct blob *b = calloc(1, sizeof *b);
	int i;

	memcpy(digest, "sha256:", 7);
	for (i = 0; i < 64; i++)
		digest[7 + i] = c;
	digest[71] = '\0';
	q->blobs = realloc(q->blobs, (size_t)(q->nblobs + 1) *
	    sizeof *q->blobs);
	b->id = model_blob_add(q->m, digest, "layer", 100, 1, NULL);
	b->m = model_blob(q->m, b->id);
	q->blobs[q->nblobs++] = b;
	return b;
}

/* im uses every blob given; they want it. */
static void
use(struct jobq *q, struct image *im, struct blob **bs, int n)
{
	int i;

	im->layers = calloc((size_t)n, sizeof *im->layers);
	im->nlayers = n;
	for (i = 0; i < n; i++) {
		im->layers[i] = bs[i]->id;
		idset_add(&bs[i]->want, im->id);
		model_blob_link(q->m, bs[i]->id, im->id);
	}
	model_image_layers(q->m, im->id, im->layers, n);
	im->resolved = 1;
	st_image_resolved(q, im, "linux/amd64", "sha256:feed");
}

#define SCHECK(cond, ...) unit_report((cond), #cond, __VA_ARGS__)

static void
walk_download(void)
{
	struct jobq *q = q_new();
	struct blob *b = add_blob(q, 'a');

	SCHECK(b->m->state == BLOB_WAITING, "new blob waits");
	st_blob_attempt(q, b, 0);
	SCHECK(b->m->state == BLOB_DOWNLOADING && b->m->attempts == 1 &&
	    b->m->started > 0, "attempt: Downloading, attempt 1, started");
	st_blob_stalled(q, b, 1);
	SCHECK(b->m->state == BLOB_STALLED && b->m->speed == 0,
	    "no bytes: Stalled, speed 0");
	st_blob_stalled(q, b, 0);
	SCHECK(b->m->state == BLOB_DOWNLOADING, "bytes again: Downloading");
	st_blob_retry_wait(q, b, 5, "connection reset");
	SCHECK(b->m->state == BLOB_RETRYING && b->m->error != NULL &&
	    strcmp(b->m->error, "connection reset") == 0,
	    "retry wait: Retrying with its cause");
	st_blob_attempt(q, b, 40);
	SCHECK(b->m->attempts == 2 && b->m->done == 40 && b->m->error == NULL,
	    "second attempt resumes at 40, cause cleared");
	st_blob_verifying(q, b);
	SCHECK(b->m->state == BLOB_VERIFYING, "all in: Verifying");
	SCHECK(st_blob_cancel(q, b, 0) == -1 && !b->cancel,
	    "cancel after verify is refused");
	st_blob_finish(q, b, BLOB_DONE, NULL);
	SCHECK(b->m->state == BLOB_DONE && b->m->finished > 0,
	    "finish: Download complete, finished set");
	SCHECK((b->m->visited & (1u << BLOB_WAITING)) &&
	    (b->m->visited & (1u << BLOB_STALLED)) &&
	    (b->m->visited & (1u << BLOB_VERIFYING)) &&
	    (b->m->visited & (1u << BLOB_DONE)),
	    "visited records every state passed");
	SCHECK(st_blob_requeue(q, b, 1) == -1, "a finished blob is not requeued");
	st_blob_extracting(q, b);
	SCHECK(b->m->state == BLOB_EXTRACTING &&
	    st_blob_cancel(q, b, 0) == -1, "extracting: not cancellable");
	st_blob_extracted(q, b, BLOB_DONE, 1);
	SCHECK(b->m->state == BLOB_DONE && b->m->extracted,
	    "extracted: back to Download complete, Pull complete");
	q_free(q);
}

static void
walk_cancel_retry(void)
{
	struct jobq *q = q_new();
	struct blob *b = add_blob(q, 'b'), *c = add_blob(q, 'c');
	struct image *im = add_image(q, "example.com/a:1");
	struct blob *bs[2] = { b, c };

	use(q, im, bs, 2);
	SCHECK(st_blob_cancel(q, b, 0) == 0 && b->m->state == BLOB_CANCELLED &&
	    b->m->finished > 0, "cancel a waiting blob: Cancelled, finished");
	SCHECK(st_blob_cancel(q, b, 0) == -1, "cancel twice is refused");
	st_blob_attempt(q, c, 0);
	c->running = 1;
	SCHECK(st_blob_cancel(q, c, 0) == 0 && c->cancel &&
	    c->m->state == BLOB_DOWNLOADING,
	    "cancel a running blob: flag set, its worker finishes it");
	st_blob_finish(q, c, BLOB_CANCELLED, NULL);
	c->running = 0;
	SCHECK(c->m->state == BLOB_CANCELLED && c->m->finished > 0,
	    "worker finishes it Cancelled, finished set");

	/* cancel during the retry wait */
	q_free(q);
	q = q_new();
	b = add_blob(q, 'd');
	st_blob_attempt(q, b, 0);
	st_blob_retry_wait(q, b, 30, "503");
	b->running = 1;
	SCHECK(st_blob_cancel(q, b, 0) == 0 && b->cancel,
	    "cancel during retry wait: flag wakes the worker");
	st_blob_finish(q, b, BLOB_CANCELLED, NULL);
	b->running = 0;
	SCHECK(st_blob_requeue(q, b, 1) == 0 && b->m->state == BLOB_WAITING &&
	    b->m->attempts == 0 && !b->cancel && b->m->finished == 0,
	    "retry: Waiting, attempts 0, flag and finish cleared");
	SCHECK(q->scan_from <= b->id, "requeue lets workers find it");
	st_blob_finish(q, b, BLOB_FAILED, "gave up");
	SCHECK(b->m->state == BLOB_FAILED && b->m->error &&
	    strcmp(b->m->error, "gave up") == 0, "fail: Failed with cause");
	SCHECK(st_blob_retry(q, b) == 0 && b->m->state == BLOB_WAITING &&
	    b->m->error == NULL, "retry a failed blob");
	q_free(q);
}

static void
walk_images(void)
{
	struct jobq *q = q_new();
	struct blob *shared = add_blob(q, 'e'), *own = add_blob(q, 'f');
	struct image *a = add_image(q, "example.com/a:1");
	struct image *b = add_image(q, "example.com/b:1");
	struct blob *la[2] = { shared, own }, *lb[1] = { shared };

	use(q, a, la, 2);
	use(q, b, lb, 1);
	SCHECK(st_image_cancel(q, a) == 0 && a->m->state == IMAGE_CANCELLED &&
	    a->cancel && a->m->finished > 0, "cancel image a");
	SCHECK(shared->m->state == BLOB_WAITING && !shared->cancel,
	    "a's layer shared with b goes on");
	SCHECK(own->m->state == BLOB_CANCELLED, "a's own layer is cancelled");
	SCHECK(!idset_has(&shared->want, a->id) &&
	    idset_has(&shared->want, b->id), "a no longer wants the shared layer");
	SCHECK(st_image_cancel(q, a) == -1, "cancel a cancelled image: refused");

	/* b fails on the shared layer; retrying it brings b back and
	 * leaves the cancelled a alone unless it used the layer */
	st_blob_finish(q, shared, BLOB_FAILED, "reset");
	st_image_fail(q, b, IMAGE_FAILED, "layer failed");
	SCHECK(b->m->state == IMAGE_FAILED && b->m->error != NULL,
	    "image fails with its cause");
	SCHECK(st_blob_retry(q, shared) == 0 && b->retry && !b->cancel &&
	    idset_has(&shared->want, b->id),
	    "retry of a shared blob: failed image b wants it again");
	SCHECK(a->retry && idset_has(&shared->want, a->id),
	    "retry of a shared blob: cancelled image a that used it too");

	/* a cancel is not overwritten by the failures it causes */
	q_free(q);
	q = q_new();
	a = add_image(q, "example.com/a:1");
	st_image_cancel(q, a);
	st_image_fail(q, a, IMAGE_FAILED, "layer x: cancelled");
	SCHECK(a->m->state == IMAGE_CANCELLED, "cancel is kept over a failure");
	SCHECK(st_image_retry(q, a) == 0 && a->m->state == IMAGE_RESOLVING &&
	    a->m->error == NULL && a->retry, "retry an unresolved image");
	SCHECK(st_image_retry(q, a) == -1, "retry a running image: refused");
	st_image_complete(q, a);
	SCHECK(a->m->state == IMAGE_COMPLETE && a->m->finished > 0,
	    "complete");
	q_free(q);
}

static void
walk_drop(void)
{
	struct jobq *q = q_new();
	struct blob *x = add_blob(q, '1'), *y = add_blob(q, '2');
	struct image *a = add_image(q, "example.com/a:1");
	struct image *b = add_image(q, "example.com/b:1");
	struct blob *la[2] = { x, y }, *lb[1] = { y };

	use(q, a, la, 2);
	use(q, b, lb, 1);
	st_image_drop(q, a);	/* a's config could not be had */
	SCHECK(x->m->state == BLOB_CANCELLED && y->m->state == BLOB_WAITING,
	    "drop: only the layers nobody else wants stop");
	SCHECK(x->want.n == 0 && y->want.n == 1, "drop: a wants none");
	q_free(q);
}

static void
snapshots(void)
{
	struct model *m = model_new();
	struct snapshot s;
	char longref[600];
	int i, id, b;

	memset(&s, 0, sizeof s);
	memset(longref, 'a', sizeof longref - 1);
	memcpy(longref, "example.com/", 12);
	longref[sizeof longref - 1] = '\0';
	model_lock(m);
	id = model_image_add(m, longref, "example.com");
	b = model_blob_add(m, "sha256:00", "layer", 10, 1, NULL);
	model_blob_link(m, b, id);
	model_image_layers(m, id, &b, 1);
	model_unlock(m);
	model_snapshot(m, &s);
	SCHECK(s.nimages == 1 && strlen(s.images[0].ref) == strlen(longref),
	    "a 599-character reference is kept whole");
	SCHECK(s.images[0].bytes_total == 10 && s.bytes_total == 10,
	    "totals derived from the layers");
	model_lock(m);
	model_blob(m, b)->done = 4;
	model_touch_blob(m, model_blob(m, b));
	model_set_str(m, &model_image(m, id)->error,
	    &model_image(m, id)->meta_gen, "bad \x1b[31mthing");
	model_touch_image(m, model_image(m, id));
	model_unlock(m);
	model_snapshot(m, &s);
	SCHECK(s.blobs[0].done == 4 && s.images[0].bytes_done == 4,
	    "a second snapshot sees the change");
	SCHECK(s.images[0].error && strcmp(s.images[0].error, "bad thing") == 0,
	    "strings are sanitized");
	model_lock(m);
	for (i = 0; i < 5000; i++)
		model_event(m, 0, EV_NOTE, -1, -1, "n%d", i);
	model_unlock(m);
	model_snapshot(m, &s);
	SCHECK(s.nevents == MODEL_EVENTS &&
	    strcmp(s.events[s.nevents - 1].text, "n4999") == 0,
	    "the snapshot keeps the newest events");
	SCHECK(s.events_new > 0, "new events are marked");
	model_lock(m);
	for (i = 0; i < 300; i++) {
		char d[80];
		snprintf(d, sizeof d, "sha256:%064d", i + 1);
		model_blob_add(m, d, "layer", 1, 1, NULL);
	}
	SCHECK(model_blob_find(m, "sha256:0000000000000000000000000000000000"
	    "000000000000000000000000000150") >= 0 &&
	    model_blob_add(m, "sha256:00", "x", 1, 1, NULL) == b,
	    "digests are found after the table grows");
	model_unlock(m);
	model_snapshot(m, &s);
	SCHECK(s.nblobs == 301, "new blobs reach the snapshot");
	snapshot_free(&s);
	model_free(m);
}

int
main(void)
{
	walk_download();
	walk_cancel_retry();
	walk_images();
	walk_drop();
	snapshots();
	return unit_summary();
}
