/*
 * creds.h - registry credentials, found the way docker finds them: --creds,
 * else $DOCKER_CONFIG/config.json (default ~/.docker/config.json) through
 * credHelpers[host], then credsStore, then auths.
 */
#ifndef PULLTOP_CREDS_H
#define PULLTOP_CREDS_H

#include <stddef.h>

#include "util.h"

/* docker's key for Docker Hub in config.json and for credential helpers */
#define CREDS_HUB_KEY "https://index.docker.io/v1/"

struct creds {
	char *user;		/* NULL with an identity token alone */
	char *secret;		/* password, or NULL */
	char *identity_token;	/* OAuth2 refresh token, or NULL */
	char source[160];	/* where they came from, for messages */
};

/*
 * The credentials for registry host (host[:port] as requests address it,
 * "registry-1.docker.io" for Docker Hub). override is --creds USER:PASSWORD
 * or NULL. Returns 0 with *out filled, 1 when there are none, -1 with a
 * malloc'd one-line *cause that never contains a secret.
 */
int creds_lookup(const char *host, const char *override, struct creds *out,
    char **cause) WUR;

/* Wipe and free what *c holds. */
void creds_free(struct creds *c);

/*
 * The auth key docker uses for host: CREDS_HUB_KEY for Docker Hub, else
 * host[:port] itself. Writes at most n bytes.
 */
void creds_key(const char *host, char *out, size_t n);

/*
 * Does config.json key k name host key want? Keys may carry a scheme and
 * a path ("https://host:5000/v1/"); the host part must match exactly.
 */
int creds_key_matches(const char *k, const char *want);

/* Parse the "auth" field: base64 of "user:password". 0 or -1. */
int creds_decode_auth(const char *b64, char **user, char **secret) WUR;

#endif
