/*
 * cmd.c - the store commands, what `docker image ls/rm/prune` and `umoci
 * gc` are to their stores: pulltop --list, --rm REF... and --prune, each
 * printed plain (a table, docker's words), as JSON lines, or quietly.
 * A directory that holds no store yet is an empty store: nothing is made.
 */
#include "store.h"
#include "store_int.h"
#include "oci.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static void
json_print(json_t *o)
{
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) :
	    NULL;

	if (text != NULL)
		puts(text);
	free(text);
	json_decref(o);
}

static void
err_line(const char *what, const char *cause)
{
	char raw[1024], clean[1024];

	snprintf(raw, sizeof raw, "%s%s%s", what ? what : "",
	    what ? ": " : "", cause);
	sanitize(clean, sizeof clean, raw);
	fprintf(stderr, "pulltop: %s\n", clean);
}

/* 1 when dir holds a store, 0 when it holds none (yet), and then nothing
 * is made there. */
static int
store_there(const char *dir)
{
	char *a = xasprintf("%s/oci-layout", dir), *b = xasprintf("%s/index.json",
	    dir);
	struct stat st;
	int r = stat(a, &st) == 0 || stat(b, &st) == 0;

	free(a);
	free(b);
	return r;
}

static void
fmt_time(char *out, size_t n, double t, int utc)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0) {
		snprintf(out, n, utc ? "" : "-");
		return;
	}
	if (utc) {
		gmtime_r(&tt, &tm);
		strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
	} else {
		localtime_r(&tt, &tm);
		strftime(out, n, "%Y-%m-%d %H:%M", &tm);
	}
}

static void
list_json(const struct store_cmd *c, const struct store_list *l)
{
	char when[32], dir[1024];
	int i, j;

	for (i = 0; i < l->n; i++) {
		const struct store_entry *e = &l->entries[i];
		json_t *o = json_object(), *blobs = json_array();

		for (j = 0; j < e->nblobs; j++)
			json_array_append_new(blobs, json_pack("{s:s,s:I,s:b,s:b}",
			    "digest", e->blobs[j].digest, "size",
			    (json_int_t)e->blobs[j].size, "shared",
			    e->blobs[j].shared, "missing", e->blobs[j].missing));
		fmt_time(when, sizeof when, e->pulled, 1);
		json_object_set_new(o, "reference", json_string(e->ref));
		json_object_set_new(o, "digest", json_string(e->digest));
		json_object_set_new(o, "mediaType", json_string(e->media_type));
		json_object_set_new(o, "platform", json_string(e->platform));
		json_object_set_new(o, "size", json_integer((json_int_t)e->size));
		json_object_set_new(o, "sharedSize",
		    json_integer((json_int_t)e->shared));
		json_object_set_new(o, "pulled", when[0] ? json_string(when) :
		    json_null());
		json_object_set_new(o, "missing", json_integer(e->missing));
		json_object_set_new(o, "blobs", blobs);
		json_print(o);
	}
	sanitize(dir, sizeof dir, c->dir);	/* JSON strings are UTF-8 */
	json_print(json_pack("{s:s,s:i,s:I}", "store", dir, "references",
	    l->n, "size", (json_int_t)l->total));
}

static void
list_plain(const struct store_list *l, uint64_t avail, int have_free)
{
	char size[32], shared[32], when[32], total[32], fr[32];
	int i, w = 9;

	for (i = 0; i < l->n; i++)
		if ((int)strlen(l->entries[i].ref) > w)
			w = (int)strlen(l->entries[i].ref);
	printf("%-*s  %-12s  %-16s  %9s  %9s  %s\n", w, "REFERENCE", "DIGEST",
	    "PLATFORM", "SIZE", "SHARED", "PULLED");
	for (i = 0; i < l->n; i++) {
		const struct store_entry *e = &l->entries[i];

		fmt_bytes(size, sizeof size, e->size);
		if (e->shared > 0)
			fmt_bytes(shared, sizeof shared, e->shared);
		else
			snprintf(shared, sizeof shared, "-");
		fmt_time(when, sizeof when, e->pulled, 0);
		printf("%-*s  %-12.12s  %-16s  %9s  %9s  %s", w, e->ref,
		    e->digest[0] ? e->digest + 7 : "-",
		    e->platform[0] ? e->platform : "-", size, shared, when);
		if (e->missing > 0)
			printf("  (%d blob%s missing)", e->missing,
			    e->missing == 1 ? "" : "s");
		putchar('\n');
	}
	fmt_bytes(total, sizeof total, l->total);
	fmt_bytes(fr, sizeof fr, avail);
	printf("%d reference%s, %s on disk (shared blobs counted once)%s%s%s\n",
	    l->n, l->n == 1 ? "" : "s", total, have_free ? ", " : "",
	    have_free ? fr : "", have_free ? " free" : "");
}

static int
cmd_list(const struct store_cmd *c, struct store *s)
{
	struct store_list l;
	uint64_t avail = 0;
	char *cause = NULL;
	int i, have_free;

	memset(&l, 0, sizeof l);
	if (s != NULL && store_list(s, &l, &cause) != 0) {
		err_line(NULL, cause);
		free(cause);
		return 1;
	}
	have_free = s != NULL && store_free_bytes(s, &avail) == 0;
	if (c->format == STORE_QUIET)
		for (i = 0; i < l.n; i++)
			puts(l.entries[i].ref);
	else if (c->format == STORE_JSON)
		list_json(c, &l);
	else
		list_plain(&l, avail, have_free);
	store_list_free(&l);
	return 0;
}

static int
cmd_rm(const struct store_cmd *c, struct store *s)
{
	char *cause, clean[512];
	struct ref r;
	int i, status = 0, got;

	for (i = 0; i < c->nrefs; i++) {
		const char *name = c->refs[i];

		cause = NULL;
		got = 1;
		/* the normalized name, as pulls write it; else the text as
		 * given (entries other tools named) */
		if (ref_parse(name, &r, &cause) == 0) {
			if (s != NULL)
				got = store_index_remove(s, r.full, &cause);
			if (got == 0)
				name = NULL;
			sanitize(clean, sizeof clean, r.full);
			ref_free(&r);
		} else
			sanitize(clean, sizeof clean, name);
		free(cause);
		cause = NULL;
		if (got == 1 && name != NULL && s != NULL)
			got = store_index_remove(s, name, &cause);
		if (got < 0) {
			err_line(clean, cause);
			status = 1;
		} else if (got == 1) {
			cause = xasprintf("not in the store %s", c->dir);
			err_line(clean, cause);
			status = 1;
		} else if (c->format == STORE_JSON)
			json_print(json_pack("{s:s,s:s}", "status", "Untagged",
			    "reference", clean));
		else if (c->format == STORE_QUIET)
			puts(clean);
		else
			printf("Untagged: %s\n", clean);
		free(cause);
	}
	return status;
}

static void
prune_each(void *ctx, const char *what, const char *digest, uint64_t size)
{
	const struct store_cmd *c = ctx;
	char sz[32];

	if (c->format == STORE_QUIET)
		puts(digest);
	else if (c->format == STORE_JSON)
		json_print(json_pack("{s:s,s:s,s:s,s:I}", "status", c->dry_run ?
		    "Would delete" : "Deleted", "kind", what, "digest", digest,
		    "size", (json_int_t)size));
	else {
		fmt_bytes(sz, sizeof sz, size);
		printf("%s %s %s (%s)\n", c->dry_run ? "Would delete" : "Deleted",
		    what, digest, sz);
	}
}

static void
prune_summary(const struct store_cmd *c, const struct store_prune *p)
{
	char total[32], young[32], age[32];

	if (c->format == STORE_JSON) {
		json_print(json_pack("{s:I,s:I,s:I,s:I,s:I,s:b}", "reclaimed",
		    (json_int_t)(p->blob_bytes + p->partial_bytes), "blobs",
		    (json_int_t)p->blobs, "partials", (json_int_t)p->partials,
		    "heldPartials", (json_int_t)p->held_partials,
		    "youngPartials", (json_int_t)p->young_partials, "dryRun",
		    c->dry_run));
		return;
	}
	if (c->format == STORE_QUIET)
		return;
	fmt_bytes(total, sizeof total, p->blob_bytes + p->partial_bytes);
	printf("%s: %s (%llu blob%s, %llu partial%s)\n", c->dry_run ?
	    "Would reclaim" : "Total reclaimed space", total,
	    (unsigned long long)p->blobs, p->blobs == 1 ? "" : "s",
	    (unsigned long long)p->partials, p->partials == 1 ? "" : "s");
	if (p->held_partials > 0)
		printf("Kept %llu partial%s a running pulltop is downloading\n",
		    (unsigned long long)p->held_partials,
		    p->held_partials == 1 ? "" : "s");
	if (p->young_partials > 0) {
		fmt_bytes(young, sizeof young, p->young_bytes);
		fmt_duration(age, sizeof age, c->age);
		printf("Kept %llu partial%s younger than %s (%s; --prune-age 0 "
		    "takes them too)\n", (unsigned long long)p->young_partials,
		    p->young_partials == 1 ? "" : "s", age, young);
	}
}

static int
cmd_prune(const struct store_cmd *c, struct store *s)
{
	struct store_prune p;
	char *cause = NULL;

	memset(&p, 0, sizeof p);
	p.age = c->age;
	p.dry_run = c->dry_run;
	p.each = prune_each;
	p.ctx = (void *)c;
	if (s != NULL && store_prune(s, &p, &cause) != 0) {
		err_line(NULL, cause);
		free(cause);
		return 1;
	}
	prune_summary(c, &p);
	return 0;
}

int
store_cmd_run(const struct store_cmd *c)
{
	struct store *s = NULL;
	char *cause = NULL;
	int status;

	if (store_there(c->dir) && store_open(c->dir, &s, &cause) != 0) {
		err_line(NULL, cause);
		free(cause);
		return 1;
	}
	if (s != NULL && (cause = store_recovery(s, NULL)) != NULL) {
		err_line(NULL, cause);	/* what the store's opening did */
		free(cause);
	}
	if (c->action == STORE_LIST)
		status = cmd_list(c, s);
	else if (c->action == STORE_RM)
		status = cmd_rm(c, s);
	else
		status = cmd_prune(c, s);
	store_close(s);
	return status;
}

int
store_parse_age(const char *s, double *secs)
{
	char *end;
	double v, unit = 1;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno != 0 || !(v >= 0) || v > 1e9)
		return -1;
	if (*end != '\0') {
		if (end[1] != '\0')
			return -1;
		switch (*end) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		default: return -1;
		}
	}
	*secs = v * unit;
	return 0;
}
