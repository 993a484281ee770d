/*
 * client.c - the client of a run and a thread's connection: the curl share
 * (DNS, TLS sessions) every thread uses, and what is known of each
 * registry host (its scheme, its challenge, whether it answered).
 * Loopback registries speak plain HTTP unless they have a certs.d
 * directory, as docker allows.
 */
#include "reg_int.h"
#include "config.h"
#include "oci.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void
share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
	struct regclient *c = u;
	(void)h;
	(void)a;
	pthread_mutex_lock(&c->share_mu[d]);
}

static void
share_unlock(CURL *h, curl_lock_data d, void *u)
{
	struct regclient *c = u;
	(void)h;
	pthread_mutex_unlock(&c->share_mu[d]);
}

/* The CA bundle curl trusts by default, to extend with a host's own. */
static char *
system_ca_file(void)
{
	char *p = NULL, *v = NULL;
	CURL *e = curl_easy_init();

	if (e == NULL)
		return NULL;
#if LIBCURL_VERSION_NUM >= 0x075400
	if (curl_easy_getinfo(e, CURLINFO_CAINFO, &p) == CURLE_OK && p != NULL)
		v = xstrdup(p);
#endif
	curl_easy_cleanup(e);
	(void)p;
	return v;
}

struct regclient *
reg_new(const struct options *o)
{
	struct regclient *c = xcalloc(1, sizeof *c);
	int i;

	pthread_once(&curl_once, curl_init_once);
	c->opt = o;
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_mu[i], NULL);
	pthread_mutex_init(&c->mu, NULL);
	c->system_ca = system_ca_file();
	c->share = curl_share_init();
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	/*
	 * Not CURL_LOCK_DATA_CONNECT: libcurl's maintainers say a connection
	 * pool shared by threads has a race they have not fixed
	 * (curl-library, March 2021). Each regconn's multi handle keeps its
	 * own connections alive from one request to the next, which is
	 * what mattered.
	 */
	return c;
}

void
reg_free(struct regclient *c)
{
	struct host *h, *next;
	int i;

	if (c == NULL)
		return;
	curl_share_cleanup(c->share);
	for (h = c->hosts; h != NULL; h = next) {
		next = h->next;
		for (i = 0; i < h->ntokens; i++)
			token_wipe(&h->tokens[i]);
		creds_free(&h->creds);
		free(h->creds_error);
		free(h->ca_blob);
		free(h->client_cert);
		free(h->client_key);
		free(h->tls_error);
		pthread_mutex_destroy(&h->auth_mu);
		pthread_mutex_destroy(&h->ping_mu);
		free(h);
	}
	mirror_plans_free(c);	/* after the hosts that point into them */
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_mu[i]);
	pthread_mutex_destroy(&c->mu);
	free(c->system_ca);
	free(c);
}

struct regconn *
reg_conn_new(struct regclient *c)
{
	struct regconn *k = xcalloc(1, sizeof *k);

	k->c = c;
	k->easy = curl_easy_init();
	k->multi = curl_multi_init();
	if (k->easy == NULL || k->multi == NULL)
		abort();
	return k;
}

void
reg_conn_free(struct regconn *k)
{
	if (k == NULL)
		return;
	curl_multi_cleanup(k->multi);
	curl_easy_cleanup(k->easy);
	free(k);
	/*
	 * A connection is its thread's last use of TLS: free OpenSSL's
	 * per-thread state now, not in a destructor that a detached thread
	 * may still be running when the process exits.
	 */
	OPENSSL_thread_stop();
}

const char *
reg_host(const struct ref *r)
{
	return ref_registry_host(r);
}

/* Loopback hosts speak plain HTTP, as docker allows. */
int
host_is_loopback(const char *name)
{
	char h[256];
	const char *end;
	size_t n;

	if (name[0] == '[') {
		end = strchr(name, ']');
		if (end == NULL)
			return 0;
		n = end - name - 1;
		if (n >= sizeof h)
			return 0;
		memcpy(h, name + 1, n);
		h[n] = '\0';
		return strcmp(h, "::1") == 0;
	}
	end = strchr(name, ':');
	n = end ? (size_t)(end - name) : strlen(name);
	if (n >= sizeof h)
		return 0;
	memcpy(h, name, n);
	h[n] = '\0';
	return strcmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0;
}

static int
host_is_insecure(const struct options *o, const char *name)
{
	int i;

	for (i = 0; i < o->ninsecure; i++) {
		const char *s = o->insecure[i];
		size_t n = strlen(s);
		if (strcmp(s, name) == 0)
			return 1;
		/* "HOST" covers every port of HOST */
		if (strchr(s, ':') == NULL && strncmp(name, s, n) == 0 &&
		    name[n] == ':')
			return 1;
	}
	return 0;
}

struct host *
host_get(struct regclient *c, const char *name)
{
	struct host *h;

	pthread_mutex_lock(&c->mu);
	for (h = c->hosts; h != NULL; h = h->next)
		if (strcmp(h->name, name) == 0)
			break;
	if (h == NULL) {
		h = xcalloc(1, sizeof *h);
		snprintf(h->name, sizeof h->name, "%s", name);
		h->insecure = host_is_insecure(c->opt, name);
		snprintf(h->scheme, sizeof h->scheme, "%s",
		    host_is_loopback(name) && !tls_certs_dir_exists(name) ?
		    "http" : "https");
		pthread_mutex_init(&h->auth_mu, NULL);
		pthread_mutex_init(&h->ping_mu, NULL);
		h->next = c->hosts;
		c->hosts = h;
	}
	pthread_mutex_unlock(&c->mu);
	return h;
}

/* Remember the challenge the registry answered with. */
void
host_learn(struct host *h, const struct challenge *ch)
{
	pthread_mutex_lock(&h->auth_mu);
	h->ch = *ch;
	pthread_mutex_unlock(&h->auth_mu);
}

/* h answered a request: from now on its failures may be passing ones. */
void
host_answered(struct regclient *c, struct host *h)
{
	pthread_mutex_lock(&c->mu);
	h->answered = 1;
	pthread_mutex_unlock(&c->mu);
}

int
host_has_answered(struct regclient *c, struct host *h)
{
	int yes;

	pthread_mutex_lock(&c->mu);
	yes = h->answered;
	pthread_mutex_unlock(&c->mu);
	return yes;
}
