/*
 * cause.c - the one line that says what went wrong: from a registry's error
 * body ("manifest unknown (404)"), from curl's code and message (which
 * host, which certificate, which proxy), never a secret and never a
 * reference (the engine adds the image and the layer).
 */
#include "reg_int.h"
#include "config.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
cause_set(struct reg_result *res, enum reg_err err, const char *fmt, ...)
{
	va_list ap;
	char raw[512];
	size_t n;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	n = strlen(raw);
	while (n > 0 && (raw[n - 1] == ' ' || raw[n - 1] == '\n'))
		raw[--n] = '\0';	/* curl's messages may end in blanks */
	sanitize(res->cause, sizeof res->cause, raw);
	res->err = err;
}

/* "manifest unknown (404)" from a registry error body, else "HTTP 404". */
void
cause_http(struct reg_result *res, long status, struct buf *body)
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
		cause_set(res, err, "%s (%ld)", json_string_value(msg), status);
	else if (json_is_string(code))
		cause_set(res, err, "%s (%ld)", json_string_value(code), status);
	else if (status == 401)
		cause_set(res, err, "unauthorized (401)");
	else if (status == 403)
		cause_set(res, err, "denied (403)");
	else if (status == 404)
		cause_set(res, err, "not found (404)");
	else
		cause_set(res, err, "HTTP %ld", status);
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

/* curl's detail for the last error, or its generic text. */
static const char *
curl_detail(const struct regconn *k, CURLcode rc)
{
	const char *d = k->errbuf;

	if (d[0] == '\0')
		return curl_easy_strerror(rc);
	if (strncmp(d, "SSL certificate problem: ", 25) == 0)
		d += 25;
	return d;
}

/* Did the server end the handshake over our (missing) client cert? */
static int
client_cert_refused(const struct regconn *k, CURLcode rc)
{
	return (rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_RECV_ERROR ||
	    rc == CURLE_SEND_ERROR) && (strstr(k->errbuf,
	    "alert bad certificate") != NULL || strstr(k->errbuf,
	    "alert certificate required") != NULL);
}

/*
 * A connect that failed: was it to a proxy (http_proxy, https_proxy…)?
 * libcurl 7.88 has no CURLINFO_USED_PROXY, but its message for a failed
 * connect, "Failed to connect to HOST port N after…", names what it tried;
 * when that is not the server of the URL asked for, it was the proxy, and
 * "HOST:N" goes into out. A message of another shape: 0, not a proxy.
 */
static int
connect_to_proxy(const struct regconn *k, char *out, size_t n)
{
	const char *p = strstr(k->errbuf, "Failed to connect to "), *url = NULL;
	char tried[256], *host = NULL, *port = NULL;
	unsigned tport;
	CURLU *u;
	int r = 0;

	if (p == NULL || sscanf(p + 21, "%255s port %u", tried, &tport) != 2 ||
	    curl_easy_getinfo(k->easy, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK ||
	    url == NULL || (u = curl_url()) == NULL)
		return 0;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
	    CURLUE_OK) {
		size_t hl = strlen(host);
		const char *h = host;

		if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
			h = host + 1;	/* curl names [::1] as ::1 */
			hl -= 2;
		}
		if (strlen(tried) != hl || strncasecmp(tried, h, hl) != 0 ||
		    tport != (unsigned)strtoul(port, NULL, 10)) {
			snprintf(out, n, strchr(tried, ':') ? "[%s]:%u" :
			    "%s:%u", tried, tport);
			r = 1;
		}
	}
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return r;
}

/* Why a connect failed: the system's word, lower-cased, or curl's. */
static const char *
connect_why(const struct regconn *k, char *buf, size_t n)
{
	long e = 0;

	if (curl_easy_getinfo(k->easy, CURLINFO_OS_ERRNO, &e) != CURLE_OK ||
	    e <= 0)
		return "connection refused";
	snprintf(buf, n, "%s", strerror((int)e));
	buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

/* TLS: a certificate refused on either side, a handshake that failed. */
static int
cause_tls(struct regconn *k, struct reg_result *res, CURLcode rc,
    const char *what, const char *host, enum reg_err first)
{
	if (rc == CURLE_PEER_FAILED_VERIFICATION)
		cause_set(res, REG_FATAL, "TLS certificate of %s could not be "
		    "verified (%s): trust its CA with --cacert FILE or "
		    "%s/%s/ca.crt, or use --insecure-registry %s", what,
		    curl_detail(k, rc), tls_certs_root(), host, host);
	else if (rc == CURLE_SSL_CERTPROBLEM)
		cause_set(res, REG_FATAL, "client certificate for %s could not "
		    "be used: %s", host, curl_detail(k, rc));
	else if (client_cert_refused(k, rc))
		cause_set(res, REG_FATAL, "%s refused the TLS client "
		    "certificate (%s): put one in %s/%s/client.cert and "
		    "client.key", what, curl_detail(k, rc), tls_certs_root(), host);
	else if (rc == CURLE_SSL_CONNECT_ERROR)
		cause_set(res, first, "TLS handshake with %s failed: %s", what,
		    curl_detail(k, rc));
	else
		return 0;
	return 1;
}

/* No connection: refused, unresolvable, through a proxy or not. */
static int
cause_connect(struct regconn *k, struct reg_result *res, CURLcode rc,
    const char *what, const char *host, enum reg_err first)
{
	char proxy[300], why[128];

	if (rc == CURLE_COULDNT_CONNECT && connect_to_proxy(k, proxy,
	    sizeof proxy))
		cause_set(res, first, "cannot connect to proxy %s (for %s): %s",
		    proxy, what, connect_why(k, why, sizeof why));
	else if (rc == CURLE_COULDNT_CONNECT)
		cause_set(res, first, "cannot connect to %s: %s", what,
		    connect_why(k, why, sizeof why));
	else if (rc == CURLE_COULDNT_RESOLVE_PROXY)
		cause_set(res, first, "cannot resolve the proxy for %s: %s",
		    what, curl_detail(k, rc));
	else if (rc == CURLE_COULDNT_RESOLVE_HOST)
		cause_set(res, first, "cannot resolve host %s", host);
	else
		return 0;
	return 1;
}

/*
 * What stopped the transfer from this side: the stall timer, a cap, a
 * Range answer that would not splice, the caller's write callback.
 */
static int
cause_stopped(struct reg_result *res, CURLcode rc, const struct xfer *x,
    const char *what, double stall)
{
	if (x->stalled && !x->connected)
		cause_set(res, REG_RETRY, "cannot connect to %s: no connection "
		    "after %gs", what, stall);
	else if (x->stalled)
		cause_set(res, REG_RETRY, "stalled: no data for %gs from "
		    "%s%s%s%s", stall, what, x->req ? " (" : "",
		    x->req ? x->req : "", x->req ? ")" : "");
	else if (x->headers_big)
		cause_set(res, REG_FATAL, "%s sent more than %u KiB of "
		    "response headers", what, HEADERS_MAX >> 10);
	else if (rc == CURLE_OUT_OF_MEMORY && !x->headers_done)
		/* what curl says of one header line over its limit */
		cause_set(res, REG_FATAL, "%s sent a response header larger "
		    "than curl's limit of %d KiB", what,
		    CURL_MAX_HTTP_HEADER >> 10);
	else if (rc != CURLE_WRITE_ERROR)
		return 0;
	else if (x->range_broken && x->status == 200)
		cause_set(res, REG_RETRY, "server answered a Range request "
		    "with 200 (the whole blob)");
	else if (x->range_broken)
		cause_set(res, REG_RETRY, "server answered a Range request "
		    "with Content-Range '%s'", x->content_range);
	else if (x->too_long)
		cause_set(res, REG_FATAL, "%s sent more bytes than the "
		    "descriptor's size (%llu bytes)", what,
		    (unsigned long long)x->size);
	else if (x->write_failed) {
		cause_set(res, REG_LOCAL, "%s", strerror(x->local_errno));
		res->local_errno = x->local_errno;
	} else if (x->body != NULL && x->body->overflow)
		cause_set(res, REG_FATAL, "%s answered with more than %zu KiB",
		    what, x->body->max >> 10);
	else
		return 0;
	return 1;
}

/*
 * The cause of a failed transfer. x->what names the server ("token server
 * HOST"; the host by default); x->host is whose certs.d to name. Refused,
 * unresolvable or failed TLS on first contact with a registry or its token
 * server (neither has answered in this run) is final: nobody is there.
 */
int
cause_curl(struct regconn *k, struct reg_result *res, CURLcode rc,
    const struct xfer *x)
{
	const char *host = x->host != NULL ? x->host->name : "?";
	const char *what = x->what != NULL ? x->what : host;
	enum reg_err first = x->redirected || (x->host != NULL &&
	    host_has_answered(k->c, x->host)) ? REG_RETRY : REG_FATAL;

	if (!cause_stopped(res, rc, x, what, k->c->opt->stall_timeout) &&
	    !cause_tls(k, res, rc, what, host, first) &&
	    !cause_connect(k, res, rc, what, host, first))
		cause_set(res, curl_err_kind(rc), "%s: %s", what,
		    curl_detail(k, rc));
	res->range_broken = x->range_broken;
	return -1;
}
