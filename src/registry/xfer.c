/*
 * xfer.c - one HTTP exchange. Requests run on a per-thread easy handle
 * driven by a per-thread multi handle, so a transfer can be stopped within
 * 100 ms by its check callback. The header callback keeps the few headers
 * the client reads; the write callback routes the body: into a capped
 * buffer (manifests, tokens), to the caller's write callback (blobs), or,
 * for an error answer, into a capped buffer for its message. Redirects are
 * not followed by curl (registry.c does it). HTTPS_PROXY, https_proxy and
 * NO_PROXY are curl's (plain-HTTP registries use http_proxy, lower case
 * only).
 */
#include "reg_int.h"
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Copy header value v (len bytes) into dst, trimmed; 1 if it did not fit. */
static int
copy_header_value(char *dst, size_t n, const char *v, size_t len)
{
	int cut = 0;

	while (len > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' ||
	    v[len - 1] == ' '))
		len--;
	if (len >= n) {
		len = n - 1;
		cut = 1;
	}
	memcpy(dst, v, len);
	dst[len] = '\0';
	return cut;
}

/* A status line: a new response (after a 1xx), so forget the last one. */
static void
header_status(struct xfer *x)
{
	x->ctype[0] = x->challenge[0] = x->content_range[0] = '\0';
	x->retry_after[0] = x->location[0] = '\0';
	x->rl_limit[0] = x->rl_remaining[0] = '\0';
	x->ctype_long = x->challenge_long = x->location_long = 0;
	x->got_status = 1;
	x->headers_done = 0;
}

static size_t
header_cb(char *p, size_t size, size_t nmemb, void *u)
{
	struct xfer *x = u;
	size_t len = size * nmemb, klen, vlen;
	const char *colon;

	x->last_rx = now_mono();
	x->header_bytes += len;
	if (x->header_bytes > HEADERS_MAX) {
		x->headers_big = 1;
		return 0;
	}
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		header_status(x);
		return len;
	}
	if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {
		x->headers_done = 1;
		return len;
	}
	colon = memchr(p, ':', len);
	if (colon == NULL)
		return len;
	klen = colon - p;
	vlen = len - klen - 1;
#define IS(name) (klen == sizeof(name) - 1 && strncasecmp(p, name, klen) == 0)
	if (IS("Content-Type"))
		x->ctype_long = copy_header_value(x->ctype, sizeof x->ctype,
		    colon + 1, vlen);
	else if (IS("Content-Range"))
		copy_header_value(x->content_range, sizeof x->content_range,
		    colon + 1, vlen);
	else if (IS("Retry-After"))
		copy_header_value(x->retry_after, sizeof x->retry_after,
		    colon + 1, vlen);
	else if (IS("ratelimit-limit"))
		copy_header_value(x->rl_limit, sizeof x->rl_limit, colon + 1,
		    vlen);
	else if (IS("ratelimit-remaining"))
		copy_header_value(x->rl_remaining, sizeof x->rl_remaining,
		    colon + 1, vlen);
	else if (IS("Location"))
		x->location_long = copy_header_value(x->location,
		    sizeof x->location, colon + 1, vlen);
	else if (IS("WWW-Authenticate")) {
		/* prefer a Bearer challenge when several are offered */
		if (x->challenge[0] == '\0' ||
		    strncasecmp(x->challenge, "Bearer", 6) != 0)
			x->challenge_long = copy_header_value(x->challenge,
			    sizeof x->challenge, colon + 1, vlen);
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

int
reg_content_range_parse(const char *s, long long *start, long long *end,
    long long *total)
{
	char *p;

	*start = reg_content_range_start(s);
	if (*start < 0 || (p = strchr(s, '-')) == NULL)
		return -1;
	p++;
	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	*end = strtoll(p, &p, 10);
	if (errno != 0 || *end < *start || *p != '/')
		return -1;
	p++;
	if (p[0] == '*' && p[1] == '\0') {
		*total = -1;
		return 0;
	}
	if (*p < '0' || *p > '9')
		return -1;
	*total = strtoll(p, &p, 10);
	return errno == 0 && *p == '\0' && *total > *end ? 0 : -1;
}

/*
 * A bounded range (x->end): only a 206 for exactly [offset, end) of size
 * bytes will do. 0, or -1 with range_broken set.
 */
static int
bounded_ok(struct xfer *x)
{
	long long a, b, t;
	curl_off_t cl = -1;

	if (x->status != 206 ||
	    reg_content_range_parse(x->content_range, &a, &b, &t) != 0 ||
	    (uint64_t)a != x->offset || (uint64_t)b + 1 != x->end ||
	    (t >= 0 && (uint64_t)t != x->size) ||
	    (curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
	    &cl) == CURLE_OK && cl >= 0 && (uint64_t)cl != x->end - x->offset)) {
		x->range_broken = 1;
		return -1;
	}
	return 0;
}

/*
 * The first body byte is in: choose where the body goes. A blob answer
 * must start where it was asked to and fit its descriptor. 0, or -1 to
 * stop before a byte of it is written.
 */
static int
write_decide(struct xfer *x)
{
	curl_off_t cl = -1;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
	x->decided = 1;
	if (x->write == NULL || x->status < 200 || x->status > 299)
		return 0;
	if (x->end > 0)
		return bounded_ok(x);
	if (x->status == 206) {
		long long start = reg_content_range_start(x->content_range);
		if (start < 0 || (uint64_t)start != x->offset) {
			x->range_broken = 1;
			return -1;	/* never splice wrong bytes */
		}
	} else if (x->status == 200)
		x->skip = x->offset;
	if (curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
	    &cl) == CURLE_OK && cl >= 0 &&
	    (uint64_t)cl + (x->status == 206 ? x->offset : 0) > x->size) {
		x->too_long = 1;
		return -1;
	}
	return 0;
}

/* A body nobody reads in full: keep its start, stop after ERRBODY_MAX. */
static size_t
write_aside(struct xfer *x, const char *p, size_t len)
{
	size_t room = ERRBODY_MAX - x->errbody.len;

	if (buf_append(&x->errbody, p, len < room ? len : room) != 0 ||
	    len >= room) {
		x->enough = 1;	/* the rest does not matter: done */
		return 0;
	}
	return len;
}

/* Blob bytes to the caller, the first skip of a 200 dropped. */
static size_t
write_blob(struct xfer *x, const char *p, size_t len)
{
	size_t drop = x->skip < len ? (size_t)x->skip : len;

	x->skip -= drop;
	if (drop == len)
		return len;
	if (x->end > 0 && x->offset + x->delivered + (len - drop) > x->end) {
		x->range_broken = 1;	/* a 206 longer than it said */
		return 0;
	}
	if (x->offset + x->delivered + (len - drop) > x->size) {
		x->too_long = 1;
		return 0;
	}
	if (x->write(x->ctx, p + drop, len - drop) != 0) {
		x->write_failed = 1;
		x->local_errno = errno;
		return 0;
	}
	x->delivered += len - drop;
	x->last_rx = now_mono();	/* the callback may have slept */
	return len;
}

static size_t
write_cb(char *p, size_t size, size_t nmemb, void *u)
{
	struct xfer *x = u;
	size_t len = size * nmemb;

	x->last_rx = now_mono();
	if (!x->decided && write_decide(x) != 0)
		return 0;
	if (x->status < 200 || x->status > 299)
		return write_aside(x, p, len);
	if (x->body != NULL)
		return buf_append(x->body, p, len) == 0 ? len : 0;
	if (x->write != NULL)
		return write_blob(x, p, len);
	return write_aside(x, p, len);	/* a ping's body */
}

/* Connected (and through TLS): a sign of life, as bytes are. */
static int
prereq_cb(void *u, char *conn_primary_ip, char *conn_local_ip,
    int conn_primary_port, int conn_local_port)
{
	struct xfer *x = u;

	(void)conn_primary_ip;
	(void)conn_local_ip;
	(void)conn_primary_port;
	(void)conn_local_port;
	x->connected = 1;
	x->last_rx = now_mono();
	return CURL_PREREQFUNC_OK;
}

/* Same scheme, host and port? Credentials may follow only then. */
int
xfer_same_origin(const char *a, const char *b)
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
 * Run x's request on k->easy through k->multi. Returns the curl code:
 * CURLE_ABORTED_BY_CALLBACK when k->check asked to stop,
 * CURLE_OPERATION_TIMEDOUT with x->stalled when nothing came for
 * --stall-timeout, CURLE_OK when the body was cut short on purpose
 * (x->enough).
 */
CURLcode
xfer_perform(struct regconn *k, struct xfer *x)
{
	double stall = k->c->opt->stall_timeout;
	CURLcode rc = CURLE_OK;
	CURLMsg *m;
	int running = 1, left, aborted = 0;

	x->last_rx = now_mono();
	curl_multi_add_handle(k->multi, k->easy);
	for (;;) {
		if (curl_multi_perform(k->multi, &running) != CURLM_OK) {
			rc = CURLE_RECV_ERROR;
			break;
		}
		if (!running)
			break;
		if (k->check != NULL && k->check(k->ctx)) {
			aborted = 1;
			break;
		}
		if (stall > 0 && now_mono() - x->last_rx >= stall) {
			x->stalled = 1;
			break;
		}
		curl_multi_poll(k->multi, NULL, 0, 100, NULL);
	}
	while ((m = curl_multi_info_read(k->multi, &left)) != NULL)
		if (m->msg == CURLMSG_DONE && m->easy_handle == k->easy)
			rc = m->data.result;
	curl_multi_remove_handle(k->multi, k->easy);
	curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &x->status);
	if (x->got_status && x->host != NULL)
		host_answered(k->c, x->host);
	if (aborted)
		return CURLE_ABORTED_BY_CALLBACK;
	if (x->stalled)
		return CURLE_OPERATION_TIMEDOUT;
	if (rc == CURLE_WRITE_ERROR && x->enough)
		return CURLE_OK;
	return rc;
}

/* The host[:port] of url into out (n bytes). 0, or -1 if it has none. */
int
xfer_url_hostport(const char *url, char *out, size_t n)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL;
	int ret = -1;

	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
			port = NULL;
		if (port != NULL)
			ret = snprintf(out, n, "%s:%s", host, port) < (int)n ?
			    0 : -1;
		else
			ret = snprintf(out, n, "%s", host) < (int)n ? 0 : -1;
	}
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return ret;
}

/* Location loc, relative or not, as an absolute URL (malloc'd), or NULL. */
char *
xfer_url_resolve(const char *base, const char *loc)
{
	CURLU *u = curl_url();
	char *got = NULL, *out = NULL;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, loc, CURLU_NON_SUPPORT_SCHEME) ==
	    CURLUE_OK && curl_url_get(u, CURLUPART_URL, &got, 0) == CURLUE_OK)
		out = xstrdup(got);
	curl_free(got);
	curl_url_cleanup(u);
	return out;
}

/*
 * The size of curl's receive buffer for x: it is allocated for each
 * transfer. Big blobs read 256 KiB at a time, and that buffer is mapped
 * afresh and unmapped after (main.c's mmap threshold), so that it does not
 * stay behind. A transfer known to be small (a small blob, a range) gets a
 * buffer only as big as it, from the heap and reused: mapping and faulting
 * in 256 KiB to read a 30 KiB layer cost more than the read. Manifests and
 * tokens get curl's default. With a rate cap, small reads keep the pacing
 * in fetch.c smooth.
 */
static long
recv_buffer_size(const struct xfer *x)
{
	const uint64_t big = 256 * 1024, small = 16 * 1024;
	uint64_t want = big, left;

	if (x->write == NULL)
		want = small;
	else if (x->size > x->offset || x->end > x->offset) {
		left = (x->end > x->offset ? x->end : x->size) - x->offset;
		if (left < big)	/* whole 16 KiB pages of it */
			want = (left + small - 1) / small * small;
	}
	if (x->limit_rate > 0 && x->limit_rate / 8 < want)
		want = x->limit_rate / 8 < 1024 ? 1024 : x->limit_rate / 8;
	return (long)want;
}

/*
 * Make k->easy ready to GET url with the TLS settings of url's own host
 * (so a redirect target is verified by its CAs, and is skipped only if it
 * is itself insecure). Returns that host, or NULL with res set.
 */
struct host *
xfer_setup(struct regconn *k, const char *url, struct curl_slist *hdrs,
    struct xfer *x, struct reg_result *res)
{
	CURL *e = k->easy;
	struct regclient *c = k->c;
	struct host *th;
	char name[256];

	if (xfer_url_hostport(url, name, sizeof name) != 0) {
		cause_set(res, REG_FATAL, "bad URL from the registry");
		return NULL;
	}
	th = host_get(c, name);
	pthread_mutex_lock(&c->mu);
	tls_prepare(c, th);
	pthread_mutex_unlock(&c->mu);
	if (th->tls_error != NULL) {
		cause_set(res, REG_FATAL, "%s", th->tls_error);
		return NULL;
	}
	curl_easy_reset(e);
	k->errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, k->errbuf);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_SHARE, c->share);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "pulltop/" PULLTOP_VERSION);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 20L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, recv_buffer_size(x));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	/* a proxy's CONNECT answer is not the server's */
	curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, prereq_cb);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, x);
	if (th->ca_blob != NULL) {
		struct curl_blob blob = { th->ca_blob, th->ca_len,
		    CURL_BLOB_NOCOPY };
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (th->client_cert != NULL) {
		curl_easy_setopt(e, CURLOPT_SSLCERT, th->client_cert);
		curl_easy_setopt(e, CURLOPT_SSLKEY, th->client_key);
	}
	if (th->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	x->host = th;
	return th;
}

void
xfer_init(struct xfer *x, CURL *e)
{
	memset(x, 0, sizeof *x);
	x->easy = e;
	buf_init(&x->errbody, ERRBODY_MAX);
}
