/*
 * image.c - one thread per image: resolve the reference to a manifest for
 * the wanted platform, fetch its config, queue its layers, wait for them,
 * and commit the manifest and the index.json entry. A failed or cancelled
 * image parks here until it is retried or the run ends.
 */
#include "engine_int.h"
#include "docker.h"
#include "registry.h"
#include "store.h"
#include "unpack.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct small {
	struct buf buf;
	struct image *im;
	int ep;			/* the model's endpoint serving it, 0 none */
};

static int
image_check(void *ctx)
{
	struct image *im = ctx;
	struct jobq *q = im->q;
	int stop;

	pthread_mutex_lock(q->mu);
	stop = im->cancel || q->quit;
	pthread_mutex_unlock(q->mu);
	return stop;
}

static int
small_write(void *ctx, const void *p, size_t n)
{
	struct small *s = ctx;

	return buf_append(&s->buf, p, n);
}

static int
small_check(void *ctx)
{
	struct small *s = ctx;

	return image_check(s->im);
}

/* The registry client's notes on the image's own requests. */
static void
image_note(void *ctx, const struct reg_note *n)
{
	struct image *im = ctx;

	pthread_mutex_lock(im->q->mu);
	st_note(im->q, im, NULL, n, NULL);
	pthread_mutex_unlock(im->q->mu);
}

static void
small_note(void *ctx, const struct reg_note *n)
{
	struct small *s = ctx;

	pthread_mutex_lock(s->im->q->mu);
	st_note(s->im->q, s->im, NULL, n, &s->ep);
	pthread_mutex_unlock(s->im->q->mu);
}

/* Sleep before another resolution attempt; 0 to go on, -1 if cancelled. */
static int
backoff(struct image *im, int attempt, double retry_after, const char *cause)
{
	struct jobq *q = im->q;
	double delay = attempt * q->opt->retry_delay, until;

	if (retry_after > delay)
		delay = retry_after;
	until = now_mono() + delay;
	pthread_mutex_lock(q->mu);
	model_event_retry(q->m, im->id, -1, attempt + 1, q->opt->retries, delay,
	    cause);
	while (!im->cancel && !q->quit && now_mono() < until)
		jq_wait_until(q, &im->cv, until);
	pthread_mutex_unlock(q->mu);
	return image_check(im) ? -1 : 0;
}

/* GET a manifest with retries; checks it against want_digest if given. */
static int
get_manifest(struct image *im, struct regconn *k, const char *reference,
    const char *want_digest, struct buf *body, char *ctype, size_t ctn,
    char **cause)
{
	struct reg_result res;
	char got[72];
	int attempt;

	for (attempt = 1; ; attempt++) {
		reg_conn_notes(k, image_note);
		if (reg_get_manifest(k, &im->ref, reference, body, ctype, ctn,
		    image_check, im, &res) == 0)
			break;
		if (res.err != REG_RETRY || attempt >= im->q->opt->retries ||
		    backoff(im, attempt, res.retry_after, res.cause) != 0) {
			if (res.err == REG_RETRY && attempt > 1)
				*cause = xasprintf("%s (gave up after %d attempts)",
				    res.cause, attempt);
			else
				*cause = xstrdup(res.cause);
			return -1;
		}
	}
	buf_str(body);
	if (want_digest != NULL) {
		sha256_buf(body->data, body->len, got);
		if (strcmp(got, want_digest) != 0) {
			*cause = xasprintf("manifest %s does not match its digest "
			    "(content hashes to %s)", want_digest, got);
			return -1;
		}
	}
	return 0;
}

/* Fetch (or read from the store) the config, check its platform. */
static int
get_config(struct image *im, struct regconn *k, const struct descriptor *d,
    int platform_given, char *platform, size_t pn, int nlayers,
    char (**ids)[72], char **cause)
{
	struct jobq *q = im->q;
	struct reg_result res;
	struct small s;
	char got[72], have[128];
	int attempt, r = -1;

	if (d->size > (4u << 20)) {
		*cause = xasprintf("config is larger than 4 MiB");
		return -1;
	}
	if (store_has_blob(q->store, d->digest, d->size)) {
		if (store_read_small(q->store, d->digest, 4u << 20, &s.buf,
		    cause) != 0)
			return -1;
	} else {
		for (attempt = 1; ; attempt++) {
			buf_init(&s.buf, d->size);
			s.im = im;
			s.ep = 0;
			reg_conn_notes(k, small_note);
			if (reg_get_blob(k, &im->ref, d->digest, d->size, 0, 0,
			    small_write, small_check, &s, &res) == 0)
				break;
			buf_free(&s.buf);
			if (res.err != REG_RETRY || attempt >= q->opt->retries ||
			    backoff(im, attempt, res.retry_after, res.cause) != 0) {
				*cause = xasprintf("config %s: %s", d->digest,
				    res.err == REG_LOCAL ? "larger than its "
				    "descriptor says" : res.cause);
				return -1;
			}
		}
		sha256_buf(s.buf.data ? s.buf.data : "", s.buf.len, got);
		if (s.buf.len != d->size || strcmp(got, d->digest) != 0) {
			*cause = xasprintf("config %s does not match its digest",
			    d->digest);
			buf_free(&s.buf);
			return -1;
		}
		pthread_mutex_lock(q->mu);
		model_endpoint_bytes(q->m, s.ep, s.buf.len);
		pthread_mutex_unlock(q->mu);
		if (store_put_small(q->store, d->digest, s.buf.data, s.buf.len,
		    cause) != 0) {
			buf_free(&s.buf);
			return -1;
		}
	}
	if (config_platform(s.buf.data ? s.buf.data : "", s.buf.len, have,
	    sizeof have, cause) != 0)
		goto out;
	if (q->opt->unpack != NULL) {
		/* unpacking checks each layer's content against these */
		*ids = xcalloc(nlayers ? nlayers : 1, sizeof **ids);
		if (config_diff_ids(s.buf.data, s.buf.len, *ids, nlayers,
		    cause) != nlayers) {
			if (*cause == NULL)
				*cause = xasprintf("config has fewer diff_ids "
				    "than the manifest has layers");
			free(*ids);
			*ids = NULL;
			goto out;
		}
	}
	if (have[0] != '\0') {
		if (platform_given && !platform_match(platform, have)) {
			*cause = xasprintf("image is for %s, not %s", have,
			    platform);
			goto out;
		}
		if (!platform_given)
			snprintf(platform, pn, "%s", have);
	}
	r = 0;
out:
	buf_free(&s.buf);
	return r;
}

/*
 * The manifest of a platform: an index's entry for the wanted platform
 * fetched (and checked) in place of the index. *given: the platform was
 * chosen, so the config must match it.
 */
static int
resolve_platform(struct image *im, struct regconn *k, struct buf *body,
    struct manifest *m, char *digest, char *platform, size_t pn, int *given,
    char **cause)
{
	struct jobq *q = im->q;
	char ctype[128] = "";
	const struct descriptor *e;
	int pick;

	if (!m->is_index) {
		sha256_buf(body->data, body->len, digest);
		*given = q->opt->platform != NULL;
		return 0;
	}
	pick = manifest_pick(m, q->platform, cause);
	if (pick < 0)
		return -1;
	e = &m->manifests[pick];
	snprintf(digest, 72, "%s", e->digest);
	if (e->os[0] != '\0')
		snprintf(platform, pn, "%s/%s%s%s", e->os, e->arch,
		    e->variant[0] ? "/" : "", e->variant);
	manifest_free(m);
	memset(m, 0, sizeof *m);
	if (get_manifest(im, k, digest, digest, body, ctype, sizeof ctype,
	    cause) != 0)
		return -1;
	if (manifest_parse(body->data, body->len, ctype, m, cause) != 0)
		return -1;
	if (m->is_index) {
		*cause = xasprintf("index entry %s is itself an index", digest);
		return -1;
	}
	*given = 1;
	return 0;
}

/*
 * Lock held: keep the chosen manifest and queue its layers. Returns 1
 * when every layer is already in the store, -1 if im was cancelled.
 */
static int
queue_layers(struct image *im, const struct manifest *m, const int *there,
    struct buf *body, const char *digest, const char *repo_digest,
    const char *platform)
{
	struct jobq *q = im->q;
	int i, all_exist = 1;

	if (im->cancel || q->quit)
		return -1;
	snprintf(im->digest, sizeof im->digest, "%s", digest);
	snprintf(im->media_type, sizeof im->media_type, "%s", m->media_type);
	buf_free(&im->manifest);
	im->manifest = *body;
	memset(body, 0, sizeof *body);
	free(im->layers);
	im->layers = xcalloc(m->nlayers ? (size_t)m->nlayers : 1, sizeof(int));
	im->nlayers = m->nlayers;
	for (i = 0; i < m->nlayers; i++) {
		const struct descriptor *d = &m->layers[i];
		struct blob *b = jq_blob_add(q, &im->ref, d->digest,
		    d->media_type, d->size, there[i]);
		im->layers[i] = b->id;
		idset_add(&b->want, im->id);
		model_blob_link(q->m, b->id, im->id);
		st_blob_requeue(q, b, 0);
		if (b->m->state != BLOB_EXISTS)
			all_exist = 0;
	}
	model_image_layers(q->m, im->id, im->layers, im->nlayers);
	st_image_resolved(q, im, platform, repo_digest);
	if (!all_exist)
		pthread_cond_broadcast(&q->work);
	return all_exist;
}

/*
 * Which of m's layers the store has, asked before the engine's lock is
 * taken to queue them: one store lock and one lease write for them all,
 * not a file lock per layer with every worker waiting. (malloc'd)
 */
static int *
layers_there(struct store *s, const struct manifest *m)
{
	int i, n = m->nlayers > 0 ? m->nlayers : 1, *there;
	const char **digests = xcalloc((size_t)n, sizeof *digests);
	uint64_t *sizes = xcalloc((size_t)n, sizeof *sizes);

	there = xcalloc((size_t)n, sizeof *there);
	for (i = 0; i < m->nlayers; i++) {
		digests[i] = m->layers[i].digest;
		sizes[i] = m->layers[i].size;
	}
	store_has_blobs(s, digests, sizes, m->nlayers, there);
	free(digests);
	free(sizes);
	return there;
}

/* Resolve im to a manifest and queue its layers. */
static int
resolve(struct image *im, struct regconn *k, char **cause)
{
	struct jobq *q = im->q;
	struct buf body;
	struct manifest m;
	char ctype[128] = "", digest[72], repo_digest[72], platform[128];
	char old[72], (*ids)[72] = NULL;
	int given = 0, ret = -1, all_exist, *there;

	memset(&m, 0, sizeof m);
	buf_init(&body, MANIFEST_MAX);
	snprintf(platform, sizeof platform, "%s", q->platform);
	if (get_manifest(im, k, ref_reference(&im->ref), im->ref.digest, &body,
	    ctype, sizeof ctype, cause) != 0)
		goto out;
	if (manifest_parse(body.data, body.len, ctype, &m, cause) != 0)
		goto out_buf;
	sha256_buf(body.data, body.len, repo_digest);
	if (resolve_platform(im, k, &body, &m, digest, platform,
	    sizeof platform, &given, cause) != 0)
		goto out;

	/* will it fit? if not, say so now and fetch nothing for it */
	if (store_space_check(q->store, &m, body.len, q->opt->unpack,
	    cause) != 0)
		goto out;

	/*
	 * Queue the layers first and fetch the config while they download,
	 * as docker does: on a distant registry the config's round trips
	 * (often a redirect to a CDN too) no longer hold up every layer.
	 */
	there = layers_there(q->store, &m);
	pthread_mutex_lock(q->mu);
	all_exist = queue_layers(im, &m, there, &body, digest, repo_digest,
	    platform);
	pthread_mutex_unlock(q->mu);
	free(there);
	if (all_exist < 0) {
		*cause = xasprintf("cancelled");
		goto out;
	}
	if (get_config(im, k, &m.config, given, platform, sizeof platform,
	    m.nlayers, &ids, cause) != 0) {
		pthread_mutex_lock(q->mu);
		st_image_drop(q, im);
		pthread_mutex_unlock(q->mu);
		goto out;
	}
	/* up to date: same platform manifest already named, nothing to fetch */
	all_exist = all_exist &&
	    store_index_get(q->store, im->ref.full, old) == 0 &&
	    strcmp(old, digest) == 0;
	pthread_mutex_lock(q->mu);
	free(im->diff_ids);
	im->diff_ids = ids;
	im->m->up_to_date = all_exist;
	im->resolved = 1;
	st_image_resolved(q, im, platform, NULL);
	pthread_mutex_unlock(q->mu);
	ret = 0;
out:
	manifest_free(&m);
out_buf:
	buf_free(&body);
	return ret;
}

/* Lock held: park a failed image until a retry or the end of the run. */
static int
park(struct jobq *q, struct image *im)
{
	while (!im->retry && !q->quit)
		pthread_cond_wait(&im->cv, q->mu);
	im->retry = 0;
	return q->quit ? -1 : 0;
}

/*
 * An OCI copy of a Docker schema 2 manifest (what skopeo writes to an oci:
 * layout), so that OCI tools such as umoci read the store. Same config and
 * layer blobs; only media types change.
 */
static char *
oci_from_docker(const struct buf *m, char **cause)
{
	json_t *root, *layers, *l;
	json_error_t je;
	const char *mt;
	char *text;
	size_t i;

	root = json_loadb(m->data, m->len, 0, &je);
	if (root == NULL) {
		*cause = xasprintf("manifest is not valid JSON");
		return NULL;
	}
	json_object_set_new(root, "mediaType", json_string(MT_OCI_MANIFEST));
	json_object_set_new(json_object_get(root, "config"), "mediaType",
	    json_string("application/vnd.oci.image.config.v1+json"));
	layers = json_object_get(root, "layers");
	json_array_foreach(layers, i, l) {
		mt = json_string_value(json_object_get(l, "mediaType"));
		if (mt == NULL)
			continue;
		if (strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar.gzip") == 0)
			mt = "application/vnd.oci.image.layer.v1.tar+gzip";
		else if (strcmp(mt, "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip") == 0)
			mt = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
		else
			continue;
		json_object_set_new(l, "mediaType", json_string(mt));
	}
	text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	return text;
}

static int
commit(struct image *im, char **cause)
{
	struct jobq *q = im->q;
	char digest[72], *oci;
	int r;

	if (store_put_small(q->store, im->digest, im->manifest.data,
	    im->manifest.len, cause) != 0)
		return -1;
	if (strcmp(im->media_type, MT_DOCKER_MANIFEST) != 0)
		return store_index_set(q->store, im->ref.full, im->media_type,
		    im->digest, im->manifest.len, im->m->platform, NULL, cause);
	oci = oci_from_docker(&im->manifest, cause);
	if (oci == NULL)
		return -1;
	sha256_buf(oci, strlen(oci), digest);
	r = store_put_small(q->store, digest, oci, strlen(oci), cause);
	if (r == 0)
		r = store_index_set(q->store, im->ref.full, MT_OCI_MANIFEST,
		    digest, strlen(oci), im->m->platform, im->digest, cause);
	free(oci);
	return r;
}

/* What the unpack callbacks need: the image and the layer being applied. */
struct extract {
	struct image *im;
	struct blob *b;
	double last;
};

static void
extract_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct extract *x = ctx;
	struct jobq *q = x->im->q;

	pthread_mutex_lock(q->mu);
	st_blob_extract_progress(q, x->b, done, total);
	pthread_mutex_unlock(q->mu);
}

static int
extract_check(void *ctx)
{
	struct extract *x = ctx;

	return image_check(x->im);
}

static void
extract_warn(void *ctx, const char *msg)
{
	struct extract *x = ctx;

	struct jobq *q = x->im->q;

	pthread_mutex_lock(q->mu);
	model_event(q->m, 1, EV_NOTE, x->im->id, -1, "%s", msg);
	pthread_mutex_unlock(q->mu);
}

/*
 * --unpack: apply the layers in manifest order into a staging rootfs, each
 * as soon as it is downloaded (so extraction overlaps the downloads still
 * running), then swap the rootfs into place. Returns 0 when the rootfs is
 * in place, 1 when a layer failed, was cancelled or the image was (the
 * caller's usual path reports that), -1 with *cause on an unpack error.
 */
static int
unpack_run(struct image *im, char **cause)
{
	struct jobq *q = im->q;
	struct unpack *u = NULL;
	struct extract x;
	struct unpack_cb cb = { extract_progress, extract_check, extract_warn,
	    &x };
	enum blob_state prev;
	char name[256], *path;
	int i, r;

	unpack_name(im->ref.full, name, sizeof name);
	r = unpack_begin(q->opt->unpack, name, im->digest, &u, cause);
	if (r < 0)
		return -1;
	if (r == 1) {	/* this manifest is unpacked there already */
		path = xasprintf("%s/%s", q->opt->unpack, name);
		pthread_mutex_lock(q->mu);
		model_set_str(q->m, &im->m->unpack_dir, &im->m->meta_gen, path);
		model_touch_image(q->m, im->m);
		pthread_mutex_unlock(q->mu);
		free(path);
		return 0;
	}
	for (i = 0; i < im->nlayers; i++) {
		struct blob *b;

		pthread_mutex_lock(q->mu);
		b = q->blobs[im->layers[i]];
		/* wait for its download, and for another image unpacking it */
		while (!blob_state_final(b->m->state) && !q->quit && !im->cancel)
			pthread_cond_wait(&im->cv, q->mu);
		if (q->quit || im->cancel || (b->m->state != BLOB_DONE &&
		    b->m->state != BLOB_EXISTS)) {
			int gave_up = q->quit || im->cancel;

			pthread_mutex_unlock(q->mu);
			if (gave_up)	/* no wait for the deletion */
				unpack_cancel(u);
			else
				unpack_abort(u);
			return 1;
		}
		prev = b->m->state;
		st_blob_extracting(q, b);
		pthread_mutex_unlock(q->mu);

		memset(&x, 0, sizeof x);
		x.im = im;
		x.b = b;
		path = store_blob_path(q->store, b->m->digest);
		r = unpack_layer(u, path, b->m->media_type, im->diff_ids[i],
		    b->m->size, &cb, cause);
		free(path);

		pthread_mutex_lock(q->mu);
		st_blob_extracted(q, b, prev, r == 0);
		pthread_mutex_unlock(q->mu);
		if (r != 0) {
			unpack_abort(u);
			if (image_check(im)) {
				free(*cause);
				*cause = NULL;
				return 1;
			}
			return -1;
		}
	}
	path = xstrdup(unpack_path(u));
	if (unpack_commit(u, cause) != 0) {	/* frees u either way */
		free(path);
		return -1;
	}
	pthread_mutex_lock(q->mu);
	model_set_str(q->m, &im->m->unpack_dir, &im->m->meta_gen, path);
	model_touch_image(q->m, im->m);
	pthread_mutex_unlock(q->mu);
	free(path);
	return 0;
}

static int
load_progress(void *ctx, const struct docker_load_progress *p)
{
	struct image *im = ctx;
	struct jobq *q = im->q;
	int stop;

	pthread_mutex_lock(q->mu);
	st_image_loading(q, im, p->line);
	stop = im->cancel || q->quit;
	pthread_mutex_unlock(q->mu);
	return stop;
}

/*
 * --load docker: hand the committed image to the engine. Returns 0
 * loaded, 1 the engine had it, -1 with *cause.
 */
static int
load_run(struct image *im, char **cause)
{
	struct docker_load_req r;
	struct manifest m;
	int ret;

	if (manifest_parse(im->manifest.data, im->manifest.len,
	    im->media_type, &m, cause) != 0)
		return -1;
	memset(&r, 0, sizeof r);
	r.store = im->q->store;
	r.ref = im->ref.full;
	r.config = &m.config;
	r.layers = m.layers;
	r.nlayers = m.nlayers;
	ret = docker_load_image(&r, load_progress, im, cause);
	manifest_free(&m);
	return ret;
}

/* Lock held: after a park, the image runs again (a retry). */
static void
image_again(struct jobq *q, struct image *im)
{
	im->cancel = 0;
	if (im->resolved)
		st_image_downloading(q, im);
	else
		st_image_resolving(q, im);
}

/*
 * Lock held: one layer failed or was cancelled; the image says so and
 * waits until a retried layer or image brings it back.
 */
static void
image_layer_failed(struct jobq *q, struct image *im, struct blob *bad)
{
	char *msg = xasprintf("layer %s: %s", bad->m->short_id,
	    bad->m->state == BLOB_CANCELLED ? "cancelled" :
	    bad->m->error ? bad->m->error : "failed");

	st_image_fail(q, im, bad->m->state == BLOB_CANCELLED ?
	    IMAGE_CANCELLED : IMAGE_FAILED, msg);
	free(msg);
	while (!q->quit && !im->retry && jq_layers_final(q, im, &bad) &&
	    bad != NULL)
		pthread_cond_wait(&im->cv, q->mu);
	im->retry = 0;
	if (!q->quit)
		image_again(q, im);
}

/*
 * Lock held: one step of an image's life. Returns 1 when the image is
 * complete, -1 when the run ends, 0 to go round again.
 */
static int
image_step(struct jobq *q, struct image *im, struct regconn *k)
{
	struct blob *bad;
	char *cause = NULL;
	int r;

	if (!im->resolved) {
		pthread_mutex_unlock(q->mu);
		r = resolve(im, k, &cause);
		pthread_mutex_lock(q->mu);
		if (r != 0)
			goto failed;
	}
	if (q->opt->unpack != NULL && !im->unpacked) {
		pthread_mutex_unlock(q->mu);
		r = unpack_run(im, &cause);
		pthread_mutex_lock(q->mu);
		if (r < 0)
			goto failed;
		im->unpacked = r == 0;
	}
	while (!jq_layers_final(q, im, &bad) && !q->quit && !im->cancel)
		pthread_cond_wait(&im->cv, q->mu);
	if (q->quit)
		return -1;
	if (im->cancel) {
		/* its shared layers may go on for other images */
		st_image_fail(q, im, IMAGE_CANCELLED, "cancelled");
		if (park(q, im) != 0)
			return -1;
		image_again(q, im);
		return 0;
	}
	if (bad != NULL) {
		image_layer_failed(q, im, bad);
		return 0;
	}
	pthread_mutex_unlock(q->mu);
	r = commit(im, &cause);
	if (r == 0 && q->opt->load != NULL)
		r = load_run(im, &cause);
	pthread_mutex_lock(q->mu);
	if (r < 0)
		goto failed;
	if (q->opt->load != NULL)
		st_image_loaded(q, im, r == 1);
	st_image_complete(q, im);
	return 1;
failed:
	st_image_fail(q, im, im->cancel ? IMAGE_CANCELLED : IMAGE_FAILED,
	    cause);
	free(cause);
	if (park(q, im) != 0)
		return -1;
	image_again(q, im);
	return 0;
}

void *
image_main(void *arg)
{
	struct image *im = arg;
	struct jobq *q = im->q;
	struct regconn *k = reg_conn_new(q->reg);

	pthread_mutex_lock(q->mu);
	while (!q->quit && image_step(q, im, k) == 0)
		;
	pthread_mutex_unlock(q->mu);
	/* free the connection before saying we are gone: shutdown frees
	 * the curl share it uses as soon as image_threads reaches 0 */
	reg_conn_free(k);
	pthread_mutex_lock(q->mu);
	q->image_threads--;
	jq_changed(q);
	pthread_mutex_unlock(q->mu);
	return NULL;
}
