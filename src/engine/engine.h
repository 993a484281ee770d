/*
 * jobq.h - the jobs queue: every image and blob of a pull, the worker
 * threads that download blobs, and the snapshots progress sinks read.
 *
 * DESIGN
 * One mutex guards all pull state. Image threads resolve manifests and add
 * blob jobs; worker threads take WAITING jobs, download them unlocked, and
 * publish progress by taking the lock briefly. Every state change bumps a
 * generation counter and writes to a wake-up fd (eventfd, else a pipe) that
 * the front end polls. The front end never touches live records: it calls
 * jobq_snapshot(), which copies what it shows under the lock, and draws from
 * the copy without it.
 */
#ifndef PULLTOP_JOBQ_H
#define PULLTOP_JOBQ_H

#include <stdint.h>
#include <stddef.h>

enum blob_state {
	BLOB_WAITING,		/* queued, no worker yet */
	BLOB_DOWNLOADING,
	BLOB_RETRYING,		/* waiting before the next attempt */
	BLOB_STALLED,		/* nothing received for a while */
	BLOB_VERIFYING,		/* all bytes in, checking digest */
	BLOB_EXTRACTING,	/* being unpacked */
	BLOB_DONE,		/* "Download complete" (or "Pull complete") */
	BLOB_EXISTS,		/* "Already exists" */
	BLOB_FAILED,
	BLOB_CANCELLED,
};

enum image_state {
	IMAGE_RESOLVING,
	IMAGE_DOWNLOADING,
	IMAGE_COMPLETE,
	IMAGE_FAILED,
	IMAGE_CANCELLED,
};

const char *blob_state_name(enum blob_state s);	/* docker's words */
const char *image_state_name(enum image_state s);
int blob_state_active(enum blob_state s);	/* shown in the Active pane */
int blob_state_final(enum blob_state s);

/* A copy of one blob job, as a snapshot holds it. */
struct snap_blob {
	int id;			/* stable index into the queue */
	char digest[72];	/* "sha256:<64 hex>" */
	char short_id[13];	/* first 12 hex */
	char media_type[96];
	enum blob_state state;
	uint64_t size;		/* from the manifest */
	uint64_t done;		/* bytes written (includes resumed bytes) */
	double speed;		/* bytes/s, smoothed */
	int attempts;		/* attempts started so far */
	int max_attempts;
	double retry_at;	/* monotonic time of the next attempt */
	double started, finished;	/* monotonic; 0 when not yet */
	char error[256];	/* last error, sanitized; "" if none */
	char images[128];	/* short names of the images using it */
	uint64_t image_mask;	/* bit i: image i uses this blob */
	int is_layer;		/* 0 for config blobs */
	int extracted;		/* unpacked: docker's "Pull complete" */
};

struct snap_image {
	int id;
	char ref[256];		/* full normalized reference, sanitized */
	char platform[128];	/* "linux/amd64", "" before resolution */
	char registry[256];	/* host[:port] */
	enum image_state state;
	char digest[72];	/* what the reference resolved to (docker's "Digest:") */
	int layers_total, layers_done;
	uint64_t bytes_total, bytes_done;
	int up_to_date;		/* every layer already existed, same digest */
	double started, finished;
	char error[256];
	char unpack_dir[256];	/* "" unless --unpack */
};

struct snap_event {
	uint64_t seq;
	double wall;		/* time(NULL)-style, for timestamps */
	int level;		/* 0 info, 1 warning, 2 error */
	char text[256];
};

struct snapshot {
	uint64_t gen;		/* bumps on every change */
	double now;		/* monotonic time of the copy */
	double started;
	int jobs_limit;
	int nimages, nblobs, nevents;
	struct snap_image *images;
	struct snap_blob *blobs;
	struct snap_event *events;	/* oldest first, at most JOBQ_EVENTS */
	int all_final;		/* nothing left running */
	uint64_t bytes_total, bytes_done;	/* unique blobs, layers only */
	double speed;		/* aggregate bytes/s */
};

#define JOBQ_EVENTS 256

struct jobq;
struct options;

struct jobq *jobq_new(const struct options *opt);
void jobq_free(struct jobq *q);

/* Start pulling reference text s. Returns the image id, or -1 with *cause. */
int jobq_add_image(struct jobq *q, const char *s, char **cause);

/* The fd a front end polls for wake-ups; call jobq_drain_wakeup() after. */
int jobq_wakeup_fd(struct jobq *q);
void jobq_drain_wakeup(struct jobq *q);

/* Copy the state under the lock. snapshot_free() releases the copy. */
void jobq_snapshot(struct jobq *q, struct snapshot *s);
void snapshot_free(struct snapshot *s);

/* Operations the keyboard calls; each returns 0, or -1 if not applicable. */
int jobq_cancel_blob(struct jobq *q, int blob_id);
int jobq_retry_blob(struct jobq *q, int blob_id);
int jobq_cancel_image(struct jobq *q, int image_id);
int jobq_retry_image(struct jobq *q, int image_id);
int jobq_retry_all(struct jobq *q);
void jobq_cancel_all(struct jobq *q);
int jobq_set_jobs(struct jobq *q, int n);	/* clamps to 1..32, returns it */

/* Wait until every image is final (or cancelled); used by headless runs. */
void jobq_wait_all(struct jobq *q);

/* Stop workers and image threads; safe after jobq_cancel_all(). */
void jobq_shutdown(struct jobq *q);

/* Append an event line (also used by the front end for its own notices). */
void jobq_event(struct jobq *q, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
