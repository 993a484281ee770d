/*
 * registry.c - talks the OCI distribution API over libcurl.
 *
 * Requests run on a per-thread easy handle driven by a per-thread multi
 * handle, so a transfer can be stopped within 100 ms by its check callback.
 * Redirects are followed here, not by curl, so that Authorization only ever
 * goes back to the origin (scheme, host and port) that asked for it.
 *
 * Auth, as docker does it: GET /v2/ once per host learns its challenge.
 * Basic: the credentials (creds.c) go along with every request to that
 * origin. Bearer: a token for "repository:NAME:pull" is fetched from the
 * realm with the challenge's service - GET with Basic credentials when
 * there are any (and "account"), anonymous when there are none, or with
 * an identity token the OAuth2 POST grant_type=refresh_token - and cached
 * per host and scope, shared by every worker, fetched by one at a time,
 * renewed shortly before expires_in runs out or when a 401 comes back for
 * a cached one. A 401 to fresh credentials or a fresh token is final.
 * Credentials go to a token realm only over https, or over plain http when
 * the registry itself was reached over http.
 *
 * TLS is verified unless the host is named by --insecure-registry. Each
 * host's trust is the system bundle, --cacert and every NAME.crt in
 * CERTS/HOST[:PORT]/, given to curl as one PEM blob; NAME.cert and NAME.key
 * there are the client certificate. CERTS is $PULLTOP_CERTS_D, else
 * /etc/docker/certs.d. Loopback registries speak plain HTTP unless they
 * have a CERTS directory or answer plain HTTP as a TLS server does.
 * HTTPS_PROXY, https_proxy and NO_PROXY are curl's (plain-HTTP registries
 * use http_proxy, lower case only).
 */
#include "registry.h"
#include "auth.h"
#include "creds.h"
#include "config.h"
#include "oci.h"

#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define ERRBODY_MAX	(64u << 10)
#define TOKEN_MAX	(64u << 10)
#define CA_MAX		(16u << 20)
#define MAX_HOPS	5
#define MAX_TOKENS	64
#define BASIC_TTL	1e9	/* Basic credentials do not expire */
#define CERTS_D		"/etc/docker/certs.d"

struct token {
	char scope[512];
	char *value;		/* "Authorization: Bearer xyz" (or Basic) */
	double expires;
};

struct host {
	char name[256];		/* host[:port] */
	char scheme[8];		/* "http" or "https" */
	int insecure;		/* --insecure-registry: no TLS verification */
	int pinged;
	/* TLS settings, made on first use under regclient.mu */
	int tls_ready;
	char *ca_blob;		/* PEM: system + --cacert + certs.d, or NULL */
	size_t ca_len;
	char *client_cert, *client_key;
	char *tls_error;	/* certs.d is unusable: every request fails */
	/* auth, under auth_mu: one token fetch at a time per host */
	pthread_mutex_t auth_mu;
	struct challenge ch;	/* ch.scheme[0] == '\0' until one is seen */
	int creds_state;	/* 0 not looked up, 1 none, 2 have, -1 error */
	struct creds creds;
	char *creds_error;
	/* under regclient.mu */
	struct token tokens[MAX_TOKENS];
	int ntokens;
	struct host *next;
};

struct regclient {
	const struct options *opt;
	CURLSH *share;
	pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
	pthread_mutex_t mu;	/* hosts, tokens and TLS settings */
	pthread_mutex_t ping_mu;
	char *system_ca;	/* curl's default CA bundle file, or NULL */
	struct host *hosts;
};

struct regconn {
	struct regclient *c;
	CURL *easy;
	CURLM *multi;
	char errbuf[CURL_ERROR_SIZE];
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

/* The CA bundle curl trusts by default, to extend with a host's own. */
static char *
system_ca_file(void)
{
	char *p = NULL, *v = NULL;
	CURL *e = curl_easy_init();

	if (e == NULL)
		return NULL;
#if LIBCURL_VERSION_NUM >= 0x075400
	if (curl_easy_getinfo(e, CURLINFO_CAINFO, &p) == CURLE_OK && p != NULL)
		v = xstrdup(p);
#endif
	curl_easy_cleanup(e);
	(void)p;
	return v;
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
	c->system_ca = system_ca_file();
	c->share = curl_share_init();
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	return c;
}

static void
token_wipe(struct token *t)
{
	if (t->value != NULL) {
		explicit_bzero(t->value, strlen(t->value));
		free(t->value);
		t->value = NULL;
	}
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
			token_wipe(&h->tokens[i]);
		creds_free(&h->creds);
		free(h->creds_error);
		free(h->ca_blob);
		free(h->client_cert);
		free(h->client_key);
		free(h->tls_error);
		pthread_mutex_destroy(&h->auth_mu);
		free(h);
	}
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_mu[i]);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->ping_mu);
	free(c->system_ca);
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
	/*
	 * A connection is its thread's last use of TLS: free OpenSSL's
	 * per-thread state now, not in a destructor that a detached thread
	 * may still be running when the process exits.
	 */
	OPENSSL_thread_stop();
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

/* The certs.d root: $PULLTOP_CERTS_D (for tests), else docker's. */
static const char *
certs_root(void)
{
	const char *e = getenv("PULLTOP_CERTS_D");

	return e != NULL && *e != '\0' ? e : CERTS_D;
}

static int
certs_dir_exists(const char *name)
{
	char *d = xasprintf("%s/%s", certs_root(), name);
	struct stat st;
	int yes = stat(d, &st) == 0 && S_ISDIR(st.st_mode);

	free(d);
	return yes;
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
		    host_is_loopback(name) && !certs_dir_exists(name) ?
		    "http" : "https");
		pthread_mutex_init(&h->auth_mu, NULL);
		h->next = c->hosts;
		c->hosts = h;
	}
	pthread_mutex_unlock(&c->mu);
	return h;
}

/* Append file path to b, then a newline. 0, or -1 with errno. */
static int
append_file(struct buf *b, const char *path)
{
	char chunk[16384];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while ((n = read(fd, chunk, sizeof chunk)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || buf_append(b, chunk, (size_t)n) != 0) {
			if (n >= 0)
				errno = EFBIG;
			close(fd);
			return -1;
		}
	}
	close(fd);
	return buf_append(b, "\n", 1) == 0 ? 0 : (errno = EFBIG, -1);
}

static int
has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n > m && strcmp(s + n - m, suf) == 0;
}

/*
 * Lock held: read certs.d/NAME (CAs and a client pair, docker's names)
 * and --cacert into h's TLS settings, once. A problem is kept in
 * tls_error and fails each request to that host.
 */
static void
tls_prepare(struct regclient *c, struct host *h)
{
	struct dirent **ents = NULL;
	struct buf extra;
	char *dir, *p;
	int i, n;

	if (h->tls_ready)
		return;
	h->tls_ready = 1;
	buf_init(&extra, CA_MAX);
	if (c->opt->cacert != NULL && append_file(&extra, c->opt->cacert) != 0)
		h->tls_error = xasprintf("--cacert %s: %s", c->opt->cacert,
		    strerror(errno));
	dir = xasprintf("%s/%s", certs_root(), h->name);
	n = scandir(dir, &ents, NULL, alphasort);
	for (i = 0; i < n; i++) {
		const char *f = ents[i]->d_name;

		if (h->tls_error != NULL)
			break;
		p = xasprintf("%s/%s", dir, f);
		if (has_suffix(f, ".crt")) {
			if (append_file(&extra, p) != 0)
				h->tls_error = xasprintf("%s: %s", p,
				    strerror(errno));
		} else if (has_suffix(f, ".cert") || has_suffix(f, ".key")) {
			/* NAME.cert needs NAME.key and the other way round */
			int cert = has_suffix(f, ".cert");
			size_t base = strlen(p) - (cert ? 5 : 4);
			char *other = xasprintf("%.*s%s", (int)base, p,
			    cert ? ".key" : ".cert");

			if (access(other, R_OK) != 0)
				h->tls_error = xasprintf("%s: missing %s %s",
				    p, cert ? "key" : "certificate", other);
			else if (cert && h->client_cert == NULL) {
				h->client_cert = xstrdup(p);
				h->client_key = xstrdup(other);
			}
			free(other);
		}
		free(p);
	}
	for (i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	if (n < 0 && errno != ENOENT && errno != ENOTDIR)
		h->tls_error = xasprintf("%s: %s", dir, strerror(errno));
	free(dir);
	if (h->tls_error == NULL && extra.len > 0) {
		struct buf all;

		buf_init(&all, CA_MAX * 2);
		if (c->system_ca != NULL &&
		    append_file(&all, c->system_ca) != 0) {
			/* no system bundle: the host's own CAs still count */
			buf_free(&all);
			buf_init(&all, CA_MAX * 2);
		}
		if (buf_append(&all, extra.data, extra.len) == 0) {
			h->ca_blob = all.data;
			h->ca_len = all.len;
		} else {
			buf_free(&all);
			h->tls_error = xasprintf("CA certificates for %s are "
			    "larger than %u MiB", h->name, CA_MAX >> 20);
		}
	}
	buf_free(&extra);
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
			token_wipe(&h->tokens[0]);
			memmove(&h->tokens[0], &h->tokens[1],
			    (MAX_TOKENS - 1) * sizeof h->tokens[0]);
			h->ntokens--;
		}
		t = &h->tokens[h->ntokens++];
		memset(t, 0, sizeof *t);
	}
	snprintf(t->scope, sizeof t->scope, "%s", scope);
	token_wipe(t);
	t->value = xstrdup(value);
	t->expires = now_mono() + ttl;
	pthread_mutex_unlock(&c->mu);
}

/* Forget scope's token if it is still the one a 401 came back for. */
static void
token_drop(struct regclient *c, struct host *h, const char *scope,
    const char *value)
{
	int i;

	pthread_mutex_lock(&c->mu);
	for (i = 0; i < h->ntokens; i++)
		if (strcmp(h->tokens[i].scope, scope) == 0 &&
		    strcmp(h->tokens[i].value, value) == 0)
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

/* The host[:port] of url into out (n bytes). 0, or -1 if it has none. */
static int
url_hostport(const char *url, char *out, size_t n)
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

/*
 * Make k->easy ready to GET url with the TLS settings of url's own host
 * (so a redirect target is verified by its CAs, and is skipped only if it
 * is itself insecure). Returns that host, or NULL with res set.
 */
static struct host *
setup_easy(struct regconn *k, const char *url, struct curl_slist *hdrs,
    struct xfer *x, uint64_t limit_rate, struct reg_result *res)
{
	CURL *e = k->easy;
	struct regclient *c = k->c;
	struct host *th;
	char name[256];

	if (url_hostport(url, name, sizeof name) != 0) {
		set_cause(res, REG_FATAL, "bad URL from the registry");
		return NULL;
	}
	th = host_get(c, name);
	pthread_mutex_lock(&c->mu);
	tls_prepare(c, th);
	pthread_mutex_unlock(&c->mu);
	if (th->tls_error != NULL) {
		set_cause(res, REG_FATAL, "%s", th->tls_error);
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
	/* with a rate cap, small reads keep the pacing in fetch.c smooth */
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, limit_rate == 0 ? 256L * 1024 :
	    limit_rate / 8 < 1024 ? 1024L : limit_rate / 8 > 256 * 1024 ?
	    256L * 1024 : (long)(limit_rate / 8));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
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
	return th;
}

static void
xfer_init(struct xfer *x, CURL *e)
{
	memset(x, 0, sizeof *x);
	x->easy = e;
	buf_init(&x->errbody, ERRBODY_MAX);
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

/* what: "HOST" or "token server HOST"; host: whose certs.d to name. */
static int
fail_curl(struct regconn *k, struct reg_result *res, CURLcode rc,
    const char *what, const char *host, const struct xfer *x)
{
	char proxy[300], why[128];

	if (rc == CURLE_PEER_FAILED_VERIFICATION)
		set_cause(res, REG_FATAL, "TLS certificate of %s could not be "
		    "verified (%s): trust its CA with --cacert FILE or "
		    "%s/%s/ca.crt, or use --insecure-registry %s", what,
		    curl_detail(k, rc), certs_root(), host, host);
	else if (rc == CURLE_SSL_CERTPROBLEM)
		set_cause(res, REG_FATAL, "client certificate for %s could not "
		    "be used: %s", host, curl_detail(k, rc));
	else if (client_cert_refused(k, rc))
		set_cause(res, REG_FATAL, "%s refused the TLS client "
		    "certificate (%s): put one in %s/%s/client.cert and "
		    "client.key", what, curl_detail(k, rc), certs_root(), host);
	else if (rc == CURLE_COULDNT_CONNECT && connect_to_proxy(k, proxy,
	    sizeof proxy))
		set_cause(res, REG_RETRY, "cannot connect to proxy %s (for %s): "
		    "%s", proxy, what, connect_why(k, why, sizeof why));
	else if (rc == CURLE_COULDNT_CONNECT)
		set_cause(res, REG_RETRY, "cannot connect to %s: %s", what,
		    connect_why(k, why, sizeof why));
	else if (rc == CURLE_COULDNT_RESOLVE_PROXY)
		set_cause(res, REG_RETRY, "cannot resolve the proxy for %s: %s",
		    what, curl_detail(k, rc));
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
		set_cause(res, curl_err_kind(rc), "%s: %s", what,
		    curl_detail(k, rc));
	res->range_broken = x->range_broken;
	return -1;
}

/* Remember the challenge the registry answered with. */
static void
host_learn(struct host *h, const struct challenge *ch)
{
	pthread_mutex_lock(&h->auth_mu);
	h->ch = *ch;
	pthread_mutex_unlock(&h->auth_mu);
}

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
		th = setup_easy(k, url, NULL, &x, 0, res);
		if (th == NULL) {
			buf_free(&body);
			buf_free(&x.errbody);
			pthread_mutex_unlock(&k->c->ping_mu);
			return -1;
		}
		rc = perform(k, check, ctx);
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
		set_cause(res, REG_ABORTED, "cancelled");
		ret = -1;
	} else if (rc != CURLE_OK)
		ret = fail_curl(k, res, rc, h->name, h->name, &x);
	else if (x.status != 200 && x.status != 401) {
		set_cause(res, x.status >= 500 ? REG_RETRY : REG_FATAL,
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

/* auth_mu held: look the host's credentials up once. 0, or -1 with res. */
static int
creds_get(struct regconn *k, struct host *h, struct reg_result *res)
{
	if (h->creds_state == 0) {
		int r = creds_lookup(h->name, k->c->opt->creds, &h->creds,
		    &h->creds_error);
		h->creds_state = r == 0 ? 2 : r == 1 ? 1 : -1;
	}
	if (h->creds_state == -1) {
		set_cause(res, REG_FATAL, "credentials for %s: %s", h->name,
		    h->creds_error);
		return -1;
	}
	return 0;
}

/* "Authorization: Basic base64(user:password)", or NULL without both. */
static char *
basic_header(const struct creds *cr)
{
	char *plain, *b64, *hv;
	size_t n;

	if (cr->user == NULL || cr->secret == NULL)
		return NULL;
	plain = xasprintf("%s:%s", cr->user, cr->secret);
	n = strlen(plain);
	b64 = xmalloc(4 * (n / 3 + 1) + 1);
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)plain,
	    (int)n);
	hv = xasprintf("Authorization: Basic %s", b64);
	explicit_bzero(plain, n);
	explicit_bzero(b64, strlen(b64));
	free(plain);
	free(b64);
	return hv;
}

/* Append "&name=escaped(value)" to the query in *q. */
static void
query_add(CURL *e, char **q, const char *name, const char *value)
{
	char *v = curl_easy_escape(e, value, 0), *n;

	n = xasprintf("%s%s%s=%s", *q, **q ? "&" : "", name, v ? v : "");
	curl_free(v);
	free(*q);
	*q = n;
}

/*
 * auth_mu held: fetch a bearer token for scope from the realm of h->ch,
 * cache it and put its header in *out. cr is h's credentials or NULL.
 */
static int
fetch_token(struct regconn *k, struct host *h, const struct creds *cr,
    const char *scope, char **out, reg_check_fn check, void *ctx,
    struct reg_result *res)
{
	const struct challenge *ch = &h->ch;
	struct xfer x;
	struct buf body;
	struct host *th;
	char realm_host[256], what[300], *q, *url, *form = NULL, *auth;
	json_t *root, *tok, *exp;
	json_error_t je;
	CURLcode rc;
	double ttl = 60;
	int ret = -1, https = strncmp(ch->realm, "https://", 8) == 0;

	if ((!https && strncmp(ch->realm, "http://", 7) != 0) ||
	    url_hostport(ch->realm, realm_host, sizeof realm_host) != 0) {
		set_cause(res, REG_FATAL, "%s: bad token realm '%s'", h->name,
		    ch->realm);
		return -1;
	}
	snprintf(what, sizeof what, "token server %s", realm_host);
	if (cr != NULL && !https && strcmp(h->scheme, "https") == 0) {
		set_cause(res, REG_FATAL, "%s sends its token requests to "
		    "plain-HTTP %s: not sending credentials there", h->name,
		    ch->realm);
		return -1;
	}
	q = xstrdup("");
	if (ch->service[0] != '\0')
		query_add(k->easy, &q, "service", ch->service);
	query_add(k->easy, &q, "scope", scope);
	/* insufficient_scope may name another scope the request needs */
	if (ch->scope[0] != '\0' && strcmp(ch->scope, scope) != 0)
		query_add(k->easy, &q, "scope", ch->scope);
	if (cr != NULL && cr->identity_token != NULL) {
		/* docker's OAuth2 refresh-token grant */
		form = xstrdup(q);
		query_add(k->easy, &form, "grant_type", "refresh_token");
		query_add(k->easy, &form, "client_id", "pulltop");
		query_add(k->easy, &form, "refresh_token", cr->identity_token);
		url = xstrdup(ch->realm);
	} else {
		if (cr != NULL && cr->user != NULL && cr->user[0] != '\0')
			query_add(k->easy, &q, "account", cr->user);
		url = xasprintf("%s%s%s", ch->realm, strchr(ch->realm, '?') ?
		    "&" : "?", q);
	}
	free(q);

	xfer_init(&x, k->easy);
	buf_init(&body, TOKEN_MAX);
	x.body = &body;
	th = setup_easy(k, url, NULL, &x, 0, res);
	if (th == NULL)
		goto out;
	if (form != NULL)
		curl_easy_setopt(k->easy, CURLOPT_POSTFIELDS, form);
	else if (cr != NULL && cr->secret != NULL) {
		curl_easy_setopt(k->easy, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(k->easy, CURLOPT_USERNAME, cr->user);
		curl_easy_setopt(k->easy, CURLOPT_PASSWORD, cr->secret);
	}
	rc = perform(k, check, ctx);
	curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &x.status);
	res->status = x.status;
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		set_cause(res, REG_ABORTED, "cancelled");
	else if (rc != CURLE_OK)
		fail_curl(k, res, rc, what, th->name, &x);
	else if ((x.status == 401 || x.status == 403) && cr != NULL)
		set_cause(res, REG_FATAL, "unauthorized (%ld): %s rejected the "
		    "credentials from %s", x.status, what, cr->source);
	else if (x.status == 401 || x.status == 403)
		set_cause(res, REG_FATAL, "unauthorized (%ld): %s refused "
		    "anonymous access; log in with docker login %s, or use "
		    "--creds", x.status, what, h->name);
	else if (x.status != 200)
		set_cause(res, x.status == 429 || x.status >= 500 ? REG_RETRY :
		    REG_FATAL, "%s answered HTTP %ld", what, x.status);
	else if ((root = json_loadb(body.data ? body.data : "", body.len, 0,
	    &je)) == NULL || !json_is_object(root)) {
		set_cause(res, REG_FATAL, "%s answered something that is not "
		    "a token (not JSON)", what);
		json_decref(root);
	} else {
		tok = json_object_get(root, "token");
		if (!json_is_string(tok) || json_string_length(tok) == 0)
			tok = json_object_get(root, "access_token");
		exp = json_object_get(root, "expires_in");
		if (json_is_number(exp) && json_number_value(exp) > 0)
			ttl = json_number_value(exp);
		if (json_is_string(tok) && json_string_length(tok) > 0 &&
		    strpbrk(json_string_value(tok), "\r\n") == NULL) {
			auth = xasprintf("Authorization: Bearer %s",
			    json_string_value(tok));
			/* renew a little before it runs out */
			token_store(k->c, h, scope, auth,
			    ttl > 20 ? ttl - 10 : ttl / 2);
			*out = auth;
			ret = 0;
		} else
			set_cause(res, REG_FATAL, "%s answered without a token",
			    what);
		json_decref(root);
	}
out:
	if (body.data != NULL)
		explicit_bzero(body.data, body.len);
	buf_free(&body);
	buf_free(&x.errbody);
	if (form != NULL) {
		explicit_bzero(form, strlen(form));
		free(form);
	}
	free(url);
	return ret;
}

/*
 * The Authorization header for scope on h, or *auth NULL to go anonymous:
 * a cached one, else made now from the challenge h is known to ask (then
 * *fresh is set). One thread at a time fetches; the others then find its
 * token in the cache. 0, or -1 with res.
 */
static int
auth_prepare(struct regconn *k, struct host *h, const char *scope,
    char **auth, int *fresh, reg_check_fn check, void *ctx,
    struct reg_result *res)
{
	int ret = 0;

	*fresh = 0;
	*auth = token_lookup(k->c, h, scope);
	if (*auth != NULL)
		return 0;
	pthread_mutex_lock(&h->auth_mu);
	*auth = token_lookup(k->c, h, scope);
	if (*auth != NULL || h->ch.scheme[0] == '\0')
		goto out;
	if (strcasecmp(h->ch.scheme, "Basic") == 0) {
		if (creds_get(k, h, res) != 0) {
			ret = -1;
			goto out;
		}
		if (h->creds_state == 2 &&
		    (*auth = basic_header(&h->creds)) != NULL) {
			token_store(k->c, h, scope, *auth, BASIC_TTL);
			*fresh = 1;
		}
	} else if (strcasecmp(h->ch.scheme, "Bearer") == 0) {
		if (creds_get(k, h, res) != 0 ||
		    fetch_token(k, h, h->creds_state == 2 ? &h->creds : NULL,
		    scope, auth, check, ctx, res) != 0) {
			ret = -1;
			goto out;
		}
		*fresh = 1;
	}
out:
	pthread_mutex_unlock(&h->auth_mu);
	return ret;
}

/* A final 401 for repository repo on h: say why, and what would help. */
static void
auth_failed(struct regconn *k, struct host *h, const char *repo,
    const char *sent, struct reg_result *res, struct buf *errbody)
{
	char source[sizeof h->creds.source] = "";
	int challenged;

	(void)k;
	pthread_mutex_lock(&h->auth_mu);
	if (h->creds_state == 2)
		snprintf(source, sizeof source, "%s", h->creds.source);
	challenged = h->ch.scheme[0] != '\0';
	pthread_mutex_unlock(&h->auth_mu);
	res->status = 401;
	if (sent != NULL && strncmp(sent, "Authorization: Basic", 20) == 0)
		set_cause(res, REG_FATAL, "unauthorized (401): %s rejected the "
		    "credentials from %s", h->name, source);
	else if (sent != NULL && source[0] != '\0')
		set_cause(res, REG_FATAL, "unauthorized (401): no pull access "
		    "to %s with the credentials from %s", repo, source);
	else if (sent != NULL || challenged)
		set_cause(res, REG_FATAL, "unauthorized (401): %s needs "
		    "credentials (docker login %s, or --creds USER:PASSWORD)",
		    h->name, h->name);
	else {
		http_error(res, 401, errbody);
		res->err = REG_FATAL;
	}
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
		int to_origin = same_origin(url, origin_url);

		if (!keep_auth) {
			free(auth);
			auth = NULL;
			fresh = 0;
			if (to_origin && auth_prepare(k, h, scope, &auth,
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
		th = setup_easy(k, url, hdrs, &x, limit_rate, res);
		if (th == NULL)
			break;
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
			fail_curl(k, res, rc, th->name, th->name, &x);
			break;
		}
		if (x.status == 401 && to_origin) {
			struct challenge ch;
			int have = x.challenge[0] != '\0';

			if (have &&
			    auth_parse_challenge(x.challenge, &ch) != 0) {
				set_cause(res, REG_FATAL, "%s: unparseable "
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
				if (auth_prepare(k, h, scope, &auth, &fresh,
				    check, ctx, res) != 0)
					break;
				if (auth == NULL) {
					auth_failed(k, h, r->path, NULL, res,
					    &x.errbody);
					break;
				}
				rounds++;
				keep_auth = 1;
				hop--;	/* an auth round is not a redirect */
				continue;
			}
			auth_failed(k, h, r->path, auth, res, &x.errbody);
			break;
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
