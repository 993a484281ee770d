/*
 * registry.h - the OCI distribution API client, on libcurl.
 *
 * One regclient per run holds the curl share (DNS, TLS sessions), what is
 * known about each registry host (scheme, whether it answered /v2/) and
 * the bearer tokens, all shared by the threads. Each thread makes its
 * requests through a regconn of its own, whose connections it keeps.
 *
 * Every request of a call - the /v2/ ping, token requests, redirects, the
 * GET - stops when the server shows no sign of life for --stall-timeout
 * (REG_RETRY), and every answer read into memory has a cap: neither a
 * silent server nor an endless answer holds a call. The caller's attempts
 * (--retries) bound the rest.
 */
#ifndef PULLTOP_REGISTRY_H
#define PULLTOP_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct options;
struct ref;

enum reg_err {
	REG_OK = 0,
	/* transient: a stall, a reset, a timeout, 408, 429, 5xx, a host that
	 * answered earlier in this run refusing or unresolvable */
	REG_RETRY,
	/* retrying will not help: 401, 403, 404, a bad or oversized answer,
	 * nobody there on first contact (refused, unknown host, TLS) */
	REG_FATAL,
	REG_ABORTED,	/* the check callback asked to stop */
	REG_LOCAL,	/* the write callback failed (errno in local_errno) */
};

struct reg_result {
	enum reg_err err;
	long status;		/* last HTTP status, 0 if none */
	double retry_after;	/* seconds, from Retry-After; 0 if none */
	int range_broken;	/* server mishandled Range: restart from 0 */
	int local_errno;
	char cause[256];	/* one line, no reference in it */
};

/*
 * The two callbacks a caller hands to reg_get_manifest and reg_get_blob,
 * with the ctx it passed. Both run on the calling thread, inside that
 * call; ctx is the caller's.
 *
 * reg_check_fn: may I go on? Called at least every 100 ms for as long as
 *   the call runs - the /v2/ ping, token requests, redirects and the GET
 *   itself - whether bytes arrive or not.
 *   - return 0 to go on, non-zero to stop: the call then fails REG_ABORTED
 *     within about 100 ms (a blob's bytes already written stay written).
 *   - may take the caller's own locks and read its state; must return
 *     quickly and must not sleep: it is on the path of every poll, and it
 *     may run while the client holds a lock of the host's that other
 *     threads wait on (during the ping or a token request).
 *   - must not call into the registry client (not on this regconn, which
 *     is busy, and not reg_free): it is not reentrant.
 *   - the stall timer (--stall-timeout) is the client's own: a check
 *     callback need not keep one, though it may (stopping is its right).
 *
 * reg_write_fn: here are the next n bytes of the blob. Only the body of
 *   the final 2xx answer comes here, in order, starting at the offset
 *   asked for (a 200 answer's first offset bytes are dropped first); never
 *   an error answer, a redirect's body or a 206 that starts elsewhere, and
 *   never a byte past the descriptor's size (for reg_get_blob_range: only
 *   a 206 for exactly the range asked, never a byte past its end).
 *   - return 0 to go on; -1 with errno set to stop: the call fails
 *     REG_LOCAL with that errno in local_errno and strerror in cause.
 *   - may block (--limit-rate paces here): the time it takes does not
 *     count as a stall. It runs with no lock of the client held, and may
 *     take the caller's.
 *   - must not call into the registry client; p is valid only during the
 *     call.
 *   - after any failure the caller owns what it received: the client never
 *     takes bytes back (range_broken tells it to start over).
 */
typedef int (*reg_check_fn)(void *ctx);
typedef int (*reg_write_fn)(void *ctx, const void *p, size_t n);

struct regclient;
struct regconn;

struct regclient *reg_new(const struct options *o);
void reg_free(struct regclient *c);

struct regconn *reg_conn_new(struct regclient *c);
/* Call from the thread that used k: it also frees that thread's TLS state. */
void reg_conn_free(struct regconn *k);

/* The host[:port] requests for r go to, and the scheme once known. */
const char *reg_host(const struct ref *r);

#define MANIFEST_MAX (4u << 20)

/*
 * GET a manifest or index by tag or digest into body (at most 4 MiB);
 * its Content-Type goes into ctype.
 */
int reg_get_manifest(struct regconn *k, const struct ref *r,
    const char *reference, struct buf *body, char *ctype, size_t ctype_n,
    reg_check_fn check, void *ctx, struct reg_result *res) WUR;

/*
 * GET a blob of size bytes (its descriptor's) from byte offset on, handing
 * its bytes to write. Redirects are followed without credentials to any
 * other origin. A 200 answer to a Range request has its first offset bytes
 * skipped; a 206 starting elsewhere sets range_broken and fails as
 * REG_RETRY without writing a byte of it. An answer longer than size fails
 * REG_FATAL, before a byte of it is written when its Content-Length says
 * so, else at the first byte past size.
 */
int reg_get_blob(struct regconn *k, const struct ref *r, const char *digest,
    uint64_t size, uint64_t offset, uint64_t limit_rate, reg_write_fn write,
    reg_check_fn check, void *ctx, struct reg_result *res) WUR;

/*
 * GET the bytes [offset, end) of a blob of size bytes, asking for the
 * bounded "Range: bytes=offset-(end-1)" (0 <= offset < end <= size), through
 * the registry and any redirect, as reg_get_blob does (every call asks the
 * registry afresh, so an expired one-time storage URL is never reused).
 * Only a 206 whose Content-Range is exactly "bytes offset-(end-1)/size"
 * (and whose body is that long) reaches write; a 200, any other range, a
 * missing or wrong Content-Range, or a body running past end sets
 * range_broken and fails REG_RETRY, with no byte of the wrong answer
 * written (a body that runs past end: none past end). The caller then
 * stops splitting the blob.
 */
int reg_get_blob_range(struct regconn *k, const struct ref *r,
    const char *digest, uint64_t size, uint64_t offset, uint64_t end,
    reg_write_fn write, reg_check_fn check, void *ctx,
    struct reg_result *res) WUR;

/* The START of a Content-Range value "bytes START-END/TOTAL", or -1. */
long long reg_content_range_start(const char *s);
/*
 * All of "bytes START-END/TOTAL" (TOTAL "*" gives -1): 0, or -1 when s is
 * not that.
 */
int reg_content_range_parse(const char *s, long long *start, long long *end,
    long long *total);

/*
 * Credentials for a client that reaches host through someone else (the
 * Docker Engine's X-Registry-Auth), found as for pulltop's own requests
 * (creds.c): override (--creds USER:PASSWORD) or docker's config.json and
 * helpers. host is as reg_host() gives it; server is docker's key for it
 * ("https://index.docker.io/v1/" for Docker Hub, else host[:port]).
 * Returns 0 with *out filled, 1 when there are none, -1 with *cause (never
 * a secret in it). reg_creds_free() wipes what *out holds.
 */
struct reg_creds {
	char *user;		/* NULL with an identity token alone */
	char *secret;
	char *identity_token;
	char server[300];
};

int reg_creds_lookup(const char *host, const char *override,
    struct reg_creds *out, char **cause) WUR;
void reg_creds_free(struct reg_creds *c);

/*
 * Mirrors (config.h says where their configuration comes from). Each
 * reg_get_* call tries the endpoints of its reference's mirror plan that
 * may serve it, in order - a manifest by tag needs `resolve`, anything by
 * digest `pull` - then the registry itself. A mirror that fails before a
 * byte of the answer was handed on (no connection, 404, 5xx, 401...)
 * passes the request to the next endpoint. Requests to a mirror carry
 * ?ns=REGISTRY; its own TLS settings, headers and credentials go with
 * them (--creds is the registry's only, never a mirror's).
 *
 * A caller that wants to know which endpoint serves a call, which
 * mirror failed and the rate limit a registry announced sets a note
 * callback with reg_conn_notes() before the call; it is called on the
 * calling thread with no lock of the client held, with the call's ctx,
 * and forgotten when the call returns. It must not call into the client.
 */
enum reg_note_kind {
	REG_NOTE_SERVING,	/* endpoint is asked now */
	REG_NOTE_FALLBACK,	/* endpoint failed (cause); next is asked */
	REG_NOTE_RATELIMIT,	/* endpoint's ratelimit-* headers */
};

struct reg_note {
	enum reg_note_kind kind;
	const char *endpoint;	/* host[:port] (for a rate limit: the
				   registry's name, "docker.io") */
	int is_mirror;		/* the endpoint is not the registry */
	int mirrored;		/* the plan has a mirror at all */
	const char *cause;	/* FALLBACK: why */
	const char *next;	/* FALLBACK: who is asked next */
	long limit, remaining;	/* RATELIMIT: requests */
	long window;		/* RATELIMIT: seconds, 0 when not said */
};

typedef void (*reg_note_fn)(void *ctx, const struct reg_note *n);

void reg_conn_notes(struct regconn *k, reg_note_fn fn);

/*
 * "N;w=SECONDS" (a ratelimit-limit or ratelimit-remaining value): 0 with
 * *n and *window (0 when there is no w=), or -1.
 */
int reg_ratelimit_parse(const char *s, long *n, long *window);

#endif
