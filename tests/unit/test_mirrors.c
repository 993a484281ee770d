/*
 * test_mirrors.c - unit tests for src/config's mirror plans (the TOML
 * reader under them is in test_toml.c): containerd's hosts folder
 * (lookup order, hosts.toml settings, certificate files), registries.conf
 * (prefixes, rewriting, mirrors, pull-from-mirror, blocked), daemon.json,
 * the order of precedence, --mirror, and the URLs of requests. Every file
 * lives in a temporary folder made here.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "mirrors_int.h"
#include "util.h"
#include "unit.h"

static char tmp[256];

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag; (void)f;
	return remove(p);
}

/* Write text to tmp/rel, making its folders. */
static void
put(const char *rel, const char *text)
{
	char path[512], *s;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", tmp, rel);
	for (s = path + strlen(tmp) + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		mkdir(path, 0755);
		*s = '/';
	}
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
}

static void
rm(const char *rel)
{
	char path[512];

	snprintf(path, sizeof path, "%s/%s", tmp, rel);
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *
tpath(const char *rel)
{
	return xasprintf("%s/%s", tmp, rel);
}

/* ------------------------------------------------------------ plans */

static struct options O;

/* One endpoint in a line: its manifest URL for tag T, caps and flags. */
static void
ep_str(struct buf *b, const struct mirror_endpoint *e)
{
	char *u = mirror_url(e, NULL, "/manifests/T");
	char *s = xasprintf("%s %s%s%s%s%s%s%s%s", u,
	    e->caps & MIRROR_CAP_PULL ? "p" : "-",
	    e->caps & MIRROR_CAP_RESOLVE ? "r" : "-",
	    e->caps & MIRROR_CAP_PUSH ? "P" : "-",
	    e->is_mirror ? " mirror" : "",
	    e->default_scheme ? " auto" : "",
	    e->skip_verify ? " skip_verify" : "",
	    e->insecure ? " insecure" : "",
	    e->pull_from == MIRROR_PULL_DIGEST_ONLY ? " digest-only" :
	    e->pull_from == MIRROR_PULL_TAG_ONLY ? " tag-only" : "");
	if (buf_append(b, s, strlen(s)) != 0)
		abort();
	free(s);
	free(u);
}

/* The plan for registry/repo in one line, or "ERROR: cause". */
static char *
plan_line(const char *registry, const char *repo, struct mirror_plan **keep)
{
	struct mirror_plan *p;
	char *cause = NULL, *s;
	struct buf b;
	int i;

	if (keep != NULL)
		*keep = NULL;
	if (mirror_plan_get(&O, registry, repo, &p, &cause) != 0) {
		s = xasprintf("ERROR: %s", cause);
		free(cause);
		return s;
	}
	buf_init(&b, 1 << 16);
	s = xasprintf("%s:%s%s ", mirror_source_name(p->source),
	    p->blocked ? " BLOCKED " : "",
	    p->blocked ? p->blocked_cause : "");
	if (buf_append(&b, s, strlen(s)) != 0)
		abort();
	free(s);
	for (i = 0; i < p->nep; i++) {
		if (i > 0 && buf_append(&b, " | ", 3) != 0)
			abort();
		ep_str(&b, &p->ep[i]);
	}
	s = xstrdup(b.len ? buf_str(&b) : "");
	buf_free(&b);
	if (keep != NULL)
		*keep = p;
	else
		mirror_plan_free(p);
	return s;
}

#define PLAN(reg, repo, want, ...) do { \
	char *got_ = plan_line(reg, repo, NULL); \
	CHECK_STR(got_, want, __VA_ARGS__); \
	free(got_); \
} while (0)

static void
test_default(void)
{
	PLAN("docker.io", "library/alpine",
	    "default: https://registry-1.docker.io/v2/library/alpine/manifests/T prP",
	    "nothing configured: docker.io is registry-1.docker.io");
	PLAN("127.0.0.1:5000", "team/app",
	    "default: https://127.0.0.1:5000/v2/team/app/manifests/T prP auto",
	    "nothing configured: the registry itself, scheme left to the client");
}

static void
test_hosts_lookup(void)
{
	char *w;

	put("hosts/127.0.0.1_5000_/hosts.toml", "server = \"https://underscore.example\"\n");
	put("hosts/127.0.0.1:5000/hosts.toml", "server = \"https://colon.example\"\n");
	put("hosts/_default/hosts.toml", "server = \"https://default.example\"\n");
	put("hosts/127.0.0.1/hosts.toml", "server = \"https://noport.example\"\n");
	PLAN("127.0.0.1:5000", "a",
	    "hosts.toml: https://underscore.example/v2/a/manifests/T?ns=127.0.0.1%3A5000 prP mirror",
	    "hosts dir: HOST_PORT_ first");
	rm("hosts/127.0.0.1_5000_");
	PLAN("127.0.0.1:5000", "a",
	    "hosts.toml: https://colon.example/v2/a/manifests/T?ns=127.0.0.1%3A5000 prP mirror",
	    "hosts dir: then HOST:PORT");
	rm("hosts/127.0.0.1:5000");
	PLAN("127.0.0.1:5000", "a",
	    "hosts.toml: https://default.example/v2/a/manifests/T?ns=127.0.0.1%3A5000 prP mirror",
	    "hosts dir: then _default (no HOST without the port, as containerd)");
	PLAN("127.0.0.1", "a",
	    "hosts.toml: https://noport.example/v2/a/manifests/T?ns=127.0.0.1 prP mirror",
	    "hosts dir: HOST for a registry without a port");
	rm("hosts/_default");
	rm("hosts/127.0.0.1");
	PLAN("127.0.0.1:5000", "a",
	    "default: https://127.0.0.1:5000/v2/a/manifests/T prP auto",
	    "hosts dir: none of the folders: not configured");
	put("hosts/127.0.0.1:5000", "a file, not a folder\n");
	w = xasprintf("ERROR: %s/hosts/127.0.0.1:5000: not a directory", tmp);
	PLAN("127.0.0.1:5000", "a", w, "hosts dir: a file where the folder goes");
	free(w);
	rm("hosts/127.0.0.1:5000");
}

static void
test_hosts_settings(void)
{
	struct mirror_plan *p;
	struct mirror_endpoint *e;
	char *got, *w;

	put("hosts/docker.io/hosts.toml",
	    "server = \"https://registry-1.docker.io\"\n"		/* 1 */
	    "\n"
	    "[host.\"https://public-mirror.example.com\"]\n"		/* 3 */
	    "  capabilities = [\"pull\"]\n"
	    "[host.\"https://docker-mirror.internal:8443/cache\"]\n"	/* 5 */
	    "  capabilities = [\"pull\", \"RESOLVE\"]\n"
	    "  ca = \"docker-mirror.crt\"\n"
	    "  skip_verify = true\n"
	    "  client = [[\"/etc/certs/client.cert\", \"/etc/certs/client.key\"],"
	    " [\"client.pem\", \"\"]]\n"
	    "  [host.\"https://docker-mirror.internal:8443/cache\".header]\n"
	    "    x-custom-1 = \"custom header\"\n"
	    "    x-custom-2 = [\"a\", \"b\"]\n"
	    "[host.\"https://non-compliant.example/v2/upstream\"]\n"	/* 13 */
	    "  capabilities = [\"pull\"]\n"
	    "  override_path = true\n"
	    "[host.\"http://plain.example/\"]\n"			/* 16 */
	    "  client = \"/c.pem\"\n"
	    "  ca = [\"/a.pem\", \"b.pem\"]\n"
	    "[host.\"registry-1.docker.io\"]\n"			/* 19 */
	    "  proxy = \"http://ignored:8080\"\n");
	got = plan_line("docker.io", "library/alpine", &p);
	CHECK_STR(got, "hosts.toml: "
	    "https://public-mirror.example.com/v2/library/alpine/manifests/T?ns=docker.io p-- mirror | "
	    "https://docker-mirror.internal:8443/cache/v2/library/alpine/manifests/T?ns=docker.io pr- mirror skip_verify | "
	    "https://non-compliant.example/v2/upstream/library/alpine/manifests/T?ns=docker.io p-- mirror | "
	    "http://plain.example/v2/library/alpine/manifests/T?ns=docker.io prP mirror | "
	    "https://registry-1.docker.io/v2/library/alpine/manifests/T prP | "
	    "https://registry-1.docker.io/v2/library/alpine/manifests/T prP",
	    "hosts.toml: [host] tables in file order, then server; capabilities, "
	    "skip_verify, override_path, /v2 added, ns for mirrors only");
	free(got);
	if (p == NULL || p->nep != 6)
		return;
	w = tpath("hosts/docker.io/hosts.toml");
	CHECK_STR(p->source_path, w, "hosts.toml: the source path");
	free(w);
	e = &p->ep[1];
	w = tpath("hosts/docker.io/docker-mirror.crt");
	CHECK(e->nca == 1 && strcmp(e->ca[0], w) == 0,
	    "hosts.toml: a relative ca is in the hosts.toml's folder");
	free(w);
	w = tpath("hosts/docker.io/client.pem");
	CHECK(e->nclient == 2 && strcmp(e->client[0].cert,
	    "/etc/certs/client.cert") == 0 && strcmp(e->client[0].key,
	    "/etc/certs/client.key") == 0 && strcmp(e->client[1].cert, w) == 0 &&
	    e->client[1].key == NULL,
	    "hosts.toml: client as [cert, key] pairs, \"\" key is in the cert");
	free(w);
	CHECK(e->nheader == 3 && strcmp(e->header[0].name, "x-custom-1") == 0 &&
	    strcmp(e->header[0].value, "custom header") == 0 &&
	    strcmp(e->header[1].name, "x-custom-2") == 0 &&
	    strcmp(e->header[2].value, "b") == 0,
	    "hosts.toml: headers, a string or an array of values");
	w = xasprintf("hosts.toml %s/hosts/docker.io/hosts.toml:5", tmp);
	CHECK_STR(e->origin, w, "hosts.toml: origin names the file and line");
	free(w);
	e = &p->ep[3];
	w = tpath("hosts/docker.io/b.pem");
	CHECK(e->nclient == 1 && strcmp(e->client[0].cert, "/c.pem") == 0 &&
	    e->nca == 2 && strcmp(e->ca[0], "/a.pem") == 0 &&
	    strcmp(e->ca[1], w) == 0, "hosts.toml: client and ca as a string "
	    "and an array of paths");
	free(w);
	CHECK(p->ep[2].override_path && strcmp(p->ep[2].api_root,
	    "/v2/upstream") == 0, "hosts.toml: override_path keeps the path");
	CHECK(mirror_may_serve(&p->ep[0], MIRROR_OP_FETCH, 0) &&
	    !mirror_may_serve(&p->ep[0], MIRROR_OP_RESOLVE, 0) &&
	    !mirror_may_serve(&p->ep[0], MIRROR_OP_RESOLVE, 1) &&
	    mirror_may_serve(&p->ep[1], MIRROR_OP_RESOLVE, 0),
	    "may_serve: a pull-only host fetches by digest, never resolves");
	got = mirror_url(&p->ep[0], NULL, NULL);
	CHECK_STR(got, "https://public-mirror.example.com/v2/?ns=docker.io",
	    "mirror_url: the API root with ns");
	free(got);
	got = mirror_url(&p->ep[4], "http", "/blobs/sha256:00");
	CHECK_STR(got, "http://registry-1.docker.io/v2/library/alpine/blobs/sha256:00",
	    "mirror_url: a scheme of the caller's, no ns for the registry");
	free(got);
	mirror_plan_free(p);

	/* no server: the registry itself, with the top's TLS settings */
	put("hosts/docker.io/hosts.toml",
	    "ca = \"top.crt\"\nskip_verify = true\ncapabilities = [\"pull\"]\n"
	    "override_path = true\n[header]\nx-top = \"1\"\n");
	got = plan_line("docker.io", "library/alpine", &p);
	CHECK_STR(got, "hosts.toml: https://registry-1.docker.io/v2/library/alpine/manifests/T prP skip_verify",
	    "hosts.toml without server: registry-1.docker.io, all capabilities, /v2");
	free(got);
	CHECK(p && p->nep == 1 && p->ep[0].nca == 1 && p->ep[0].nheader == 1,
	    "hosts.toml without server: the top's ca and header apply to it");
	mirror_plan_free(p);
	put("hosts/127.0.0.1:5000/hosts.toml", "[host.\"http://127.0.0.1:5000\"]\n"
	    "capabilities = [\"pull\", \"resolve\"]\n");
	PLAN("127.0.0.1:5000", "a",
	    "hosts.toml: http://127.0.0.1:5000/v2/a/manifests/T pr- | "
	    "https://127.0.0.1:5000/v2/a/manifests/T prP auto",
	    "hosts.toml: a [host] of the registry itself is no mirror (no ns); "
	    "the registry without server keeps the client's scheme");
	rm("hosts/127.0.0.1:5000");
	put("hosts/docker.io/hosts.toml", "");
	put("hosts/docker.io/ca.crt", "x");
	put("hosts/docker.io/client.cert", "x");
	put("hosts/docker.io/client.key", "x");
	put("hosts/docker.io/other.cert", "x");
	got = plan_line("docker.io", "library/alpine", &p);
	CHECK_STR(got, "hosts.toml: https://registry-1.docker.io/v2/library/alpine/manifests/T prP",
	    "hosts folder with an empty hosts.toml: the registry itself");
	free(got);
	w = tpath("hosts/docker.io/client.key");
	CHECK(p && p->ep[0].nca == 1 && p->ep[0].nclient == 2 &&
	    strcmp(p->ep[0].client[0].key, w) == 0 &&
	    p->ep[0].client[1].key == NULL,
	    "hosts folder without hosts.toml: *.crt, *.cert and their .key");
	free(w);
	mirror_plan_free(p);
	rm("hosts/docker.io");
}

static void
test_hosts_errors(void)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "server = \"https://x\"\n[host.\"https://m\"]\ncapabilities = \"pull\"\n",
		  ":3: capabilities: expected an array of strings, not a string" },
		{ "[host.\"https://m\"]\ncapabilities = [\"pull\", \"fetch\"]\n",
		  ":2: capabilities: unknown capability 'fetch' (pull, resolve, push)" },
		{ "[host.\"https://m\"]\n\nskip_verify = \"yes\"\n",
		  ":3: skip_verify: expected true or false, not a string" },
		{ "[host.\"https://m\"]\noverride_path = 1\n",
		  ":2: override_path: expected true or false, not an integer" },
		{ "[host.\"https://m\".header]\nx-a = \"1\\r\\nx-b: 2\"\n",
		  ":2: header x-a: a control character in its value" },
		{ "[host.\"https://m\".header]\n\"x a\" = \"1\"\n",
		  ":2: header 'x a': not an HTTP header name" },
		{ "[host.\"https://m\".header]\nx-a = 1\n",
		  ":2: header x-a: expected a string or an array of strings" },
		{ "[host.\"https://m\"]\nclient = [[\"a\", \"b\", \"c\"]]\n",
		  ":2: client: item 1 is not a path or a [cert, key] pair of paths" },
		{ "[host.\"https://m\"]\nca = 5\n",
		  ":2: ca: expected a path or an array of paths, not an integer" },
		{ "server = 5\n", ":1: server: expected a URL string, not an integer" },
		{ "[host.\"ftp://m\"]\n",
		  ":1: host \"ftp://m\": the scheme is not http:// or https://" },
		{ "[host.\"https://u:p@m\"]\n",
		  ":1: host \"https://u:p@m\": a user or password in a URL is not allowed" },
		{ "[host.\"https://m/a?b\"]\n",
		  ":1: host \"https://m/a?b\": a query or fragment is not allowed" },
		{ "[host.\"https://m/../x\"]\n",
		  ":1: host \"https://m/../x\": the path is not a plain /a/b path" },
		{ "host = \"https://m\"\n", ":1: host: expected [host.\"URL\"] tables" },
		{ "[host]\n\"https://m\" = 1\n",
		  ":2: host \"https://m\": expected a [host.\"URL\"] table, not an integer" },
		{ "server = \"https://x\"\n[host.\"https://m\"\n",
		  ":2: expected ']' after the table name" },
	};
	size_t i;
	char *want;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		put("hosts/bad.example/hosts.toml", cases[i].text);
		want = xasprintf("ERROR: %s/hosts/bad.example/hosts.toml%s", tmp,
		    cases[i].msg);
		PLAN("bad.example", "r", want, "hosts.toml rejects:%s",
		    strchr(cases[i].msg + 1, ':') + 1);
		free(want);
	}
	rm("hosts/bad.example");
}

static void
test_registries(void)
{
	struct mirror_plan *p;
	char *got, *w;

	put("registries.conf",
	    "unqualified-search-registries = [\"docker.io\", \"quay.io\"]\n"	/* 1 */
	    "short-name-mode = \"enforcing\"\n"
	    "[aliases]\n"
	    "  \"fedora\" = \"registry.fedoraproject.org/fedora\"\n"
	    "\n"
	    "[[registry]]\n"						/* 6 */
	    "prefix = \"example.com\"\n"
	    "location = \"example.com\"\n"
	    "[[registry]]\n"						/* 9 */
	    "prefix = \"example.com/foo\"\n"
	    "location = \"internal.example.com/bar\"\n"
	    "insecure = true\n"
	    "[[registry.mirror]]\n"					/* 13 */
	    "location = \"mirror-a.example.com/cache/foo\"\n"
	    "pull-from-mirror = \"digest-only\"\n"
	    "[[registry.mirror]]\n"					/* 16 */
	    "location = \"mirror-b.example.com:5000\"\n"
	    "insecure = true\n"
	    "pull-from-mirror = \"tag-only\"\n"
	    "[[registry]]\n"						/* 20 */
	    "prefix = \"*.wild.example\"\n"
	    "[[registry.mirror]]\n"
	    "location = \"wmirror.example\"\n"
	    "[[registry]]\n"						/* 24 */
	    "location = \"docker.io\"\n"
	    "mirror-by-digest-only = true\n"
	    "[[registry.mirror]]\n"
	    "location = \"mirror.gcr.io\"\n"
	    "[[registry]]\n"						/* 29 */
	    "prefix = \"blocked.example/team\"\n"
	    "location = \"blocked.example/team\"\n"
	    "blocked = true\n"
	    "[[registry]]\n"						/* 33 */
	    "prefix = \"block-but-mirror.example\"\n"
	    "location = \"block-but-mirror.example\"\n"
	    "blocked = true\n"
	    "[[registry.mirror]]\n"
	    "location = \"ok-mirror.example\"\n"
	    "[[registry]]\n"						/* 39 */
	    "prefix = \"example.com\"\n"
	    "location = \"never-used.example\"\n");
	PLAN("example.com", "foo/app",
	    "registries.conf: "
	    "https://mirror-a.example.com/v2/cache/foo/app/manifests/T prP mirror auto digest-only | "
	    "https://mirror-b.example.com:5000/v2/app/manifests/T prP mirror auto skip_verify insecure tag-only | "
	    "https://internal.example.com/v2/bar/app/manifests/T prP mirror auto skip_verify insecure",
	    "registries.conf: longest prefix; mirrors then location, each "
	    "rewriting the repository; insecure; pull-from-mirror");
	PLAN("example.com", "foobar/app",
	    "registries.conf: https://example.com/v2/foobar/app/manifests/T prP auto",
	    "registries.conf: a prefix matches at a '/' boundary only "
	    "(the first of a repeated prefix wins)");
	PLAN("a.b.wild.example", "x/y",
	    "registries.conf: https://wmirror.example/v2/x/y/manifests/T prP mirror auto | "
	    "https://a.b.wild.example/v2/x/y/manifests/T prP auto",
	    "registries.conf: *.wild.example matches subdomains, no location keeps the name");
	PLAN("wild.example", "x",
	    "default: https://wild.example/v2/x/manifests/T prP auto",
	    "registries.conf: *.wild.example does not match wild.example");
	PLAN("docker.io", "library/alpine",
	    "registries.conf: https://mirror.gcr.io/v2/library/alpine/manifests/T prP mirror auto digest-only | "
	    "https://registry-1.docker.io/v2/library/alpine/manifests/T prP auto",
	    "registries.conf: mirror-by-digest-only; docker.io is registry-1.docker.io");
	w = xasprintf("registries.conf: BLOCKED registry blocked.example/team is "
	    "blocked in %s/registries.conf:29 ", tmp);
	PLAN("blocked.example", "team/app", w, "registries.conf: blocked = true");
	free(w);
	PLAN("blocked.example", "other/app",
	    "default: https://blocked.example/v2/other/app/manifests/T prP auto",
	    "registries.conf: a blocked prefix blocks only its namespace");
	got = plan_line("block-but-mirror.example", "app", &p);
	CHECK_STR(got, "registries.conf: https://ok-mirror.example/v2/app/manifests/T prP mirror auto",
	    "registries.conf: a blocked registry's mirror is still used "
	    "(containers/image checks each endpoint)");
	free(got);
	mirror_plan_free(p);
	got = plan_line("example.com", "foo/app", &p);
	if (p != NULL && p->nep == 3) {
		CHECK(mirror_may_serve(&p->ep[0], MIRROR_OP_RESOLVE, 1) &&
		    mirror_may_serve(&p->ep[0], MIRROR_OP_FETCH, 1) &&
		    !mirror_may_serve(&p->ep[0], MIRROR_OP_RESOLVE, 0) &&
		    !mirror_may_serve(&p->ep[0], MIRROR_OP_FETCH, 0),
		    "may_serve: a digest-only mirror serves pulls by digest only");
		CHECK(!mirror_may_serve(&p->ep[1], MIRROR_OP_RESOLVE, 1) &&
		    mirror_may_serve(&p->ep[1], MIRROR_OP_FETCH, 0) &&
		    mirror_may_serve(&p->ep[1], MIRROR_OP_RESOLVE, 0),
		    "may_serve: a tag-only mirror serves pulls by tag, blobs too");
		w = xasprintf("registries.conf %s/registries.conf:13", tmp);
		CHECK_STR(p->ep[0].origin, w, "registries.conf: origin line");
		free(w);
	} else {
		CHECK(0, "registries.conf: plan for example.com/foo/app");
	}
	free(got);
	mirror_plan_free(p);

	put("registries.conf", "[registries.search]\nregistries = [\"docker.io\"]\n"
	    "[registries.block]\nregistries = [\"v1blocked.example\"]\n"
	    "[registries.insecure]\nregistries = [\"v1insecure.example:5000\"]\n");
	w = xasprintf("registries.conf: BLOCKED registry v1blocked.example is "
	    "blocked in %s/registries.conf:4 ", tmp);
	PLAN("v1blocked.example", "a", w, "registries.conf v1: [registries.block]");
	free(w);
	PLAN("v1insecure.example:5000", "a",
	    "registries.conf: https://v1insecure.example:5000/v2/a/manifests/T prP auto skip_verify insecure",
	    "registries.conf v1: [registries.insecure]");
}

static void
test_registries_errors(void)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "[[registry]]\nlocation = \"https://x.example\"\n",
		  ":1: invalid location 'https://x.example': URI schemes are not supported" },
		{ "[[registry]]\ninsecure = true\n",
		  ":1: [[registry]] has neither prefix nor location" },
		{ "[[registry]]\nprefix = \"x.example\"\n",
		  ":1: [[registry]] has no location and its prefix is not of the form *.example.com" },
		{ "[[registry]]\nprefix = \"*.x.example/a\"\n",
		  ":1: wildcard prefix '*.x.example/a' must be of the form *.example.com" },
		{ "[[registry]]\nlocation = \"x.example\"\npull-from-mirror = \"all\"\n",
		  ":1: pull-from-mirror is only for [[registry.mirror]], not for the registry itself" },
		{ "[[registry]]\nlocation = \"x.example\"\n[[registry.mirror]]\n"
		  "location = \"m.example\"\npull-from-mirror = \"sometimes\"\n",
		  ":3: pull-from-mirror: 'sometimes' is not all, digest-only or tag-only" },
		{ "[[registry]]\nlocation = \"x.example\"\nmirror-by-digest-only = true\n"
		  "[[registry.mirror]]\nlocation = \"m.example\"\npull-from-mirror = \"all\"\n",
		  ":4: pull-from-mirror and the registry's mirror-by-digest-only cannot both be set" },
		{ "[[registry]]\nlocation = \"x.example\"\n[[registry.mirror]]\ninsecure = true\n",
		  ":3: [[registry.mirror]] has no location" },
		{ "[[registry]]\nlocation = \"x.example\"\n[[registry]]\nprefix = \"x.example/a\"\n"
		  "location = \"x.example\"\ninsecure = true\n",
		  ":3: registry 'x.example' is defined again (line 1) with a different 'insecure'" },
		{ "[[registry]]\nlocation = \"x.example\"\nblocked = \"yes\"\n",
		  ":3: blocked: expected true or false, not a string" },
		{ "[registry]\nlocation = \"x.example\"\n",
		  ":1: registry: expected [[registry]] tables" },
		{ "unqualified-search-registries = \"docker.io\"\n",
		  ":1: unqualified-search-registries: expected an array of strings" },
		{ "short-name-mode = \"sometimes\"\n",
		  ":1: short-name-mode: not disabled, enforcing or permissive" },
		{ "[registries.block]\nregistries = [\"b.example\"]\n[[registry]]\nlocation = \"x.example\"\n",
		  ":1: v1 [registries.*] and v2 settings cannot be mixed" },
		{ "[[registry]]\nlocation = \"x.example\"\n[[registry.mirror]\n",
		  ":3: expected ']]' after the table name" },
	};
	size_t i;
	char *want;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		put("registries.conf", cases[i].text);
		want = xasprintf("ERROR: %s/registries.conf%s", tmp, cases[i].msg);
		PLAN("x.example", "a", want, "registries.conf rejects:%s",
		    strchr(cases[i].msg + 1, ':') + 1);
		free(want);
	}
	put("registries.conf", "[[registry]]\nprefix = \"x.example/foo\"\n"
	    "location = \"internal/bar\"\n");
	want = xasprintf("ERROR: %s/registries.conf:1: location 'internal/bar' "
	    "does not make HOST/REPOSITORY of x.example/foo/a", tmp);
	PLAN("x.example", "foo/a", want, "registries.conf: a location without a host");
	free(want);
	put("registries.conf", "[[registry]]\nprefix = \"x.example/foo\"\n"
	    "location = \"x.example/Not Valid\"\n");
	want = xasprintf("ERROR: %s/registries.conf:1: location 'x.example/Not "
	    "Valid' makes 'x.example/Not Valid/a', not a valid repository", tmp);
	PLAN("x.example", "foo/a", want, "registries.conf: a location making a bad repository");
	free(want);
	rm("registries.conf");
	want = xasprintf("ERROR: %s/registries.conf: No such file or directory", tmp);
	PLAN("x.example", "a", want,
	    "registries.conf: $CONTAINERS_REGISTRIES_CONF naming no file");
	free(want);
	put("registries.conf", "");
}

static void
test_daemon_json(void)
{
	char *w;

	put("daemon.json", "{\"debug\": true, \"registry-mirrors\": "
	    "[\"https://m1.example\", \"http://m2.example:5000/p/\"]}\n");
	PLAN("docker.io", "library/alpine",
	    "daemon.json: https://m1.example/v2/library/alpine/manifests/T pr- mirror | "
	    "http://m2.example:5000/p/v2/library/alpine/manifests/T pr- mirror | "
	    "https://registry-1.docker.io/v2/library/alpine/manifests/T prP",
	    "daemon.json: registry-mirrors for docker.io, no ns, then the registry");
	PLAN("quay.io", "a/b",
	    "default: https://quay.io/v2/a/b/manifests/T prP auto",
	    "daemon.json: registry-mirrors are for docker.io only");
	put("daemon.json", "{\"registry-mirrors\": [\"m1.example\"]}\n");
	w = xasprintf("ERROR: %s/daemon.json: registry-mirrors[0]: expected "
	    "http:// or https:// first", tmp);
	PLAN("docker.io", "library/alpine", w, "daemon.json: a mirror without scheme");
	free(w);
	put("daemon.json", "{\n\"registry-mirrors\": [\"https://m\",]\n}\n");
	w = xasprintf("ERROR: %s/daemon.json:2: unexpected token near ']'", tmp);
	PLAN("docker.io", "library/alpine", w, "daemon.json: bad JSON names its line");
	free(w);
	put("daemon.json", "{\"registry-mirrors\": []}");
	PLAN("docker.io", "library/alpine",
	    "default: https://registry-1.docker.io/v2/library/alpine/manifests/T prP",
	    "daemon.json: no mirrors: not configured");
}

static void
test_precedence(void)
{
	char *cause = NULL;

	put("daemon.json", "{\"registry-mirrors\": [\"https://daemon.example\"]}");
	put("registries.conf", "[[registry]]\nlocation = \"docker.io\"\n"
	    "[[registry.mirror]]\nlocation = \"regconf.example\"\n");
	put("hosts/docker.io/hosts.toml", "[host.\"https://hosts.example\"]\n");
	O.mirror[0] = "docker.io=https://flag-1.example";
	O.mirror[1] = "quay.io=https://other.example";
	O.mirror[2] = "docker.io=http://flag-2.example:5000/v2";
	O.nmirror = 3;
	PLAN("docker.io", "library/alpine",
	    "--mirror: https://flag-1.example/v2/library/alpine/manifests/T?ns=docker.io pr- mirror | "
	    "http://flag-2.example:5000/v2/library/alpine/manifests/T?ns=docker.io pr- mirror | "
	    "https://registry-1.docker.io/v2/library/alpine/manifests/T prP",
	    "precedence: --mirror first, in the order given, then the registry");
	O.nmirror = 0;
	PLAN("docker.io", "library/alpine",
	    "hosts.toml: https://hosts.example/v2/library/alpine/manifests/T?ns=docker.io prP mirror | "
	    "https://registry-1.docker.io/v2/library/alpine/manifests/T prP",
	    "precedence: then hosts.toml");
	rm("hosts/docker.io");
	PLAN("docker.io", "library/alpine",
	    "registries.conf: https://regconf.example/v2/library/alpine/manifests/T prP mirror auto | "
	    "https://registry-1.docker.io/v2/library/alpine/manifests/T prP auto",
	    "precedence: then registries.conf");
	put("registries.conf", "");
	PLAN("docker.io", "library/alpine",
	    "daemon.json: https://daemon.example/v2/library/alpine/manifests/T pr- mirror | "
	    "https://registry-1.docker.io/v2/library/alpine/manifests/T prP",
	    "precedence: then daemon.json");
	rm("daemon.json");
	PLAN("docker.io", "library/alpine",
	    "default: https://registry-1.docker.io/v2/library/alpine/manifests/T prP",
	    "precedence: else the registry alone");
	put("hosts/docker.io/hosts.toml", "[host.\"https://hosts.example\"]\n");
	put("registries.conf", "this is not TOML\n");
	PLAN("docker.io", "library/alpine",
	    "hosts.toml: https://hosts.example/v2/library/alpine/manifests/T?ns=docker.io prP mirror | "
	    "https://registry-1.docker.io/v2/library/alpine/manifests/T prP",
	    "precedence: a later source is not read once one configured the registry");
	rm("hosts/docker.io");
	put("registries.conf", "");

	CHECK(mirror_flag_check("docker.io=https://m.example/x", &cause) == 0,
	    "--mirror: REGISTRY=URL accepted");
	static const struct {
		const char *arg, *msg;
	} bad[] = {
		{ "https://m.example", "--mirror: expected REGISTRY=URL" },
		{ "=https://m", "--mirror: expected REGISTRY=URL" },
		{ "docker.io/library=https://m", "--mirror: 'docker.io/library' is not a registry HOST[:PORT]" },
		{ "docker.io=m.example", "--mirror: m.example: expected http:// or https:// first" },
		{ "docker.io=https://m.example:99999", "--mirror: https://m.example:99999: the host is not HOST[:PORT]" },
		{ "docker.io=https://m.example/a#b", "--mirror: https://m.example/a#b: a query or fragment is not allowed" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cause = NULL;
		CHECK(mirror_flag_check(bad[i].arg, &cause) == -1, "--mirror %s refused", bad[i].arg);
		CHECK_STR(cause, bad[i].msg, "--mirror %s: message", bad[i].arg);
		free(cause);
	}
}

int
main(void)
{
	char *s;

	snprintf(tmp, sizeof tmp, "%s/test_mirrors.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	options_defaults(&O);
	s = tpath("hosts");
	mkdir(s, 0755);
	setenv("PULLTOP_HOSTS_DIR", s, 1);
	free(s);
	put("registries.conf", "");
	s = tpath("registries.conf");
	setenv("CONTAINERS_REGISTRIES_CONF", s, 1);
	free(s);
	s = tpath("daemon.json");
	setenv("PULLTOP_DAEMON_JSON", s, 1);
	free(s);

	test_default();
	test_hosts_lookup();
	test_hosts_settings();
	test_hosts_errors();
	test_registries();
	test_registries_errors();
	test_daemon_json();
	test_precedence();

	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return unit_summary();
}
