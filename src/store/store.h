/*
 * store.h - the OCI image layout on disk.
 *
 *   STORE/oci-layout, STORE/index.json, STORE/blobs/sha256/<hex>
 *   STORE/ingest/<hex>.partial   downloads in progress (kept across runs)
 *   STORE/ingest/<hex>.ranges    what each range of a split download holds
 *   STORE/ingest/index.lock      serializes index.json updates
 *   STORE/ingest/store.lock      pulls share it, prune's sweep owns it
 *   STORE/ingest/lease-XXXXXX    what a running pulltop holds, not yet indexed
 *
 *   STORE/ingest/unsynced-BOOT-SINCE-PID-N  a run whose blobs may not all
 *                                be on disk yet (durable.c)
 *
 * A blob reaches blobs/ only by rename after its size and digest checked
 * out, so blobs/ never holds a wrong byte while the machine stays up; after
 * a restart, store_open hashes again what an unsynced run wrote.
 */
#ifndef PULLTOP_STORE_H
#define PULLTOP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct store;
struct sha256;

struct hasher;

struct ingest_map;

struct ingest {
	int fd;
	char *path;
	char digest[72];
	uint64_t size;		/* expected */
	uint64_t have;		/* bytes taken (written, or buffered to be) */
	uint64_t synced;	/* bytes handed to writeback so far */
	int early;		/* start writeback as bytes come (--fsync) */
	struct sha256 *hash;	/* over the first `have` bytes */
	struct hasher *hz;	/* large blobs: batching and a hash thread */
	struct ingest_map *map;	/* a split download's ranges, or NULL */
};

int store_open(const char *dir, struct store **out, char **cause) WUR;
void store_close(struct store *s);
/*
 * Durability (durable.c). By default a blob counts as stored once hashed
 * and renamed into blobs/, before the disk has it; a run's marker lets the
 * first store_open after a restart hash again what that run wrote. With
 * each != 0 (--fsync), every blob is fsynced before it counts instead.
 */
void store_set_fsync(struct store *s, int each);
/* What store_open did about runs cut short by a restart, as one line
 * (malloc'd; NULL when there were none); *removed (removed may be NULL):
 * whether it deleted blobs that were not whole. */
char *store_recovery(const struct store *s, int *removed);
const char *store_dir(const struct store *s);

/* The path of a committed blob (malloc'd). */
char *store_blob_path(const struct store *s, const char *digest);
/*
 * 1 if the blob is in blobs/ with this size. From this call (and from
 * store_put_small and store_ingest_commit) on, the blob is this process's
 * until it ends: store_prune never deletes it.
 */
int store_has_blob(struct store *s, const char *digest, uint64_t size);
/* The same for n blobs (a manifest's layers) under one lock, with one
 * write to the lease: there[i] for digests[i]. */
void store_has_blobs(struct store *s, const char *const *digests,
    const uint64_t *sizes, int n, int *there);

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
 * Check size and digest, fsync (with --fsync only) and rename into
 * blobs/. On a mismatch the partial is discarded (a wrong partial never
 * wedges later pulls).
 */
int store_ingest_commit(struct store *s, struct ingest *in, char **cause) WUR;
/* Close, keeping the partial for a later resume. */
void store_ingest_close(struct ingest *in);

/*
 * ---- a blob fetched as byte ranges at once (ranges.c) ----
 *
 * A split partial has a range map beside it, HEX.ranges: the ranges that
 * cover the blob and how many bytes from each range's start are in the
 * partial. Ranges are written in place (pwrite); the map is rewritten in
 * place (one small pwrite, with a CRC) after the bytes it counts are
 * written, so a kill at any moment leaves a map that undercounts, never
 * one that overcounts. The hash runs over the contiguous prefix only: `have`
 * is that prefix. store_ingest_open loads a map that matches its partial
 * (same digest and size, ranges that tile the blob, nothing counted past
 * the file's end, CRC right) and re-hashes only the prefix; a map that does
 * not match is deleted with the partial's bytes.
 *
 * Not thread-safe: the caller serializes every call on one ingest, except
 * store_ingest_pwrite, which threads may call at once on disjoint bytes,
 * and store_ingest_hash_to, which may run alongside them.
 */
#define STORE_RANGES_MAX 16

struct store_range {
	uint64_t start, end;	/* [start, end) of the blob */
	uint64_t done;		/* bytes from start on in the partial */
};

struct ingest_map {
	int fd;
	char *path;
	int n;
	struct store_range r[STORE_RANGES_MAX];
	uint64_t saved[STORE_RANGES_MAX];	/* done as the file says */
	unsigned char *rbuf;	/* read-back buffer for the hash */
};

/*
 * Make the open partial a split one of n ranges (when it has no map yet),
 * tiling [have, size) evenly after the prefix it has. 0, or -1 with *cause.
 */
int store_ingest_split(struct ingest *in, int n, char **cause) WUR;
/* Write bytes of the blob at offset (from any thread). 0, or -1, errno. */
int store_ingest_pwrite(struct ingest *in, uint64_t offset, const void *p,
    size_t n) WUR;
/*
 * Save the map when a range counts at least every bytes more than the
 * file says (0: always). 0, or -1 with errno.
 */
int store_ingest_map_save(struct ingest *in, uint64_t every) WUR;
/* The contiguous prefix the map's ranges hold. */
uint64_t store_ingest_prefix(const struct ingest *in);
/* Hash the bytes [have, upto) back from the partial; have = upto. 0/-1. */
int store_ingest_hash_to(struct ingest *in, uint64_t upto) WUR;
/*
 * Back to one stream: keep the prefix, drop the bytes past it and the
 * map; later bytes go through store_ingest_write. 0, or -1 with errno.
 */
int store_ingest_unsplit(struct ingest *in) WUR;

/*
 * Point refname at a manifest in index.json (replacing any entry of that
 * name), atomically. platform may be NULL. source is the digest the
 * registry knows the image by (recorded as an annotation), or NULL.
 */
int store_index_set(struct store *s, const char *refname,
    const char *media_type, const char *digest, uint64_t size,
    const char *platform, const char *source, char **cause) WUR;
/* Drop refname's entry from index.json: 0, 1 when it has none, -1. */
int store_index_remove(struct store *s, const char *refname,
    char **cause) WUR;
/*
 * The registry digest index.json records for refname (the source
 * annotation, else the manifest digest); 0 found, -1 not.
 */
int store_index_get(struct store *s, const char *refname, char *digest);

/* ---- space ---- */

/* Free bytes (for an unprivileged user) on the store's filesystem. 0/-1. */
int store_free_bytes(const struct store *s, uint64_t *bytes) WUR;

/*
 * Before an image's layers are queued: will what is still to fetch for
 * manifest m (and with unpack_dir, about what it unpacks to) fit, along
 * with what the images of this run that passed before still have to
 * fetch? 0 when it will (its blobs are then counted for the images after
 * it); -1 with *cause "needs 281 MB, 38 MB free on DIR (pulltop --prune
 * frees ...)" when not. When free space cannot be read, 0.
 */
struct manifest;
int store_space_check(struct store *s, const struct manifest *m,
    size_t manifest_len, const char *unpack_dir, char **cause) WUR;

/* ---- references, and what nothing references ---- */

struct store_blob_use {
	char digest[72];
	uint64_t size;		/* on disk; 0 when missing */
	int shared;		/* another reference uses it too */
	int missing;		/* not in blobs/ */
};

struct store_entry {
	char *ref;		/* the ref.name annotation, sanitized */
	char digest[72];
	char media_type[128];
	char platform[96];	/* "os/arch[/variant]", "" unknown */
	double pulled;		/* seconds since the epoch, 0 unknown */
	uint64_t size;		/* bytes of its blobs on disk */
	uint64_t shared;	/* of which in blobs other references use */
	int missing;		/* blobs it names that are not there */
	int nblobs;
	struct store_blob_use *blobs;	/* manifest first */
};

struct store_list {
	struct store_entry *entries;
	int n;
	uint64_t total;		/* every listed blob once */
};

/* Every reference in index.json, in its order. 0, or -1 with *cause. */
int store_list(struct store *s, struct store_list *out, char **cause) WUR;
void store_list_free(struct store_list *l);

#define STORE_PRUNE_AGE (24 * 3600.0)	/* --prune-age default, seconds */

struct store_prune {
	double age;		/* partials older than this, seconds; 0: all */
	int dry_run;		/* count, delete nothing */
	/* each deleted (or, dry, deletable) item: what is "blob"/"partial" */
	void (*each)(void *ctx, const char *what, const char *digest,
	    uint64_t size);
	void *ctx;
	/* results */
	uint64_t blobs, blob_bytes;	/* unreachable blobs */
	uint64_t partials, partial_bytes;	/* partials older than age */
	uint64_t held_partials;		/* a running pulltop's: kept */
	uint64_t young_partials, young_bytes;	/* younger than age: kept */
};

/*
 * Delete every blob that neither index.json (through its manifests and
 * indexes) nor a running pulltop reaches, and every partial older than
 * p->age that no pulltop is downloading. Takes the store lock exclusive.
 * 0, or -1 with *cause (a manifest index.json names cannot be read:
 * nothing is deleted then).
 */
int store_prune(struct store *s, struct store_prune *p, char **cause) WUR;

/*
 * This process no longer holds these blobs (an image of its run was taken
 * out of the store): its lease stops naming them, so a prune may take the
 * ones nothing else reaches. 0, or -1.
 */
int store_lease_forget(struct store *s, const char *const *digests, int n)
    WUR;

/*
 * What pruning would free now, as a phrase for an error line: "pulltop
 * --prune frees 212 MB of old partials" (malloc'd).
 */
char *store_prune_hint(struct store *s);

/* ---- the store commands: pulltop --list, --rm, --prune ---- */

enum store_action { STORE_LIST = 1, STORE_RM, STORE_PRUNE };
enum store_format { STORE_PLAIN, STORE_JSON, STORE_QUIET };

struct store_cmd {
	enum store_action action;
	enum store_format format;
	const char *dir;
	char *const *refs;	/* --rm */
	int nrefs;
	double age;		/* --prune-age, seconds */
	int dry_run;		/* -n */
};

/* Run one; returns the exit status (0, or 1 with a line on stderr). */
int store_cmd_run(const struct store_cmd *c);
/* "24h", "90m", "30s", "7d", "0" (a bare number is seconds); 0 or -1. */
int store_parse_age(const char *s, double *secs);

#endif
