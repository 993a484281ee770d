/*
 * store.h - the OCI image layout on disk.
 *
 *   STORE/oci-layout, STORE/index.json, STORE/blobs/sha256/<hex>
 *   STORE/ingest/<hex>.partial   downloads in progress (kept across runs)
 *   STORE/ingest/index.lock      serializes index.json updates
 *
 * A blob reaches blobs/ only by rename after its size and digest checked
 * out and its bytes were fsynced, so blobs/ never holds a wrong byte.
 */
#ifndef PULLTOP_STORE_H
#define PULLTOP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct store;
struct sha256;

struct hasher;

struct ingest {
	int fd;
	char *path;
	char digest[72];
	uint64_t size;		/* expected */
	uint64_t have;		/* bytes taken (written, or buffered to be) */
	uint64_t synced;	/* bytes handed to writeback so far */
	struct sha256 *hash;	/* over the first `have` bytes */
	struct hasher *hz;	/* large blobs: batching and a hash thread */
};

int store_open(const char *dir, struct store **out, char **cause) WUR;
void store_close(struct store *s);
const char *store_dir(const struct store *s);

/* The path of a committed blob (malloc'd). */
char *store_blob_path(const struct store *s, const char *digest);
/* 1 if the blob is in blobs/ with this size. */
int store_has_blob(const struct store *s, const char *digest, uint64_t size);

/* Hash p, check it is digest, write it atomically into blobs/. */
int store_put_small(struct store *s, const char *digest, const void *p,
    size_t n, char **cause) WUR;
/* Read a committed blob of at most max bytes. */
int store_read_small(struct store *s, const char *digest, size_t max,
    struct buf *out, char **cause) WUR;

/*
 * Open the partial download of digest, resuming what an earlier run left:
 * the bytes already there are re-hashed. Returns 0; 1 when another process
 * holds it (try again later); -1 with *cause.
 */
int store_ingest_open(struct store *s, const char *digest, uint64_t size,
    struct ingest *in, char **cause) WUR;
int store_ingest_write(struct ingest *in, const void *p, size_t n) WUR;
/* Throw the partial's bytes away and start again from 0. */
int store_ingest_reset(struct ingest *in) WUR;
/*
 * Check size and digest, fsync and rename into blobs/. On a mismatch the
 * partial is discarded (a wrong partial never wedges later pulls).
 */
int store_ingest_commit(struct store *s, struct ingest *in, char **cause) WUR;
/* Close, keeping the partial for a later resume. */
void store_ingest_close(struct ingest *in);

/*
 * Point refname at a manifest in index.json (replacing any entry of that
 * name), atomically. platform may be NULL. source is the digest the
 * registry knows the image by (recorded as an annotation), or NULL.
 */
int store_index_set(struct store *s, const char *refname,
    const char *media_type, const char *digest, uint64_t size,
    const char *platform, const char *source, char **cause) WUR;
/*
 * The registry digest index.json records for refname (the source
 * annotation, else the manifest digest); 0 found, -1 not.
 */
int store_index_get(struct store *s, const char *refname, char *digest);

#endif
