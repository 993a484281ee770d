/*
 * load.c - --load docker: an image pulltop pulled goes into the Docker
 * Engine. First the engine is asked whether it has the image already
 * (under the reference: nothing to do; by its id: a tag is enough); else
 * POST /images/load streams a docker-archive made on the fly
 * (archive.c) and the engine's progress lines are passed on; last, the
 * engine's inspect of the reference says whether it has it now.
 */
#include "dk_int.h"
#include "oci.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_EVERY 0.1	/* seconds between progress calls */

struct load {
	const struct docker_load_req *r;
	struct dk_endpoint ep;
	struct dk_archive *arc;
	docker_load_fn fn;
	void *ctx;
	struct docker_load_progress p;
	char line[512];
	double last;
	int stopped;		/* fn asked to stop */
	CURL *e;
	long http;
	struct buf in;
	char *error;		/* the engine's errorDetail */
};

static void __attribute__((format(printf, 3, 4)))
report(struct load *l, enum docker_load_phase phase, const char *fmt, ...)
{
	char raw[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	sanitize(l->line, sizeof l->line, raw);
	l->p.phase = phase;
	l->p.line = l->line;
	l->last = now_mono();
	if (l->fn != NULL && l->fn(l->ctx, &l->p) != 0)
		l->stopped = 1;
}

static int
same_id(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return 0;
	if (strncmp(a, "sha256:", 7) == 0)
		a += 7;
	if (strncmp(b, "sha256:", 7) == 0)
		b += 7;
	return strcmp(a, b) == 0;
}

/* The engine's image id for name: 0 found, 1 not, -1 with *cause. */
static int
engine_id(struct load *l, const char *name, char **id, char **cause)
{
	struct buf b;
	char *path = xasprintf("/images/%s/json", name);
	long status = 0;
	json_t *root;
	int r;

	*id = NULL;
	buf_init(&b, DK_BODY_MAX);
	r = dk_request(&l->ep, "GET", path, &b, &status, cause);
	free(path);
	if (r == 0 && status == 200) {
		root = json_loadb(b.data, b.len, 0, NULL);
		if (json_is_string(json_object_get(root, "Id")))
			*id = xstrdup(json_string_value(json_object_get(root,
			    "Id")));
		json_decref(root);
	} else if (r == 0 && status != 404) {
		*cause = dk_api_cause(b.data, b.len, status);
		r = -1;
	}
	buf_free(&b);
	return r < 0 ? -1 : *id != NULL ? 0 : 1;
}

/* ref's name and tag; 0, or 1 when it has no tag. */
static int
ref_tag(const char *ref, char **name, char **tag)
{
	char *n = xstrndup(ref, strcspn(ref, "@"));
	char *colon = strrchr(n, ':'), *slash = strrchr(n, '/');

	if (colon == NULL || (slash != NULL && colon < slash)) {
		free(n);
		return 1;
	}
	*colon = '\0';
	*name = n;
	*tag = xstrdup(colon + 1);
	return 0;
}

/* POST /images/ID/tag?repo=&tag=; 0, or -1 with *cause. */
static int
engine_tag(struct load *l, const char *id, char **cause)
{
	char *name, *tag, *en, *et, *path;
	struct buf b;
	long status = 0;
	int r;

	if (ref_tag(l->r->ref, &name, &tag) != 0)
		return 0;	/* no tag to set: the id is the image */
	en = curl_easy_escape(NULL, name, 0);
	et = curl_easy_escape(NULL, tag, 0);
	path = xasprintf("/images/%s/tag?repo=%s&tag=%s", id, en, et);
	curl_free(en);
	curl_free(et);
	free(name);
	free(tag);
	buf_init(&b, DK_BODY_MAX);
	r = dk_request(&l->ep, "POST", path, &b, &status, cause);
	free(path);
	if (r == 0 && status != 200 && status != 201) {
		*cause = dk_api_cause(b.data, b.len, status);
		r = -1;
	}
	buf_free(&b);
	return r;
}

/*
 * Has the engine the image already? 1 yes (tagged now if it had it by
 * id only), 0 no, -1 with *cause.
 */
static int
already(struct load *l, char **cause)
{
	const char *want = l->r->config->digest;
	char *id;
	int r;

	r = engine_id(l, l->r->ref, &id, cause);
	if (r < 0)
		return -1;
	if (r == 0 && same_id(id, want)) {
		free(id);
		report(l, DOCKER_LOAD_DONE, "Image is up to date for %s",
		    l->r->ref);
		return 1;
	}
	free(id);
	r = engine_id(l, want, &id, cause);
	if (r != 0)
		return r < 0 ? -1 : 0;
	free(id);
	if (engine_tag(l, want, cause) != 0)
		return -1;
	report(l, DOCKER_LOAD_DONE, "Tagged image %.19s as %s", want,
	    l->r->ref);
	return 1;
}

static size_t
load_read(char *p, size_t size, size_t n, void *ctx)
{
	struct load *l = ctx;
	long k;

	if (l->stopped)
		return CURL_READFUNC_ABORT;
	k = dk_archive_read(l->arc, p, size * n);
	if (k < 0)
		return CURL_READFUNC_ABORT;
	l->p.sent += (uint64_t)k;
	if (k == 0 || now_mono() - l->last >= REPORT_EVERY) {
		char a[32], b[32];

		fmt_bytes(a, sizeof a, l->p.sent);
		fmt_bytes(b, sizeof b, l->p.total);
		report(l, DOCKER_LOAD_SENDING, "Sending %s / %s", a, b);
	}
	return (size_t)k;
}

/* One line of the engine's answer. */
static void
load_line(struct load *l, const char *text, size_t n)
{
	struct dk_msg m;
	char *cause = NULL, a[32], b[32];

	if (dk_msg_parse(text, n, &m, &cause) != 0) {
		free(cause);
		return;
	}
	if (m.error != NULL && l->error == NULL)
		l->error = xstrdup(m.error);
	else if (m.status != NULL && m.has_progress) {
		l->p.current = (uint64_t)m.current;
		l->p.size = (uint64_t)m.total;
		fmt_bytes(a, sizeof a, l->p.current);
		fmt_bytes(b, sizeof b, l->p.size);
		report(l, DOCKER_LOAD_ENGINE, "%s %s: %s / %s", m.status,
		    m.id != NULL ? m.id : "", a, b);
	} else if (m.status != NULL || m.stream != NULL)
		report(l, DOCKER_LOAD_ENGINE, "%s", m.stream != NULL ?
		    m.stream : m.status);
	dk_msg_free(&m);
}

static size_t
load_write(char *p, size_t size, size_t n, void *ctx)
{
	struct load *l = ctx;
	char *nl;

	if (l->http == 0)
		curl_easy_getinfo(l->e, CURLINFO_RESPONSE_CODE, &l->http);
	if (buf_append(&l->in, p, size * n) != 0)
		return 0;
	if (l->http != 200)
		return size * n;	/* an error answer: read whole */
	while (l->in.len > 0 &&
	    (nl = memchr(l->in.data, '\n', l->in.len)) != NULL) {
		load_line(l, l->in.data, (size_t)(nl - l->in.data));
		l->in.len -= (size_t)(nl + 1 - l->in.data);
		memmove(l->in.data, nl + 1, l->in.len);
	}
	return size * n;
}

static int
load_check(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	struct load *l = ctx;

	(void)dt, (void)dn, (void)ut, (void)un;
	if (!l->stopped && now_mono() - l->last >= 1.0)
		report(l, l->p.phase, "%s", l->line);	/* a chance to stop */
	return l->stopped;
}

/* POST /images/load with the archive; 0, or -1 with *cause. */
static int
send_archive(struct load *l, char **cause)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *h = NULL;
	CURLcode rc;

	l->e = curl_easy_init();
	if (l->e == NULL) {
		*cause = xstrdup("out of memory (curl)");
		return -1;
	}
	buf_init(&l->in, DK_BODY_MAX);
	h = curl_slist_append(h, "Content-Type: application/x-tar");
	h = curl_slist_append(h, "Expect:");
	dk_easy_setup(l->e, &l->ep, "/images/load?quiet=0");
	curl_easy_setopt(l->e, CURLOPT_POST, 1L);
	curl_easy_setopt(l->e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(l->e, CURLOPT_READFUNCTION, load_read);
	curl_easy_setopt(l->e, CURLOPT_READDATA, l);
	curl_easy_setopt(l->e, CURLOPT_WRITEFUNCTION, load_write);
	curl_easy_setopt(l->e, CURLOPT_WRITEDATA, l);
	curl_easy_setopt(l->e, CURLOPT_XFERINFOFUNCTION, load_check);
	curl_easy_setopt(l->e, CURLOPT_XFERINFODATA, l);
	curl_easy_setopt(l->e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(l->e, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(l->e);
	if (l->http == 0)
		curl_easy_getinfo(l->e, CURLINFO_RESPONSE_CODE, &l->http);
	if (l->stopped)
		*cause = xstrdup("cancelled");
	else if (*dk_archive_error(l->arc) != '\0')
		*cause = xasprintf("the archive for the engine: %s",
		    dk_archive_error(l->arc));
	else if (rc == CURLE_WRITE_ERROR && l->in.overflow)
		*cause = xasprintf("the engine's answer is over %u bytes",
		    DK_BODY_MAX);
	else if (l->http != 0 && l->http != 200)
		*cause = dk_api_cause(l->in.data, l->in.len, l->http);
	else if (rc != CURLE_OK)
		*cause = dk_transport_cause(&l->ep, l->e, rc, errbuf);
	else if (l->in.len > 0)
		load_line(l, l->in.data, l->in.len);	/* no newline */
	if (*cause == NULL && l->error != NULL)
		*cause = xstrdup(l->error);
	curl_slist_free_all(h);
	curl_easy_cleanup(l->e);
	l->e = NULL;
	return *cause != NULL ? -1 : 0;
}

/* After the load: the engine must have ref (or, untagged, the id). */
static int
landed(struct load *l, char **cause)
{
	char *name, *tag, *id;
	int tagged = ref_tag(l->r->ref, &name, &tag) == 0, r;

	if (tagged) {
		free(name);
		free(tag);
	}
	r = engine_id(l, tagged ? l->r->ref : l->r->config->digest, &id,
	    cause);
	if (r < 0)
		return -1;
	if (r == 1) {
		*cause = xasprintf("the engine took the archive but has no "
		    "image %s", l->r->ref);
		return -1;
	}
	free(id);
	report(l, DOCKER_LOAD_DONE, "Loaded image: %s", l->r->ref);
	return 0;
}

int
docker_load_image(const struct docker_load_req *r, docker_load_fn fn,
    void *ctx, char **cause)
{
	struct load l;
	int ret;

	*cause = NULL;
	memset(&l, 0, sizeof l);
	l.r = r;
	l.fn = fn;
	l.ctx = ctx;
	snprintf(l.line, sizeof l.line, "Checking the engine");
	if (dk_endpoint_get(&l.ep, cause) != 0)
		return -1;
	ret = already(&l, cause);
	if (ret != 0)
		goto out;
	l.arc = dk_archive_new(r, cause);
	if (l.arc == NULL) {
		ret = -1;
		goto out;
	}
	l.p.total = dk_archive_size(l.arc);
	report(&l, DOCKER_LOAD_SENDING, "Sending the image to the engine");
	ret = send_archive(&l, cause);
	if (ret == 0)
		ret = landed(&l, cause);
out:
	if (ret < 0 && *cause == NULL)
		*cause = xstrdup("cancelled");
	dk_archive_free(l.arc);
	buf_free(&l.in);
	free(l.error);
	dk_endpoint_free(&l.ep);
	return ret;
}
