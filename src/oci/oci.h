/*
 * oci.h - the OCI data formats pulltop reads: image references (parsed
 * and normalized as docker does) and manifests and indexes (parsed with
 * jansson, with the choice of one platform from an index).
 */
#ifndef PULLTOP_OCI_H
#define PULLTOP_OCI_H

/*
 * ref.h - image references, parsed and normalized the way docker does.
 *
 * "alpine"                  -> docker.io/library/alpine:latest
 * "user/app:1"              -> docker.io/user/app:1
 * "host:5000/ns/app@sha256:..." keeps its digest and gets no tag
 * "localhost/app"           -> localhost/app:latest
 */
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

/*
 * manifest.h - OCI and Docker manifests and indexes, parsed with jansson,
 * and the choice of one platform from an index.
 */
#include <stddef.h>
#include <stdint.h>

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

#define MANIFEST_MAX_LAYERS 1024
#define MANIFEST_MAX_ENTRIES 1024

struct descriptor {
	char media_type[128];
	char digest[72];
	uint64_t size;
	char os[32], arch[32], variant[32];	/* index entries only */
};

struct manifest {
	int is_index;
	char media_type[128];
	struct descriptor config;
	struct descriptor *layers;
	int nlayers;
	struct descriptor *manifests;
	int nmanifests;
};

/*
 * Parse a manifest or index. ctype is the Content-Type the registry sent
 * (may be NULL or ""). The document's own mediaType, when present, must
 * agree with its shape and with a manifest or index ctype. Every
 * descriptor's mediaType must fit its role (CVE-2021-41190): the config an
 * image config type, each layer a layer type, each index entry a manifest
 * or index type. On error returns -1 with *cause.
 */
int manifest_parse(const char *data, size_t len, const char *ctype,
    struct manifest *m, char **cause);
void manifest_free(struct manifest *m);

/* "os/arch[/variant]" of this machine, docker's names. */
void platform_host(char *out, size_t n);

/*
 * The entry of index m for platform want ("os/arch[/variant]"); -1 with
 * *cause naming what is available when none matches.
 */
int manifest_pick(const struct manifest *m, const char *want, char **cause);

/*
 * Does platform have ("os/arch[/variant]") satisfy want? A variant is
 * compared only when want names one; arm64 means v8, arm means v7.
 */
int platform_match(const char *want, const char *have);

/*
 * The "os/arch[/variant]" an image config declares ("" when it declares
 * none); -1 with *cause when it is not a JSON object.
 */
int config_platform(const char *data, size_t len, char *out, size_t n,
    char **cause);

/*
 * The rootfs.diff_ids of an image config, at most max of them, into ids
 * (each "sha256:<hex>"); returns how many, or -1 with *cause.
 */
int config_diff_ids(const char *data, size_t len, char (*ids)[72], int max,
    char **cause);

/* 1 if t is an OCI or Docker manifest (index: index or list) type. */
int mt_is_manifest(const char *t);
int mt_is_index(const char *t);

/* Validate "os/arch[/variant]"; 0 or -1. */
int platform_valid(const char *p);

#endif
