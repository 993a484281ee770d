/*
 * engine_int.h - pulltop's own pull engine inside: the jobs queue, its
 * worker threads, one thread per image, and the state machine that is the
 * only writer of blob and image states. Shared by the files of
 * src/engine and nobody else.
 *
 * LOCKING
 * One mutex guards everything here and the model's records: the model's
 * own (q->mu is model_mutex(q->m)). Workers download unlocked and take
 * the lock to publish progress or change state. Views never take it for
 * long: they copy changed records (see model.h).
 *
 * IDS
 * An engine blob or image has the id of its model record; q->blobs[id]
 * and model_blob(q->m, id) are the same blob.
 */
#ifndef PULLTOP_ENGINE_INT_H
#define PULLTOP_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "engine.h"
#include "config.h"
#include "model.h"
#include "oci.h"
#include "util.h"

#define MAX_WORKERS 32
/* threads per job: one downloads while another fsyncs and commits */
#define WORKERS_PER_JOB 2
#define JQ_HOSTS_MAX 16		/* registries with a connection budget */

/* A small set of image ids (the images that still want a blob). */
struct idset {
	int *v;
	int n, cap;
};

struct blob {
	int id;
	struct model_blob *m;	/* display state: state, bytes, error... */
	const struct ref *src;	/* where to fetch it: the first image's ref */
	struct idset want;	/* images (not cancelled) that want it */
	int cancel;		/* the worker must stop */
	int running;		/* a worker holds it */
	int slot;		/* and counts in q->active: it downloads (a
				 * blob being committed gives its slot back) */
	int split;		/* its probe found one stream too slow: the
				 * next attempt goes split (chunks.c) */
	int same_attempt;	/* that attempt goes on the probe's */
	int flipped;		/* became final, or stopped being so, since
				 * its images' threads were last woken */
};

struct image {
	int id;
	struct jobq *q;		/* immutable */
	struct model_image *m;	/* display state */
	struct ref ref;		/* immutable after creation */
	char digest[72];	/* the platform manifest's */
	char media_type[128];
	struct buf manifest;	/* the chosen manifest's bytes */
	int *layers;		/* blob ids, manifest order */
	int nlayers;
	char (*diff_ids)[72];	/* from the config, with --unpack */
	int unpacked;		/* the rootfs is in place */
	int resolved;
	int cancel;		/* cancel requested */
	int retry;		/* retry requested: wakes a parked thread */
	pthread_cond_t cv;	/* its thread waits here: woken by changes to
				 * it and to its layers, not by every change */
};

struct jobq {
	pthread_mutex_t *mu;	/* the model's */
	pthread_cond_t work;	/* workers wait here for jobs */
	pthread_cond_t change;	/* workers in a retry wait, shutdown */
	struct model *m;
	const struct options *opt;
	struct store *store;
	struct regclient *reg;
	char *platform;		/* wanted platform */
	struct image **images;
	int nimages, cap_images;
	struct blob **blobs;
	int nblobs, cap_blobs;
	int scan_from;		/* no WAITING blob below this index */
	int jobs_limit, active;
	int slot_waiters;	/* blobs waiting in jq_slot_take */
	pthread_t workers[MAX_WORKERS * WORKERS_PER_JOB];
	int nworkers;
	int image_threads;
	int quit;
	_Atomic long long space_ms;	/* when jq_space last ran (monotonic) */
	int gave_up;		/* cancel_all stopped an image midway */
	/* chunks.c: extra range connections in use, per registry host */
	struct {
		char host[256];
		int used;
	} conns[JQ_HOSTS_MAX];
	int nconns;
};

/* jobq.c */
/* Lock held: after a change that workers or shutdown may wait for. */
void jq_changed(struct jobq *q);
/* Lock held: wake the threads that wait on blob b (workers, and those of
 * its images that can go on: see jobq.c) or on image im. */
void jq_blob_wake(struct jobq *q, struct blob *b);
/* Lock held: 1 when every layer of im is final; *bad (if bad is not NULL)
 * names the first failed one, else the first cancelled, else NULL. */
int jq_layers_final(struct jobq *q, const struct image *im,
    struct blob **bad);
void jq_image_wake(struct jobq *q, struct image *im);
/* Wait on cond until deadline (monotonic) or a change; lock held. */
void jq_wait_until(struct jobq *q, pthread_cond_t *c, double deadline);
/* Lock held: blob b's worker takes a download slot (waits for one under
 * -j), or gives it back once the bytes are in and it commits. */
void jq_slot_take(struct jobq *q, struct blob *b);
void jq_slot_give(struct jobq *q, struct blob *b);
/* Find or add a layer blob; lock held. A new one is EXISTS if there (what
 * store_has_blobs said of it), else WAITING: the caller wakes the workers
 * once for all it added. */
struct blob *jq_blob_add(struct jobq *q, const struct ref *src,
    const char *digest, const char *media_type, uint64_t size, int there);

/* idset.c-style helpers (jobq.c) */
int idset_has(const struct idset *s, int id);
void idset_add(struct idset *s, int id);
void idset_del(struct idset *s, int id);

/*
 * state.c: the only writer of blob and image states. Every function takes
 * the lock held, changes the engine's and the model's record together,
 * records the event that goes with it, and wakes whoever waits.
 */
void st_blob_waiting(struct jobq *q, struct blob *b, const char *note);
int st_blob_requeue(struct jobq *q, struct blob *b, int asked);
void st_blob_attempt(struct jobq *q, struct blob *b, uint64_t have);
void st_blob_progress(struct jobq *q, struct blob *b, uint64_t done,
    double speed);
void st_blob_stalled(struct jobq *q, struct blob *b, int stalled);
/* The ranges of a split blob as they stand (n 0: one stream again). */
void st_blob_ranges(struct jobq *q, struct blob *b,
    const struct model_range *r, int n);
void st_blob_verifying(struct jobq *q, struct blob *b);
void st_blob_retry_wait(struct jobq *q, struct blob *b, double delay,
    const char *cause);
void st_blob_finish(struct jobq *q, struct blob *b, enum blob_state st,
    const char *cause);
int st_blob_cancel(struct jobq *q, struct blob *b, int quiet);
void st_blob_extracting(struct jobq *q, struct blob *b);
void st_blob_extracted(struct jobq *q, struct blob *b, enum blob_state back,
    int ok);
void st_blob_extract_progress(struct jobq *q, struct blob *b, uint64_t done,
    uint64_t total);

void st_image_resolved(struct jobq *q, struct image *im, const char *platform,
    const char *repo_digest);
void st_image_resolving(struct jobq *q, struct image *im);
void st_image_downloading(struct jobq *q, struct image *im);
void st_image_fail(struct jobq *q, struct image *im, enum image_state st,
    const char *cause);
void st_image_complete(struct jobq *q, struct image *im);
void st_image_loading(struct jobq *q, struct image *im, const char *line);
void st_image_loaded(struct jobq *q, struct image *im, int engine_had_it);
int st_image_cancel(struct jobq *q, struct image *im);
int st_image_retry(struct jobq *q, struct image *im);
void st_image_drop(struct jobq *q, struct image *im);
int st_blob_retry(struct jobq *q, struct blob *b);

/*
 * state.c: lock held: what the registry client noted during a call for
 * image im or blob b (either may be NULL): the endpoint serving it (its
 * model index into *ep when ep is not NULL; only when a mirror is
 * configured), a mirror that failed (an event), a rate limit.
 */
struct reg_note;
void st_note(struct jobq *q, struct image *im, struct blob *b,
    const struct reg_note *n, int *ep);

/* fetch.c: run every attempt of one blob on a worker's connection. */
struct regconn;
void fetch_blob(struct jobq *q, struct regconn *k, struct blob *b);

/*
 * chunks.c: fetch blob b into its open partial in as byte ranges on
 * several connections, when the options and the blob call for it. 0 when
 * committed; -1 failed (res; *cancelled when it was a cancel); 1 when the
 * blob is to go as one stream (not split, or the server mishandled a
 * range: in is then back to a plain partial of its prefix).
 */
struct ingest;
struct reg_result;
int chunks_fetch(struct jobq *q, struct blob *b, struct ingest *in,
    struct reg_result *res, int *cancelled);
/*
 * Whether a blob about to go as one stream may still be split: then that
 * stream is a probe, and once it has run CHUNKS_PROBE seconds its rate
 * decides (chunks_worth): when the rest would take more than CHUNKS_WORTH
 * seconds at it, the stream stops and the blob goes split from there. On
 * a fast link a big blob never splits: more connections would only cost.
 */
#define CHUNKS_PROBE 0.5
#define CHUNKS_WORTH 2.0
int chunks_may_split(const struct jobq *q, const struct blob *b,
    const struct ingest *in);
int chunks_worth(uint64_t left, uint64_t got, double secs);

/* image.c: the thread that resolves, waits for and commits one image. */
void *image_main(void *arg);

#endif
