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

/*
 * Ask /v2/ once per host: is it there, does it speak the API, and which
 * auth does it want? An insecure registry that fails over https is tried
 * over http; a loopback one that answers plain http like a TLS server
 * (400, or nothing) is tried over https.
 */
static int
ping(struct regconn *k, struct host *h, reg_check_fn check, void *ctx,
    struct reg_result *res)
{
	struct xfer x;
	struct buf body;
	struct challenge ch;
	struct host *th;
	char url[512];
	CURLcode rc;
	int ret = 0, tried_tls;

	pthread_mutex_lock(&k->c->ping_mu);
	if (h->pinged) {
		pthread_mutex_unlock(&k->c->ping_mu);
		return 0;
	}
	tried_tls = strcmp(h->scheme, "https") == 0;
	for (;;) {
		xfer_init(&x, k->easy);
		buf_init(&body, ERRBODY_MAX);
		x.body = &body;
		snprintf(url, sizeof url, "%s://%s/v2/", h->scheme, h->name);
		th = xfer_setup(k, url, NULL, &x, 0, res);
		if (th == NULL) {
			buf_free(&body);
			buf_free(&x.errbody);
			pthread_mutex_unlock(&k->c->ping_mu);
			return -1;
		}
		rc = xfer_perform(k, check, ctx);
		curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &x.status);
		buf_free(&body);
		buf_free(&x.errbody);
		if (rc == CURLE_ABORTED_BY_CALLBACK)
			break;
		/* an insecure registry may speak plain HTTP only */
		if (rc != CURLE_OK && h->insecure &&
		    strcmp(h->scheme, "https") == 0) {
			snprintf(h->scheme, sizeof h->scheme, "http");
			continue;
		}
		if (!tried_tls && host_is_loopback(h->name) && (rc == CURLE_OK ?
		    x.status == 400 : rc == CURLE_GOT_NOTHING ||
		    rc == CURLE_RECV_ERROR)) {
			tried_tls = 1;
			snprintf(h->scheme, sizeof h->scheme, "https");
			continue;
		}
		break;
	}
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		cause_set(res, REG_ABORTED, "cancelled");
		ret = -1;
	} else if (rc != CURLE_OK)
		ret = cause_curl(k, res, rc, h->name, h->name, &x);
	else if (x.status != 200 && x.status != 401) {
		cause_set(res, x.status >= 500 ? REG_RETRY : REG_FATAL,
		    "%s is not a registry (GET /v2/ answered %ld)", h->name,
		    x.status);
		ret = -1;
	} else {
		if (x.status == 401 && x.challenge[0] != '\0' &&
		    auth_parse_challenge(x.challenge, &ch) == 0)
			host_learn(h, &ch);
		h->pinged = 1;
	}
	pthread_mutex_unlock(&k->c->ping_mu);
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
	struct host *h = host_get(k->c, reg_host(r)), *th;
	struct curl_slist *hdrs = NULL;
	struct xfer x;
	char *origin_url, *url, *scope, *auth = NULL, *next;
	char range[64];
	int hop, rounds = 0, fresh = 0, keep_auth = 0, ret = -1;
	CURLcode rc;

	memset(res, 0, sizeof *res);
	if (ping(k, h, check, ctx, res) != 0)
		return -1;
	xfer_init(&x, k->easy);
	scope = xasprintf("repository:%s:pull", r->path);
	origin_url = xasprintf("%s://%s/v2/%s/%s", h->scheme, h->name, r->path,
	    path);
	url = xstrdup(origin_url);
	for (hop = 0; hop <= MAX_HOPS; hop++) {
		int to_origin = xfer_same_origin(url, origin_url);

		if (!keep_auth) {
			free(auth);
			auth = NULL;
			fresh = 0;
			if (to_origin && token_prepare(k, h, scope, &auth,
			    &fresh, check, ctx, res) != 0)
				break;
		}
		keep_auth = 0;
		curl_slist_free_all(hdrs);
		hdrs = NULL;
		if (accept != NULL)
			hdrs = curl_slist_append(hdrs, accept);
		/* credentials never leave the origin that asked for them */
		if (auth != NULL && to_origin)
			hdrs = curl_slist_append(hdrs, auth);
		buf_free(&x.errbody);
		xfer_init(&x, k->easy);
		x.body = body;
		x.write = write;
		x.ctx = ctx;
		x.offset = offset;
		if (body != NULL) {
			buf_free(body);
			buf_init(body, MANIFEST_MAX);
		}
		th = xfer_setup(k, url, hdrs, &x, limit_rate, res);
		if (th == NULL)
			break;
		if (offset > 0) {
			snprintf(range, sizeof range, "%llu-",
			    (unsigned long long)offset);
			curl_easy_setopt(k->easy, CURLOPT_RANGE, range);
		}
		rc = xfer_perform(k, check, ctx);
		curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &x.status);
		res->status = x.status;
		if (rc == CURLE_ABORTED_BY_CALLBACK) {
			cause_set(res, REG_ABORTED, "cancelled");
			break;
		}
		if (rc != CURLE_OK) {
			cause_curl(k, res, rc, th->name, th->name, &x);
			break;
		}
		if (x.status == 401 && to_origin) {
			struct challenge ch;
			int have = x.challenge[0] != '\0';

			if (have &&
			    auth_parse_challenge(x.challenge, &ch) != 0) {
				cause_set(res, REG_FATAL, "%s: unparseable "
				    "WWW-Authenticate challenge", h->name);
				break;
			}
			/*
			 * Learn the challenge, forget a cached token that was
			 * refused, and try once more - but a 401 to fresh
			 * credentials is final.
			 */
			if (have && rounds == 0 && !fresh &&
			    (strcasecmp(ch.scheme, "Bearer") == 0 ||
			    strcasecmp(ch.scheme, "Basic") == 0)) {
				host_learn(h, &ch);
				if (auth != NULL)
					token_drop(k->c, h, scope, auth);
				free(auth);
				auth = NULL;
				if (token_prepare(k, h, scope, &auth, &fresh,
				    check, ctx, res) != 0)
					break;
				if (auth == NULL) {
					token_refused(h, r->path, NULL, res,
					    &x.errbody);
					break;
				}
				rounds++;
				keep_auth = 1;
				hop--;	/* an auth round is not a redirect */
				continue;
			}
			token_refused(h, r->path, auth, res, &x.errbody);
			break;
		}
		if (x.status >= 300 && x.status < 400) {
			if (curl_easy_getinfo(k->easy, CURLINFO_REDIRECT_URL,
			    &next) != CURLE_OK || next == NULL) {
				cause_set(res, REG_FATAL, "%s: redirect (%ld) "
				    "without a Location", h->name, x.status);
				break;
			}
			free(url);
			url = xstrdup(next);
			continue;
		}
		if (x.status < 200 || x.status > 299) {
			cause_http(res, x.status, &x.errbody);
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
		cause_set(res, REG_FATAL, "%s: too many redirects", h->name);
	buf_free(&x.errbody);
	curl_slist_free_all(hdrs);
	if (auth != NULL) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
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
		cause_set(res, REG_FATAL, "manifest is larger than 4 MiB");
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
