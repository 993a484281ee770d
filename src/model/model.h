/*
 * model.h - what a pull looks like, whoever does it: images, the blobs
 * (layers and configs) they are made of, and a log of events; and the
 * source interface every view (dashboard, plain, JSON, quiet) reads.
 *
 * DESIGN
 * A source is anything that pulls, or watches a pull: pulltop's own engine
 * (src/engine), the Docker Engine API, containerd's content store. It owns
 * a struct model and writes into it; views read the model only through
 * snapshots, never the live records.
 *
 * Writers (any thread of the source) take model_lock(), change the live
 * records, call model_touch_blob() / model_touch_image() for each record
 * changed, and model_unlock(). A touch stamps the record with a new
 * generation and makes the wake-up fd readable (once, until it is
 * drained: a busy source costs one write(2) per wake-up, not per change).
 * Strings in records are heap strings kept whole: no length is cut.
 * Immutable ones (a reference, a digest) are set when the record is added
 * and live as long as the model; the mutable ones (error, platform, the
 * image's digest, unpack folder) are replaced with model_set_str().
 *
 * A view keeps one struct snapshot for its whole life and refreshes it
 * with model_snapshot(): under the lock that copies only the records
 * stamped since the last refresh, and the new events; everything derived
 * (per-image totals, overall bytes and speed, "all final") is computed
 * after the lock is dropped. So the lock is held to copy, never to format
 * or search, and a refresh costs O(records changed) plus one pass over
 * the copy.
 *
 * Records are never removed while the model lives; ids are indexes, stable
 * for the run. A snapshot shares the immutable strings with the model, so
 * it must be freed before the model is.
 */
#ifndef PULLTOP_MODEL_H
#define PULLTOP_MODEL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- states */

enum blob_state {
	BLOB_WAITING,		/* queued, nothing moving yet */
	BLOB_DOWNLOADING,
	BLOB_RETRYING,		/* waiting before the next attempt */
	BLOB_STALLED,		/* nothing received for a while */
	BLOB_VERIFYING,		/* all bytes in, checking digest */
	BLOB_EXTRACTING,	/* being unpacked */
	BLOB_DONE,		/* "Download complete" (or "Pull complete") */
	BLOB_EXISTS,		/* "Already exists" */
	BLOB_FAILED,
	BLOB_CANCELLED,
	BLOB_ABORTED,		/* a watched download went away unfinished */
};

enum image_state {
	IMAGE_RESOLVING,
	IMAGE_DOWNLOADING,
	IMAGE_LOADING,		/* handed to an engine (docker load) */
	IMAGE_COMPLETE,
	IMAGE_FAILED,
	IMAGE_CANCELLED,
};

const char *blob_state_name(enum blob_state s);	/* docker's words */
const char *image_state_name(enum image_state s);
int blob_state_final(enum blob_state s);
int blob_state_active(enum blob_state s);	/* shown in the Active pane */
int image_state_final(enum image_state s);

/*
 * Who says a snapshot's all_final. MODEL_FINAL_RECORDS (the default): it
 * is derived from the image states. A source that watches pulls done by
 * others (containerd's content store) has no end of its own, so it says
 * it outright: MODEL_FINAL_NO (keep watching) until it has seen nothing
 * active for a while and the user asked to leave then (MODEL_FINAL_YES).
 */
enum model_final {
	MODEL_FINAL_RECORDS,
	MODEL_FINAL_NO,
	MODEL_FINAL_YES,
};

/* --------------------------------------------------------------- records */

#define MODEL_RANGES_MAX 16	/* ranges of one split blob */

struct model_blob {
	int id;
	const char *digest;	/* "sha256:<64 hex>" or a source's own id */
	char short_id[13];	/* first 12 hex, as docker shows */
	const char *media_type;	/* "" when unknown */
	int is_layer;		/* 0: a config (not in totals) */
	enum blob_state state;
	unsigned visited;	/* bit 1 << state: every state it was in */
	uint64_t size;		/* 0: unknown */
	uint64_t done;		/* bytes so far (includes resumed bytes) */
	double speed;		/* bytes/s, smoothed */
	int attempts;		/* attempts started */
	int max_attempts;	/* 0: the source does not retry */
	double retry_at;	/* monotonic time of the next attempt */
	double started, finished;	/* monotonic; 0 when not yet */
	double attempt_started;	/* monotonic start of this attempt */
	double last_byte;	/* monotonic time bytes last arrived */
	int extracted;		/* unpacked: docker's "Pull complete" */
	uint64_t xdone, xsize;	/* extraction progress, when known */
	double eta;		/* derived: seconds to its end, -1 unknown */
	char *error;		/* last error, sanitized; NULL if none */
	char *where;		/* namespace, endpoint...; NULL if none */
	int endpoint;		/* serving it: 1 + index in tally.ep; 0 none */
	int *images;		/* ids of the images that use it */
	int nimages;
	uint64_t gen;		/* generation of the last change */
	uint64_t meta_gen;	/* ... of the last change to a pointer */
	int cap_images;
	/* a blob fetched as byte ranges at once (engine chunks.c): the
	 * ranges in blob order; nranges 0 when it comes as one stream */
	int nranges;
	struct model_range {
		uint64_t start, end;	/* [start, end) */
		uint64_t done;		/* bytes in, from start */
		double speed;		/* bytes/s, smoothed */
	} ranges[MODEL_RANGES_MAX];
};

struct model_image {
	int id;
	const char *ref;	/* the full reference, sanitized */
	const char *registry;	/* host[:port] */
	enum image_state state;
	char *platform;		/* "linux/amd64"; NULL before resolution */
	char *digest;		/* what the reference resolved to */
	char *error;		/* sanitized; NULL if none */
	char *unpack_dir;	/* NULL unless unpacked */
	char *note;		/* a source's extra line (docker's Status) */
	int *layers;		/* blob ids, manifest order */
	int nlayers;
	int up_to_date;		/* every layer already existed */
	int removed;		/* taken out of the store afterwards */
	double started, finished;
	/* derived by model_snapshot, outside the lock */
	int layers_done;
	uint64_t bytes_total, bytes_done;
	double speed;
	double eta;		/* seconds to its end, -1 unknown */
	uint64_t gen, meta_gen;
};

/* -------------------------------------------------------------- events */

enum event_kind {
	EV_NOTE,		/* text only */
	EV_ADDED,		/* an image was added */
	EV_RETRYING,		/* attempt, max, delay, text: the cause */
	EV_RESUMING,		/* offset of total bytes */
	EV_CANCELLED,
	EV_RETRY_ASKED,		/* the user asked for a retry */
	EV_FAILED,		/* text: the cause */
	EV_COMPLETE,		/* text: the digest */
	EV_FALLBACK,		/* text: endpoint and cause */
};

struct model_event {
	uint64_t seq;
	double wall;		/* time(NULL)-style, for timestamps */
	int level;		/* 0 info, 1 warning, 2 error */
	enum event_kind kind;
	int image, blob;	/* ids, -1 when none */
	int attempt, max_attempts;
	double delay;
	uint64_t offset, total;
	char *text;		/* sanitized; never NULL */
};

/* ------------------------------------------ endpoints and rate limits */

/*
 * Where the bytes came from, for a source that knows (pulltop's engine,
 * when a mirror is configured), and the rate limits registries announce
 * (ratelimit-limit/-remaining). Small tables of the model, copied whole
 * into each snapshot; names are cut at the size of the field.
 */
#define MODEL_ENDPOINTS 16
#define MODEL_LIMITS 8

struct model_endpoint {
	char name[128];		/* host[:port] */
	int mirror;		/* not the registry itself */
	uint64_t bytes;		/* blob bytes it served */
};

struct model_limit {
	char name[128];		/* "docker.io", or a mirror's host */
	long limit, remaining;	/* requests */
	long window;		/* seconds; 0 unknown */
};

struct model_tally {
	struct model_endpoint ep[MODEL_ENDPOINTS];
	int nep;
	struct model_limit lim[MODEL_LIMITS];
	int nlim;
};

/* ------------------------------------------------------------- snapshot */

#define MODEL_EVENTS 1024	/* events a snapshot keeps */

struct snapshot {
	uint64_t gen;		/* the model generation copied */
	double now;		/* monotonic time of the copy */
	double started;
	int jobs_limit;		/* 0: the source has no such limit */
	double rate_cap;	/* bytes/s a download may reach, 0: none */
	int64_t space_free;	/* bytes free where the source stores, -1 */
	int nimages, nblobs;
	struct model_image *images;
	struct model_blob *blobs;
	struct model_event *events;	/* oldest first, the last ones */
	int nevents;
	uint64_t events_new;	/* seq of the first event new in this copy */
	struct model_tally tally;	/* endpoints and rate limits */
	/* derived */
	int all_final;		/* nothing left running */
	uint64_t bytes_total, bytes_done;	/* unique layers */
	double speed;		/* aggregate bytes/s */
	double eta;		/* seconds to the end of it all, -1 unknown */
	/* private */
	int cap_images, cap_blobs;
	uint64_t ev_seq;
	enum model_final final;		/* the source's word on all_final */
};

/* ---------------------------------------------------------------- model */

struct model;

struct model *model_new(void);
/* Frees the records; every snapshot of it must be freed first. */
void model_free(struct model *m);

/* The fd a view polls; model_drain() after it was readable. */
int model_wakeup_fd(struct model *m);
void model_drain(struct model *m);
/*
 * Readable when the pull may have ended: an image became final, or the
 * source set all_final. A view that waits for its next frame polls this
 * one alone, drains it with model_settle_drain() and asks model_settled(),
 * so it sees the end at once without waking for every change.
 */
int model_settle_fd(struct model *m);
void model_settle_drain(struct model *m);
/* Wake the view without a change (a signal, a source's own timer). */
void model_wake(struct model *m);

void model_lock(struct model *m);
void model_unlock(struct model *m);
/* The lock itself, for a source that waits on conditions under it. */
pthread_mutex_t *model_mutex(struct model *m);

/* Lock held for all of these. */
int model_image_add(struct model *m, const char *ref, const char *registry);
struct model_image *model_image(struct model *m, int id);
int model_nimages(const struct model *m);
/* Find the blob by digest, or add it; *added says which. */
int model_blob_add(struct model *m, const char *digest,
    const char *media_type, uint64_t size, int is_layer, int *added);
int model_blob_find(struct model *m, const char *digest);
struct model_blob *model_blob(struct model *m, int id);
int model_nblobs(const struct model *m);
/* Record that image uses blob (once); a pointer change: touches it. */
void model_blob_link(struct model *m, int blob, int image);
void model_blob_unlink(struct model *m, int blob, int image);
/* Replace an image's layer list (blob ids). */
void model_image_layers(struct model *m, int image, const int *ids, int n);
void model_touch_blob(struct model *m, struct model_blob *b);
void model_touch_image(struct model *m, struct model_image *im);
/* Set a mutable string field (sanitized copy; NULL or "" clears it) and
 * mark the pointer change; the caller passes the record's meta_gen. */
void model_set_str(struct model *m, char **field, uint64_t *meta_gen,
    const char *text);
void model_set_jobs(struct model *m, int jobs_limit);
/* The most one download may get (--limit-rate), for the estimate. */
void model_set_rate_cap(struct model *m, double bytes_per_s);
/* Bytes free on the filesystem the source stores on (-1: unknown). */
void model_set_space(struct model *m, int64_t free_bytes);
/* Say who decides all_final (enum model_final above); wakes the view. */
void model_set_final(struct model *m, enum model_final f);
/* What a snapshot taken now would say of all_final, at the cost of a look
 * at each image (not its layers): a view learns the end at once, not at
 * its next frame. Takes the lock. */
int model_settled(struct model *m);
/* Append an event, formatted; wakes the view. */
void model_event(struct model *m, int level, enum event_kind kind,
    int image, int blob, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/* The same with the retry details filled in. */
void model_event_retry(struct model *m, int image, int blob, int attempt,
    int max_attempts, double delay, const char *cause);
void model_event_resume(struct model *m, int blob, uint64_t offset,
    uint64_t total);

/*
 * Lock held. The endpoint named name as 1 + its index (found or added; 0
 * when the table is full); bytes it served; the rate limit name
 * announced (replacing the last one of that name).
 */
int model_endpoint(struct model *m, const char *name, int mirror);
void model_endpoint_bytes(struct model *m, int endpoint, uint64_t n);
void model_set_limit(struct model *m, const char *name, long limit,
    long remaining, long window);
/* The name of the endpoint serving b in s, or NULL. */
const char *snapshot_endpoint(const struct snapshot *s,
    const struct model_blob *b);

/* The end of the pull, of each image and of each layer, into the
 * snapshot's eta fields (eta.c says how); model_snapshot calls it. */
void model_estimate(struct snapshot *s);

/* Refresh s (zeroed before the first call) from m; see DESIGN. */
void model_snapshot(struct model *m, struct snapshot *s);
void snapshot_free(struct snapshot *s);

/* An event's text as a line ("1a2b3c4d5e6f: Retrying in 5s (attempt
 * 2/5): cause"), names taken from the snapshot. */
void model_event_line(const struct snapshot *s, const struct model_event *e,
    char *out, size_t n);
/* "alpine:3.20" for docker.io/library/alpine:3.20 */
void model_image_short(const char *ref, char *out, size_t n);

/* --------------------------------------------------------------- source */

/*
 * What a view may ask of a source. A source sets the bits of what it
 * offers; a view greys out (key bar, help) what is missing and the
 * source_* calls below refuse it with a cause.
 */
enum source_cap {
	SRC_CANCEL_BLOB = 1 << 0,
	SRC_RETRY_BLOB = 1 << 1,
	SRC_CANCEL_IMAGE = 1 << 2,
	SRC_RETRY_IMAGE = 1 << 3,
	SRC_RETRY_ALL = 1 << 4,
	SRC_ADD_IMAGE = 1 << 5,
	SRC_SET_JOBS = 1 << 6,
	SRC_REMOVE_IMAGE = 1 << 7,
};

/*
 * The operations. Each is called on the view's thread, never with the
 * model locked; it must not block for long (start work, do not finish
 * it). An id is a model id. Return 0, or -1 with *cause (malloc'd, one
 * line) saying why not: "that layer is not running".
 */
struct source_ops {
	int (*cancel_blob)(void *impl, int id, char **cause);
	int (*retry_blob)(void *impl, int id, char **cause);
	int (*cancel_image)(void *impl, int id, char **cause);
	int (*retry_image)(void *impl, int id, char **cause);
	int (*retry_all)(void *impl);		/* returns how many */
	int (*add_image)(void *impl, const char *ref, char **cause);
	int (*set_jobs)(void *impl, int n);	/* returns the limit set */
	int (*remove_image)(void *impl, int id, char **cause);
	/* Stop everything (quit, SIGINT); returns at once. */
	void (*cancel_all)(void *impl);
	/* Wait until the workers are gone; then free impl. */
	void (*free)(void *impl);
};

struct source {
	const char *name;		/* "pulltop", "docker", "containerd" */
	const char *read_only;		/* why nothing can be changed, or NULL */
	unsigned caps;			/* enum source_cap bits */
	const struct source_ops *ops;
	void *impl;
	struct model *model;		/* owned by the source */
	int add_failures;		/* images of the command line that
					 * could not be added (exit 1) */
};

int source_has(const struct source *s, unsigned cap);
int source_cancel_blob(struct source *s, int id, char **cause);
int source_retry_blob(struct source *s, int id, char **cause);
int source_cancel_image(struct source *s, int id, char **cause);
int source_retry_image(struct source *s, int id, char **cause);
int source_retry_all(struct source *s);
int source_add_image(struct source *s, const char *ref, char **cause);
int source_set_jobs(struct source *s, int n);
int source_remove_image(struct source *s, int id, char **cause);
void source_cancel_all(struct source *s);
/* A view's own notice in the source's event log (a theme change, an
 * image added by hand); the view writes nothing else. */
void source_note(struct source *s, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* cancel_all, wait, free the source and its model. */
void source_free(struct source *s);

#endif
