/*
 * tls.c - each host's trust. TLS is verified unless the host is named by
 * --insecure-registry. A host's CAs are the system bundle, --cacert and
 * every NAME.crt in CERTS/HOST[:PORT]/, given to curl as one PEM blob;
 * NAME.cert and NAME.key there are the client certificate. CERTS is
 * $PULLTOP_CERTS_D, else /etc/docker/certs.d.
 */
#include "reg_int.h"
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CERTS_D		"/etc/docker/certs.d"

/* The certs.d root: $PULLTOP_CERTS_D (for tests), else docker's. */
const char *
tls_certs_root(void)
{
	const char *e = getenv("PULLTOP_CERTS_D");

	return e != NULL && *e != '\0' ? e : CERTS_D;
}

int
tls_certs_dir_exists(const char *name)
{
	char *d = xasprintf("%s/%s", tls_certs_root(), name);
	struct stat st;
	int yes = stat(d, &st) == 0 && S_ISDIR(st.st_mode);

	free(d);
	return yes;
}

/*
 * Append file path to b, then a newline. 0; -1 with errno when it cannot
 * be read; -2 when b would grow past its cap.
 */
static int
append_file(struct buf *b, const char *path)
{
	char chunk[16384];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while ((n = read(fd, chunk, sizeof chunk)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || buf_append(b, chunk, (size_t)n) != 0) {
			close(fd);
			return n < 0 ? -1 : -2;
		}
	}
	close(fd);
	return buf_append(b, "\n", 1) == 0 ? 0 : -2;
}

/* Append a CA file for h; a problem goes into h->tls_error. */
static void
add_ca_file(struct host *h, struct buf *b, const char *label,
    const char *path)
{
	int r = append_file(b, path);

	if (r == -1)
		h->tls_error = xasprintf("%s%s: %s", label, path,
		    strerror(errno));
	else if (r == -2)
		h->tls_error = xasprintf("%s%s: the CA certificates for %s "
		    "are larger than %u MiB with it", label, path, h->name,
		    CA_MAX >> 20);
}

static int
has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n > m && strcmp(s + n - m, suf) == 0;
}

/* certs.d/NAME/f (path p): a CA, or half of the client's pair. */
static void
certs_d_file(struct host *h, struct buf *extra, const char *f, const char *p)
{
	if (has_suffix(f, ".crt"))
		add_ca_file(h, extra, "", p);
	else if (has_suffix(f, ".cert") || has_suffix(f, ".key")) {
		/* NAME.cert needs NAME.key and the other way round */
		int cert = has_suffix(f, ".cert");
		size_t base = strlen(p) - (cert ? 5 : 4);
		char *other = xasprintf("%.*s%s", (int)base, p,
		    cert ? ".key" : ".cert");

		if (access(other, R_OK) != 0)
			h->tls_error = xasprintf("%s: missing %s %s", p,
			    cert ? "key" : "certificate", other);
		else if (cert && h->client_cert == NULL) {
			h->client_cert = xstrdup(p);
			h->client_key = xstrdup(other);
		}
		free(other);
	}
}

/* Read certs.d/NAME (docker's names) into h and extra. */
static void
certs_d_scan(struct host *h, struct buf *extra)
{
	struct dirent **ents = NULL;
	char *dir = xasprintf("%s/%s", tls_certs_root(), h->name), *p;
	int i, n;

	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0 && errno != ENOENT && errno != ENOTDIR)
		h->tls_error = xasprintf("%s: %s", dir, strerror(errno));
	for (i = 0; i < n; i++) {
		if (h->tls_error == NULL) {
			p = xasprintf("%s/%s", dir, ents[i]->d_name);
			certs_d_file(h, extra, ents[i]->d_name, p);
			free(p);
		}
		free(ents[i]);
	}
	free(ents);
	free(dir);
}

/*
 * A plan's endpoint at h (mirror.c): hosts.toml's ca and client, and
 * skip_verify (or registries.conf's insecure), before certs.d.
 */
static void
endpoint_tls(struct host *h, struct buf *extra)
{
	const struct mirror_endpoint *e = h->ep;
	int i;

	if (e == NULL)
		return;
	for (i = 0; i < e->nca && h->tls_error == NULL; i++)
		add_ca_file(h, extra, "ca ", e->ca[i]);
	if (e->nclient > 0 && h->client_cert == NULL) {
		h->client_cert = xstrdup(e->client[0].cert);
		h->client_key = xstrdup(e->client[0].key != NULL ?
		    e->client[0].key : e->client[0].cert);
	}
	if (e->skip_verify || e->insecure)
		h->insecure = 1;
}

/*
 * Lock held: read certs.d/NAME (CAs and a client pair) and --cacert into
 * h's TLS settings, once. A problem is kept in tls_error and fails each
 * request to that host.
 */
void
tls_prepare(struct regclient *c, struct host *h)
{
	struct buf extra, all;

	if (h->tls_ready)
		return;
	h->tls_ready = 1;
	buf_init(&extra, CA_MAX);
	if (c->opt->cacert != NULL)
		add_ca_file(h, &extra, "--cacert ", c->opt->cacert);
	if (h->tls_error == NULL)
		endpoint_tls(h, &extra);
	if (h->tls_error == NULL)
		certs_d_scan(h, &extra);
	if (h->tls_error == NULL && extra.len > 0) {
		buf_init(&all, CA_MAX * 2);
		if (c->system_ca != NULL &&
		    append_file(&all, c->system_ca) != 0) {
			/* no system bundle: the host's own CAs still count */
			buf_free(&all);
			buf_init(&all, CA_MAX * 2);
		}
		if (buf_append(&all, extra.data, extra.len) == 0) {
			h->ca_blob = all.data;
			h->ca_len = all.len;
		} else {
			buf_free(&all);
			h->tls_error = xasprintf("CA certificates for %s are "
			    "larger than %u MiB", h->name, CA_MAX >> 20);
		}
	}
	buf_free(&extra);
}
