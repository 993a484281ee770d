/*
 * mirror.c - where each request goes: the mirror plan of a reference
 * (config.h reads it from --mirror, hosts.toml, registries.conf and
 * daemon.json; here it is read once per registry and repository and kept
 * for the run), and its endpoints tried in turn, a mirror that fails
 * passing the request on to the next with a note saying why. What an
 * endpoint brings with it - its TLS settings, and that --creds are not
 * its - is bound to its host here. A mirror that could not be reached
 * rests for MIRROR_REST seconds: one refused connection and one event,
 * not one of each per blob.
 */
#include "reg_int.h"
#include "config.h"
#include "oci.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIRROR_REST 30.0	/* seconds an unreachable mirror is left alone */

struct plan_cache {
	char *registry, *repository;
	struct mirror_plan *p;
	struct plan_cache *next;
};

void
reg_conn_notes(struct regconn *k, reg_note_fn fn)
{
	k->note = fn;
}

void
mirror_note(struct regconn *k, const struct reg_note *n)
{
	if (k->note != NULL)
		k->note(k->ctx, n);
}

int
reg_ratelimit_parse(const char *s, long *n, long *window)
{
	const char *w;
	char *end;
	long v;

	while (*s == ' ')
		s++;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || (*end != '\0' && *end != ';' && *end != ' '))
		return -1;
	*n = v;
	if (window == NULL)
		return 0;
	*window = 0;
	w = strstr(end, "w=");
	if (w != NULL) {
		v = strtol(w + 2, &end, 10);
		if (v > 0 && (*end == '\0' || *end == ';' || *end == ' '))
			*window = v;
	}
	return 0;
}

void
mirror_plans_free(struct regclient *c)
{
	struct plan_cache *pc, *next;

	for (pc = c->plans; pc != NULL; pc = next) {
		next = pc->next;
		mirror_plan_free(pc->p);
		free(pc->registry);
		free(pc->repository);
		free(pc);
	}
	c->plans = NULL;
}

static struct mirror_plan *
plan_find(struct regclient *c, const struct ref *r)
{
	struct plan_cache *pc;

	for (pc = c->plans; pc != NULL; pc = pc->next)
		if (strcmp(pc->registry, r->domain) == 0 &&
		    strcmp(pc->repository, r->path) == 0)
			return pc->p;
	return NULL;
}

/*
 * r's plan, read once and kept (plans live as long as the client, so an
 * endpoint's strings may be held by its host). NULL with res set when
 * the configuration cannot be read or blocks the pull.
 */
static const struct mirror_plan *
plan_get(struct regclient *c, const struct ref *r, struct reg_result *res)
{
	struct mirror_plan *p, *had;
	struct plan_cache *pc;
	char *cause = NULL;

	pthread_mutex_lock(&c->mu);
	p = plan_find(c, r);
	pthread_mutex_unlock(&c->mu);
	if (p == NULL) {
		if (mirror_plan_get(c->opt, r->domain, r->path, &p,
		    &cause) != 0) {
			cause_set(res, REG_FATAL, "%s", cause);
			free(cause);
			return NULL;
		}
		pthread_mutex_lock(&c->mu);
		if ((had = plan_find(c, r)) != NULL) {
			mirror_plan_free(p);
			p = had;
		} else {
			pc = xcalloc(1, sizeof *pc);
			pc->registry = xstrdup(r->domain);
			pc->repository = xstrdup(r->path);
			pc->p = p;
			pc->next = c->plans;
			c->plans = pc;
		}
		pthread_mutex_unlock(&c->mu);
	}
	if (p->blocked) {
		cause_set(res, REG_FATAL, "%s", p->blocked_cause);
		return NULL;
	}
	return p;
}

/*
 * Bind endpoint e to its host h: its TLS settings (read by tls_prepare,
 * so only before the host's first request), that it is a mirror, and
 * the scheme it was configured with.
 */
void
mirror_host_bind(struct regclient *c, struct host *h,
    const struct mirror_endpoint *e)
{
	pthread_mutex_lock(&c->mu);
	if (!h->tls_ready && h->ep == NULL && (e->nca > 0 ||
	    e->nclient > 0 || e->skip_verify || e->insecure))
		h->ep = e;
	if (e->is_mirror)
		h->mirror = 1;
	pthread_mutex_unlock(&c->mu);
	if (!e->default_scheme) {
		/* configured, not probed: written once, as a ping would */
		pthread_mutex_lock(&h->ping_mu);
		if (!h->pinged) {
			snprintf(h->scheme, sizeof h->scheme, "%s", e->scheme);
			h->pinged = 1;
		}
		pthread_mutex_unlock(&h->ping_mu);
	}
}

/*
 * May the next endpoint have a go after this failure? Not when the caller
 * stopped it, when its write failed, or once bytes were handed on (the
 * caller owns them: its next attempt starts where they end).
 */
static int
may_pass_on(const struct reg_result *res, uint64_t delivered)
{
	return (res->err == REG_RETRY || res->err == REG_FATAL) &&
	    delivered == 0 && !res->range_broken;
}

/* Is e a mirror resting after nobody answered there? */
static int
mirror_resting(struct regclient *c, const struct mirror_endpoint *e)
{
	struct host *h;
	int yes;

	if (!e->is_mirror)
		return 0;
	h = host_get(c, e->host);
	pthread_mutex_lock(&c->mu);
	yes = h->rest_until > now_mono();
	pthread_mutex_unlock(&c->mu);
	return yes;
}

/*
 * After e failed with res: when no HTTP answer came from a mirror
 * (refused, unreachable, timed out, TLS), let it rest. Returns 1 if it
 * now rests.
 */
static int
mirror_rest(struct regclient *c, const struct mirror_endpoint *e,
    const struct reg_result *res)
{
	struct host *h;

	if (!e->is_mirror || res->status != 0 || res->err == REG_ABORTED)
		return 0;
	h = host_get(c, e->host);
	pthread_mutex_lock(&c->mu);
	h->rest_until = now_mono() + MIRROR_REST;
	pthread_mutex_unlock(&c->mu);
	return 1;
}

/* May endpoint i be asked? It may serve the request and is not resting;
 * the last that may serve it is asked even when resting. */
static int
askable(struct regclient *c, const struct mirror_plan *p, int i, int last,
    enum mirror_op op, int by_digest)
{
	return mirror_may_serve(&p->ep[i], op, by_digest) &&
	    (i == last || !mirror_resting(c, &p->ep[i]));
}

int
mirror_get(struct regconn *k, const struct reg_req *rq,
    struct reg_result *res)
{
	const struct mirror_plan *p;
	enum mirror_op op = rq->resolve ? MIRROR_OP_RESOLVE : MIRROR_OP_FETCH;
	int by_digest = rq->ref->digest != NULL, i, last = -1, mirrored = 0;
	struct reg_note n;
	uint64_t delivered;
	char cause[sizeof res->cause + 64];

	memset(res, 0, sizeof *res);
	if ((p = plan_get(k->c, rq->ref, res)) == NULL)
		return -1;
	for (i = 0; i < p->nep; i++) {
		mirrored |= p->ep[i].is_mirror;
		if (mirror_may_serve(&p->ep[i], op, by_digest))
			last = i;
	}
	if (last < 0) {
		cause_set(res, REG_FATAL, "no endpoint of %s may serve this "
		    "request", p->source_path ? p->source_path :
		    mirror_source_name(p->source));
		return -1;
	}
	for (i = 0; i <= last; i++) {
		const struct mirror_endpoint *e = &p->ep[i];
		int j;

		if (!askable(k->c, p, i, last, op, by_digest))
			continue;
		memset(&n, 0, sizeof n);
		n.kind = REG_NOTE_SERVING;
		n.endpoint = e->host;
		n.is_mirror = e->is_mirror;
		n.mirrored = mirrored;
		mirror_note(k, &n);
		if (api_get(k, rq, e, res, &delivered) == 0)
			return 0;
		if (i == last || !may_pass_on(res, delivered))
			return -1;
		if (mirror_rest(k->c, e, res))
			snprintf(cause, sizeof cause, "%s; not asked again for "
			    "%.0f s", res->cause, MIRROR_REST);
		else
			snprintf(cause, sizeof cause, "%s", res->cause);
		for (j = i + 1; !askable(k->c, p, j, last, op, by_digest); j++)
			;
		n.kind = REG_NOTE_FALLBACK;
		n.cause = cause;
		n.next = p->ep[j].host;
		mirror_note(k, &n);
	}
	return -1;
}
