/*
 * registry.c - talks the OCI distribution API over libcurl.
 *
 * Requests run on a per-thread easy handle driven by a per-thread multi
 * handle, so a transfer can be stopped within 100 ms by its check callback.
 * Redirects are followed here, not by curl, so that Authorization only ever
 * goes back to the origin (scheme, host and port) that asked for it.
 */
#include "registry.h"
#include "auth.h"
#include "options.h"
#include "ref.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ERRBODY_MAX	(64u << 10)
#define TOKEN_MAX	(64u << 10)
#define MAX_HOPS	5
#define MAX_TOKENS	64

struct token {
	char scope[512];
	char *value;		/* "Bearer xyz" or "Basic xyz" */
	double expires;
};

struct host {
	char name[256];		/* host[:port] */
	char scheme[8];		/* "http" or "https" */
	int insecure;		/* --insecure-registry: no TLS verification */
	int pinged;
	struct token tokens[MAX_TOKENS];
	int ntokens;
	struct host *next;
};

struct regclient {
	const struct options *opt;
	CURLSH *share;
	pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
	pthread_mutex_t mu;	/* hosts and tokens */
	pthread_mutex_t ping_mu;
	struct host *hosts;
};

struct regconn {
	struct regclient *c;
	CURL *easy;
	CURLM *multi;
};

/* What one HTTP exchange collects. */
struct xfer {
	CURL *easy;
	long status;		/* known once headers are in */
	char ctype[128];
	char challenge[1024];
	char content_range[128];
	char retry_after[32];
	/* body routing */
	struct buf *body;	/* manifest or token: capped buffer */
	struct buf errbody;	/* non-2xx answers */
	reg_write_fn write;
	void *ctx;
	uint64_t offset;	/* Range asked for */
	uint64_t skip;		/* bytes of a 200 still to drop */
	int decided;		/* body routing chosen */
	int range_broken;
	int write_failed;
	int local_errno;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void
share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
	struct regclient *c = u;
	(void)h;
	(void)a;
	pthread_mutex_lock(&c->share_mu[d]);
}

static void
share_unlock(CURL *h, curl_lock_data d, void *u)
{
	struct regclient *c = u;
	(void)h;
	pthread_mutex_unlock(&c->share_mu[d]);
}

struct regclient *
reg_new(const struct options *o)
{
	struct regclient *c = xcalloc(1, sizeof *c);
	int i;

	pthread_once(&curl_once, curl_init_once);
	c->opt = o;
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_mu[i], NULL);
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->ping_mu, NULL);
	c->share = curl_share_init();
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	return c;
}

void
reg_free(struct regclient *c)
{
	struct host *h, *next;
	int i;

	if (c == NULL)
		return;
	curl_share_cleanup(c->share);
	for (h = c->hosts; h != NULL; h = next) {
		next = h->next;
		for (i = 0; i < h->ntokens; i++)
			free(h->tokens[i].value);
		free(h);
	}
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_mu[i]);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->ping_mu);
	free(c);
}

struct regconn *
reg_conn_new(struct regclient *c)
{
	struct regconn *k = xcalloc(1, sizeof *k);

	k->c = c;
	k->easy = curl_easy_init();
	k->multi = curl_multi_init();
	if (k->easy == NULL || k->multi == NULL)
		abort();
	return k;
}

void
reg_conn_free(struct regconn *k)
{
	if (k == NULL)
		return;
	curl_multi_cleanup(k->multi);
	curl_easy_cleanup(k->easy);
	free(k);
}

const char *
reg_host(const struct ref *r)
{
	return ref_registry_host(r);
}

/* Loopback hosts speak plain HTTP, as docker allows. */
static int
host_is_loopback(const char *name)
{
	char h[256];
	const char *end;
	size_t n;

	if (name[0] == '[') {
		end = strchr(name, ']');
		if (end == NULL)
			return 0;
		n = end - name - 1;
		if (n >= sizeof h)
			return 0;
		memcpy(h, name + 1, n);
		h[n] = '\0';
		return strcmp(h, "::1") == 0;
	}
	end = strchr(name, ':');
	n = end ? (size_t)(end - name) : strlen(name);
	if (n >= sizeof h)
		return 0;
	memcpy(h, name, n);
	h[n] = '\0';
	return strcmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0;
}

static int
host_is_insecure(const struct options *o, const char *name)
{
	int i;

	for (i = 0; i < o->ninsecure; i++) {
		const char *s = o->insecure[i];
		size_t n = strlen(s);
		if (strcmp(s, name) == 0)
			return 1;
		/* "HOST" covers every port of HOST */
		if (strchr(s, ':') == NULL && strncmp(name, s, n) == 0 &&
		    name[n] == ':')
			return 1;
	}
	return 0;
}

static struct host *
host_get(struct regclient *c, const char *name)
{
	struct host *h;

	pthread_mutex_lock(&c->mu);
	for (h = c->hosts; h != NULL; h = h->next)
		if (strcmp(h->name, name) == 0)
			break;
	if (h == NULL) {
		h = xcalloc(1, sizeof *h);
		snprintf(h->name, sizeof h->name, "%s", name);
		h->insecure = host_is_insecure(c->opt, name);
		snprintf(h->scheme, sizeof h->scheme, "%s",
		    host_is_loopback(name) ? "http" : "https");
		h->next = c->hosts;
		c->hosts = h;
	}
	pthread_mutex_unlock(&c->mu);
	return h;
}

static char *
token_lookup(struct regclient *c, struct host *h, const char *scope)
{
	char *v = NULL;
	double now = now_mono();
	int i;

	pthread_mutex_lock(&c->mu);
	for (i = 0; i < h->ntokens; i++)
		if (strcmp(h->tokens[i].scope, scope) == 0 &&
		    h->tokens[i].expires > now) {
			v = xstrdup(h->tokens[i].value);
			break;
		}
	pthread_mutex_unlock(&c->mu);
	return v;
}

static void
token_store(struct regclient *c, struct host *h, const char *scope,
    const char *value, double ttl)
{
	struct token *t = NULL;
	int i;

	pthread_mutex_lock(&c->mu);
	for (i = 0; i < h->ntokens; i++)
		if (strcmp(h->tokens[i].scope, scope) == 0)
			t = &h->tokens[i];
	if (t == NULL) {
		if (h->ntokens == MAX_TOKENS) {
			free(h->tokens[0].value);
			memmove(&h->tokens[0], &h->tokens[1],
			    (MAX_TOKENS - 1) * sizeof h->tokens[0]);
			h->ntokens--;
		}
		t = &h->tokens[h->ntokens++];
		memset(t, 0, sizeof *t);
	}
	snprintf(t->scope, sizeof t->scope, "%s", scope);
	free(t->value);
	t->value = xstrdup(value);
	t->expires = now_mono() + ttl;
	pthread_mutex_unlock(&c->mu);
}

static void
token_drop(struct regclient *c, struct host *h, const char *scope)
{
	int i;

	pthread_mutex_lock(&c->mu);
	for (i = 0; i < h->ntokens; i++)
		if (strcmp(h->tokens[i].scope, scope) == 0)
			h->tokens[i].expires = 0;
	pthread_mutex_unlock(&c->mu);
}

static void
copy_header_value(char *dst, size_t n, const char *v, size_t len)
{
	while (len > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' ||
	    v[len - 1] == ' '))
		len--;
	if (len >= n)
		len = n - 1;
	memcpy(dst, v, len);
	dst[len] = '\0';
}

static size_t
header_cb(char *p, size_t size, size_t nmemb, void *u)
{
	struct xfer *x = u;
	size_t len = size * nmemb;
	const char *colon;
	size_t klen;

	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* a new response (after 100-continue): forget the old one */
		x->ctype[0] = x->challenge[0] = x->content_range[0] = '\0';
		x->retry_after[0] = '\0';
		return len;
	}
	colon = memchr(p, ':', len);
	if (colon == NULL)
		return len;
	klen = colon - p;
#define IS(name) (klen == sizeof(name) - 1 && strncasecmp(p, name, klen) == 0)
	if (IS("Content-Type"))
		copy_header_value(x->ctype, sizeof x->ctype, colon + 1,
		    len - klen - 1);
	else if (IS("Content-Range"))
		copy_header_value(x->content_range, sizeof x->content_range,
		    colon + 1, len - klen - 1);
	else if (IS("Retry-After"))
		copy_header_value(x->retry_after, sizeof x->retry_after,
		    colon + 1, len - klen - 1);
	else if (IS("WWW-Authenticate")) {
		/* prefer a Bearer challenge when several are offered */
		if (x->challenge[0] == '\0' ||
		    strncasecmp(x->challenge, "Bearer", 6) != 0)
			copy_header_value(x->challenge, sizeof x->challenge,
			    colon + 1, len - klen - 1);
	}
#undef IS
	return len;
}

long long
reg_content_range_start(const char *s)
{
	char *end;
	long long v;

	if (strncasecmp(s, "bytes", 5) != 0)
		return -1;
	s += 5;
	while (*s == ' ')
		s++;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '-')
		return -1;
	return v;
}

static size_t
write_cb(char *p, size_t size, size_t nmemb, void *u)
{
	struct xfer *x = u;
	size_t len = size * nmemb;

	if (!x->decided) {
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
		x->decided = 1;
		if (x->status == 206 && x->write != NULL) {
			long long start = reg_content_range_start(x->content_range);
			if (start < 0 || (uint64_t)start != x->offset) {
				x->range_broken = 1;
				return 0;	/* never splice wrong bytes */
			}
		} else if (x->status == 200 && x->write != NULL)
			x->skip = x->offset;
	}
	if (x->status < 200 || x->status > 299) {
		/* keep the start of an error body for its message */
		size_t room = ERRBODY_MAX - x->errbody.len;
		if (buf_append(&x->errbody, p, len < room ? len : room) < 0)
			return 0;
		return len;
	}
	if (x->body != NULL)
		return buf_append(x->body, p, len) == 0 ? len : 0;
	if (x->write != NULL) {
		if (x->skip > 0) {
			size_t drop = x->skip < len ? (size_t)x->skip : len;
			x->skip -= drop;
			p += drop;
			if (drop == len)
				return len;
			len -= drop;
			if (x->write(x->ctx, p, len) != 0) {
				x->write_failed = 1;
				x->local_errno = errno;
				return 0;
			}
			return len + drop;
		}
		if (x->write(x->ctx, p, len) != 0) {
			x->write_failed = 1;
			x->local_errno = errno;
			return 0;
		}
	}
	return len;
}

static void
set_cause(struct reg_result *res, enum reg_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_cause(struct reg_result *res, enum reg_err err, const char *fmt, ...)
{
	va_list ap;
	char raw[512];

	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	sanitize(res->cause, sizeof res->cause, raw);
	res->err = err;
}

/* "manifest unknown (404)" from a registry error body, else "HTTP 404". */
static void
http_error(struct reg_result *res, long status, struct buf *body)
{
	enum reg_err err = (status == 408 || status == 429 || status >= 500)
	    ? REG_RETRY : REG_FATAL;
	json_t *root = NULL, *errs, *e, *msg, *code;
	json_error_t je;

	res->status = status;
	if (body->len > 0)
		root = json_loadb(body->data, body->len, 0, &je);
	errs = root ? json_object_get(root, "errors") : NULL;
	e = json_is_array(errs) ? json_array_get(errs, 0) : NULL;
	msg = e ? json_object_get(e, "message") : NULL;
	code = e ? json_object_get(e, "code") : NULL;
	if (json_is_string(msg) && json_string_length(msg) > 0)
		set_cause(res, err, "%s (%ld)", json_string_value(msg), status);
	else if (json_is_string(code))
		set_cause(res, err, "%s (%ld)", json_string_value(code), status);
	else if (status == 401)
		set_cause(res, err, "unauthorized (401)");
	else if (status == 403)
		set_cause(res, err, "denied (403)");
	else if (status == 404)
		set_cause(res, err, "not found (404)");
	else
		set_cause(res, err, "HTTP %ld", status);
	json_decref(root);
}

static enum reg_err
curl_err_kind(CURLcode rc)
{
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_TOO_MANY_REDIRECTS:
		return REG_FATAL;
	default:
		return REG_RETRY;
	}
}

/* Same scheme, host and port? Credentials may follow only then. */
static int
same_origin(const char *a, const char *b)
{
	CURLU *ua = curl_url(), *ub = curl_url();
	char *sa = NULL, *sb = NULL, *ha = NULL, *hb = NULL, *pa = NULL, *pb = NULL;
	int same = 0;

	if (curl_url_set(ua, CURLUPART_URL, a, 0) == CURLUE_OK &&
	    curl_url_set(ub, CURLUPART_URL, b, 0) == CURLUE_OK &&
	    curl_url_get(ua, CURLUPART_SCHEME, &sa, 0) == CURLUE_OK &&
	    curl_url_get(ub, CURLUPART_SCHEME, &sb, 0) == CURLUE_OK &&
	    curl_url_get(ua, CURLUPART_HOST, &ha, 0) == CURLUE_OK &&
	    curl_url_get(ub, CURLUPART_HOST, &hb, 0) == CURLUE_OK &&
	    curl_url_get(ua, CURLUPART_PORT, &pa, CURLU_DEFAULT_PORT) == CURLUE_OK &&
	    curl_url_get(ub, CURLUPART_PORT, &pb, CURLU_DEFAULT_PORT) == CURLUE_OK)
		same = strcasecmp(sa, sb) == 0 && strcasecmp(ha, hb) == 0 &&
		    strcmp(pa, pb) == 0;
	curl_free(sa);
	curl_free(sb);
	curl_free(ha);
	curl_free(hb);
	curl_free(pa);
	curl_free(pb);
	curl_url_cleanup(ua);
	curl_url_cleanup(ub);
	return same;
}

/*
 * Run one request on k->easy through k->multi. Returns the curl code, or
 * CURLE_ABORTED_BY_CALLBACK when check asked to stop.
 */
static CURLcode
perform(struct regconn *k, reg_check_fn check, void *ctx)
{
	CURLcode rc = CURLE_OK;
	CURLMsg *m;
	int running = 1, left, aborted = 0;

	curl_multi_add_handle(k->multi, k->easy);
	for (;;) {
		if (curl_multi_perform(k->multi, &running) != CURLM_OK) {
			rc = CURLE_RECV_ERROR;
			break;
		}
		if (!running)
			break;
		if (check != NULL && check(ctx)) {
			aborted = 1;
			break;
		}
		curl_multi_poll(k->multi, NULL, 0, 100, NULL);
	}
	while ((m = curl_multi_info_read(k->multi, &left)) != NULL)
		if (m->msg == CURLMSG_DONE && m->easy_handle == k->easy)
			rc = m->data.result;
	curl_multi_remove_handle(k->multi, k->easy);
	return aborted ? CURLE_ABORTED_BY_CALLBACK : rc;
}

static void
setup_easy(struct regconn *k, struct host *h, const char *url,
    struct curl_slist *hdrs, struct xfer *x, uint64_t limit_rate)
{
	CURL *e = k->easy;
	const struct options *o = k->c->opt;

	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_SHARE, k->c->share);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "pulltop/" PULLTOP_VERSION);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 20L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	/* with a rate cap, small reads keep the pacing in fetch.c smooth */
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, limit_rate == 0 ? 256L * 1024 :
	    limit_rate / 8 < 1024 ? 1024L : limit_rate / 8 > 256 * 1024 ?
	    256L * 1024 : (long)(limit_rate / 8));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	if (o->cacert != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, o->cacert);
	if (h != NULL && h->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

static void
xfer_init(struct xfer *x, CURL *e)
{
	memset(x, 0, sizeof *x);
	x->easy = e;
	buf_init(&x->errbody, ERRBODY_MAX);
}

static int
fail_curl(struct reg_result *res, CURLcode rc, const char *host,
    const struct xfer *x)
{
	if (rc == CURLE_PEER_FAILED_VERIFICATION)
		set_cause(res, REG_FATAL, "TLS certificate of %s could not be "
		    "verified (use --cacert FILE, or put its CA in "
		    "/etc/docker/certs.d/%s/ca.crt)", host, host);
	else if (rc == CURLE_COULDNT_CONNECT)
		set_cause(res, REG_RETRY, "cannot connect to %s: connection "
		    "refused", host);
	else if (rc == CURLE_COULDNT_RESOLVE_HOST)
		set_cause(res, REG_RETRY, "cannot resolve host %s", host);
	else if (rc == CURLE_WRITE_ERROR && x->range_broken)
		set_cause(res, REG_RETRY, "server answered a Range request "
		    "with Content-Range '%s'", x->content_range);
	else if (rc == CURLE_WRITE_ERROR && x->write_failed) {
		set_cause(res, REG_LOCAL, "%s", strerror(x->local_errno));
		res->local_errno = x->local_errno;
	} else if (rc == CURLE_WRITE_ERROR && x->body != NULL &&
	    x->body->overflow)
		set_cause(res, REG_FATAL, "answer too large (over %zu bytes)",
		    x->body->max);
	else
		set_cause(res, curl_err_kind(rc), "%s: %s", host,
		    curl_easy_strerror(rc));
	res->range_broken = x->range_broken;
	return -1;
}

/* Ask /v2/ once per host: is it there, and does it speak the API? */
static int
ping(struct regconn *k, struct host *h, reg_check_fn check, void *ctx,
    struct reg_result *res)
{
	struct xfer x;
	struct buf body;
	char url[512];
	CURLcode rc;
	int ret = 0;

	pthread_mutex_lock(&k->c->ping_mu);
	if (h->pinged) {
		pthread_mutex_unlock(&k->c->ping_mu);
		return 0;
	}
	for (;;) {
		xfer_init(&x, k->easy);
		buf_init(&body, ERRBODY_MAX);
		x.body = &body;
		snprintf(url, sizeof url, "%s://%s/v2/", h->scheme, h->name);
		setup_easy(k, h, url, NULL, &x, 0);
		rc = perform(k, check, ctx);
		curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &x.status);
		buf_free(&body);
		buf_free(&x.errbody);
		/* an insecure registry may speak plain HTTP only */
		if (rc != CURLE_OK && h->insecure && strcmp(h->scheme, "https") == 0 &&
		    rc != CURLE_ABORTED_BY_CALLBACK) {
			snprintf(h->scheme, sizeof h->scheme, "http");
			continue;
		}
		break;
	}
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		set_cause(res, REG_ABORTED, "cancelled");
		ret = -1;
	} else if (rc != CURLE_OK)
		ret = fail_curl(res, rc, h->name, &x);
	else if (x.status != 200 && x.status != 401) {
		set_cause(res, x.status >= 500 ? REG_RETRY : REG_FATAL,
		    "%s is not a registry (GET /v2/ answered %ld)", h->name,
		    x.status);
		ret = -1;
	} else
		h->pinged = 1;
	pthread_mutex_unlock(&k->c->ping_mu);
	return ret;
}

/* Fetch a bearer token for scope from the realm in challenge ch. */
static int
fetch_token(struct regconn *k, struct host *h, const struct challenge *ch,
    const char *scope, reg_check_fn check, void *ctx, struct reg_result *res)
{
	struct xfer x;
	struct buf body;
	char *url, *svc, *sc, *auth;
	json_t *root, *tok, *exp;
	json_error_t je;
	CURLcode rc;
	double ttl = 60;
	int ret = -1;

	if (strncmp(ch->realm, "https://", 8) != 0 &&
	    strncmp(ch->realm, "http://", 7) != 0) {
		set_cause(res, REG_FATAL, "%s: bad token realm '%s'", h->name,
		    ch->realm);
		return -1;
	}
	svc = curl_easy_escape(k->easy, ch->service, 0);
	sc = curl_easy_escape(k->easy, ch->scope[0] ? ch->scope : scope, 0);
	url = xasprintf("%s%sservice=%s&scope=%s", ch->realm,
	    strchr(ch->realm, '?') ? "&" : "?", svc, sc);
	curl_free(svc);
	curl_free(sc);

	xfer_init(&x, k->easy);
	buf_init(&body, TOKEN_MAX);
	x.body = &body;
	setup_easy(k, h, url, NULL, &x, 0);
	if (k->c->opt->creds != NULL) {
		curl_easy_setopt(k->easy, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(k->easy, CURLOPT_USERPWD, k->c->opt->creds);
	}
	rc = perform(k, check, ctx);
	curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &x.status);
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		set_cause(res, REG_ABORTED, "cancelled");
	else if (rc != CURLE_OK)
		fail_curl(res, rc, "token server", &x);
	else if (x.status != 200) {
		http_error(res, x.status, &x.errbody);
		if (x.status == 401 || x.status == 403)
			res->err = REG_FATAL;
	} else if ((root = json_loadb(body.data ? body.data : "", body.len, 0,
	    &je)) == NULL)
		set_cause(res, REG_RETRY, "token server answered something "
		    "that is not JSON");
	else {
		tok = json_object_get(root, "token");
		if (!json_is_string(tok) || json_string_length(tok) == 0)
			tok = json_object_get(root, "access_token");
		exp = json_object_get(root, "expires_in");
		if (json_is_integer(exp) && json_integer_value(exp) > 0)
			ttl = (double)json_integer_value(exp);
		if (json_is_string(tok) && json_string_length(tok) > 0 &&
		    strpbrk(json_string_value(tok), "\r\n") == NULL) {
			auth = xasprintf("Authorization: Bearer %s",
			    json_string_value(tok));
			token_store(k->c, h, scope, auth,
			    ttl > 20 ? ttl - 10 : ttl / 2);
			free(auth);
			ret = 0;
		} else
			set_cause(res, REG_FATAL, "token server answered "
			    "without a token");
		json_decref(root);
	}
	buf_free(&body);
	buf_free(&x.errbody);
	free(url);
	return ret;
}

/*
 * A GET against the registry API path, with auth and redirects. Either body
 * (capped) or write receives the answer.
 */
static int
api_get(struct regconn *k, const struct ref *r, const char *path,
    const char *accept, struct buf *body, char *ctype, size_t ctype_n,
    uint64_t offset, uint64_t limit_rate, reg_write_fn write,
    reg_check_fn check, void *ctx, struct reg_result *res)
{
	struct host *h = host_get(k->c, reg_host(r));
	struct curl_slist *hdrs = NULL;
	struct xfer x;
	char *origin_url, *url, *scope, *auth = NULL, *next;
	char range[64];
	int hop, authed = 0, ret = -1;
	CURLcode rc;

	memset(res, 0, sizeof *res);
	if (ping(k, h, check, ctx, res) != 0)
		return -1;
	scope = xasprintf("repository:%s:pull", r->path);
	origin_url = xasprintf("%s://%s/v2/%s/%s", h->scheme, h->name, r->path,
	    path);
	url = xstrdup(origin_url);
	for (hop = 0; hop <= MAX_HOPS; hop++) {
		int to_origin = same_origin(url, origin_url);

		free(auth);
		auth = to_origin ? token_lookup(k->c, h, scope) : NULL;
		curl_slist_free_all(hdrs);
		hdrs = NULL;
		if (accept != NULL)
			hdrs = curl_slist_append(hdrs, accept);
		if (auth != NULL)
			hdrs = curl_slist_append(hdrs, auth);
		xfer_init(&x, k->easy);
		x.body = body;
		x.write = write;
		x.ctx = ctx;
		x.offset = offset;
		if (body != NULL) {
			buf_free(body);
			buf_init(body, MANIFEST_MAX);
		}
		setup_easy(k, h, url, hdrs, &x, limit_rate);
		if (offset > 0) {
			snprintf(range, sizeof range, "%llu-",
			    (unsigned long long)offset);
			curl_easy_setopt(k->easy, CURLOPT_RANGE, range);
		}
		rc = perform(k, check, ctx);
		curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &x.status);
		res->status = x.status;
		if (rc == CURLE_ABORTED_BY_CALLBACK) {
			set_cause(res, REG_ABORTED, "cancelled");
			break;
		}
		if (rc != CURLE_OK) {
			fail_curl(res, rc, h->name, &x);
			break;
		}
		if (x.status == 401 && to_origin && authed < 2 &&
		    x.challenge[0] != '\0') {
			struct challenge ch;
			if (auth_parse_challenge(x.challenge, &ch) != 0) {
				set_cause(res, REG_FATAL, "%s: unparseable "
				    "WWW-Authenticate challenge", h->name);
				break;
			}
			if (strcasecmp(ch.scheme, "Bearer") == 0) {
				if (auth != NULL)
					token_drop(k->c, h, scope);
				if (fetch_token(k, h, &ch, scope, check, ctx,
				    res) != 0)
					break;
			} else if (strcasecmp(ch.scheme, "Basic") == 0 &&
			    k->c->opt->creds != NULL && authed == 0) {
				size_t cl = strlen(k->c->opt->creds);
				char *b64 = xmalloc(4 * (cl / 3 + 1) + 1);
				char *hv;
				EVP_EncodeBlock((unsigned char *)b64,
				    (const unsigned char *)k->c->opt->creds, (int)cl);
				hv = xasprintf("Authorization: Basic %s", b64);
				token_store(k->c, h, scope, hv, 1e9);
				free(hv);
				free(b64);
			} else {
				http_error(res, 401, &x.errbody);
				res->err = REG_FATAL;
				break;
			}
			authed++;
			hop--;	/* an auth round is not a redirect */
			buf_free(&x.errbody);
			continue;
		}
		if (x.status >= 300 && x.status < 400) {
			if (curl_easy_getinfo(k->easy, CURLINFO_REDIRECT_URL,
			    &next) != CURLE_OK || next == NULL) {
				set_cause(res, REG_FATAL, "%s: redirect (%ld) "
				    "without a Location", h->name, x.status);
				break;
			}
			free(url);
			url = xstrdup(next);
			buf_free(&x.errbody);
			continue;
		}
		if (x.status < 200 || x.status > 299) {
			http_error(res, x.status, &x.errbody);
			if (x.retry_after[0] >= '0' && x.retry_after[0] <= '9') {
				res->retry_after = atof(x.retry_after);
				if (res->retry_after > 600)
					res->retry_after = 600;
			}
			break;
		}
		if (ctype != NULL)
			snprintf(ctype, ctype_n, "%s", x.ctype);
		ret = 0;
		break;
	}
	if (hop > MAX_HOPS)
		set_cause(res, REG_FATAL, "%s: too many redirects", h->name);
	buf_free(&x.errbody);
	curl_slist_free_all(hdrs);
	free(auth);
	free(url);
	free(origin_url);
	free(scope);
	return ret;
}

int
reg_get_manifest(struct regconn *k, const struct ref *r, const char *reference,
    struct buf *body, char *ctype, size_t ctype_n, reg_check_fn check,
    void *ctx, struct reg_result *res)
{
	static const char accept[] = "Accept: "
	    "application/vnd.oci.image.index.v1+json, "
	    "application/vnd.oci.image.manifest.v1+json, "
	    "application/vnd.docker.distribution.manifest.list.v2+json, "
	    "application/vnd.docker.distribution.manifest.v2+json";
	char *path = xasprintf("manifests/%s", reference);
	int ret;

	ret = api_get(k, r, path, accept, body, ctype, ctype_n, 0, 0, NULL,
	    check, ctx, res);
	if (ret != 0 && body->overflow)
		set_cause(res, REG_FATAL, "manifest is larger than 4 MiB");
	free(path);
	return ret;
}

int
reg_get_blob(struct regconn *k, const struct ref *r, const char *digest,
    uint64_t offset, uint64_t limit_rate, reg_write_fn write,
    reg_check_fn check, void *ctx, struct reg_result *res)
{
	char *path = xasprintf("blobs/%s", digest);
	int ret;

	ret = api_get(k, r, path, NULL, NULL, NULL, 0, offset, limit_rate,
	    write, check, ctx, res);
	free(path);
	return ret;
}
