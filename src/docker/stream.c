/*
 * stream.c - a pull the Docker Engine makes, written into the model: each
 * JSONMessage of its stream becomes a change to a layer (by docker's
 * short id, shared by every image that names it) or to the image
 * (Digest:, Status:, an error), and the image's end (failed, cancelled,
 * or complete once the engine's inspect finds it). The model's lock is
 * held for every function here.
 */
#include "dk_int.h"
#include "model.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUIET_SECS 2.0		/* no bytes this long: speed 0 */

/* Every layer state is written here: views learn the states passed. */
static void
blob_set(struct model_blob *b, enum blob_state st)
{
	b->state = st;
	b->visited |= 1u << st;
}

static struct model_image *
job_image(struct model *m, const struct dk_job *j)
{
	return model_image(m, j->image);
}

void
dk_job_begin(struct model *m, struct dk_job *j, const char *platform)
{
	struct model_image *im = job_image(m, j);

	j->nlayers = 0;
	model_image_layers(m, j->image, NULL, 0);
	im->state = IMAGE_RESOLVING;
	im->up_to_date = 0;
	im->started = now_mono();
	im->finished = 0;
	model_set_str(m, &im->error, &im->meta_gen, NULL);
	model_set_str(m, &im->note, &im->meta_gen, NULL);
	if (platform != NULL)
		model_set_str(m, &im->platform, &im->meta_gen, platform);
	model_touch_image(m, im);
}

/* The layer named id, added to the image's list the first time. */
static struct model_blob *
job_layer(struct model *m, struct dk_job *j, const char *id)
{
	int added, b = model_blob_add(m, id, "", 0, 1, &added), i;

	for (i = 0; i < j->nlayers; i++)
		if (j->layers[i] == b)
			return model_blob(m, b);
	if (j->nlayers == j->cap_layers) {
		j->cap_layers = j->cap_layers ? j->cap_layers * 2 : 8;
		j->layers = xrealloc(j->layers,
		    (size_t)j->cap_layers * sizeof *j->layers);
	}
	j->layers[j->nlayers++] = b;
	model_blob_link(m, b, j->image);
	model_image_layers(m, j->image, j->layers, j->nlayers);
	return model_blob(m, b);
}

/* Downloading current of total: bytes and a smoothed speed. */
static void
downloading(struct model_blob *b, const struct dk_msg *msg, double now)
{
	uint64_t cur = (uint64_t)msg->current;

	if (b->state != BLOB_DOWNLOADING) {
		if (b->started == 0)
			b->started = now;
		if (b->state == BLOB_RETRYING || b->attempts == 0)
			b->attempts++;
		b->attempt_started = now;
		b->last_byte = now;
		b->speed = 0;
	} else if (cur > b->done && now > b->last_byte) {
		double dt = now - b->last_byte;
		double inst = (double)(cur - b->done) / dt;
		double a = 1 - exp(-dt / 1.5);

		b->speed = b->speed > 0 ? b->speed + a * (inst - b->speed) :
		    inst;
		b->last_byte = now;
	}
	blob_set(b, BLOB_DOWNLOADING);
	b->done = cur;
	if (msg->total > 0)
		b->size = (uint64_t)msg->total;
	b->max_attempts = DK_ATTEMPTS;
}

static void
finish(struct model_blob *b, enum blob_state st, double now)
{
	blob_set(b, st);
	b->speed = 0;
	if (b->size > 0)
		b->done = b->size;
	if (b->finished == 0)
		b->finished = now;
}

/* A layer id as engines send them: short hex, a digest; nothing odd. */
static int
id_ok(const char *id)
{
	size_t n = strspn(id, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-");

	return n > 0 && n <= 128 && id[n] == '\0';
}

/* A layer's status; returns 0 when it was not one. */
static int
layer_step(struct model *m, struct dk_job *j, const struct dk_msg *msg)
{
	struct model_blob *b;
	enum dk_step step;
	double now = now_mono();
	int secs = 0;

	step = dk_step_of(msg->status, &secs);
	if (step == DK_NOT_LAYER || msg->id == NULL || !id_ok(msg->id))
		return 0;
	b = job_layer(m, j, msg->id);
	switch (step) {
	case DK_NOT_LAYER:
		return 0;
	case DK_QUEUED:
		if (!blob_state_final(b->state) ||
		    b->state == BLOB_CANCELLED || b->state == BLOB_ABORTED ||
		    b->state == BLOB_FAILED)
			blob_set(b, BLOB_WAITING);
		break;
	case DK_DOWNLOADING:
		downloading(b, msg, now);
		break;
	case DK_VERIFYING:
		blob_set(b, BLOB_VERIFYING);
		b->speed = 0;
		break;
	case DK_DOWNLOADED:
		finish(b, BLOB_DONE, now);
		break;
	case DK_EXTRACTING:
		blob_set(b, BLOB_EXTRACTING);
		b->speed = 0;
		if (msg->units[0] == '\0') {	/* bytes; else seconds */
			b->xdone = (uint64_t)msg->current;
			b->xsize = (uint64_t)msg->total;
		}
		break;
	case DK_PULLED:
		finish(b, BLOB_DONE, now);
		b->extracted = 1;
		if (b->xsize > 0)
			b->xdone = b->xsize;
		break;
	case DK_EXISTS:
		finish(b, BLOB_EXISTS, now);
		break;
	case DK_RETRYING:
		if (b->state != BLOB_RETRYING)
			model_event_retry(m, j->image, b->id, b->attempts + 1,
			    DK_ATTEMPTS, secs, "");
		blob_set(b, BLOB_RETRYING);
		b->speed = 0;
		b->max_attempts = DK_ATTEMPTS;
		b->retry_at = now + secs;
		break;
	}
	model_touch_blob(m, b);
	return 1;
}

/*
 * "Status: Downloaded newer image for REF": the note is the words
 * before " for REF" (views add that back), the whole line otherwise.
 */
static void
note_set(struct model *m, struct model_image *im, const char *words)
{
	const char *f = strstr(words, " for ");
	char *w = f != NULL ? xstrndup(words, (size_t)(f - words)) :
	    xstrdup(words);

	model_set_str(m, &im->note, &im->meta_gen, w);
	if (strcmp(w, "Image is up to date") == 0)
		im->up_to_date = 1;
	free(w);
}

void
dk_job_message(struct model *m, struct dk_job *j, const struct dk_msg *msg)
{
	struct model_image *im = job_image(m, j);
	const char *st = msg->status;

	if (msg->error != NULL) {
		if (j->error == NULL)
			j->error = xstrdup(msg->error);
		return;
	}
	if (st == NULL)
		return;
	if (im->state == IMAGE_RESOLVING) {
		im->state = IMAGE_DOWNLOADING;
		model_touch_image(m, im);
	}
	if (layer_step(m, j, msg))
		return;
	if (strncmp(st, "Digest: ", 8) == 0) {
		model_set_str(m, &im->digest, &im->meta_gen, st + 8);
		model_touch_image(m, im);
	} else if (strncmp(st, "Status: ", 8) == 0) {
		note_set(m, im, st + 8);
		model_touch_image(m, im);
	} else if (strncmp(st, "Pulling from ", 13) != 0 && *st != '\0') {
		if (msg->id != NULL && *msg->id != '\0')
			model_event(m, 0, EV_NOTE, j->image, -1, "%s: %s",
			    msg->id, st);
		else
			model_event(m, 0, EV_NOTE, j->image, -1, "%s", st);
	}
}

/* Is blob b used by an image other than this one that is still going? */
static int
used_elsewhere(struct model *m, const struct model_blob *b, int image)
{
	int i;

	for (i = 0; i < b->nimages; i++) {
		struct model_image *o = model_image(m, b->images[i]);

		if (b->images[i] != image && o != NULL &&
		    !image_state_final(o->state))
			return 1;
	}
	return 0;
}

void
dk_job_end(struct model *m, struct dk_job *j, int cancelled,
    const char *cause)
{
	struct model_image *im = job_image(m, j);
	int i;

	for (i = 0; i < j->nlayers; i++) {
		struct model_blob *b = model_blob(m, j->layers[i]);

		if (blob_state_final(b->state) ||
		    used_elsewhere(m, b, j->image))
			continue;
		blob_set(b, cancelled ? BLOB_CANCELLED : BLOB_ABORTED);
		b->speed = 0;
		model_touch_blob(m, b);
	}
	im->state = cancelled ? IMAGE_CANCELLED : IMAGE_FAILED;
	im->finished = now_mono();
	model_set_str(m, &im->error, &im->meta_gen,
	    cancelled ? "cancelled" : cause);
	model_touch_image(m, im);
	if (cancelled)
		model_event(m, 0, EV_CANCELLED, j->image, -1, "cancelled");
	else
		model_event(m, 2, EV_FAILED, j->image, -1, "%s", cause);
}

/* The repo digest of RepoDigests whose name is the reference's, or NULL. */
static const char *
repo_digest(json_t *list, const char *ref)
{
	const char *first = NULL, *s, *at, *colon, *slash;
	size_t i, n, k;
	json_t *v;

	/* the name: ref without @digest and :tag */
	n = strcspn(ref, "@");
	colon = memrchr(ref, ':', n);
	slash = memrchr(ref, '/', n);
	if (colon != NULL && (slash == NULL || colon > slash))
		n = (size_t)(colon - ref);
	json_array_foreach(list, i, v) {
		s = json_string_value(v);
		at = s != NULL ? strchr(s, '@') : NULL;
		if (at == NULL)
			continue;
		if (first == NULL)
			first = at + 1;
		/* docker may drop "docker.io/" and "library/": a suffix */
		k = (size_t)(at - s);
		if (k <= n && memcmp(ref + n - k, s, k) == 0 &&
		    (k == n || ref[n - k - 1] == '/'))
			return at + 1;
	}
	return first;
}

/* podman names the config among the layers: it is not one. */
static void
drop_config(struct model *m, struct dk_job *j, const char *id)
{
	int i, k = 0;

	if (id == NULL)
		return;
	if (strncmp(id, "sha256:", 7) == 0)
		id += 7;
	for (i = 0; i < j->nlayers; i++) {
		struct model_blob *b = model_blob(m, j->layers[i]);

		if (strlen(b->digest) == 12 && strncmp(b->digest, id, 12) == 0) {
			b->is_layer = 0;
			model_blob_unlink(m, b->id, j->image);
			continue;
		}
		j->layers[k++] = j->layers[i];
	}
	if (k != j->nlayers) {
		j->nlayers = k;
		model_image_layers(m, j->image, j->layers, k);
	}
}

void
dk_job_complete(struct model *m, struct dk_job *j, const char *body,
    size_t len)
{
	struct model_image *im = job_image(m, j);
	json_t *root = json_loadb(body, len, 0, NULL);
	const char *os, *arch, *var, *dg;
	int i, exist = 0;

	drop_config(m, j, json_string_value(json_object_get(root, "Id")));
	dg = repo_digest(json_object_get(root, "RepoDigests"), j->ref);
	if (im->digest == NULL && dg != NULL)
		model_set_str(m, &im->digest, &im->meta_gen, dg);
	os = json_string_value(json_object_get(root, "Os"));
	arch = json_string_value(json_object_get(root, "Architecture"));
	var = json_string_value(json_object_get(root, "Variant"));
	if (os != NULL && arch != NULL) {
		char *p = xasprintf("%s/%s%s%s", os, arch, var && *var ? "/" :
		    "", var && *var ? var : "");
		model_set_str(m, &im->platform, &im->meta_gen, p);
		free(p);
	}
	json_decref(root);
	for (i = 0; i < j->nlayers; i++)
		exist += model_blob(m, j->layers[i])->state == BLOB_EXISTS;
	if (j->nlayers > 0 && exist == j->nlayers)
		im->up_to_date = 1;
	im->state = IMAGE_COMPLETE;
	im->finished = now_mono();
	model_touch_image(m, im);
	model_event(m, 0, EV_COMPLETE, j->image, -1, "%s",
	    im->digest != NULL ? im->digest : "");
}

void
dk_model_tick(struct model *m)
{
	double now = now_mono();
	int i, n = model_nblobs(m);

	for (i = 0; i < n; i++) {
		struct model_blob *b = model_blob(m, i);

		if (b->state == BLOB_DOWNLOADING && b->speed > 0 &&
		    now - b->last_byte > QUIET_SECS) {
			b->speed = 0;
			model_touch_blob(m, b);
		}
	}
}
