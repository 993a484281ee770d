/*
 * jobq_int.h - the live records behind the jobs queue, shared by jobq.c,
 * fetch.c and image.c and nobody else. Every field is guarded by q->mu
 * unless its comment says otherwise.
 */
#ifndef PULLTOP_JOBQ_INT_H
#define PULLTOP_JOBQ_INT_H

#include <pthread.h>

#include "engine.h"
#include "config.h"
#include "oci.h"
#include "util.h"

#define MAX_IMAGES 64
#define MAX_WORKERS 32

struct blob {
	int id;
	char digest[72];	/* immutable after creation */
	char media_type[96];
	uint64_t size;
	int is_layer;
	const struct ref *src;	/* where to fetch it: the first image's ref */
	enum blob_state state;
	uint64_t done;
	double speed;
	int attempts;
	double retry_at, started, finished;
	char error[256];
	uint64_t want;		/* bit i: image i (not cancelled) wants it */
	int cancel;		/* the worker must stop */
	int running;		/* a worker holds it */
	int extracted;		/* unpacked into a rootfs ("Pull complete") */
};

struct image {
	int id;
	struct jobq *q;		/* immutable */
	struct ref ref;		/* immutable after creation */
	char platform[128];
	char registry[256];
	enum image_state state;
	char digest[72];	/* the platform manifest's */
	char repo_digest[72];	/* what the reference resolved to */
	char media_type[128];
	struct buf manifest;	/* the chosen manifest's bytes */
	int *layers;		/* blob ids, manifest order */
	int nlayers;
	char (*diff_ids)[72];	/* from the config, with --unpack */
	int unpacked;		/* the rootfs is in place */
	char unpack_dir[256];
	int resolved;
	double started, finished;
	char error[256];
	int up_to_date;
	int cancel;		/* cancel requested */
	int retry;		/* retry requested: wakes a parked thread */
};

struct jobq {
	pthread_mutex_t mu;
	pthread_cond_t work;	/* workers wait here for jobs */
	pthread_cond_t change;	/* anything that waits on state */
	const struct options *opt;
	struct store *store;
	struct regclient *reg;
	char *platform;		/* wanted platform */
	struct image *images[MAX_IMAGES];
	int nimages;
	struct blob **blobs;
	int nblobs, cap_blobs;
	struct snap_event events[JOBQ_EVENTS];
	int ev_head, ev_count;
	uint64_t ev_seq;
	uint64_t gen;
	int wake_rd, wake_wr;	/* eventfd: both the same */
	int jobs_limit, active;
	pthread_t workers[MAX_WORKERS];
	int nworkers;
	int image_threads;
	int quit;
	double started;
};

/* Call with q->mu held after any change: bumps gen, wakes waiters. */
void jq_changed(struct jobq *q);
/* Lock held: im failed before its layers were of use; let them go. */
void jq_image_drop_locked(struct jobq *q, struct image *im);
/* jobq_event with the lock already held. */
void jq_event_locked(struct jobq *q, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Find or add a blob; lock held. */
struct blob *jq_blob_add(struct jobq *q, const struct ref *src,
    const char *digest, const char *media_type, uint64_t size, int is_layer);
/* Wait on cond until deadline (monotonic) or a change; lock held. */
void jq_wait_until(struct jobq *q, pthread_cond_t *c, double deadline);

/* fetch.c: run every attempt of one blob on a worker's connection. */
struct regconn;
void fetch_blob(struct jobq *q, struct regconn *k, struct blob *b);
/* The short "12 hex" id of a digest. */
const char *short_id(const char *digest, char *out);

/* image.c: the thread that resolves, waits for and commits one image. */
void *image_main(void *arg);

#endif
