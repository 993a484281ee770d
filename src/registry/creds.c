/*
 * creds.c - registry credentials, looked up as docker does.
 *
 * --creds USER:PASSWORD wins for every registry of the run. Otherwise
 * $DOCKER_CONFIG/config.json (default ~/.docker/config.json) is read and
 * the first of these that has credentials for the host gives them:
 *   credHelpers[KEY]  run docker-credential-NAME get, KEY on its stdin
 *   credsStore        the same with the default helper
 *   auths[KEY]        "auth" (base64 "user:password"), or "username" and
 *                     "password", and "identitytoken"
 * KEY is "https://index.docker.io/v1/" for Docker Hub, else host[:port];
 * config keys may carry a scheme and a path. Unlike docker, a helper that
 * answers "credentials not found" falls through to auths rather than
 * meaning anonymous. Helpers are run with posix_spawnp (no shell), their
 * stderr discarded, their answer capped at 64 KiB and 20 s.
 *
 * No message made here ever holds a secret: JSON errors name the line
 * only, helper failures their exit status and first line of output.
 */
#include "creds.h"
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#define CONFIG_MAX	(1u << 20)
#define HELPER_OUT_MAX	(64u << 10)
#define HELPER_TIMEOUT	20.0	/* seconds */

extern char **environ;

void
creds_free(struct creds *c)
{
	if (c->user != NULL)
		explicit_bzero(c->user, strlen(c->user));
	if (c->secret != NULL)
		explicit_bzero(c->secret, strlen(c->secret));
	if (c->identity_token != NULL)
		explicit_bzero(c->identity_token, strlen(c->identity_token));
	free(c->user);
	free(c->secret);
	free(c->identity_token);
	memset(c, 0, sizeof *c);
}

static int
is_hub(const char *host)
{
	return strcasecmp(host, "docker.io") == 0 ||
	    strcasecmp(host, "index.docker.io") == 0 ||
	    strcasecmp(host, "registry-1.docker.io") == 0;
}

void
creds_key(const char *host, char *out, size_t n)
{
	snprintf(out, n, "%s", is_hub(host) ? CREDS_HUB_KEY : host);
}

/* The host[:port] of a config key: no scheme, nothing from the first '/'. */
static void
key_host(const char *k, char *out, size_t n)
{
	size_t len;

	if (strncasecmp(k, "https://", 8) == 0)
		k += 8;
	else if (strncasecmp(k, "http://", 7) == 0)
		k += 7;
	len = strcspn(k, "/");
	if (len >= n)
		len = n - 1;
	memcpy(out, k, len);
	out[len] = '\0';
}

int
creds_key_matches(const char *k, const char *want)
{
	char a[256], b[256];

	if (strcmp(k, want) == 0)
		return 1;
	key_host(k, a, sizeof a);
	key_host(want, b, sizeof b);
	if (a[0] == '\0')
		return 0;
	if (is_hub(b))
		return is_hub(a);
	return strcasecmp(a, b) == 0;
}

int
creds_decode_auth(const char *b64, char **user, char **secret)
{
	size_t len = strlen(b64), pad = 0, n;
	unsigned char *out;
	char *in, *colon;
	int got;

	*user = *secret = NULL;
	if (len == 0 || len > 16384)
		return -1;
	/* docker writes padded base64; tolerate missing padding */
	in = xmalloc(len + 4);
	memcpy(in, b64, len);
	while (len % 4 != 0)
		in[len++] = '=';
	in[len] = '\0';
	if (in[len - 1] == '=')
		pad++;
	if (in[len - 2] == '=')
		pad++;
	out = xmalloc(len / 4 * 3 + 1);
	got = EVP_DecodeBlock(out, (unsigned char *)in, (int)len);
	free(in);
	if (got < 0 || (size_t)got < pad) {
		free(out);
		return -1;
	}
	n = (size_t)got - pad;
	out[n] = '\0';
	colon = memchr(out, ':', n);
	if (colon == NULL || colon == (char *)out ||
	    memchr(out, '\0', n) != NULL) {
		explicit_bzero(out, n);
		free(out);
		return -1;
	}
	*user = xstrndup((char *)out, colon - (char *)out);
	*secret = xstrdup(colon + 1);
	explicit_bzero(out, n);
	free(out);
	return 0;
}

/* A string member of o, or NULL if absent, not a string or empty. */
static const char *
str_member(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	if (!json_is_string(v) || json_string_length(v) == 0)
		return NULL;
	return json_string_value(v);
}

/* A member of object o whose key names want (see creds_key_matches). */
static json_t *
key_member(json_t *o, const char *want)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return NULL;
	if ((v = json_object_get(o, want)) != NULL)
		return v;
	json_object_foreach(o, k, v)
		if (creds_key_matches(k, want))
			return v;
	return NULL;
}

static int
helper_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= 64 && strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n && name[0] != '.';
}

/* The first line of s, made printable and short, for a message. */
static void
first_line(char *dst, size_t n, const char *s, size_t len)
{
	char tmp[128];
	size_t l = strcspn(s, "\r\n");

	if (l > len)
		l = len;
	if (l >= sizeof tmp)
		l = sizeof tmp - 1;
	memcpy(tmp, s, l);
	tmp[l] = '\0';
	sanitize(dst, n, tmp);
}

/*
 * Run docker-credential-NAME get with key on stdin and collect its stdout
 * into out. Returns the wait status, or -1 with *cause.
 */
static int
helper_run(const char *name, const char *key, struct buf *out, char **cause)
{
	posix_spawn_file_actions_t fa;
	int in[2], op[2], st = 0, err, timed_out = 0;
	char *prog = xasprintf("docker-credential-%s", name);
	char *argv[] = { prog, "get", NULL };
	double deadline = now_mono() + HELPER_TIMEOUT;
	pid_t pid;
	char chunk[4096];

	if (pipe2(in, O_CLOEXEC) != 0) {
		*cause = xasprintf("%s: pipe: %s", prog, strerror(errno));
		free(prog);
		return -1;
	}
	if (pipe2(op, O_CLOEXEC) != 0) {
		*cause = xasprintf("%s: pipe: %s", prog, strerror(errno));
		close(in[0]);
		close(in[1]);
		free(prog);
		return -1;
	}
	/* the key fits the pipe buffer: no write can block or raise SIGPIPE */
	if (write(in[1], key, strlen(key)) != (ssize_t)strlen(key)) {
		*cause = xasprintf("%s: cannot write its input", prog);
		close(in[0]);
		close(in[1]);
		close(op[0]);
		close(op[1]);
		free(prog);
		return -1;
	}
	close(in[1]);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, op[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	err = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(op[1]);
	if (err != 0) {
		if (err == ENOENT)
			*cause = xasprintf("credential helper %s not found on "
			    "PATH", prog);
		else
			*cause = xasprintf("cannot run credential helper "
			    "%s: %s", prog, strerror(err));
		close(op[0]);
		free(prog);
		return -1;
	}
	for (;;) {
		struct pollfd p = { .fd = op[0], .events = POLLIN };
		double left = deadline - now_mono();
		ssize_t n;

		if (left <= 0) {
			timed_out = 1;
			break;
		}
		if (poll(&p, 1, (int)(left * 1000) + 1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p.revents == 0)
			continue;
		n = read(op[0], chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (buf_append(out, chunk, (size_t)n) != 0) {
			kill(pid, SIGKILL);
			break;
		}
	}
	explicit_bzero(chunk, sizeof chunk);
	close(op[0]);
	if (timed_out)
		kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (timed_out) {
		*cause = xasprintf("credential helper %s did not answer within "
		    "%.0fs", prog, HELPER_TIMEOUT);
		free(prog);
		return -1;
	}
	if (out->overflow) {
		*cause = xasprintf("credential helper %s answered more than "
		    "%u bytes", prog, HELPER_OUT_MAX);
		free(prog);
		return -1;
	}
	free(prog);
	return st;
}

/* Ask helper NAME for key's credentials: 0, 1 (none) or -1 with *cause. */
static int
helper_get(const char *name, const char *why, const char *key,
    struct creds *out, char **cause)
{
	struct buf b;
	json_t *root;
	json_error_t je;
	const char *u, *s;
	char line[128];
	int st, ret = -1;

	if (!helper_name_ok(name)) {
		*cause = xstrdup("credential helper name in the docker config "
		    "is not a plain name");
		return -1;
	}
	buf_init(&b, HELPER_OUT_MAX);
	st = helper_run(name, key, &b, cause);
	if (st == -1) {
		buf_free(&b);
		return -1;
	}
	buf_str(&b);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		if (b.data != NULL && strstr(b.data, "credentials not found"))
			ret = 1;
		else {
			first_line(line, sizeof line, b.data ? b.data : "",
			    b.len);
			if (WIFEXITED(st))
				*cause = xasprintf("credential helper "
				    "docker-credential-%s failed (exit %d)%s%s",
				    name, WEXITSTATUS(st), line[0] ? ": " : "",
				    line);
			else
				*cause = xasprintf("credential helper "
				    "docker-credential-%s was killed by signal "
				    "%d", name, WTERMSIG(st));
		}
		goto done;
	}
	root = json_loadb(b.data ? b.data : "", b.len, 0, &je);
	u = root ? str_member(root, "Username") : NULL;
	s = root ? str_member(root, "Secret") : NULL;
	if (root == NULL || !json_is_object(root))
		*cause = xasprintf("credential helper docker-credential-%s "
		    "answered something that is not JSON", name);
	else if (s == NULL)
		ret = 1;
	else {
		if (u != NULL && strcmp(u, "<token>") == 0)
			out->identity_token = xstrdup(s);
		else {
			out->user = xstrdup(u ? u : "");
			out->secret = xstrdup(s);
		}
		snprintf(out->source, sizeof out->source,
		    "docker-credential-%s (%s)", name, why);
		ret = 0;
	}
	json_decref(root);
done:
	if (b.data != NULL)
		explicit_bzero(b.data, b.len);
	buf_free(&b);
	return ret;
}

/* $DOCKER_CONFIG/config.json, else ~/.docker/config.json, else NULL. */
static char *
config_path(void)
{
	const char *d = getenv("DOCKER_CONFIG"), *home = getenv("HOME");

	if (d != NULL && *d != '\0')
		return xasprintf("%s/config.json", d);
	if (home != NULL && *home != '\0')
		return xasprintf("%s/.docker/config.json", home);
	return NULL;
}

/* Load config.json: 0 with *root, 1 when there is none, -1 with *cause. */
static int
config_load(const char *path, json_t **root, char **cause)
{
	json_error_t je;
	struct buf b;
	char chunk[8192];
	ssize_t n;
	int fd;

	*root = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 1;
		*cause = xasprintf("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	buf_init(&b, CONFIG_MAX);
	while ((n = read(fd, chunk, sizeof chunk)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || buf_append(&b, chunk, (size_t)n) != 0)
			break;
	}
	close(fd);
	explicit_bzero(chunk, sizeof chunk);
	if (n != 0) {
		*cause = b.overflow ? xasprintf("%s is larger than 1 MiB", path)
		    : xasprintf("cannot read %s: %s", path, strerror(errno));
		buf_free(&b);
		return -1;
	}
	/* never quote je.text: it may hold a piece of a secret */
	*root = json_loadb(b.data ? b.data : "", b.len, 0, &je);
	if (b.data != NULL)
		explicit_bzero(b.data, b.len);
	buf_free(&b);
	if (*root == NULL || !json_is_object(*root)) {
		*cause = *root == NULL ? xasprintf("%s is not valid JSON (line "
		    "%d)", path, je.line) : xasprintf("%s is not a JSON "
		    "object", path);
		json_decref(*root);
		*root = NULL;
		return -1;
	}
	return 0;
}

/* The auths entry for key: 0, 1 (none) or -1 with *cause. */
static int
auths_get(json_t *root, const char *path, const char *key, struct creds *out,
    char **cause)
{
	json_t *e = key_member(json_object_get(root, "auths"), key);
	const char *a, *u, *p, *t;

	if (!json_is_object(e))
		return 1;
	a = str_member(e, "auth");
	u = str_member(e, "username");
	p = str_member(e, "password");
	t = str_member(e, "identitytoken");
	if (a != NULL) {
		if (creds_decode_auth(a, &out->user, &out->secret) != 0) {
			*cause = xasprintf("%s: the auth of \"%s\" is not "
			    "base64 of user:password", path, key);
			return -1;
		}
	} else if (u != NULL && p != NULL) {
		out->user = xstrdup(u);
		out->secret = xstrdup(p);
	}
	if (t != NULL)
		out->identity_token = xstrdup(t);
	if (out->secret == NULL && out->identity_token == NULL) {
		creds_free(out);
		return 1;
	}
	snprintf(out->source, sizeof out->source, "auths in %s", path);
	return 0;
}

int
creds_lookup(const char *host, const char *override, struct creds *out,
    char **cause)
{
	char key[300], *path;
	const char *colon, *helper;
	json_t *root, *h;
	int r;

	memset(out, 0, sizeof *out);
	*cause = NULL;
	if (override != NULL) {
		colon = strchr(override, ':');
		if (colon == NULL) {
			*cause = xstrdup("--creds: expected USER:PASSWORD");
			return -1;
		}
		out->user = xstrndup(override, colon - override);
		out->secret = xstrdup(colon + 1);
		snprintf(out->source, sizeof out->source, "--creds");
		return 0;
	}
	path = config_path();
	if (path == NULL)
		return 1;
	r = config_load(path, &root, cause);
	if (r != 0) {
		free(path);
		return r;
	}
	creds_key(host, key, sizeof key);
	r = 1;
	helper = str_member(root, "credsStore");
	h = key_member(json_object_get(root, "credHelpers"), key);
	if (json_is_string(h) && json_string_length(h) > 0)
		r = helper_get(json_string_value(h), "credHelpers", key, out,
		    cause);
	if (r == 1 && helper != NULL)
		r = helper_get(helper, "credsStore", key, out, cause);
	if (r == 1)
		r = auths_get(root, path, key, out, cause);
	json_decref(root);
	free(path);
	if (r != 0)
		creds_free(out);
	return r;
}

int
reg_creds_lookup(const char *host, const char *override,
    struct reg_creds *out, char **cause)
{
	struct creds c;
	int r;

	memset(out, 0, sizeof *out);
	r = creds_lookup(host, override, &c, cause);
	if (r != 0)
		return r;
	out->user = c.user;
	out->secret = c.secret;
	out->identity_token = c.identity_token;
	creds_key(host, out->server, sizeof out->server);
	return 0;
}

void
reg_creds_free(struct reg_creds *c)
{
	struct creds w;

	memset(&w, 0, sizeof w);
	w.user = c->user;
	w.secret = c->secret;
	w.identity_token = c->identity_token;
	creds_free(&w);
	memset(c, 0, sizeof *c);
}
