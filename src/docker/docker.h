/*
 * docker.h - the Docker Engine API (dockerd, or podman's compatible
 * service) as pulltop uses it: pulls the engine does, watched as a source
 * (--via docker), and images pulltop pulled, loaded into the engine
 * (--load docker).
 *
 * The engine is the one the docker CLI would talk to: $DOCKER_HOST
 * (default unix:///var/run/docker.sock), unix:// or tcp://; for tcp://,
 * $DOCKER_TLS_VERIFY (non-empty: https, verified) with ca.pem, cert.pem
 * and key.pem from $DOCKER_CERT_PATH (default ~/.docker). Docker contexts
 * are not read.
 */
#ifndef PULLTOP_DOCKER_H
#define PULLTOP_DOCKER_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct options;
struct source;
struct store;
struct descriptor;

/*
 * --via docker: a source whose pulls the engine makes, one streaming
 * POST /images/create per image, all at once, on one thread of its own.
 * Reads o->platform and o->creds (else docker's config.json, for the
 * X-Registry-Auth the docker CLI would send). The engine must answer
 * /_ping first: NULL with *cause (one line naming the socket, or saying
 * that the socket's permissions keep us out) when it does not. Images
 * are added with source_add_image().
 */
struct source *docker_source_new(const struct options *o, char **cause);

/* Is the engine there? 0, or -1 with *cause as for docker_source_new(). */
int docker_ping(char **cause);

/* ------------------------------------------------------------- load */

/* What docker_load_image() sends: an image pulltop has in its store. */
struct docker_load_req {
	struct store *store;		/* where the blobs are */
	const char *ref;		/* the full reference: its tag */
	const struct descriptor *config;
	const struct descriptor *layers;	/* manifest order */
	int nlayers;
};

enum docker_load_phase {
	DOCKER_LOAD_SENDING,	/* the archive goes to the engine */
	DOCKER_LOAD_ENGINE,	/* the engine reads it in (its own progress) */
	DOCKER_LOAD_DONE,	/* the engine has the image under ref */
};

struct docker_load_progress {
	enum docker_load_phase phase;
	uint64_t sent, total;	/* archive bytes sent, of total */
	uint64_t current, size;	/* the engine's progress on one layer */
	const char *line;	/* the step in words, sanitized; never NULL */
};

/*
 * Called on the loading thread as the load goes on (at most every
 * 100 ms while bytes are sent, and for every line of the engine's);
 * non-zero stops the load (it then fails with "cancelled").
 */
typedef int (*docker_load_fn)(void *ctx, const struct docker_load_progress *p);

/*
 * --load docker: hand the image to the engine with POST /images/load, as
 * a docker-archive (manifest.json, the config, the layers as they are in
 * the store) written on the fly, and wait until the engine has it.
 * Blocks; fn may be NULL. Returns 0 when loaded, 1 when the engine had
 * that image under ref already (nothing was sent; a tag that pointed
 * elsewhere is moved when the engine has the image by id), -1 with *cause
 * (the engine's message, sanitized, when it refused).
 */
int docker_load_image(const struct docker_load_req *r, docker_load_fn fn,
    void *ctx, char **cause) WUR;

#endif
