/*
 * reg_int.h - what the files of the registry client share, and nobody
 * outside src/registry/ sees:
 *
 *   client.c    the client, what it knows of each host, a thread's connection
 *   tls.c       each host's trust: the system bundle, --cacert, certs.d
 *   xfer.c      one HTTP exchange on curl: options, callbacks, the poll loop
 *   cause.c     the one-line cause of whatever went wrong
 *   token.c     credentials and bearer tokens: fetched, cached, refused
 *   registry.c  the /v2/ ping and the API GETs, with auth rounds and redirects
 *   mirror.c    each reference's mirror plan, and its endpoints tried in turn
 *
 * Locks: regclient.mu guards the host list and, in each host, its tokens,
 * its TLS settings and `answered`; host.auth_mu its challenge and
 * credentials, and makes token fetches one at a time; host.ping_mu its
 * scheme and `pinged`, and makes pings one at a time. A regconn is its
 * thread's own. The caller's check callback may run with a host's ping_mu
 * or auth_mu held (other threads wait on the ping or the token); its write
 * callback runs with no lock of ours held.
 *
 * Every request is under the stall timer (--stall-timeout, xfer.c): no
 * sign of life from the server for that long stops it, as REG_RETRY, so
 * the caller's --retries bound it. Every byte read into memory has a cap,
 * and running into one says so, naming the cap.
 */
#ifndef PULLTOP_REG_INT_H
#define PULLTOP_REG_INT_H

#include <curl/curl.h>
#include <pthread.h>

#include "registry.h"
#include "auth.h"
#include "creds.h"

#define ERRBODY_MAX	(64u << 10)	/* kept of an error answer's body */
#define TOKEN_MAX	(64u << 10)	/* a token server's answer */
#define CA_MAX		(16u << 20)	/* one host's extra CA certificates */
#define MAX_HOPS	5		/* redirects followed for one GET */
#define MAX_TOKENS	64		/* cached per host, oldest dropped */
#define HEADERS_MAX	(256u << 10)	/* all response headers of one GET */
#define CHALLENGE_MAX	4096		/* one WWW-Authenticate value */
#define LOCATION_MAX	8192		/* one redirect's Location */

struct token {
	char scope[512];
	char *value;		/* "Authorization: Bearer xyz" (or Basic) */
	double expires;
};

struct host {
	char name[256];		/* host[:port] */
	char scheme[8];		/* "http" or "https" */
	int insecure;		/* --insecure-registry: no TLS verification */
	pthread_mutex_t ping_mu;	/* one ping at a time; guards pinged */
	int pinged;
	int answered;		/* under regclient.mu: it answered this run */
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
	/* a plan's endpoint at this host (mirror.c), set before tls_ready:
	 * its ca, client and skip_verify go into the TLS settings */
	const struct mirror_endpoint *ep;
	int mirror;		/* reached as a mirror: --creds is not its */
	double rest_until;	/* under regclient.mu: a mirror nobody answered
				 * at is not asked until then (mirror.c) */
	struct host *next;
};

/* One GET against a repository's API path, as reg_get_* ask for it. */
struct reg_req {
	const struct ref *ref;
	const char *path;	/* "manifests/REF" or "blobs/DIGEST" */
	const char *accept;	/* an "Accept: ..." line, or NULL */
	const char *what;	/* "manifest", for a cause; NULL for a blob */
	int resolve;		/* a manifest by tag: needs `resolve` */
	struct buf *body;	/* the answer goes into this capped buffer, */
	reg_write_fn write;	/* or to write(ctx, ...) from offset on */
	void *ctx;
	uint64_t size;		/* a blob's descriptor size: no byte past it */
	uint64_t offset;	/* Range start */
	uint64_t end;		/* bounded Range end (exclusive), 0: open */
	uint64_t limit_rate;
	char *ctype;		/* the answer's Content-Type, or NULL */
	size_t ctype_n;
};

struct plan_cache;

struct regclient {
	const struct options *opt;
	CURLSH *share;
	pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
	pthread_mutex_t mu;	/* hosts, tokens and TLS settings */
	char *system_ca;	/* curl's default CA bundle file, or NULL */
	struct host *hosts;
	struct plan_cache *plans;	/* mirror.c, under mu */
};

struct regconn {
	struct regclient *c;
	CURL *easy;
	CURLM *multi;
	char errbuf[CURL_ERROR_SIZE];
	/* the call in progress: polled at least every 100 ms */
	reg_check_fn check;
	void *ctx;
	reg_note_fn note;	/* reg_conn_notes(), for one call */
};

/*
 * One HTTP exchange: what it is for, what came back. The callbacks in
 * xfer.c fill it; x->last_rx is when the server last showed a sign of life
 * (connected, a header or body bytes), which the stall timer watches.
 */
struct xfer {
	CURL *easy;
	struct host *host;	/* the one asked: the registry or another */
	const char *what;	/* who, in causes ("token server HOST"); or host */
	const char *req;	/* which request, for a stall: "GET /v2/"... */
	int redirected;		/* to a redirect's target, not the registry */
	long status;		/* known once headers are in */
	char ctype[128];
	char challenge[CHALLENGE_MAX];
	char content_range[128];
	char retry_after[32];
	char location[LOCATION_MAX];
	char rl_limit[64], rl_remaining[64];	/* ratelimit-* headers */
	int ctype_long, challenge_long, location_long;	/* did not fit */
	int got_status;		/* a status line came: the host answered */
	int headers_done;	/* the blank line after them came */
	size_t header_bytes;	/* of every response, 1xx included */
	int headers_big;	/* over HEADERS_MAX: stopped */
	/* body routing */
	struct buf *body;	/* manifest or token: capped buffer */
	struct buf errbody;	/* the start of any other body */
	int enough;		/* stopped reading a body we do not need */
	reg_write_fn write;	/* blob bytes go here... */
	void *ctx;
	uint64_t size;		/* ...at most this many in all (descriptor) */
	uint64_t offset;	/* Range asked for */
	uint64_t end;		/* bounded Range: its end (exclusive); 0 open */
	uint64_t limit_rate;	/* --limit-rate: read in small pieces */
	uint64_t skip;		/* bytes of a 200 still to drop */
	uint64_t delivered;	/* bytes given to write */
	int decided;		/* body routing chosen */
	int range_broken;
	int too_long;		/* more blob bytes than size: stopped */
	int write_failed;
	int local_errno;
	/* the clock */
	double last_rx;
	int connected;		/* the connection (and TLS) is up */
	int stalled;		/* nothing for --stall-timeout: stopped */
};

/* mirror.c */
int mirror_get(struct regconn *k, const struct reg_req *rq,
    struct reg_result *res);
void mirror_plans_free(struct regclient *c);
void mirror_host_bind(struct regclient *c, struct host *h,
    const struct mirror_endpoint *e);
void mirror_note(struct regconn *k, const struct reg_note *n);

/* registry.c: one endpoint's GET; *delivered: blob bytes handed on */
int api_get(struct regconn *k, const struct reg_req *rq,
    const struct mirror_endpoint *e, struct reg_result *res,
    uint64_t *delivered);

/* client.c */
struct host *host_get(struct regclient *c, const char *name);
int host_is_loopback(const char *name);
void host_answered(struct regclient *c, struct host *h);
int host_has_answered(struct regclient *c, struct host *h);
void host_learn(struct host *h, const struct challenge *ch);

/* tls.c */
const char *tls_certs_root(void);
int tls_certs_dir_exists(const char *name);
void tls_prepare(struct regclient *c, struct host *h);

/* xfer.c */
void xfer_init(struct xfer *x, CURL *e);
struct host *xfer_setup(struct regconn *k, const char *url,
    struct curl_slist *hdrs, struct xfer *x, struct reg_result *res);
CURLcode xfer_perform(struct regconn *k, struct xfer *x);
int xfer_same_origin(const char *a, const char *b);
int xfer_url_hostport(const char *url, char *out, size_t n);
char *xfer_url_resolve(const char *base, const char *loc);

/* cause.c */
void cause_set(struct reg_result *res, enum reg_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cause_http(struct reg_result *res, long status, struct buf *body);
int cause_curl(struct regconn *k, struct reg_result *res, CURLcode rc,
    const struct xfer *x);

/* token.c */
void token_wipe(struct token *t);
void token_drop(struct regclient *c, struct host *h, const char *scope,
    const char *value);
int token_prepare(struct regconn *k, struct host *h, const char *scope,
    char **auth, int *fresh, struct reg_result *res);
void token_refused(struct host *h, const char *repo, const char *sent,
    struct reg_result *res, struct buf *errbody);

#endif
