/*
 * ref.h - image references, parsed and normalized the way docker does.
 *
 * "alpine"                  -> docker.io/library/alpine:latest
 * "user/app:1"              -> docker.io/user/app:1
 * "host:5000/ns/app@sha256:..." keeps its digest and gets no tag
 * "localhost/app"           -> localhost/app:latest
 */
#ifndef PULLTOP_REF_H
#define PULLTOP_REF_H

struct ref {
	char *domain;	/* "docker.io", "127.0.0.1:5000", "localhost" */
	char *path;	/* "library/alpine", "team/app" */
	char *tag;	/* "latest", or NULL when only a digest was given */
	char *digest;	/* "sha256:<64 hex>", or NULL */
	char *full;	/* domain/path[:tag][@digest], the normalized name */
};

/*
 * Parse s into *r. On error returns -1, sets *cause to a malloc'd one-line
 * reason (without the reference itself) and leaves *r zeroed.
 */
int ref_parse(const char *s, struct ref *r, char **cause);
void ref_free(struct ref *r);

/* The host to talk to: "registry-1.docker.io" for docker.io, else domain. */
const char *ref_registry_host(const struct ref *r);

/* What a manifest request asks for: the digest if any, else the tag. */
const char *ref_reference(const struct ref *r);

#endif
