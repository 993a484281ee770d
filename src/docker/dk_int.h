/*
 * dk_int.h - what the files of src/docker share: the engine's address and
 * its requests (endpoint.c), JSONMessage lines (jsonmsg.c), the
 * docker-archive stream (archive.c). Nobody outside src/docker sees it.
 */
#ifndef PULLTOP_DK_INT_H
#define PULLTOP_DK_INT_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "docker.h"
#include "util.h"

#define DK_BODY_MAX	(4u << 20)	/* an answer read whole */
#define DK_LINE_MAX	(1u << 20)	/* one line of a stream */
#define DK_ATTEMPTS	5	/* dockerd's default max-download-attempts */

/* ---------------------------------------------------------- endpoint.c */

/* s made safe to print (sanitize()), in a new string; s is freed. */
char *dk_clean(char *s);

struct dk_endpoint {
	char *name;		/* as the user gave it, for messages */
	char *socket;		/* unix socket path, or NULL for tcp */
	char *base;		/* "http://docker", "https://host:2376" */
	int tls;
	char *ca, *cert, *key;	/* TLS files that exist, else NULL */
};

/* $DOCKER_HOST and friends; 0, or -1 with *cause naming the variable. */
int dk_endpoint_get(struct dk_endpoint *ep, char **cause) WUR;
void dk_endpoint_free(struct dk_endpoint *ep);

/* Point e at the engine, path (starting with '/') on it. */
void dk_easy_setup(CURL *e, const struct dk_endpoint *ep, const char *path);

/*
 * The one line to say when a request to the engine failed at the
 * transport: the socket missing, its permissions, the engine gone
 * mid-answer, as curl and errno tell.
 */
char *dk_transport_cause(const struct dk_endpoint *ep, CURL *e,
    CURLcode rc, const char *errbuf);

/*
 * The engine's message in an error answer ({"message": ...}), sanitized;
 * else one naming the HTTP status. Malloc'd.
 */
char *dk_api_cause(const char *body, size_t len, long status);

/*
 * A request answered whole: method and path, an optional body, the
 * answer into out (capped at DK_BODY_MAX). 0 with *status, or -1 with
 * *cause when the engine could not be asked.
 */
int dk_request(const struct dk_endpoint *ep, const char *method,
    const char *path, struct buf *out, long *status, char **cause) WUR;

/* GET /_ping; 0, or -1 with *cause. */
int dk_ping(const struct dk_endpoint *ep, char **cause) WUR;

/* ----------------------------------------------------------- jsonmsg.c */

/* One JSONMessage of a pull or load stream. */
struct dk_msg {
	char *status;		/* "Downloading", "Digest: sha256:..." */
	char *id;		/* the layer's short id, or the tag */
	char *error;		/* errorDetail.message, else error */
	char *stream;		/* a load's "Loaded image: ..." */
	int has_progress;	/* progressDetail had current */
	int64_t current, total;	/* progressDetail; total 0: unknown */
	char units[16];		/* "" bytes, "s" seconds (newer engines) */
};

/*
 * Parse one line (no newline) into *m; every string is sanitized. A
 * blank line gives 1 (nothing there). 0, or -1 with *cause.
 */
int dk_msg_parse(const char *line, size_t n, struct dk_msg *m,
    char **cause) WUR;
void dk_msg_free(struct dk_msg *m);

/* What a layer's status says happened to it. */
enum dk_step {
	DK_NOT_LAYER,		/* not a layer's status */
	DK_QUEUED,		/* "Pulling fs layer", "Waiting" */
	DK_DOWNLOADING,
	DK_VERIFYING,		/* "Verifying Checksum" */
	DK_DOWNLOADED,		/* "Download complete" */
	DK_EXTRACTING,
	DK_PULLED,		/* "Pull complete" */
	DK_EXISTS,		/* "Already exists" */
	DK_RETRYING,		/* "Retrying in N seconds": *secs = N */
};

enum dk_step dk_step_of(const char *status, int *secs);

/* ------------------------------------------------------ pull.c, stream.c */

struct model;
struct dk_pull;

enum dk_phase {
	DK_IDLE,		/* not running: new, final, or to start again */
	DK_PULL,		/* POST /images/create streaming */
	DK_INSPECT,		/* GET /images/REF/json: did it land? */
};

/* One image the engine pulls; its fields are the pull thread's. */
struct dk_job {
	struct dk_pull *pull;	/* the source it belongs to */
	int image;		/* model id */
	char *ref;		/* the full reference */
	char *from, *tag;	/* fromImage=, tag= (a tag or a digest) */
	char *host;		/* the registry, as credentials are keyed */
	enum dk_phase phase;
	int want;		/* DK_WANT_*: set by the view's thread */
	CURL *easy;
	struct curl_slist *hdrs;
	struct buf in;		/* a line not yet complete, or an answer */
	long http;		/* status of the answer being read */
	int abort_line;		/* a line over DK_LINE_MAX: stop */
	char *error;		/* the engine's errorDetail, once sent */
	int *layers, nlayers, cap_layers;	/* blob ids, as they came */
	char errbuf[CURL_ERROR_SIZE];
};

#define DK_WANT_START	1
#define DK_WANT_CANCEL	2

/* Model locked for all of these (stream.c). */
void dk_job_begin(struct model *m, struct dk_job *j, const char *platform);
void dk_job_message(struct model *m, struct dk_job *j,
    const struct dk_msg *msg);
/* The image ends: failed (cause) or cancelled (cause NULL). */
void dk_job_end(struct model *m, struct dk_job *j, int cancelled,
    const char *cause);
/* The engine's inspect of the image that was pulled: it is complete. */
void dk_job_complete(struct model *m, struct dk_job *j, const char *body,
    size_t len);
/* Once a second or so: speeds of layers that went quiet fall. */
void dk_model_tick(struct model *m);

/* ---------------------------------------------------------- archive.c */

struct dk_archive;

/*
 * A docker-archive of r (manifest.json, the config, the layers as
 * stored), produced as it is read: nothing is written to disk. NULL with
 * *cause when a blob is missing from the store.
 */
struct dk_archive *dk_archive_new(const struct docker_load_req *r,
    char **cause);
/* Its size in bytes, known before the first byte. */
uint64_t dk_archive_size(const struct dk_archive *a);
/*
 * Up to n bytes of the archive into p; 0 at its end; -1 with the cause
 * kept (dk_archive_error) when a blob could not be read.
 */
long dk_archive_read(struct dk_archive *a, char *p, size_t n);
const char *dk_archive_error(const struct dk_archive *a);
void dk_archive_free(struct dk_archive *a);

#endif
