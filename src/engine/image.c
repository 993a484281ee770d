/*
 * image.c - one thread per image: resolve the reference to a manifest for
 * the wanted platform, fetch its config, queue its layers, wait for them,
 * and commit the manifest and the index.json entry. A failed or cancelled
 * image parks here until it is retried or the run ends.
 */
#include "jobq_int.h"
#include "util.h"
#include "oci.h"
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
};

static int
image_check(void *ctx)
{
	struct image *im = ctx;
	struct jobq *q = im->q;
	int stop;

	pthread_mutex_lock(&q->mu);
	stop = im->cancel || q->quit;
	pthread_mutex_unlock(&q->mu);
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

/* Sleep before another resolution attempt; 0 to go on, -1 if cancelled. */
static int
backoff(struct image *im, int attempt, double retry_after)
{
	struct jobq *q = im->q;
	double delay = attempt * q->opt->retry_delay, until;

	if (retry_after > delay)
		delay = retry_after;
	until = now_mono() + delay;
	pthread_mutex_lock(&q->mu);
	jq_event_locked(q, 1, "%s: Retrying in %.0fs (attempt %d/%d)",
	    im->ref.full, delay, attempt + 1, q->opt->retries);
	while (!im->cancel && !q->quit && now_mono() < until)
		jq_wait_until(q, &q->change, until);
	pthread_mutex_unlock(&q->mu);
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
		if (reg_get_manifest(k, &im->ref, reference, body, ctype, ctn,
		    image_check, im, &res) == 0)
			break;
		if (res.err != REG_RETRY || attempt >= im->q->opt->retries ||
		    backoff(im, attempt, res.retry_after) != 0) {
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
			if (reg_get_blob(k, &im->ref, d->digest, d->size, 0, 0,
			    small_write, small_check, &s, &res) == 0)
				break;
			buf_free(&s.buf);
			if (res.err != REG_RETRY || attempt >= q->opt->retries ||
			    backoff(im, attempt, res.retry_after) != 0) {
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

/* Resolve im to a manifest and queue its layers. */
static int
resolve(struct image *im, struct regconn *k, char **cause)
{
	struct jobq *q = im->q;
	struct buf body;
	struct manifest m, chosen;
	char ctype[128] = "", digest[72], repo_digest[72], platform[128];
	char old[72], (*ids)[72] = NULL;
	int i, pick, given, ret = -1, all_exist = 1;

	buf_init(&body, MANIFEST_MAX);
	snprintf(platform, sizeof platform, "%s", q->platform);
	if (get_manifest(im, k, ref_reference(&im->ref), im->ref.digest, &body,
	    ctype, sizeof ctype, cause) != 0)
		goto out_buf;
	if (manifest_parse(body.data, body.len, ctype, &m, cause) != 0)
		goto out_buf;
	sha256_buf(body.data, body.len, repo_digest);
	if (m.is_index) {
		pick = manifest_pick(&m, q->platform, cause);
		if (pick < 0) {
			manifest_free(&m);
			goto out_buf;
		}
		snprintf(digest, sizeof digest, "%s", m.manifests[pick].digest);
		if (m.manifests[pick].os[0] != '\0')
			snprintf(platform, sizeof platform, "%s/%s%s%s",
			    m.manifests[pick].os, m.manifests[pick].arch,
			    m.manifests[pick].variant[0] ? "/" : "",
			    m.manifests[pick].variant);
		manifest_free(&m);
		if (get_manifest(im, k, digest, digest, &body, ctype,
		    sizeof ctype, cause) != 0)
			goto out_buf;
		if (manifest_parse(body.data, body.len, ctype, &chosen,
		    cause) != 0)
			goto out_buf;
		if (chosen.is_index) {
			*cause = xasprintf("index entry %s is itself an index",
			    digest);
			manifest_free(&chosen);
			goto out_buf;
		}
		given = 1;
	} else {
		chosen = m;
		sha256_buf(body.data, body.len, digest);
		given = q->opt->platform != NULL;
	}

	/*
	 * Queue the layers first and fetch the config while they download,
	 * as docker does: on a distant registry the config's round trips
	 * (often a redirect to a CDN too) no longer hold up every layer.
	 */
	pthread_mutex_lock(&q->mu);
	if (im->cancel || q->quit) {
		pthread_mutex_unlock(&q->mu);
		manifest_free(&chosen);
		*cause = xasprintf("cancelled");
		goto out_buf;
	}
	snprintf(im->digest, sizeof im->digest, "%s", digest);
	snprintf(im->repo_digest, sizeof im->repo_digest, "%s", repo_digest);
	snprintf(im->media_type, sizeof im->media_type, "%s", chosen.media_type);
	snprintf(im->platform, sizeof im->platform, "%s", platform);
	buf_free(&im->manifest);
	im->manifest = body;
	memset(&body, 0, sizeof body);
	free(im->layers);
	im->layers = xcalloc(chosen.nlayers ? chosen.nlayers : 1, sizeof(int));
	im->nlayers = chosen.nlayers;
	for (i = 0; i < chosen.nlayers; i++) {
		const struct descriptor *d = &chosen.layers[i];
		struct blob *b = jq_blob_add(q, &im->ref, d->digest,
		    d->media_type, d->size, 1);
		im->layers[i] = b->id;
		b->want |= 1ull << im->id;
		if (b->state == BLOB_CANCELLED || b->state == BLOB_FAILED) {
			b->state = BLOB_WAITING;
			b->cancel = 0;
			b->attempts = 0;
		}
		if (b->state != BLOB_EXISTS)
			all_exist = 0;
	}
	im->state = IMAGE_DOWNLOADING;
	jq_changed(q);
	pthread_mutex_unlock(&q->mu);

	if (get_config(im, k, &chosen.config, given, platform, sizeof platform,
	    chosen.nlayers, &ids, cause) != 0) {
		pthread_mutex_lock(&q->mu);
		jq_image_drop_locked(q, im);
		pthread_mutex_unlock(&q->mu);
		manifest_free(&chosen);
		goto out_buf;
	}
	pthread_mutex_lock(&q->mu);
	free(im->diff_ids);
	im->diff_ids = ids;
	snprintf(im->platform, sizeof im->platform, "%s", platform);
	pthread_mutex_unlock(&q->mu);
	/* up to date: same platform manifest already named, nothing to fetch */
	all_exist = all_exist &&
	    store_index_get(q->store, im->ref.full, old) == 0 &&
	    strcmp(old, digest) == 0;
	pthread_mutex_lock(&q->mu);
	im->up_to_date = all_exist;
	im->resolved = 1;
	im->state = IMAGE_DOWNLOADING;
	jq_changed(q);
	pthread_mutex_unlock(&q->mu);
	manifest_free(&chosen);
	ret = 0;
out_buf:
	buf_free(&body);
	return ret;
}

/* Lock held: 1 when every layer is final; *bad names the first failure. */
static int
layers_final(struct jobq *q, struct image *im, struct blob **bad)
{
	int i;

	*bad = NULL;
	for (i = 0; i < im->nlayers; i++) {
		struct blob *b = q->blobs[im->layers[i]];
		if (!blob_state_final(b->state))
			return 0;
		if ((b->state == BLOB_FAILED || b->state == BLOB_CANCELLED) &&
		    (*bad == NULL || (*bad)->state == BLOB_CANCELLED))
			*bad = b;
	}
	return 1;
}

/* Lock held: park a failed image until a retry or the end of the run. */
static int
park(struct jobq *q, struct image *im)
{
	while (!im->retry && !q->quit)
		pthread_cond_wait(&q->change, &q->mu);
	im->retry = 0;
	return q->quit ? -1 : 0;
}

static void
fail_image(struct jobq *q, struct image *im, enum image_state st,
    const char *cause)
{
	if (im->state != IMAGE_CANCELLED || st == IMAGE_CANCELLED) {
		im->state = st;
		sanitize(im->error, sizeof im->error, cause);
	}
	im->finished = now_mono();
	if (st == IMAGE_FAILED)
		jq_event_locked(q, 2, "%s: %s", im->ref.full, im->error);
	jq_changed(q);
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
		    im->digest, im->manifest.len, im->platform, NULL, cause);
	oci = oci_from_docker(&im->manifest, cause);
	if (oci == NULL)
		return -1;
	sha256_buf(oci, strlen(oci), digest);
	r = store_put_small(q->store, digest, oci, strlen(oci), cause);
	if (r == 0)
		r = store_index_set(q->store, im->ref.full, MT_OCI_MANIFEST,
		    digest, strlen(oci), im->platform, im->digest, cause);
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

	(void)total;
	pthread_mutex_lock(&q->mu);
	x->b->done = done;
	jq_changed(q);
	pthread_mutex_unlock(&q->mu);
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

	jobq_event(x->im->q, 1, "%s: %s", x->im->ref.full, msg);
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
	enum blob_state prev;
	char name[256], *path;
	int i, r;

	unpack_name(im->ref.full, name, sizeof name);
	r = unpack_begin(q->opt->unpack, name, im->digest, &u, cause);
	if (r < 0)
		return -1;
	if (r == 1) {	/* this manifest is unpacked there already */
		pthread_mutex_lock(&q->mu);
		path = xasprintf("%s/%s", q->opt->unpack, name);
		sanitize(im->unpack_dir, sizeof im->unpack_dir, path);
		free(path);
		jq_changed(q);
		pthread_mutex_unlock(&q->mu);
		return 0;
	}
	for (i = 0; i < im->nlayers; i++) {
		struct blob *b;

		pthread_mutex_lock(&q->mu);
		b = q->blobs[im->layers[i]];
		/* wait for its download, and for another image unpacking it */
		while (!blob_state_final(b->state) && !q->quit && !im->cancel)
			pthread_cond_wait(&q->change, &q->mu);
		if (q->quit || im->cancel || (b->state != BLOB_DONE &&
		    b->state != BLOB_EXISTS)) {
			pthread_mutex_unlock(&q->mu);
			unpack_abort(u);
			return 1;
		}
		prev = b->state;
		b->state = BLOB_EXTRACTING;
		b->done = 0;
		jq_changed(q);
		pthread_mutex_unlock(&q->mu);

		memset(&x, 0, sizeof x);
		x.im = im;
		x.b = b;
		path = store_blob_path(q->store, b->digest);
		r = unpack_layer(u, path, b->media_type, im->diff_ids[i], b->size,
		    extract_progress, extract_check, extract_warn, &x, cause);
		free(path);

		pthread_mutex_lock(&q->mu);
		b->state = prev;
		b->done = b->size;
		if (r == 0)
			b->extracted = 1;
		jq_changed(q);
		pthread_mutex_unlock(&q->mu);
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
	pthread_mutex_lock(&q->mu);
	sanitize(im->unpack_dir, sizeof im->unpack_dir, path);
	jq_changed(q);
	pthread_mutex_unlock(&q->mu);
	free(path);
	return 0;
}

void *
image_main(void *arg)
{
	struct image *im = arg;
	struct jobq *q = im->q;
	struct regconn *k = reg_conn_new(q->reg);
	struct blob *bad;
	char *cause = NULL, sid[13], msg[300];

	pthread_mutex_lock(&q->mu);
	while (!q->quit) {
		if (!im->resolved) {
			pthread_mutex_unlock(&q->mu);
			cause = NULL;
			if (resolve(im, k, &cause) != 0) {
				pthread_mutex_lock(&q->mu);
				fail_image(q, im, im->cancel ? IMAGE_CANCELLED :
				    IMAGE_FAILED, cause);
				free(cause);
				if (park(q, im) != 0)
					break;
				im->state = IMAGE_RESOLVING;
				continue;
			}
			pthread_mutex_lock(&q->mu);
		}
		if (q->opt->unpack != NULL && !im->unpacked) {
			int r;

			pthread_mutex_unlock(&q->mu);
			cause = NULL;
			r = unpack_run(im, &cause);
			pthread_mutex_lock(&q->mu);
			if (r < 0) {
				fail_image(q, im, IMAGE_FAILED, cause);
				free(cause);
				if (park(q, im) != 0)
					break;
				im->state = IMAGE_DOWNLOADING;
				im->error[0] = '\0';
				continue;
			}
			im->unpacked = r == 0;
		}
		while (!layers_final(q, im, &bad) && !q->quit && !im->cancel)
			pthread_cond_wait(&q->change, &q->mu);
		if (q->quit)
			break;
		if (im->cancel) {
			/* its shared layers may go on for other images */
			fail_image(q, im, IMAGE_CANCELLED, "cancelled");
			if (park(q, im) != 0)
				break;
			continue;
		}
		if (bad != NULL) {
			snprintf(msg, sizeof msg, "layer %s: %s",
			    short_id(bad->digest, sid), bad->state ==
			    BLOB_CANCELLED ? "cancelled" : bad->error);
			fail_image(q, im, bad->state == BLOB_CANCELLED ?
			    IMAGE_CANCELLED : IMAGE_FAILED, msg);
			/* a retried layer or image brings us back */
			while (!q->quit && !im->retry &&
			    layers_final(q, im, &bad) && bad != NULL)
				pthread_cond_wait(&q->change, &q->mu);
			im->retry = 0;
			if (!q->quit) {
				im->state = IMAGE_DOWNLOADING;
				im->error[0] = '\0';
				im->cancel = 0;
				jq_changed(q);
			}
			continue;
		}
		pthread_mutex_unlock(&q->mu);
		cause = NULL;
		if (commit(im, &cause) != 0) {
			pthread_mutex_lock(&q->mu);
			fail_image(q, im, IMAGE_FAILED, cause);
			free(cause);
			if (park(q, im) != 0)
				break;
			continue;
		}
		pthread_mutex_lock(&q->mu);
		im->state = IMAGE_COMPLETE;
		im->finished = now_mono();
		jq_event_locked(q, 0, "%s: complete (%s)", im->ref.full,
		    im->repo_digest);
		break;
	}
	pthread_mutex_unlock(&q->mu);
	/* free the connection before saying we are gone: shutdown frees
	 * the curl share it uses as soon as image_threads reaches 0 */
	reg_conn_free(k);
	pthread_mutex_lock(&q->mu);
	q->image_threads--;
	jq_changed(q);
	pthread_mutex_unlock(&q->mu);
	return NULL;
}
