/*
 * registry.c - the OCI distribution API: the /v2/ ping that learns whether
 * a host is a registry, its scheme and its challenge, and the GETs of
 * manifests and blobs with their auth rounds and redirects. Redirects are
 * followed here, not by curl, so that Authorization only ever goes back to
 * the origin (scheme, host and port) that asked for it.
 */
#include "reg_int.h"
#include "config.h"
#include "oci.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Where one api_get is, from hop to hop. */
struct api {
	struct regconn *k;
	const struct reg_req *rq;
	const struct mirror_endpoint *e;	/* the endpoint asked */
	struct reg_result *res;
	struct host *h;		/* the endpoint's host */
	char *scope;		/* "repository:NAME:pull" */
	char *origin_url;	/* the URL asked for */
	char *url;		/* this hop's */
	char *auth;		/* the Authorization line for the origin */
	int fresh;		/* auth was made for this GET: a 401 is final */
	int rounds;		/* auth rounds after a 401 */
	struct curl_slist *hdrs;
	struct xfer x;
};

enum hop_next { HOP_DONE, HOP_FAILED, HOP_AUTH_AGAIN, HOP_REDIRECT };

/* Retry-After in seconds (at most 600), or 0 without one we can read. */
static double
retry_after(const struct xfer *x)
{
	double v;

	if (x->retry_after[0] < '0' || x->retry_after[0] > '9')
		return 0;
	v = atof(x->retry_after);
	return v > 600 ? 600 : v;
}

/*
 * One GET of h's /v2/ over h->scheme: the curl code, x has the answer
 * (and the start of its body in x->errbody, for the caller to free).
 */
static CURLcode
ping_once(struct regconn *k, struct host *h, struct xfer *x,
    struct reg_result *res)
{
	char url[512];

	xfer_init(x, k->easy);
	x->req = "GET /v2/";
	snprintf(url, sizeof url, "%s://%s/v2/", h->scheme, h->name);
	if (xfer_setup(k, url, NULL, x, res) == NULL)
		return CURLE_FAILED_INIT;
	return xfer_perform(k, x);
}

/* What a finished ping means: 0 when h is a registry, else -1 with res. */
static int
ping_result(struct regconn *k, struct host *h, CURLcode rc, struct xfer *x,
    struct reg_result *res)
{
	struct challenge ch;

	if (rc == CURLE_FAILED_INIT)
		return -1;	/* res says why */
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		cause_set(res, REG_ABORTED, "cancelled");
		return -1;
	}
	if (rc != CURLE_OK)
		return cause_curl(k, res, rc, x);
	if (x->status == 429 || x->status >= 500) {
		/* there, but unwell: not a word on whether it is a registry */
		cause_set(res, REG_RETRY, "%s answered GET /v2/ with HTTP %ld",
		    h->name, x->status);
		res->retry_after = retry_after(x);
		return -1;
	}
	if (x->status != 200 && x->status != 401) {
		cause_set(res, REG_FATAL, "%s is not a registry (GET /v2/ "
		    "answered %ld)", h->name, x->status);
		return -1;
	}
	/* a challenge that will not do is reported if an API GET needs it */
	if (x->status == 401 && x->challenge[0] != '\0' &&
	    !x->challenge_long && auth_parse_challenge(x->challenge, &ch) == 0)
		host_learn(h, &ch);
	h->pinged = 1;
	return 0;
}

/*
 * Did a failed https probe meet a TLS server all the same: one whose
 * certificate we refused, or that sent an alert (say, for the client
 * certificate it wants)? Then the TLS error is the cause.
 */
static int
probe_met_tls(const struct regconn *k, CURLcode rc)
{
	return rc == CURLE_PEER_FAILED_VERIFICATION ||
	    rc == CURLE_SSL_CERTPROBLEM || strstr(k->errbuf, "alert") != NULL;
}

/*
 * Ask /v2/ once per host: is it there, does it speak the API, and which
 * auth does it want? An insecure registry that fails over https is tried
 * over http; a loopback one that answers plain http like a TLS server
 * (400, or nothing) is tried over https, and if no TLS server answers
 * there either, what plain http said is the cause.
 */
static int
ping(struct regconn *k, struct host *h, struct reg_result *res)
{
	struct xfer x, plain;
	char plain_err[CURL_ERROR_SIZE];
	CURLcode rc, plain_rc = CURLE_OK;
	int ret, tried_tls, probed = 0;

	pthread_mutex_lock(&h->ping_mu);
	if (h->pinged) {
		pthread_mutex_unlock(&h->ping_mu);
		return 0;
	}
	tried_tls = strcmp(h->scheme, "https") == 0;
	for (;;) {
		rc = ping_once(k, h, &x, res);
		if (rc == CURLE_FAILED_INIT || rc == CURLE_ABORTED_BY_CALLBACK)
			break;
		/* an insecure registry may speak plain HTTP only */
		if (rc != CURLE_OK && h->insecure &&
		    strcmp(h->scheme, "https") == 0) {
			buf_free(&x.errbody);
			snprintf(h->scheme, sizeof h->scheme, "http");
			continue;
		}
		if (!tried_tls && host_is_loopback(h->name) && (rc == CURLE_OK ?
		    x.status == 400 : rc == CURLE_GOT_NOTHING ||
		    rc == CURLE_RECV_ERROR)) {
			tried_tls = probed = 1;
			plain = x;
			plain_rc = rc;
			memcpy(plain_err, k->errbuf, sizeof plain_err);
			snprintf(h->scheme, sizeof h->scheme, "https");
			continue;
		}
		break;
	}
	if (probed && rc != CURLE_OK && rc != CURLE_ABORTED_BY_CALLBACK &&
	    rc != CURLE_FAILED_INIT && !probe_met_tls(k, rc)) {
		/* TLS did no better: plain http it stays, and its answer */
		buf_free(&x.errbody);
		x = plain;
		rc = plain_rc;
		memcpy(k->errbuf, plain_err, sizeof plain_err);
		snprintf(h->scheme, sizeof h->scheme, "http");
	} else if (probed)
		buf_free(&plain.errbody);
	ret = ping_result(k, h, rc, &x, res);
	buf_free(&x.errbody);
	pthread_mutex_unlock(&h->ping_mu);
	return ret;
}

/* Forget this hop's Authorization line, wiping it. */
static void
api_auth_clear(struct api *a)
{
	if (a->auth != NULL) {
		explicit_bzero(a->auth, strlen(a->auth));
		free(a->auth);
		a->auth = NULL;
	}
	a->fresh = 0;
}

/* Send this hop's GET: the curl code, with a->x holding the answer. */
static CURLcode
api_send(struct api *a, int to_origin)
{
	const struct reg_req *rq = a->rq;
	struct xfer *x = &a->x;
	char range[64];
	CURLcode rc;
	int i;

	curl_slist_free_all(a->hdrs);
	a->hdrs = NULL;
	if (rq->accept != NULL)
		a->hdrs = curl_slist_append(a->hdrs, rq->accept);
	/* credentials never leave the origin that asked for them */
	if (a->auth != NULL && to_origin)
		a->hdrs = curl_slist_append(a->hdrs, a->auth);
	for (i = 0; to_origin && i < a->e->nheader; i++) {
		char *line = xasprintf("%s: %s", a->e->header[i].name,
		    a->e->header[i].value);
		a->hdrs = curl_slist_append(a->hdrs, line);
		free(line);
	}
	buf_free(&x->errbody);
	xfer_init(x, a->k->easy);
	x->body = rq->body;
	x->write = rq->write;
	x->ctx = rq->ctx;
	x->size = rq->size;
	x->offset = rq->offset;
	x->end = rq->end;
	x->limit_rate = rq->limit_rate;
	x->redirected = !to_origin;
	x->req = to_origin ? rq->what : "redirect target";
	if (rq->body != NULL) {
		buf_free(rq->body);
		buf_init(rq->body, MANIFEST_MAX);
	}
	if (xfer_setup(a->k, a->url, a->hdrs, x, a->res) == NULL)
		return CURLE_FAILED_INIT;
	if (rq->end > 0) {
		snprintf(range, sizeof range, "%llu-%llu",
		    (unsigned long long)rq->offset,
		    (unsigned long long)rq->end - 1);
		curl_easy_setopt(a->k->easy, CURLOPT_RANGE, range);
	} else if (rq->offset > 0) {
		snprintf(range, sizeof range, "%llu-",
		    (unsigned long long)rq->offset);
		curl_easy_setopt(a->k->easy, CURLOPT_RANGE, range);
	}
	rc = xfer_perform(a->k, x);
	a->res->status = x->status;
	return rc;
}

/*
 * A 401 from the origin. Learn its challenge, forget a cached token that
 * was refused, and try once more - but a 401 to fresh credentials is final.
 */
static enum hop_next
api_unauthorized(struct api *a)
{
	struct xfer *x = &a->x;
	struct challenge ch;
	int have = x->challenge[0] != '\0';

	if (have && x->challenge_long) {
		cause_set(a->res, REG_FATAL, "%s sent a WWW-Authenticate "
		    "header longer than %d bytes", a->h->name,
		    CHALLENGE_MAX - 1);
		return HOP_FAILED;
	}
	if (have && auth_parse_challenge(x->challenge, &ch) != 0) {
		if (ch.toolong[0] != '\0')
			cause_set(a->res, REG_FATAL, "%s: the %s of its "
			    "WWW-Authenticate challenge is longer than %zu "
			    "bytes", a->h->name, ch.toolong, ch.toolong_max);
		else
			cause_set(a->res, REG_FATAL, "%s: unparseable "
			    "WWW-Authenticate challenge", a->h->name);
		return HOP_FAILED;
	}
	if (!have || a->rounds > 0 || a->fresh ||
	    (strcasecmp(ch.scheme, "Bearer") != 0 &&
	    strcasecmp(ch.scheme, "Basic") != 0)) {
		token_refused(a->h, a->e->repository, a->auth, a->res,
		    &x->errbody);
		return HOP_FAILED;
	}
	host_learn(a->h, &ch);
	if (a->auth != NULL)
		token_drop(a->k->c, a->h, a->scope, a->auth);
	api_auth_clear(a);
	if (token_prepare(a->k, a->h, a->scope, &a->auth, &a->fresh,
	    a->res) != 0)
		return HOP_FAILED;
	if (a->auth == NULL) {
		token_refused(a->h, a->e->repository, NULL, a->res,
		    &x->errbody);
		return HOP_FAILED;
	}
	a->rounds++;
	return HOP_AUTH_AGAIN;
}

/* A 3xx: the next hop's URL into a->url. */
static enum hop_next
api_redirect(struct api *a)
{
	const struct xfer *x = &a->x;
	const char *who = x->host->name;
	char *next;

	if (x->location_long) {
		cause_set(a->res, REG_FATAL, "%s: redirect (%ld) to a Location "
		    "longer than %d bytes", who, x->status, LOCATION_MAX - 1);
		return HOP_FAILED;
	}
	if (x->location[0] == '\0') {
		cause_set(a->res, REG_FATAL, "%s: redirect (%ld) without a "
		    "Location", who, x->status);
		return HOP_FAILED;
	}
	next = xfer_url_resolve(a->url, x->location);
	if (next == NULL) {
		cause_set(a->res, REG_FATAL, "%s: redirect (%ld) to a bad "
		    "Location '%s'", who, x->status, x->location);
		return HOP_FAILED;
	}
	free(a->url);
	a->url = next;
	return HOP_REDIRECT;
}

/* A manifest answer's ratelimit-* headers, to whoever wants them. */
static void
api_ratelimit(struct api *a)
{
	struct reg_note n;

	memset(&n, 0, sizeof n);
	if (a->x.rl_limit[0] == '\0' || a->x.rl_remaining[0] == '\0' ||
	    reg_ratelimit_parse(a->x.rl_limit, &n.limit, &n.window) != 0 ||
	    reg_ratelimit_parse(a->x.rl_remaining, &n.remaining, NULL) != 0)
		return;
	n.kind = REG_NOTE_RATELIMIT;
	n.is_mirror = a->e->is_mirror;
	n.endpoint = a->e->is_mirror ? a->e->host : a->rq->ref->domain;
	mirror_note(a->k, &n);
}

/* "6h", "45m", "30s": a window or a wait, roughly. */
static void
fmt_wait(char *out, size_t n, double s)
{
	if (s >= 3600 && (long)s % 3600 == 0)
		snprintf(out, n, "%ldh", (long)s / 3600);
	else if (s >= 3600)
		snprintf(out, n, "%ldh%02ldm", (long)s / 3600,
		    ((long)s % 3600) / 60);
	else if (s >= 60)
		snprintf(out, n, "%ldm", ((long)s + 59) / 60);
	else
		snprintf(out, n, "%lds", (long)s);
}

/*
 * A 429 to a manifest request saying toomanyrequests: the pull rate limit
 * is used up, and asking again before the window allows it only counts
 * against it. Final, with when it will do: Retry-After, else the window
 * of ratelimit-limit (the longest the wait can be).
 */
static void
api_too_many(struct api *a)
{
	const struct xfer *x = &a->x;
	const char *who = a->e->is_mirror ? a->e->host : a->rq->ref->domain;
	long limit = 0, window = 0;
	/* Retry-After as said: the 600 s cap is for waiting, not telling */
	double said = x->retry_after[0] >= '0' && x->retry_after[0] <= '9' ?
	    atof(x->retry_after) : 0, wait = said;
	char when[32], per[32] = "", at[32] = "", lim[96] = "";
	time_t t;
	struct tm tm;

	if (strcasestr(a->res->cause, "toomanyrequests") == NULL &&
	    strcasestr(a->res->cause, "too many requests") == NULL &&
	    memmem(x->errbody.data ? x->errbody.data : "", x->errbody.len,
	    "TOOMANYREQUESTS", 15) == NULL)
		return;
	if (x->rl_limit[0] != '\0' &&
	    reg_ratelimit_parse(x->rl_limit, &limit, &window) == 0 &&
	    window > 0) {
		fmt_wait(per, sizeof per, (double)window);
		snprintf(lim, sizeof lim, " (%ld per %s)", limit, per);
	}
	if (wait <= 0)
		wait = (double)window;
	if (wait > 0) {
		fmt_wait(when, sizeof when, wait);
		t = time(NULL) + (time_t)wait;
		if (gmtime_r(&t, &tm) != NULL)
			strftime(at, sizeof at, "%H:%M UTC", &tm);
		cause_set(a->res, REG_FATAL, "toomanyrequests: %s's pull rate "
		    "limit%s is used up; the window allows this pull again in "
		    "%s%s%s%s%s", who, lim, said > 0 ? "" : "at most ", when,
		    at[0] ? " (by " : "", at, at[0] ? ")" : "");
	} else
		cause_set(a->res, REG_FATAL, "toomanyrequests: %s's pull rate "
		    "limit is used up, and it did not say until when "
		    "(no Retry-After, no ratelimit-limit window)", who);
}

/* One hop: send, then see what the answer asks for next. */
static enum hop_next
api_hop(struct api *a, int keep_auth)
{
	struct xfer *x = &a->x;
	int to_origin = xfer_same_origin(a->url, a->origin_url);
	CURLcode rc;

	if (!keep_auth) {
		api_auth_clear(a);
		if (to_origin && token_prepare(a->k, a->h, a->scope, &a->auth,
		    &a->fresh, a->res) != 0)
			return HOP_FAILED;
	}
	rc = api_send(a, to_origin);
	if (rc == CURLE_FAILED_INIT)
		return HOP_FAILED;	/* res says why */
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		cause_set(a->res, REG_ABORTED, "cancelled");
		return HOP_FAILED;
	}
	if (rc != CURLE_OK) {
		cause_curl(a->k, a->res, rc, x);
		return HOP_FAILED;
	}
	if (x->status == 401 && to_origin)
		return api_unauthorized(a);
	if (x->status >= 300 && x->status < 400)
		return api_redirect(a);
	if (to_origin && a->rq->what != NULL)
		api_ratelimit(a);
	if (x->status < 200 || x->status > 299) {
		cause_http(a->res, x->status, &x->errbody);
		a->res->retry_after = retry_after(x);
		if (x->status == 429 && a->rq->what != NULL)
			api_too_many(a);
		return HOP_FAILED;
	}
	if (a->rq->ctype != NULL) {
		if (x->ctype_long || strlen(x->ctype) >= a->rq->ctype_n) {
			cause_set(a->res, REG_FATAL, "%s sent a Content-Type "
			    "longer than %zu bytes", x->host->name,
			    a->rq->ctype_n - 1);
			return HOP_FAILED;
		}
		snprintf(a->rq->ctype, a->rq->ctype_n, "%s", x->ctype);
	}
	return HOP_DONE;
}

/*
 * A GET against endpoint e's API path, with auth and redirects. Either
 * rq->body (capped) or rq->write receives the answer.
 */
int
api_get(struct regconn *k, const struct reg_req *rq,
    const struct mirror_endpoint *e, struct reg_result *res,
    uint64_t *delivered)
{
	struct api a;
	enum hop_next next = HOP_FAILED;
	char *tail;
	int hop;

	memset(res, 0, sizeof *res);
	memset(&a, 0, sizeof a);
	*delivered = 0;
	a.k = k;
	a.rq = rq;
	a.e = e;
	a.res = res;
	a.h = host_get(k->c, e->host);
	mirror_host_bind(k->c, a.h, e);
	if (e->default_scheme && ping(k, a.h, res) != 0)
		return -1;
	xfer_init(&a.x, k->easy);
	a.scope = xasprintf("repository:%s:pull", e->repository);
	tail = xasprintf("/%s", rq->path);
	a.origin_url = mirror_url(e, e->default_scheme ? a.h->scheme : NULL,
	    tail);
	free(tail);
	a.url = xstrdup(a.origin_url);
	/* an auth round is not a redirect: it does not count as a hop */
	for (hop = 0; hop <= MAX_HOPS; hop += next == HOP_REDIRECT) {
		next = api_hop(&a, next == HOP_AUTH_AGAIN);
		if (next == HOP_DONE || next == HOP_FAILED)
			break;
	}
	if (hop > MAX_HOPS)
		cause_set(res, REG_FATAL, "%s: more than %d redirects",
		    a.h->name, MAX_HOPS);
	*delivered = a.x.delivered;
	buf_free(&a.x.errbody);
	curl_slist_free_all(a.hdrs);
	api_auth_clear(&a);
	free(a.url);
	free(a.origin_url);
	free(a.scope);
	return next == HOP_DONE ? 0 : -1;
}

int
reg_get_manifest(struct regconn *k, const struct ref *r, const char *reference,
    struct buf *body, char *ctype, size_t ctype_n, reg_check_fn check,
    void *ctx, struct reg_result *res)
{
	struct reg_req rq = {
		.ref = r,
		.accept = "Accept: "
		    "application/vnd.oci.image.index.v1+json, "
		    "application/vnd.oci.image.manifest.v1+json, "
		    "application/vnd.docker.distribution.manifest.list.v2+json, "
		    "application/vnd.docker.distribution.manifest.v2+json",
		.what = "manifest",
		.body = body,
		.ctype = ctype,
		.ctype_n = ctype_n,
	};
	char *path = xasprintf("manifests/%s", reference);
	int ret;

	rq.path = path;
	rq.resolve = strncmp(reference, "sha256:", 7) != 0;
	k->check = check;
	k->ctx = ctx;
	ret = mirror_get(k, &rq, res);
	if (ret != 0 && body->overflow)
		cause_set(res, REG_FATAL, "manifest is larger than 4 MiB");
	k->check = NULL;
	k->note = NULL;
	free(path);
	return ret;
}

static int
get_blob(struct regconn *k, struct reg_req *rq, const char *digest,
    reg_check_fn check, struct reg_result *res)
{
	char *path = xasprintf("blobs/%s", digest);
	int ret;

	rq->path = path;
	k->check = check;
	k->ctx = rq->ctx;
	ret = mirror_get(k, rq, res);
	k->check = NULL;
	k->note = NULL;
	free(path);
	return ret;
}

int
reg_get_blob_range(struct regconn *k, const struct ref *r,
    const char *digest, uint64_t size, uint64_t offset, uint64_t end,
    reg_write_fn write, reg_check_fn check, void *ctx,
    struct reg_result *res)
{
	struct reg_req rq = {
		.ref = r,
		.write = write,
		.ctx = ctx,
		.size = size,
		.offset = offset,
		.end = end,
	};

	if (end <= offset || end > size) {
		memset(res, 0, sizeof *res);
		cause_set(res, REG_FATAL, "bad range %llu-%llu of %llu bytes",
		    (unsigned long long)offset, (unsigned long long)end,
		    (unsigned long long)size);
		return -1;
	}
	return get_blob(k, &rq, digest, check, res);
}

int
reg_get_blob(struct regconn *k, const struct ref *r, const char *digest,
    uint64_t size, uint64_t offset, uint64_t limit_rate, reg_write_fn write,
    reg_check_fn check, void *ctx, struct reg_result *res)
{
	struct reg_req rq = {
		.ref = r,
		.write = write,
		.ctx = ctx,
		.size = size,
		.offset = offset,
		.limit_rate = limit_rate,
	};

	return get_blob(k, &rq, digest, check, res);
}
