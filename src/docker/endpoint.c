/*
 * endpoint.c - where the Docker Engine is and how to ask it: $DOCKER_HOST
 * (unix:// or tcp://, TLS from $DOCKER_TLS_VERIFY and $DOCKER_CERT_PATH as
 * the docker CLI reads them), curl handles pointed at it, requests
 * answered whole, and the one-line causes for an engine that is not
 * there, shuts us out, or gives up mid-answer.
 */
#include "dk_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_HOST "unix:///var/run/docker.sock"

char *
dk_clean(char *s)
{
	size_t n = strlen(s) + 1;
	char *o = xmalloc(n);

	sanitize(o, n, s);
	free(s);
	return o;
}

void
dk_endpoint_free(struct dk_endpoint *ep)
{
	free(ep->name);
	free(ep->socket);
	free(ep->base);
	free(ep->ca);
	free(ep->cert);
	free(ep->key);
	memset(ep, 0, sizeof *ep);
}

/* dir/file if it is there, else NULL. */
static char *
cert_file(const char *dir, const char *file)
{
	char *p = xasprintf("%s/%s", dir, file);

	if (access(p, R_OK) == 0)
		return p;
	free(p);
	return NULL;
}

/* $DOCKER_CERT_PATH, else $DOCKER_CONFIG, else ~/.docker. */
static char *
cert_dir(void)
{
	const char *e = getenv("DOCKER_CERT_PATH");

	if (e != NULL && *e != '\0')
		return xstrdup(e);
	e = getenv("DOCKER_CONFIG");
	if (e != NULL && *e != '\0')
		return xstrdup(e);
	e = getenv("HOME");
	return xasprintf("%s/.docker", e != NULL ? e : "");
}

/* tcp://HOST[:PORT][/]: base URL, default port 2375 (2376 with TLS). */
static int
tcp_base(struct dk_endpoint *ep, const char *hostport, char **cause)
{
	size_t n = strcspn(hostport, "/");
	const char *close, *colon;
	int has_port;

	if (n == 0 || (hostport[n] != '\0' && strcmp(hostport + n, "/") != 0)) {
		*cause = xasprintf("DOCKER_HOST: '%s' is not tcp://HOST[:PORT]",
		    ep->name);
		return -1;
	}
	close = memchr(hostport, ']', n);
	colon = memrchr(hostport, ':', n);
	has_port = colon != NULL && (close == NULL || colon > close);
	ep->base = xasprintf("%s://%.*s%s", ep->tls ? "https" : "http",
	    (int)n, hostport, has_port ? "" : ep->tls ? ":2376" : ":2375");
	return 0;
}

int
dk_endpoint_get(struct dk_endpoint *ep, char **cause)
{
	const char *h = getenv("DOCKER_HOST"), *tv;
	char *dir;

	memset(ep, 0, sizeof *ep);
	if (h == NULL || *h == '\0')
		h = DEFAULT_HOST;
	ep->name = xmalloc(strlen(h) + 1);
	sanitize(ep->name, strlen(h) + 1, h);
	if (strncmp(h, "unix://", 7) == 0) {
		if (h[7] == '\0') {
			*cause = xasprintf("DOCKER_HOST: '%s' names no socket",
			    ep->name);
			dk_endpoint_free(ep);
			return -1;
		}
		ep->socket = xstrdup(h + 7);
		ep->base = xstrdup("http://docker");
		return 0;
	}
	if (strncmp(h, "tcp://", 6) != 0) {
		*cause = xasprintf("DOCKER_HOST: '%s' is not unix://PATH or "
		    "tcp://HOST[:PORT] (forward an ssh:// engine's socket "
		    "with ssh -L)", ep->name);
		dk_endpoint_free(ep);
		return -1;
	}
	tv = getenv("DOCKER_TLS_VERIFY");
	ep->tls = tv != NULL && *tv != '\0';
	if (tcp_base(ep, h + 6, cause) != 0) {
		dk_endpoint_free(ep);
		return -1;
	}
	if (ep->tls) {
		dir = cert_dir();
		ep->ca = cert_file(dir, "ca.pem");
		ep->cert = cert_file(dir, "cert.pem");
		ep->key = cert_file(dir, "key.pem");
		free(dir);
	}
	return 0;
}

void
dk_easy_setup(CURL *e, const struct dk_endpoint *ep, const char *path)
{
	char *url = xasprintf("%s%s", ep->base, path);

	curl_easy_setopt(e, CURLOPT_URL, url);
	free(url);
	if (ep->socket != NULL)
		curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, ep->socket);
	/* the engine is reached directly, never through a proxy */
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	if (ep->tls) {
		if (ep->ca != NULL)
			curl_easy_setopt(e, CURLOPT_CAINFO, ep->ca);
		if (ep->cert != NULL && ep->key != NULL) {
			curl_easy_setopt(e, CURLOPT_SSLCERT, ep->cert);
			curl_easy_setopt(e, CURLOPT_SSLKEY, ep->key);
		}
	}
}

/* Why connecting to the socket failed, when curl did not keep errno. */
static int
socket_errno(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return errno;
	if (!S_ISSOCK(st.st_mode))
		return ENOTSOCK;
	if (access(path, R_OK | W_OK) != 0)
		return errno;
	return ECONNREFUSED;
}

static char *
connect_cause(const struct dk_endpoint *ep, int err, const char *curl_msg)
{
	if (err == EACCES || err == EPERM)
		return xasprintf("permission denied on %s: membership of the "
		    "docker group or root is needed", ep->name);
	if (ep->socket != NULL && (err == ENOENT || err == ENOTDIR))
		return xasprintf("cannot connect to the Docker Engine at %s: "
		    "no such socket (is the engine running?)", ep->name);
	if (err == ENOTSOCK)
		return xasprintf("cannot connect to the Docker Engine at %s: "
		    "that is not a socket", ep->name);
	if (err == ECONNREFUSED)
		return xasprintf("cannot connect to the Docker Engine at %s: "
		    "connection refused (is the engine running?)", ep->name);
	if (err != 0)
		return xasprintf("cannot connect to the Docker Engine at %s: "
		    "%s", ep->name, strerror(err));
	return xasprintf("cannot connect to the Docker Engine at %s: %s",
	    ep->name, curl_msg);
}

char *
dk_transport_cause(const struct dk_endpoint *ep, CURL *e, CURLcode rc,
    const char *errbuf)
{
	char msg[CURL_ERROR_SIZE + 64], *out;
	long os_err = 0;

	snprintf(msg, sizeof msg, "%s", errbuf != NULL && *errbuf != '\0' ?
	    errbuf : curl_easy_strerror(rc));
	if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
		curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os_err);
		/* a file that is not a socket also refuses: say which */
		if ((os_err == 0 || os_err == ECONNREFUSED) &&
		    ep->socket != NULL)
			os_err = socket_errno(ep->socket);
		out = connect_cause(ep, (int)os_err, msg);
	} else if (rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR ||
	    rc == CURLE_GOT_NOTHING || rc == CURLE_SEND_ERROR)
		out = xasprintf("the Docker Engine at %s closed the connection "
		    "mid-answer (%s)", ep->name, msg);
	else
		out = xasprintf("the Docker Engine at %s: %s", ep->name, msg);
	return dk_clean(out);
}

char *
dk_api_cause(const char *body, size_t len, long status)
{
	json_t *root = len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
	const char *m = json_string_value(json_object_get(root, "message"));
	char *out;

	if (m != NULL && *m != '\0')
		out = xstrdup(m);
	else if (root == NULL && len > 0 && len < 512 && body[0] != '<') {
		/* a plain-text answer ("Client sent an HTTP request to an
		 * HTTPS server."): its first line */
		size_t n = 0;

		while (n < len && body[n] != '\n' && body[n] != '\r')
			n++;
		out = xasprintf("HTTP %ld: %.*s", status, (int)n, body);
	} else
		out = xasprintf("the engine answered HTTP %ld", status);
	json_decref(root);
	return dk_clean(out);
}

static size_t
body_write(char *p, size_t size, size_t n, void *ctx)
{
	struct buf *b = ctx;

	if (buf_append(b, p, size * n) != 0)
		return 0;
	return size * n;
}

int
dk_request(const struct dk_endpoint *ep, const char *method,
    const char *path, struct buf *out, long *status, char **cause)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *e = curl_easy_init();
	CURLcode rc;

	if (e == NULL) {
		*cause = xstrdup("out of memory (curl)");
		return -1;
	}
	dk_easy_setup(e, ep, path);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
	}
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(e);
	if (rc == CURLE_WRITE_ERROR && out->overflow) {
		*cause = xasprintf("the Docker Engine's answer to %s is over "
		    "%u bytes", path, DK_BODY_MAX);
		curl_easy_cleanup(e);
		return -1;
	}
	if (rc != CURLE_OK) {
		*cause = dk_transport_cause(ep, e, rc, errbuf);
		curl_easy_cleanup(e);
		return -1;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(e);
	return 0;
}

int
dk_ping(const struct dk_endpoint *ep, char **cause)
{
	struct buf b;
	long status = 0;

	buf_init(&b, DK_BODY_MAX);
	if (dk_request(ep, "GET", "/_ping", &b, &status, cause) != 0) {
		buf_free(&b);
		return -1;
	}
	if (status != 200) {
		char *why = dk_api_cause(b.data, b.len, status);

		*cause = xasprintf("%s did not answer as a Docker Engine: %s",
		    ep->name, why);
		free(why);
		buf_free(&b);
		return -1;
	}
	buf_free(&b);
	return 0;
}

int
docker_ping(char **cause)
{
	struct dk_endpoint ep;
	int r;

	if (dk_endpoint_get(&ep, cause) != 0)
		return -1;
	r = dk_ping(&ep, cause);
	dk_endpoint_free(&ep);
	return r;
}
