/*
 * config.h - the run's settings, filled from the command line and the
 * environment by main.c and read (never written) by the engine.
 */
#ifndef PULLTOP_CONFIG_H
#define PULLTOP_CONFIG_H

#include <stdint.h>

enum progress_mode {
	PROGRESS_AUTO,
	PROGRESS_TTY,
	PROGRESS_PLAIN,
	PROGRESS_JSON,
	PROGRESS_QUIET,
};

#define MAX_INSECURE 32
#define MAX_MIRROR_FLAGS 32

struct options {
	const char *store;		/* store directory */
	const char *platform;		/* "os/arch[/variant]" or NULL */
	const char *unpack;		/* --unpack DIR or NULL */
	const char *theme;
	const char *creds;		/* USER:PASSWORD or NULL */
	const char *cacert;
	const char *insecure[MAX_INSECURE];
	int ninsecure;
	enum progress_mode progress;
	int jobs;			/* concurrent blob downloads */
	int retries;			/* attempts in all */
	double retry_delay;		/* seconds, times the attempt number */
	double stall_timeout;		/* seconds without bytes */
	uint64_t limit_rate;		/* bytes/s per download, 0 = none */
	int exit_when_done;
	const char *via;		/* --via ENGINE ("docker"): it pulls */
	const char *load;		/* --load ENGINE ("docker"): gets each */
	const char *mirror[MAX_MIRROR_FLAGS];	/* --mirror REGISTRY=URL, in order */
	int nmirror;
	const char *hosts_dir;		/* --hosts-dir DIR or NULL */
	/* one big blob over several connections (engine/chunks.c) */
	int chunks;			/* --chunks: ranges per blob, 1 = off */
	uint64_t chunk_min;		/* --chunk-min: smallest blob split */
	int fsync_each;			/* --fsync: each blob on disk first */
};

void options_defaults(struct options *o);

/*
 * Mirrors (mirrors.c, hosts.c, regconf.c): the ordered endpoints to try for
 * one repository of a registry, from the mirror configuration this machine
 * already has.
 *
 * The first of these sources that configures the registry decides alone;
 * the later ones are not read for it:
 *
 * 1. --mirror REGISTRY=URL (o->mirror): configures REGISTRY when at least
 *    one names it. Endpoints: those URLs in the order given, then the
 *    registry itself.
 * 2. containerd's hosts folder: o->hosts_dir, else $PULLTOP_HOSTS_DIR, else
 *    /etc/containerd/certs.d. The first of DIR/HOST_PORT_ (for HOST:PORT),
 *    DIR/HOST:PORT (or DIR/HOST) and DIR/_default that exists configures
 *    the registry, as containerd 1.6/1.7 looks them up (it has no fallback
 *    from HOST:PORT to HOST). Its hosts.toml gives the [host."URL"]
 *    tables in file order, then `server` (else the registry itself:
 *    https://registry-1.docker.io for docker.io), with capabilities,
 *    skip_verify, ca, client, [header] and override_path; a folder
 *    without hosts.toml (or with an empty one) gives the registry itself
 *    with the folder's *.crt as CAs and *.cert (+ .key) as client pairs.
 * 3. containers-registries.conf v2 ($CONTAINERS_REGISTRIES_CONF, else
 *    /etc/containers/registries.conf; v1 [registries.block|insecure] is
 *    read too): configures the registry when a [[registry]] prefix matches
 *    REGISTRY/REPOSITORY (longest prefix wins; "*.example.com" matches
 *    subdomains). Endpoints: its mirrors in order, then its location, each
 *    with the repository rewritten from prefix to location. An endpoint
 *    whose rewritten name falls under a blocked = true [[registry]] is left
 *    out, as containers/image does; when none is left the plan is blocked.
 * 4. docker's daemon.json registry-mirrors ($PULLTOP_DAEMON_JSON, else
 *    /etc/docker/daemon.json), for docker.io only: those mirrors, then
 *    the registry.
 * Else: the registry itself alone (MIRROR_SRC_DEFAULT).
 *
 * Unknown keys of these files are read past, as containerd and
 * containers/image do; TOML they cannot read, or a known key with a bad
 * value, is an error "FILE:LINE: what". Drop-in folders
 * (registries.conf.d) and per-user files are not read.
 */
enum mirror_source {
	MIRROR_SRC_DEFAULT,	/* nothing configures the registry */
	MIRROR_SRC_FLAG,	/* --mirror */
	MIRROR_SRC_HOSTS,	/* containerd's hosts folder */
	MIRROR_SRC_REGISTRIES,	/* registries.conf */
	MIRROR_SRC_DAEMON,	/* daemon.json */
};

#define MIRROR_CAP_PULL		1u	/* may serve content by digest */
#define MIRROR_CAP_RESOLVE	2u	/* may turn the reference into a manifest */
#define MIRROR_CAP_PUSH		4u	/* read from hosts.toml, never used */

/* registries.conf pull-from-mirror: which pulls a mirror may serve. */
enum mirror_pull_from {
	MIRROR_PULL_ALL,
	MIRROR_PULL_DIGEST_ONLY,	/* only pulls of a reference by digest */
	MIRROR_PULL_TAG_ONLY,		/* only pulls of a reference by tag */
};

struct mirror_header {
	char *name, *value;	/* one per value: a name may repeat */
};

struct mirror_client {
	char *cert, *key;	/* paths (a relative one in hosts.toml is put
				   under its folder); key NULL: in cert */
};

struct mirror_endpoint {
	char *url;		/* scheme://host[:port][/path], for messages */
	char *scheme;		/* "https" or "http" */
	char *host;		/* host[:port] the requests go to */
	char *api_root;		/* "/v2", "/prefix/v2", or the override_path
				   path as is ("" for the server's root) */
	char *repository;	/* the repository there ("library/alpine") */
	char *ns;		/* ?ns= value requests carry, or NULL */
	char *origin;		/* "hosts.toml /etc/containerd/certs.d/
				   docker.io/hosts.toml:7", "--mirror
				   docker.io=https://m", "default"... */
	int is_mirror;		/* host is not the registry itself */
	int default_scheme;	/* none was configured: choose it as for any
				   registry (https; http on loopback;
				   --insecure-registry) */
	int skip_verify;	/* do not verify the TLS certificate */
	int insecure;		/* registries.conf insecure: skip_verify, and
				   plain HTTP when HTTPS fails */
	int override_path;	/* hosts.toml: api_root is the URL's path */
	unsigned caps;		/* MIRROR_CAP_* */
	enum mirror_pull_from pull_from;
	char **ca;		/* CA files, paths as for client */
	int nca;
	struct mirror_client *client;
	int nclient;
	struct mirror_header *header;
	int nheader;
};

struct mirror_plan {
	char *registry;		/* as asked: "docker.io", "127.0.0.1:5000" */
	char *repository;	/* as asked: "library/alpine" */
	enum mirror_source source;
	char *source_path;	/* the file or folder that configured it */
	struct mirror_endpoint *ep;	/* in the order to try them */
	int nep;
	int blocked;		/* registries.conf forbids this pull ... */
	char *blocked_cause;	/* ... "registry docker.io is blocked in
				   /etc/containers/registries.conf:4" */
};

/*
 * The plan for registry (host[:port], as in a parsed reference) and
 * repository (its path, "library/alpine"). Reads the sources above, each
 * time it is called (no state: any thread may call it). 0, or -1 with
 * *cause: one line naming the file (and line) and what is wrong, which
 * the command line reports before anything is pulled (exit 2).
 */
int mirror_plan_get(const struct options *o, const char *registry,
    const char *repository, struct mirror_plan **out, char **cause)
    __attribute__((warn_unused_result));
void mirror_plan_free(struct mirror_plan *p);

enum mirror_op {
	MIRROR_OP_RESOLVE,	/* GET/HEAD the reference's own manifest */
	MIRROR_OP_FETCH,	/* GET by digest: child manifests, blobs */
};

/*
 * May e serve op in a pull of a reference by digest (by_digest 1) or by
 * tag (0)? RESOLVE needs MIRROR_CAP_RESOLVE and FETCH MIRROR_CAP_PULL,
 * as containerd filters its hosts; pull_from must allow the kind of
 * reference (registries.conf decides per pull, not per request: a
 * tag-only mirror that resolved a tag also serves its blobs).
 */
int mirror_may_serve(const struct mirror_endpoint *e, enum mirror_op op,
    int by_digest);

/*
 * The URL of one request to e: scheme://host + api_root + "/" +
 * repository + tail, then "?ns=REGISTRY" (percent-encoded as containerd
 * does) when e->ns is set. tail is "/manifests/REF", "/blobs/DIGEST"...;
 * NULL gives the API root itself, api_root + "/" (the /v2/ check), with
 * ns too. scheme NULL takes e->scheme (pass one when default_scheme).
 */
char *mirror_url(const struct mirror_endpoint *e, const char *scheme,
    const char *tail);

/* Check one --mirror REGISTRY=URL; 0, or -1 with *cause. */
int mirror_flag_check(const char *arg, char **cause)
    __attribute__((warn_unused_result));

/* "--mirror", "hosts.toml", "registries.conf", "daemon.json", "default". */
const char *mirror_source_name(enum mirror_source s);

#endif
