/*
 * space.c - free space, checked before an image's layers are queued: what
 * is still to fetch for it (less what its partials already hold, less what
 * other images of this run are fetching already), plus what those other
 * images still have to come, against statvfs of the store's filesystem;
 * with --unpack, an estimate of the unpacked size against the unpack
 * directory's filesystem (the same sum when it is the same filesystem).
 */
#include "store.h"
#include "store_int.h"
#include "oci.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#define UNPACK_RATIO 2	/* compressed layers: unpacked at least this */

static int
free_on(const char *path, uint64_t *bytes, dev_t *dev)
{
	struct statvfs v;
	struct stat st;

	if (statvfs(path, &v) != 0 || stat(path, &st) != 0)
		return -1;
	*bytes = (uint64_t)v.f_bavail * (uint64_t)v.f_frsize;
	*dev = st.st_dev;
	return 0;
}

int
store_free_bytes(const struct store *s, uint64_t *bytes)
{
	dev_t dev;

	return free_on(s->dir, bytes, &dev);
}

/*
 * The estimate of a layer's unpacked size: its compressed size doubled for
 * gzip and zstd (container layers usually shrink 2 to 4 times), the size
 * itself for a plain tar. It errs low: an image it lets through may still
 * not fit, one it stops would not have.
 */
static uint64_t
unpacked_estimate(const struct descriptor *d)
{
	size_t n = strlen(d->media_type);

	if ((n > 5 && strcmp(d->media_type + n - 5, "+gzip") == 0) ||
	    (n > 5 && strcmp(d->media_type + n - 5, "+zstd") == 0) ||
	    (n > 9 && strcmp(d->media_type + n - 9, ".tar.gzip") == 0))
		return d->size * UNPACK_RATIO;
	return d->size;
}

/* What blob d still needs here: 0 when it is in blobs/ or another image
 * of this run fetches it (that counts as pending). s->mu held. */
static uint64_t
still_to_fetch(struct store *s, const struct descriptor *d, json_t *mine)
{
	uint64_t have, need;

	if (json_object_get(mine, d->digest) != NULL ||
	    json_object_get(s->reserved, d->digest) != NULL ||
	    json_object_get(s->touched, d->digest) != NULL ||
	    blob_there(s, d->digest, d->size))
		return 0;
	have = gc_partial_size(s, d->digest);
	need = have < d->size ? d->size - have : 0;
	json_object_set_new(mine, d->digest, json_integer((json_int_t)need));
	return need;
}

/* What the images of this run that passed before still have to fetch:
 * the sum counted for blobs not opened yet, and what the partials of
 * those being fetched still lack. s->mu held. */
static uint64_t
pending(struct store *s)
{
	const char *dg;
	json_t *v;
	void *tmp;
	uint64_t n = s->res_sum, size, have;

	json_object_foreach_safe(s->touched, tmp, dg, v) {
		size = (uint64_t)json_integer_value(v);
		if (blob_there(s, dg, size)) {
			json_object_del(s->touched, dg);
			continue;
		}
		have = gc_partial_size(s, dg);
		n += have < size ? size - have : 0;
	}
	return n;
}

void
space_touch(struct store *s, const char *digest, uint64_t size)
{
	json_t *v;

	pthread_mutex_lock(&s->mu);
	if (s->reserved != NULL &&
	    (v = json_object_get(s->reserved, digest)) != NULL) {
		s->res_sum -= (uint64_t)json_integer_value(v);
		json_object_del(s->reserved, digest);
		json_object_set_new(s->touched, digest,
		    json_integer((json_int_t)size));
	}
	pthread_mutex_unlock(&s->mu);
}

void
space_done(struct store *s, const char *digest)
{
	pthread_mutex_lock(&s->mu);
	if (s->touched != NULL)
		json_object_del(s->touched, digest);
	pthread_mutex_unlock(&s->mu);
}

/* The nearest existing directory at or above path (malloc'd). */
static char *
existing_dir(const char *path)
{
	char *p = xstrdup(path), *slash;
	struct stat st;

	while (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
		slash = strrchr(p, '/');
		if (slash == NULL) {
			free(p);
			return xstrdup(".");
		}
		if (slash == p) {
			p[1] = '\0';
			break;
		}
		*slash = '\0';
	}
	return p;
}

/* "needs ..." on the store's filesystem, with what prune would free. */
static char *
store_short(struct store *s, uint64_t need, uint64_t dl, uint64_t est,
    uint64_t other, uint64_t avail)
{
	char n[32], d[32], e[32], o[32], f[32], *hint, *msg, *parts = NULL,
	    *busy = NULL;

	fmt_bytes(n, sizeof n, need);
	fmt_bytes(d, sizeof d, dl);
	fmt_bytes(e, sizeof e, est);
	fmt_bytes(o, sizeof o, other);
	fmt_bytes(f, sizeof f, avail);
	if (est > 0)
		parts = xasprintf(" (%s to download, about %s unpacked)", d, e);
	if (other > 0)
		busy = xasprintf(", %s of it still to come for other images of "
		    "this run", o);
	hint = store_prune_hint(s);
	msg = xasprintf("needs %s%s, %s free on %s%s (%s)", n, parts ? parts : "",
	    f, s->dir, busy ? busy : "", hint);
	free(hint);
	free(parts);
	free(busy);
	return msg;
}

int
store_space_check(struct store *s, const struct manifest *m,
    size_t manifest_len, const char *unpack_dir, char **cause)
{
	json_t *mine = json_object(), *v;
	const char *dg;
	uint64_t dl = 2 * (uint64_t)manifest_len, est = 0, other, avail, uavail;
	dev_t dev, udev;
	char *udir = NULL, a[32], b[32];
	int i, r = -1, same = 1;

	pthread_mutex_lock(&s->mu);
	if (s->reserved == NULL) {
		s->reserved = json_object();
		s->touched = json_object();
	}
	dl += still_to_fetch(s, &m->config, mine);
	for (i = 0; i < m->nlayers; i++) {
		dl += still_to_fetch(s, &m->layers[i], mine);
		if (unpack_dir != NULL)
			est += unpacked_estimate(&m->layers[i]);
	}
	other = pending(s);
	if (free_on(s->dir, &avail, &dev) != 0) {
		r = 0;		/* cannot tell: the writes will say */
		goto out;
	}
	if (unpack_dir != NULL) {
		udir = existing_dir(unpack_dir);
		if (free_on(udir, &uavail, &udev) == 0 && udev != dev) {
			same = 0;
			if (est > uavail) {
				fmt_bytes(a, sizeof a, est);
				fmt_bytes(b, sizeof b, uavail);
				*cause = xasprintf("needs about %s to unpack, %s "
				    "free on %s", a, b, unpack_dir);
				goto out;
			}
		}
	}
	if (dl + other + (same ? est : 0) > avail) {
		pthread_mutex_unlock(&s->mu);
		*cause = store_short(s, dl + (same ? est : 0), dl,
		    same ? est : 0, other, avail);
		json_decref(mine);
		free(udir);
		return -1;
	}
	json_object_foreach(mine, dg, v)
		s->res_sum += (uint64_t)json_integer_value(v);
	json_object_update(s->reserved, mine);
	r = 0;
out:
	pthread_mutex_unlock(&s->mu);
	json_decref(mine);
	free(udir);
	return r;
}
