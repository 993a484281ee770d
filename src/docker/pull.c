/*
 * pull.c - --via docker: the Docker Engine pulls, pulltop watches. A
 * source (model.h) whose images are each one streaming POST
 * /images/create on the engine, all at once, driven by one curl multi
 * handle on one thread of this file's.
 *
 * DESIGN
 * The view's thread calls the source's operations; they only mark what
 * is wanted of a job (start, cancel) under the pull's mutex and wake the
 * multi handle (curl_multi_wakeup). The pull thread takes those marks,
 * starts or drops transfers, and feeds every complete line of every
 * stream to stream.c under the model's lock. Cancelling an image drops
 * its connection: the engine cancels a pull whose client went away (its
 * layers go on for other pulls that share them). When a stream ends
 * without an error, GET /images/REF/json asks the engine whether the
 * image is there; only then is it complete. The pull's mutex may be
 * held while the model's lock is taken (adding an image), never the
 * reverse.
 */
#include "dk_int.h"
#include "model.h"
#include "config.h"
#include "oci.h"
#include "registry.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TICK_SECS 0.5

struct dk_pull {
	struct model *m;
	struct dk_endpoint ep;
	char *platform;		/* --platform, or NULL */
	char *creds;		/* --creds, or NULL */
	CURLM *multi;
	pthread_t thread;
	pthread_mutex_t mu;	/* jobs, njobs, each job's want, quit */
	struct dk_job **jobs;	/* by model image id */
	int njobs, cap_jobs;
	int quit;
};

/* ------------------------------------------------------------ requests */

/* X-Registry-Auth as the docker CLI builds it: base64url of the JSON. */
static char *
auth_header(const struct reg_creds *c)
{
	json_t *o = json_object();
	unsigned char *b64;
	char *text, *hv;
	size_t n, i;

	if (c->user != NULL)
		json_object_set_new(o, "username", json_string(c->user));
	if (c->secret != NULL)
		json_object_set_new(o, "password", json_string(c->secret));
	if (c->identity_token != NULL)
		json_object_set_new(o, "identitytoken",
		    json_string(c->identity_token));
	json_object_set_new(o, "serveraddress", json_string(c->server));
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text == NULL)
		return NULL;
	n = strlen(text);
	b64 = xmalloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock(b64, (unsigned char *)text, (int)n);
	for (i = 0; b64[i] != '\0'; i++)
		if (b64[i] == '+')
			b64[i] = '-';
		else if (b64[i] == '/')
			b64[i] = '_';
	hv = xasprintf("X-Registry-Auth: %s", b64);
	explicit_bzero(text, n);
	explicit_bzero(b64, strlen((char *)b64));
	free(text);
	free(b64);
	return hv;
}

static size_t
job_write(char *p, size_t size, size_t n, void *ctx);

/* Drop the job's transfer, if any. */
static void
job_drop(struct dk_pull *d, struct dk_job *j)
{
	if (j->easy != NULL) {
		curl_multi_remove_handle(d->multi, j->easy);
		curl_easy_cleanup(j->easy);
		j->easy = NULL;
	}
	if (j->hdrs != NULL) {
		struct curl_slist *h;

		/* the auth header holds a secret */
		for (h = j->hdrs; h != NULL; h = h->next)
			explicit_bzero(h->data, strlen(h->data));
		curl_slist_free_all(j->hdrs);
		j->hdrs = NULL;
	}
	buf_free(&j->in);
	j->phase = DK_IDLE;
}

/* A new transfer for j: method on path; 0, or -1 with *cause. */
static int
job_request(struct dk_pull *d, struct dk_job *j, const char *method,
    const char *path, char **cause)
{
	j->easy = curl_easy_init();
	if (j->easy == NULL) {
		*cause = xstrdup("out of memory (curl)");
		return -1;
	}
	j->http = 0;
	j->abort_line = 0;
	j->errbuf[0] = '\0';
	buf_init(&j->in, DK_BODY_MAX);
	dk_easy_setup(j->easy, &d->ep, path);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(j->easy, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(j->easy, CURLOPT_POSTFIELDSIZE, 0L);
	}
	curl_easy_setopt(j->easy, CURLOPT_HTTPHEADER, j->hdrs);
	curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, job_write);
	curl_easy_setopt(j->easy, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
	curl_easy_setopt(j->easy, CURLOPT_ERRORBUFFER, j->errbuf);
	if (curl_multi_add_handle(d->multi, j->easy) != CURLM_OK) {
		curl_easy_cleanup(j->easy);
		j->easy = NULL;
		*cause = xstrdup("could not start a request (curl)");
		return -1;
	}
	return 0;
}

/* POST /images/create?fromImage=&tag=[&platform=]; 0 or -1 with cause. */
static int
pull_start(struct dk_pull *d, struct dk_job *j, char **cause)
{
	struct reg_creds c;
	char *from, *tag, *plat = NULL, *path, *h;
	int r;

	r = reg_creds_lookup(j->host, d->creds, &c, cause);
	if (r < 0)
		return -1;
	if (r == 0) {
		h = auth_header(&c);
		reg_creds_free(&c);
		if (h != NULL) {
			j->hdrs = curl_slist_append(j->hdrs, h);
			explicit_bzero(h, strlen(h));
			free(h);
		}
	}
	from = curl_easy_escape(NULL, j->from, 0);
	tag = curl_easy_escape(NULL, j->tag, 0);
	if (d->platform != NULL)
		plat = curl_easy_escape(NULL, d->platform, 0);
	path = xasprintf("/images/create?fromImage=%s&tag=%s%s%s", from, tag,
	    plat != NULL ? "&platform=" : "", plat != NULL ? plat : "");
	curl_free(from);
	curl_free(tag);
	curl_free(plat);
	r = job_request(d, j, "POST", path, cause);
	free(path);
	if (r == 0)
		j->phase = DK_PULL;
	return r;
}

/* ------------------------------------------------------------- streams */

/* Complete lines of j->in to stream.c; what is left stays. */
static void
job_lines(struct dk_pull *d, struct dk_job *j, int last)
{
	char *p = j->in.data, *end = p + j->in.len, *nl;
	struct dk_msg msg;
	char *cause;

	if (j->in.len == 0)
		return;
	model_lock(d->m);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL && !last)
			break;
		if (nl == NULL)
			nl = end;
		cause = NULL;
		if (dk_msg_parse(p, (size_t)(nl - p), &msg, &cause) == 0) {
			dk_job_message(d->m, j, &msg);
			dk_msg_free(&msg);
		} else if (cause != NULL) {
			model_event(d->m, 1, EV_NOTE, j->image, -1, "%s",
			    cause);
			free(cause);
		}
		p = nl < end ? nl + 1 : end;
	}
	model_unlock(d->m);
	j->in.len = (size_t)(end - p);
	memmove(j->in.data, p, j->in.len);
}

static size_t
job_write(char *p, size_t size, size_t n, void *ctx)
{
	struct dk_job *j = ctx;

	if (j->http == 0)
		curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &j->http);
	if (buf_append(&j->in, p, size * n) != 0)
		return 0;	/* over the cap: curl stops with an error */
	if (j->phase == DK_PULL && j->http == 200) {
		job_lines(j->pull, j, 0);
		if (j->in.len > DK_LINE_MAX) {
			j->abort_line = 1;
			return 0;
		}
	}
	return size * n;
}

/* -------------------------------------------------------------- endings */

static void
job_fail(struct dk_pull *d, struct dk_job *j, const char *cause)
{
	job_drop(d, j);
	model_lock(d->m);
	dk_job_end(d->m, j, 0, cause);
	model_unlock(d->m);
}

/* The pull's stream ended: ask the engine whether the image is there. */
static void
pull_done(struct dk_pull *d, struct dk_job *j, CURLcode rc)
{
	char *cause = NULL, *path;

	if (rc == CURLE_OK && j->http == 200)
		job_lines(d, j, 1);
	if (j->abort_line)
		cause = xasprintf("a line of the engine's answer is over %u "
		    "bytes", DK_LINE_MAX);
	else if (rc == CURLE_WRITE_ERROR && j->in.overflow)
		cause = xasprintf("the engine's answer is over %u bytes",
		    DK_BODY_MAX);
	else if (rc != CURLE_OK)
		cause = dk_transport_cause(&d->ep, j->easy, rc, j->errbuf);
	else if (j->http != 200)
		cause = dk_api_cause(j->in.data, j->in.len, j->http);
	else if (j->error != NULL)
		cause = xstrdup(j->error);
	if (cause != NULL) {
		job_fail(d, j, cause);
		free(cause);
		return;
	}
	job_drop(d, j);
	path = xasprintf("/images/%s/json", j->ref);
	if (job_request(d, j, "GET", path, &cause) != 0) {
		job_fail(d, j, cause);
		free(cause);
	} else
		j->phase = DK_INSPECT;
	free(path);
}

static void
inspect_done(struct dk_pull *d, struct dk_job *j, CURLcode rc)
{
	char *cause = NULL;

	if (rc != CURLE_OK)
		cause = dk_transport_cause(&d->ep, j->easy, rc, j->errbuf);
	else if (j->http == 404)
		cause = xasprintf("the engine ended the pull without an error "
		    "but has no image %s", j->ref);
	else if (j->http != 200)
		cause = dk_api_cause(j->in.data, j->in.len, j->http);
	if (cause != NULL) {
		job_fail(d, j, cause);
		free(cause);
		return;
	}
	model_lock(d->m);
	dk_job_complete(d->m, j, j->in.data != NULL ? j->in.data : "",
	    j->in.len);
	model_unlock(d->m);
	job_drop(d, j);
}

/* Transfers that ended since the last look. */
static void
reap(struct dk_pull *d)
{
	struct dk_job *j;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(d->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &j);
		if (j->http == 0)
			curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE,
			    &j->http);
		if (j->phase == DK_PULL)
			pull_done(d, j, msg->data.result);
		else if (j->phase == DK_INSPECT)
			inspect_done(d, j, msg->data.result);
	}
}

/* ------------------------------------------------------------- the thread */

static void
job_start(struct dk_pull *d, struct dk_job *j)
{
	char *cause = NULL;

	job_drop(d, j);
	free(j->error);
	j->error = NULL;
	model_lock(d->m);
	dk_job_begin(d->m, j, d->platform);
	model_unlock(d->m);
	if (pull_start(d, j, &cause) != 0) {
		job_fail(d, j, cause);
		free(cause);
	}
}

static void
job_cancel(struct dk_pull *d, struct dk_job *j)
{
	if (j->phase == DK_IDLE)
		return;
	job_drop(d, j);
	model_lock(d->m);
	dk_job_end(d->m, j, 1, NULL);
	model_unlock(d->m);
}

/* Act on what the view asked for; returns 1 once told to quit. */
static int
take_wants(struct dk_pull *d)
{
	struct dk_job **todo = NULL;
	int *what = NULL, n = 0, i, quit;

	pthread_mutex_lock(&d->mu);
	quit = d->quit;
	for (i = 0; i < d->njobs; i++)
		if (d->jobs[i]->want != 0) {
			todo = xrealloc(todo, (size_t)(n + 1) * sizeof *todo);
			what = xrealloc(what, (size_t)(n + 1) * sizeof *what);
			todo[n] = d->jobs[i];
			what[n++] = d->jobs[i]->want;
			d->jobs[i]->want = 0;
		}
	pthread_mutex_unlock(&d->mu);
	for (i = 0; i < n && !quit; i++) {
		if (what[i] == DK_WANT_START)
			job_start(d, todo[i]);
		else
			job_cancel(d, todo[i]);
	}
	free(todo);
	free(what);
	return quit;
}

static void *
pull_main(void *arg)
{
	struct dk_pull *d = arg;
	double next_tick = 0, now;
	int running, i, n;

	while (!take_wants(d)) {
		curl_multi_perform(d->multi, &running);
		reap(d);
		now = now_mono();
		if (now >= next_tick) {
			model_lock(d->m);
			dk_model_tick(d->m);
			model_unlock(d->m);
			next_tick = now + TICK_SECS;
		}
		curl_multi_poll(d->multi, NULL, 0, (int)(TICK_SECS * 1000),
		    NULL);
	}
	/* told to stop: what still runs is cancelled */
	pthread_mutex_lock(&d->mu);
	n = d->njobs;
	pthread_mutex_unlock(&d->mu);
	for (i = 0; i < n; i++)
		job_cancel(d, d->jobs[i]);
	return NULL;
}

/* ---------------------------------------------------------- operations */

static void
wake(struct dk_pull *d)
{
	curl_multi_wakeup(d->multi);
}

/* The job of model image id, or NULL with *cause. */
static struct dk_job *
job_of(struct dk_pull *d, int id, char **cause)
{
	struct dk_job *j = NULL;

	pthread_mutex_lock(&d->mu);
	if (id >= 0 && id < d->njobs)
		j = d->jobs[id];
	pthread_mutex_unlock(&d->mu);
	if (j == NULL)
		*cause = xstrdup("no such image");
	return j;
}

static enum image_state
image_state(struct dk_pull *d, int id)
{
	enum image_state st;

	model_lock(d->m);
	st = model_image(d->m, id)->state;
	model_unlock(d->m);
	return st;
}

static void
want(struct dk_pull *d, struct dk_job *j, int w)
{
	pthread_mutex_lock(&d->mu);
	j->want = w;
	pthread_mutex_unlock(&d->mu);
	wake(d);
}

static int
op_cancel_image(void *impl, int id, char **cause)
{
	struct dk_pull *d = impl;
	struct dk_job *j = job_of(d, id, cause);

	if (j == NULL)
		return -1;
	if (image_state_final(image_state(d, id))) {
		*cause = xstrdup("that image is not running");
		return -1;
	}
	want(d, j, DK_WANT_CANCEL);
	return 0;
}

static int
op_retry_image(void *impl, int id, char **cause)
{
	struct dk_pull *d = impl;
	struct dk_job *j = job_of(d, id, cause);
	enum image_state st;

	if (j == NULL)
		return -1;
	st = image_state(d, id);
	if (st != IMAGE_FAILED && st != IMAGE_CANCELLED) {
		*cause = xstrdup("only a failed or cancelled image can be "
		    "retried");
		return -1;
	}
	model_lock(d->m);
	model_event(d->m, 0, EV_RETRY_ASKED, id, -1, "retry requested");
	model_unlock(d->m);
	want(d, j, DK_WANT_START);
	return 0;
}

static int
op_retry_all(void *impl)
{
	struct dk_pull *d = impl;
	int i, n, count = 0;
	char *cause = NULL;

	pthread_mutex_lock(&d->mu);
	n = d->njobs;
	pthread_mutex_unlock(&d->mu);
	for (i = 0; i < n; i++) {
		if (op_retry_image(d, i, &cause) == 0)
			count++;
		free(cause);
		cause = NULL;
	}
	return count;
}

static int
op_add_image(void *impl, const char *text, char **cause)
{
	struct dk_pull *d = impl;
	struct dk_job *j;
	struct ref r;
	char *why;

	if (ref_parse(text, &r, &why) != 0) {
		*cause = xasprintf("invalid reference: %s", why);
		free(why);
		return -1;
	}
	j = xcalloc(1, sizeof *j);
	j->pull = d;
	j->ref = xstrdup(r.full);
	j->host = xstrdup(ref_registry_host(&r));
	j->from = xasprintf("%s/%s", r.domain, r.path);
	j->tag = xstrdup(r.digest != NULL ? r.digest : r.tag);
	pthread_mutex_lock(&d->mu);
	if (d->quit) {
		pthread_mutex_unlock(&d->mu);
		*cause = xstrdup("the pull is stopping");
		ref_free(&r);
		free(j->ref);
		free(j->host);
		free(j->from);
		free(j->tag);
		free(j);
		return -1;
	}
	/* ids are the model's: add the image and its job together */
	model_lock(d->m);
	j->image = model_image_add(d->m, r.full, r.domain);
	model_event(d->m, 0, EV_ADDED, j->image, -1, "added");
	model_unlock(d->m);
	if (d->njobs == d->cap_jobs) {
		d->cap_jobs = d->cap_jobs ? d->cap_jobs * 2 : 16;
		d->jobs = xrealloc(d->jobs,
		    (size_t)d->cap_jobs * sizeof *d->jobs);
	}
	d->jobs[d->njobs++] = j;
	j->want = DK_WANT_START;
	pthread_mutex_unlock(&d->mu);
	ref_free(&r);
	wake(d);
	return j->image;
}

static void
op_cancel_all(void *impl)
{
	struct dk_pull *d = impl;

	pthread_mutex_lock(&d->mu);
	d->quit = 1;
	pthread_mutex_unlock(&d->mu);
	wake(d);
}

static void
op_free(void *impl)
{
	struct dk_pull *d = impl;
	int i;

	op_cancel_all(d);
	pthread_join(d->thread, NULL);
	for (i = 0; i < d->njobs; i++) {
		struct dk_job *j = d->jobs[i];

		job_drop(d, j);
		free(j->ref);
		free(j->host);
		free(j->from);
		free(j->tag);
		free(j->error);
		free(j->layers);
		free(j);
	}
	free(d->jobs);
	curl_multi_cleanup(d->multi);
	dk_endpoint_free(&d->ep);
	free(d->platform);
	if (d->creds != NULL)
		explicit_bzero(d->creds, strlen(d->creds));
	free(d->creds);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

static const struct source_ops docker_ops = {
	.cancel_image = op_cancel_image,
	.retry_image = op_retry_image,
	.retry_all = op_retry_all,
	.add_image = op_add_image,
	.cancel_all = op_cancel_all,
	.free = op_free,
};

struct source *
docker_source_new(const struct options *o, char **cause)
{
	struct dk_pull *d = xcalloc(1, sizeof *d);
	struct source *s;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (dk_endpoint_get(&d->ep, cause) != 0) {
		free(d);
		return NULL;
	}
	if (dk_ping(&d->ep, cause) != 0) {
		dk_endpoint_free(&d->ep);
		free(d);
		return NULL;
	}
	d->multi = curl_multi_init();
	if (d->multi == NULL) {
		*cause = xstrdup("out of memory (curl)");
		dk_endpoint_free(&d->ep);
		free(d);
		return NULL;
	}
	d->platform = o->platform != NULL ? xstrdup(o->platform) : NULL;
	d->creds = o->creds != NULL ? xstrdup(o->creds) : NULL;
	d->m = model_new();
	pthread_mutex_init(&d->mu, NULL);
	s = xcalloc(1, sizeof *s);
	s->name = "docker";
	s->caps = SRC_CANCEL_IMAGE | SRC_RETRY_IMAGE | SRC_ADD_IMAGE |
	    SRC_RETRY_ALL;
	s->ops = &docker_ops;
	s->impl = d;
	s->model = d->m;
	if (pthread_create(&d->thread, NULL, pull_main, d) != 0) {
		*cause = xstrdup("cannot start the pull thread");
		s->ops = NULL;
		curl_multi_cleanup(d->multi);
		dk_endpoint_free(&d->ep);
		model_free(d->m);
		free(d->platform);
		free(d->creds);
		free(d);
		free(s);
		return NULL;
	}
	return s;
}
