/*
 * ingest.h - the text of containerd's ingest files (private to src/watch):
 * an active download lives in <content>/ingest/<hex>/ with the files
 * "ref", "total" (may be missing), "startedat", "updatedat" and "data"
 * (the bytes so far). Formats as containerd 1.6's content/local store
 * writes them; nothing here trusts them.
 */
#ifndef PULLTOP_WATCH_INGEST_H
#define PULLTOP_WATCH_INGEST_H

#include <stddef.h>
#include <stdint.h>

#define INGEST_FILE_MAX 4096	/* bytes read of ref, total, timestamps */

/*
 * What a "ref" file says: containerd's metadata store writes
 * "<namespace>/<seq>/<client ref>", and clients name a download like
 * "layer-sha256:<hex>" (containerd's remotes: "layer", "config",
 * "manifest", "index" or "unknown", "-", an optional "name@", then the
 * digest).
 */
struct ingest_ref {
	char *ns;		/* NULL when the text has no namespace */
	uint64_t seq;
	char *client;		/* the client's ref; the whole text if bad */
	char kind[12];		/* "layer", "config", ... or "" */
	char digest[72];	/* "sha256:<64 hex>" or "" */
};

/* Parse n bytes of a ref file; 0, or -1 when it is malformed (*r then
 * holds what could be read; free it all the same). */
int ingest_ref_parse(const char *s, size_t n, struct ingest_ref *r);
void ingest_ref_free(struct ingest_ref *r);

/* The "total" file: a positive decimal size. 0, or -1 when malformed. */
int ingest_total_parse(const char *s, size_t n, uint64_t *out);

/*
 * The "startedat" and "updatedat" files: Go's time.MarshalText, RFC 3339
 * with up to 9 fraction digits ("2024-05-01T10:11:12.123456789Z", or an
 * offset like "+02:00"). Seconds since the epoch into *out; 0 or -1.
 */
int ingest_time_parse(const char *s, size_t n, double *out);

#endif
