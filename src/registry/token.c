/*
 * token.c - credentials and tokens, as docker does it. GET /v2/ (the ping,
 * registry.c) learns a host's challenge. Basic: the credentials (creds.c)
 * go along with every request to that origin. Bearer: a token for
 * "repository:NAME:pull" is fetched from the realm with the challenge's
 * service - GET with Basic credentials when there are any (and "account"),
 * anonymous when there are none, or with an identity token the OAuth2 POST
 * grant_type=refresh_token - and cached per host and scope, shared by
 * every worker, fetched by one at a time, renewed shortly before
 * expires_in runs out or when a 401 comes back for a cached one. A 401 to
 * fresh credentials or a fresh token is final. Credentials go to a token
 * realm only over https, or over plain http when the registry itself was
 * reached over http.
 */
#include "reg_int.h"
#include "config.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BASIC_TTL	1e9	/* Basic credentials do not expire */

void
token_wipe(struct token *t)
{
	if (t->value != NULL) {
		explicit_bzero(t->value, strlen(t->value));
		free(t->value);
		t->value = NULL;
	}
}

static char *
token_lookup(struct regclient *c, struct host *h, const char *scope)
{
	char *v = NULL;
	double now = now_mono();
	int i;

	pthread_mutex_lock(&c->mu);
	for (i = 0; i < h->ntokens; i++)
		if (strcmp(h->tokens[i].scope, scope) == 0 &&
		    h->tokens[i].expires > now) {
			v = xstrdup(h->tokens[i].value);
			break;
		}
	pthread_mutex_unlock(&c->mu);
	return v;
}

static void
token_store(struct regclient *c, struct host *h, const char *scope,
    const char *value, double ttl)
{
	struct token *t = NULL;
	int i;

	pthread_mutex_lock(&c->mu);
	for (i = 0; i < h->ntokens; i++)
		if (strcmp(h->tokens[i].scope, scope) == 0)
			t = &h->tokens[i];
	if (t == NULL) {
		if (h->ntokens == MAX_TOKENS) {
			token_wipe(&h->tokens[0]);
			memmove(&h->tokens[0], &h->tokens[1],
			    (MAX_TOKENS - 1) * sizeof h->tokens[0]);
			h->ntokens--;
		}
		t = &h->tokens[h->ntokens++];
		memset(t, 0, sizeof *t);
	}
	snprintf(t->scope, sizeof t->scope, "%s", scope);
	token_wipe(t);
	t->value = xstrdup(value);
	t->expires = now_mono() + ttl;
	pthread_mutex_unlock(&c->mu);
}

/* Forget scope's token if it is still the one a 401 came back for. */
void
token_drop(struct regclient *c, struct host *h, const char *scope,
    const char *value)
{
	int i;

	pthread_mutex_lock(&c->mu);
	for (i = 0; i < h->ntokens; i++)
		if (strcmp(h->tokens[i].scope, scope) == 0 &&
		    strcmp(h->tokens[i].value, value) == 0)
			h->tokens[i].expires = 0;
	pthread_mutex_unlock(&c->mu);
}

/*
 * auth_mu held: look the host's credentials up once. --creds are the
 * registry's: a mirror's come from docker's config.json alone. 0, or -1
 * with res.
 */
static int
creds_get(struct regconn *k, struct host *h, struct reg_result *res)
{
	if (h->creds_state == 0) {
		int mirror;
		int r;

		pthread_mutex_lock(&k->c->mu);
		mirror = h->mirror;
		pthread_mutex_unlock(&k->c->mu);
		r = creds_lookup(h->name, mirror ? NULL : k->c->opt->creds,
		    &h->creds, &h->creds_error);
		h->creds_state = r == 0 ? 2 : r == 1 ? 1 : -1;
	}
	if (h->creds_state == -1) {
		cause_set(res, REG_FATAL, "credentials for %s: %s", h->name,
		    h->creds_error);
		return -1;
	}
	return 0;
}

/* "Authorization: Basic base64(user:password)", or NULL without both. */
static char *
basic_header(const struct creds *cr)
{
	char *plain, *b64, *hv;
	size_t n;

	if (cr->user == NULL || cr->secret == NULL)
		return NULL;
	plain = xasprintf("%s:%s", cr->user, cr->secret);
	n = strlen(plain);
	b64 = xmalloc(4 * (n / 3 + 1) + 1);
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)plain,
	    (int)n);
	hv = xasprintf("Authorization: Basic %s", b64);
	explicit_bzero(plain, n);
	explicit_bzero(b64, strlen(b64));
	free(plain);
	free(b64);
	return hv;
}

/* Append "&name=escaped(value)" to the query in *q. */
static void
query_add(CURL *e, char **q, const char *name, const char *value)
{
	char *v = curl_easy_escape(e, value, 0), *n;

	n = xasprintf("%s%s%s=%s", *q, **q ? "&" : "", name, v ? v : "");
	curl_free(v);
	free(*q);
	*q = n;
}

/*
 * The URL (and, for an identity token, the POST form) that asks h->ch's
 * realm for a token for scope. 0, or -1 with res when the realm is bad or
 * would get credentials over plain HTTP.
 */
static int
token_request(struct regconn *k, struct host *h, const struct creds *cr,
    const char *scope, char **url, char **form, struct reg_result *res)
{
	const struct challenge *ch = &h->ch;
	char *q;
	int https = strncmp(ch->realm, "https://", 8) == 0;

	*form = NULL;
	if (!https && strncmp(ch->realm, "http://", 7) != 0) {
		cause_set(res, REG_FATAL, "%s: bad token realm '%s'", h->name,
		    ch->realm);
		return -1;
	}
	if (cr != NULL && !https && strcmp(h->scheme, "https") == 0) {
		cause_set(res, REG_FATAL, "%s sends its token requests to "
		    "plain-HTTP %s: not sending credentials there", h->name,
		    ch->realm);
		return -1;
	}
	q = xstrdup("");
	if (ch->service[0] != '\0')
		query_add(k->easy, &q, "service", ch->service);
	query_add(k->easy, &q, "scope", scope);
	/* insufficient_scope may name another scope the request needs */
	if (ch->scope[0] != '\0' && strcmp(ch->scope, scope) != 0)
		query_add(k->easy, &q, "scope", ch->scope);
	if (cr != NULL && cr->identity_token != NULL) {
		/* docker's OAuth2 refresh-token grant */
		*form = xstrdup(q);
		query_add(k->easy, form, "grant_type", "refresh_token");
		query_add(k->easy, form, "client_id", "pulltop");
		query_add(k->easy, form, "refresh_token", cr->identity_token);
		*url = xstrdup(ch->realm);
	} else {
		if (cr != NULL && cr->user != NULL && cr->user[0] != '\0')
			query_add(k->easy, &q, "account", cr->user);
		*url = xasprintf("%s%s%s", ch->realm, strchr(ch->realm, '?') ?
		    "&" : "?", q);
	}
	free(q);
	return 0;
}

/* A 200 answer's JSON: its token, cached, as a header line in *out. */
static int
token_parse(struct regconn *k, struct host *h, const char *scope,
    const char *what, const struct buf *body, char **out,
    struct reg_result *res)
{
	json_t *root, *tok, *exp;
	json_error_t je;
	double ttl = 60;
	int ret = -1;

	root = json_loadb(body->data ? body->data : "", body->len, 0, &je);
	if (root == NULL || !json_is_object(root)) {
		cause_set(res, REG_FATAL, "%s answered something that is not "
		    "a token (not a JSON object)", what);
		json_decref(root);
		return -1;
	}
	tok = json_object_get(root, "token");
	if (!json_is_string(tok) || json_string_length(tok) == 0)
		tok = json_object_get(root, "access_token");
	exp = json_object_get(root, "expires_in");
	if (json_is_number(exp) && json_number_value(exp) > 0)
		ttl = json_number_value(exp);
	if (!json_is_string(tok) || json_string_length(tok) == 0)
		cause_set(res, REG_FATAL, "%s answered without a token", what);
	else if (strpbrk(json_string_value(tok), "\r\n") != NULL ||
	    strlen(json_string_value(tok)) != json_string_length(tok))
		cause_set(res, REG_FATAL, "%s answered a token that cannot go "
		    "in a header (a line break or NUL in it)", what);
	else {
		*out = xasprintf("Authorization: Bearer %s",
		    json_string_value(tok));
		/* renew a little before it runs out */
		token_store(k->c, h, scope, *out,
		    ttl > 20 ? ttl - 10 : ttl / 2);
		ret = 0;
	}
	json_decref(root);
	return ret;
}

/* What a token server's answer other than a token means. */
static void
token_failed(struct regconn *k, struct host *h, const struct creds *cr,
    const char *what, CURLcode rc, const struct xfer *x,
    struct reg_result *res)
{
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		cause_set(res, REG_ABORTED, "cancelled");
	else if (rc != CURLE_OK)
		cause_curl(k, res, rc, x);
	else if ((x->status == 401 || x->status == 403) && cr != NULL)
		cause_set(res, REG_FATAL, "unauthorized (%ld): %s rejected the "
		    "credentials from %s", x->status, what, cr->source);
	else if (x->status == 401 || x->status == 403)
		cause_set(res, REG_FATAL, "unauthorized (%ld): %s refused "
		    "anonymous access; log in with docker login %s, or use "
		    "--creds", x->status, what, h->name);
	else
		cause_set(res, x->status == 429 || x->status >= 500 ?
		    REG_RETRY : REG_FATAL, "%s answered HTTP %ld", what,
		    x->status);
}

/*
 * auth_mu held: fetch a bearer token for scope from the realm of h->ch,
 * cache it and put its header in *out. cr is h's credentials or NULL.
 */
static int
token_fetch(struct regconn *k, struct host *h, const struct creds *cr,
    const char *scope, char **out, struct reg_result *res)
{
	struct xfer x;
	struct buf body;
	char realm_host[256], what[300], *url = NULL, *form = NULL;
	CURLcode rc = CURLE_FAILED_INIT;
	int ret = -1;

	if (xfer_url_hostport(h->ch.realm, realm_host,
	    sizeof realm_host) != 0) {
		cause_set(res, REG_FATAL, "%s: bad token realm '%s'", h->name,
		    h->ch.realm);
		return -1;
	}
	snprintf(what, sizeof what, "token server %s", realm_host);
	if (token_request(k, h, cr, scope, &url, &form, res) != 0)
		return -1;
	xfer_init(&x, k->easy);
	buf_init(&body, TOKEN_MAX);
	x.body = &body;
	x.what = what;
	if (xfer_setup(k, url, NULL, &x, res) != NULL) {
		if (form != NULL)
			curl_easy_setopt(k->easy, CURLOPT_POSTFIELDS, form);
		else if (cr != NULL && cr->secret != NULL) {
			curl_easy_setopt(k->easy, CURLOPT_HTTPAUTH,
			    CURLAUTH_BASIC);
			curl_easy_setopt(k->easy, CURLOPT_USERNAME, cr->user);
			curl_easy_setopt(k->easy, CURLOPT_PASSWORD, cr->secret);
		}
		rc = xfer_perform(k, &x);
		res->status = x.status;
		if (rc == CURLE_OK && x.status == 200)
			ret = token_parse(k, h, scope, what, &body, out, res);
		else
			token_failed(k, h, cr, what, rc, &x, res);
	}
	if (body.data != NULL)
		explicit_bzero(body.data, body.len);
	buf_free(&body);
	buf_free(&x.errbody);
	if (form != NULL) {
		explicit_bzero(form, strlen(form));
		free(form);
	}
	free(url);
	return ret;
}

/*
 * The Authorization header for scope on h, or *auth NULL to go anonymous:
 * a cached one, else made now from the challenge h is known to ask (then
 * *fresh is set). One thread at a time fetches; the others then find its
 * token in the cache. 0, or -1 with res.
 */
int
token_prepare(struct regconn *k, struct host *h, const char *scope,
    char **auth, int *fresh, struct reg_result *res)
{
	int ret = 0;

	*fresh = 0;
	*auth = token_lookup(k->c, h, scope);
	if (*auth != NULL)
		return 0;
	pthread_mutex_lock(&h->auth_mu);
	*auth = token_lookup(k->c, h, scope);
	if (*auth != NULL || h->ch.scheme[0] == '\0')
		goto out;
	if (strcasecmp(h->ch.scheme, "Basic") == 0) {
		if (creds_get(k, h, res) != 0) {
			ret = -1;
			goto out;
		}
		if (h->creds_state == 2 &&
		    (*auth = basic_header(&h->creds)) != NULL) {
			token_store(k->c, h, scope, *auth, BASIC_TTL);
			*fresh = 1;
		}
	} else if (strcasecmp(h->ch.scheme, "Bearer") == 0) {
		if (creds_get(k, h, res) != 0 ||
		    token_fetch(k, h, h->creds_state == 2 ? &h->creds : NULL,
		    scope, auth, res) != 0) {
			ret = -1;
			goto out;
		}
		*fresh = 1;
	}
out:
	pthread_mutex_unlock(&h->auth_mu);
	return ret;
}

/* A final 401 for repository repo on h: say why, and what would help. */
void
token_refused(struct host *h, const char *repo, const char *sent,
    struct reg_result *res, struct buf *errbody)
{
	char source[sizeof h->creds.source] = "";
	int challenged;

	pthread_mutex_lock(&h->auth_mu);
	if (h->creds_state == 2)
		snprintf(source, sizeof source, "%s", h->creds.source);
	challenged = h->ch.scheme[0] != '\0';
	pthread_mutex_unlock(&h->auth_mu);
	res->status = 401;
	if (sent != NULL && strncmp(sent, "Authorization: Basic", 20) == 0)
		cause_set(res, REG_FATAL, "unauthorized (401): %s rejected the "
		    "credentials from %s", h->name, source);
	else if (sent != NULL && source[0] != '\0')
		cause_set(res, REG_FATAL, "unauthorized (401): no pull access "
		    "to %s with the credentials from %s", repo, source);
	else if (sent != NULL || challenged)
		cause_set(res, REG_FATAL, "unauthorized (401): %s needs "
		    "credentials (docker login %s, or --creds USER:PASSWORD)",
		    h->name, h->name);
	else {
		cause_http(res, 401, errbody);
		res->err = REG_FATAL;
	}
}
