/*
 * store_int.h - what the store's own files share, and nobody else sees:
 * the store record, atomic writes, index.json access, the store lock and
 * this process's lease, and the walk of what index.json reaches.
 *
 * LOCKS, all flock(2), all in STORE/ingest/
 *   index.lock      exclusive around each read-modify-write of index.json
 *   store.lock      shared while a pull puts a blob into blobs/ or finds one
 *                   there and notes it in its lease; exclusive while prune
 *                   decides what nothing holds and deletes it
 *   lease-XXXXXX    one per pulling process, locked for its whole life: the
 *                   digests it put or found, so that prune keeps them until
 *                   index.json names them (a dead process's lease is stale)
 *   HEX.partial     locked by whoever downloads that blob
 */
#ifndef PULLTOP_STORE_INT_H
#define PULLTOP_STORE_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#define REFNAME "org.opencontainers.image.ref.name"
#define SOURCE "dev.pulltop.source.digest"
#define PULLED "dev.pulltop.pulled"
#define BLOB_JSON_MAX (4u << 20)	/* manifests and indexes */

struct store {
	char *dir;
	pthread_mutex_t mu;	/* the lease and the reservations */
	int lease_fd;		/* -1 until this process first holds a blob */
	char *lease_path;
	json_t *held;		/* digests written to the lease: a set */
	/*
	 * Space counted on by the images of this run (space.c): reserved
	 * maps a digest no download of ours has opened yet to what it still
	 * needed when it was counted, res_sum is their sum; once its ingest
	 * opens, the digest moves to touched (digest -> size), whose
	 * partials are measured, and leaves it when it is committed. So a
	 * check costs O(blobs being fetched), not O(blobs of the run).
	 */
	json_t *reserved;
	json_t *touched;
	uint64_t res_sum;
	/* durable.c: fsync each blob (--fsync, or no boot id), else this
	 * run's marker once made; what store_open found after a restart */
	int fsync_each;
	char boot[33];
	int marker_fd;
	unsigned rec_marks, rec_checked, rec_removed;
};

/* space.c, s->mu not held: digest's ingest opened / committed. */
void space_touch(struct store *s, const char *digest, uint64_t size);
void space_done(struct store *s, const char *digest);

/* durable.c: read the boot id; make this run's marker before its first unsynced blob
 * (0, or -1 with errno); at store_open, check what runs before a restart
 * left; at store_close, close the marker */
void durable_init(struct store *s);
int durable_mark(struct store *s);
void durable_recover(struct store *s);
void durable_close(struct store *s);

/* store.c */
void fsync_dir(const char *dir);
/* 1 if the blob is in blobs/ with this size (no lock, no lease). */
int blob_there(const struct store *s, const char *digest, uint64_t size);
/* write_atomic's sync: none, the file, the file then its folder */
enum { WA_NOSYNC, WA_SYNC, WA_SYNC_DIR };
/* keep: dst is a blob, and one already in place is a success */
int write_atomic(const char *tmpdir, const char *dir, const char *name,
    const void *p, size_t n, int sync, int keep, char **cause);

/* store.c: write and hash what a large blob's hash thread holds, and
 * stop it (later bytes are hashed inline) */
void ingest_hz_stop(struct ingest *in);

/* ranges.c: the map beside a partial of fsize bytes: 1 loaded, 0 none,
 * -1 one that does not match (deleted); and deleting it */
int ranges_load(struct ingest *in, uint64_t fsize);
void ranges_drop(struct ingest *in);
/* Close and free in's map, leaving its file as it is. */
void ranges_free(struct ingest *in);

/* index.c */
json_t *index_load(struct store *s, char **cause);
int index_lock(struct store *s);
const char *entry_refname(json_t *e);

/* lease.c: the store lock (LOCK_SH or LOCK_EX): an fd, or -1 with errno */
int store_lock(const struct store *s, int how);
void store_unlock(int fd);
/* Store lock held shared: note that this process holds digest. 0 or -1. */
int lease_note(struct store *s, const char *digest);
/* The same for n digests, written in one go. */
int lease_note_many(struct store *s, const char *const *digests, int n);
void lease_close(struct store *s);
/*
 * Store lock held exclusive: add to set the digests every live lease
 * holds; with sweep, delete the leases of processes that are gone.
 */
void lease_roots(struct store *s, json_t *set, int sweep);

/* gc.c: 1 if the first 64 characters of s are lowercase hex */
int is_hex64(const char *s);
/* gc.c: add to set every blob that digest (of media type mt) reaches.
 * 0, or -1 with *cause when a manifest or index cannot be read. */
int gc_mark(struct store *s, const char *digest, const char *mt,
    json_t *set, int depth, char **cause);
/* The same from index.json entry e (and the registry's own manifest a
 * Docker entry keeps beside its OCI copy). */
int gc_mark_entry(struct store *s, json_t *e, json_t *set, char **cause);
/* Bytes in the partial of digest (0 when none). */
uint64_t gc_partial_size(const struct store *s, const char *digest);
/* err is ENOSPC: append to *cause what pulltop --prune would free. */
void store_enospc_hint(struct store *s, int err, char **cause);

#endif
