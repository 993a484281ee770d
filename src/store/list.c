/*
 * list.c - every reference in the store with what it takes on disk: its
 * manifest (or index) and every blob that reaches, each blob counted once
 * in the total and marked shared when another reference uses it too; its
 * platform and when it was pulled.
 */
#include "store.h"
#include "store_int.h"
#include "oci.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Bytes of a blob on disk; -1 when it is not there. */
static int64_t
blob_size(const struct store *s, const char *digest)
{
	char *p = store_blob_path(s, digest);
	struct stat st;
	int64_t n = stat(p, &st) == 0 && S_ISREG(st.st_mode) ?
	    (int64_t)st.st_size : -1;

	free(p);
	return n;
}

static double
blob_mtime(const struct store *s, const char *digest)
{
	char *p = store_blob_path(s, digest);
	struct stat st;
	double t = stat(p, &st) == 0 ? (double)st.st_mtime : 0;

	free(p);
	return t;
}

/* The platform an image config declares, for entries that name none. */
static void
config_of(struct store *s, const char *manifest, char *out, size_t n)
{
	struct buf b;
	json_t *root;
	json_error_t je;
	const char *cfg;
	char *cause = NULL;

	if (store_read_small(s, manifest, BLOB_JSON_MAX, &b, &cause) != 0) {
		free(cause);
		return;
	}
	root = json_loadb(b.data ? b.data : "", b.len, 0, &je);
	buf_free(&b);
	cfg = json_string_value(json_object_get(json_object_get(root,
	    "config"), "digest"));
	if (digest_valid(cfg) &&
	    store_read_small(s, cfg, BLOB_JSON_MAX, &b, &cause) == 0) {
		if (config_platform(b.data ? b.data : "", b.len, out, n,
		    &cause) != 0)
			out[0] = '\0';
		buf_free(&b);
	}
	free(cause);
	json_decref(root);
}

static void
entry_platform(struct store *s, json_t *e, struct store_entry *o)
{
	json_t *p = json_object_get(e, "platform");
	const char *os = json_string_value(json_object_get(p, "os"));
	const char *arch = json_string_value(json_object_get(p, "architecture"));
	const char *v = json_string_value(json_object_get(p, "variant"));
	char raw[256];

	if (os != NULL && arch != NULL) {
		snprintf(raw, sizeof raw, "%s/%s%s%s", os, arch, v ? "/" : "",
		    v ? v : "");
		sanitize(o->platform, sizeof o->platform, raw);
	} else if (mt_is_manifest(o->media_type))
		config_of(s, o->digest, o->platform, sizeof o->platform);
}

static double
entry_pulled(const struct store *s, json_t *e, const char *digest)
{
	const char *t = json_string_value(json_object_get(json_object_get(e,
	    "annotations"), PULLED));
	struct tm tm;
	char *end;

	memset(&tm, 0, sizeof tm);
	if (t != NULL && (end = strptime(t, "%Y-%m-%dT%H:%M:%SZ", &tm)) != NULL &&
	    *end == '\0')
		return (double)timegm(&tm);
	/* pulled by another tool, or before pulltop noted it */
	return digest_valid(digest) ? blob_mtime(s, digest) : 0;
}

/* Fill o from index entry e, whose blobs are the keys of set. */
static void
entry_fill(struct store *s, json_t *e, json_t *set, json_t *count,
    struct store_entry *o)
{
	const char *n = entry_refname(e), *dg, *mt;
	json_t *v;
	int64_t size;
	int i = 1;

	o->ref = xmalloc(256);
	sanitize(o->ref, 256, n ? n : "(unnamed)");
	dg = json_string_value(json_object_get(e, "digest"));
	mt = json_string_value(json_object_get(e, "mediaType"));
	snprintf(o->digest, sizeof o->digest, "%s", digest_valid(dg) ? dg : "");
	sanitize(o->media_type, sizeof o->media_type, mt ? mt : "");
	entry_platform(s, e, o);
	o->pulled = entry_pulled(s, e, o->digest);
	o->blobs = xcalloc(json_object_size(set) + 1, sizeof *o->blobs);
	json_object_foreach(set, dg, v) {
		/* the manifest first, then what it reaches */
		struct store_blob_use *b = strcmp(dg, o->digest) == 0 ?
		    &o->blobs[0] : &o->blobs[i++];
		snprintf(b->digest, sizeof b->digest, "%s", dg);
		size = blob_size(s, dg);
		b->missing = size < 0;
		b->size = size < 0 ? 0 : (uint64_t)size;
		b->shared = json_integer_value(json_object_get(count, dg)) > 1;
		o->size += b->size;
		o->shared += b->shared ? b->size : 0;
		o->missing += b->missing;
	}
	o->nblobs = i;
	if (o->blobs[0].digest[0] == '\0') {	/* no valid manifest digest */
		memmove(o->blobs, o->blobs + 1, (size_t)(i - 1) * sizeof *o->blobs);
		o->nblobs = i - 1;
	}
}

int
store_list(struct store *s, struct store_list *out, char **cause)
{
	json_t *root, *list, *e, *count = json_object(), **sets, *v;
	const char *dg;
	char *c2;
	size_t i, n;
	int64_t size;

	memset(out, 0, sizeof *out);
	if ((root = index_load(s, cause)) == NULL) {
		json_decref(count);
		return -1;
	}
	list = json_object_get(root, "manifests");
	n = json_array_size(list);
	sets = xcalloc(n + 1, sizeof *sets);
	json_array_foreach(list, i, e) {
		dg = json_string_value(json_object_get(e, "digest"));
		sets[i] = json_object();
		c2 = NULL;
		/* a manifest that cannot be read lists with what it has */
		if (digest_valid(dg) && gc_mark_entry(s, e, sets[i], &c2) != 0)
			free(c2);
		json_object_foreach(sets[i], dg, v)
			json_object_set_new(count, dg, json_integer(
			    json_integer_value(json_object_get(count, dg)) + 1));
	}
	out->entries = xcalloc(n + 1, sizeof *out->entries);
	out->n = (int)n;
	json_array_foreach(list, i, e) {
		entry_fill(s, e, sets[i], count, &out->entries[i]);
		json_decref(sets[i]);
	}
	json_object_foreach(count, dg, v)
		if ((size = blob_size(s, dg)) > 0)
			out->total += (uint64_t)size;
	free(sets);
	json_decref(count);
	json_decref(root);
	return 0;
}

void
store_list_free(struct store_list *l)
{
	int i;

	for (i = 0; i < l->n; i++) {
		free(l->entries[i].ref);
		free(l->entries[i].blobs);
	}
	free(l->entries);
	memset(l, 0, sizeof *l);
}
