/*
 * group.c - which image an active layer belongs to. Owns a cache of the
 * content store's committed blobs (each read once: a manifest, an index,
 * or neither) and the image records it made from the manifests, and
 * keeps those images' states in step with their layers. See group.h.
 */
#include "group.h"
#include "model.h"
#include "oci.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum kind { K_OTHER, K_MANIFEST, K_INDEX };

struct entry {			/* one file of blobs/sha256 */
	char hex[65];
	enum kind kind;
	double mtime;		/* commit time: newer manifests win */
	struct manifest mf;	/* K_MANIFEST, K_INDEX */
};

struct gimage {			/* an image this group made */
	char *ns;
	int entry;		/* its manifest */
	int id;			/* model image id */
	double last_active;	/* monotonic: a layer was in flight */
};

struct group {
	int content_fd;
	struct timespec dir_mtime;
	int have_mtime;
	struct entry *e;
	int ne, cap;
	int *hash;		/* hex -> entry, open addressing */
	size_t hcap;
	int *mfs;		/* entries that are manifests or indexes */
	int nmfs, capmfs;
	struct gimage *im;
	int nim, capim;
};

struct group *
group_new(int content_fd)
{
	struct group *g = xcalloc(1, sizeof *g);

	g->content_fd = content_fd;
	g->hcap = 1024;
	g->hash = xmalloc(g->hcap * sizeof *g->hash);
	memset(g->hash, 0xff, g->hcap * sizeof *g->hash);
	return g;
}

void
group_free(struct group *g)
{
	int i;

	if (g == NULL)
		return;
	for (i = 0; i < g->ne; i++)
		if (g->e[i].kind != K_OTHER)
			manifest_free(&g->e[i].mf);
	for (i = 0; i < g->nim; i++)
		free(g->im[i].ns);
	free(g->e);
	free(g->hash);
	free(g->mfs);
	free(g->im);
	free(g);
}

void
group_blob_state(struct model_blob *b, enum blob_state st)
{
	b->state = st;
	b->visited |= 1u << st;
}

/* ------------------------------------------------------------ the cache */

/* The first 16 hex digits are as good a hash as any. */
static size_t
hex_hash(const char *hex)
{
	size_t h = 0;
	int i;

	for (i = 0; i < 16 && hex[i] != '\0'; i++)
		h = h * 16 + (size_t)(hex[i] <= '9' ? hex[i] - '0' :
		    hex[i] - 'a' + 10);
	return h;
}

static int
find(const struct group *g, const char *hex)
{
	size_t i = hex_hash(hex) & (g->hcap - 1);

	while (g->hash[i] >= 0) {
		if (strcmp(g->e[g->hash[i]].hex, hex) == 0)
			return g->hash[i];
		i = (i + 1) & (g->hcap - 1);
	}
	return -1;
}

static void
hash_put(struct group *g, int id)
{
	size_t i = hex_hash(g->e[id].hex) & (g->hcap - 1);

	while (g->hash[i] >= 0)
		i = (i + 1) & (g->hcap - 1);
	g->hash[i] = id;
}

static int
hex64(const char *s)
{
	int i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[64] == '\0';
}

/* Read and parse blob name of folder dfd when it can be a manifest. */
static enum kind
classify(int dfd, const char *name, const struct stat *st, struct manifest *mf)
{
	char *buf, *cause = NULL;
	size_t len = 0;
	ssize_t n;
	int fd;
	enum kind k = K_OTHER;

	if (!S_ISREG(st->st_mode) || st->st_size < 2 ||
	    (uint64_t)st->st_size > GROUP_MANIFEST_MAX)
		return K_OTHER;
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return K_OTHER;
	buf = xmalloc((size_t)st->st_size + 1);
	while (len < (size_t)st->st_size &&
	    ((n = read(fd, buf + len, (size_t)st->st_size - len)) > 0 ||
	    (n < 0 && errno == EINTR)))
		if (n > 0)
			len += (size_t)n;
	close(fd);
	n = 0;
	while ((size_t)n < len && (buf[n] == ' ' || buf[n] == '\n' ||
	    buf[n] == '\t' || buf[n] == '\r'))
		n++;
	if ((size_t)n < len && buf[n] == '{') {
		if (manifest_parse(buf, len, NULL, mf, &cause) == 0)
			k = mf->is_index ? K_INDEX : K_MANIFEST;
		free(cause);
	}
	free(buf);
	return k;
}

static void
add_entry(struct group *g, int dfd, const char *name, int *fresh)
{
	struct entry *e;
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return;		/* gone since readdir: fine */
	if (g->ne == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 256;
		g->e = xrealloc(g->e, (size_t)g->cap * sizeof *g->e);
	}
	e = &g->e[g->ne];
	memset(e, 0, sizeof *e);
	memcpy(e->hex, name, 65);
	e->mtime = (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9;
	e->kind = classify(dfd, name, &st, &e->mf);
	if (e->kind != K_OTHER) {
		if (g->nmfs == g->capmfs) {
			g->capmfs = g->capmfs ? g->capmfs * 2 : 64;
			g->mfs = xrealloc(g->mfs, (size_t)g->capmfs *
			    sizeof *g->mfs);
		}
		g->mfs[g->nmfs++] = g->ne;
		*fresh = 1;
	}
	g->ne++;
	if ((size_t)g->ne * 2 > g->hcap) {
		int i;

		g->hcap *= 2;
		g->hash = xrealloc(g->hash, g->hcap * sizeof *g->hash);
		memset(g->hash, 0xff, g->hcap * sizeof *g->hash);
		for (i = 0; i < g->ne; i++)
			hash_put(g, i);
	} else
		hash_put(g, g->ne - 1);
}

int
group_refresh(struct group *g)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	int fd, fresh = 0;
	double age;

	if (fstatat(g->content_fd, "blobs/sha256", &st, 0) != 0)
		return 0;
	if (g->have_mtime && st.st_mtim.tv_sec == g->dir_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == g->dir_mtime.tv_nsec)
		return 0;
	fd = openat(g->content_fd, "blobs/sha256",
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = readdir(d)) != NULL)
		if (hex64(de->d_name) && find(g, de->d_name) < 0)
			add_entry(g, dirfd(d), de->d_name, &fresh);
	closedir(d);
	/*
	 * A folder's time has the kernel's coarse clock: a blob committed
	 * in the same tick as a recent change would not move it. Trust it
	 * only once it is a second old.
	 */
	age = now_wall() - ((double)st.st_mtim.tv_sec +
	    st.st_mtim.tv_nsec / 1e9);
	g->have_mtime = age > 1.0;
	g->dir_mtime = st.st_mtim;
	return fresh;
}

/* ----------------------------------------------------------- the images */

static int
lists(const struct manifest *mf, const char *digest)
{
	int i;

	if (strcmp(mf->config.digest, digest) == 0)
		return 1;
	for (i = 0; i < mf->nlayers; i++)
		if (strcmp(mf->layers[i].digest, digest) == 0)
			return 1;
	return 0;
}

/* The platform an index gives manifest hex, into out ("" if none). */
static void
platform_of(const struct group *g, const char *hex, char *out, size_t n)
{
	int i, j;

	out[0] = '\0';
	for (i = 0; i < g->nmfs; i++) {
		const struct entry *e = &g->e[g->mfs[i]];

		if (e->kind != K_INDEX)
			continue;
		for (j = 0; j < e->mf.nmanifests; j++) {
			const struct descriptor *d = &e->mf.manifests[j];

			if (strcmp(d->digest + 7, hex) != 0 || d->os[0] == '\0')
				continue;
			snprintf(out, n, "%s/%s%s%s", d->os, d->arch,
			    d->variant[0] ? "/" : "", d->variant);
			return;
		}
	}
}

/* A record for each layer of entry e, linked to image id, in order. */
static void
add_layers(struct group *g, struct model *m, const struct entry *e, int id,
    const char *ns)
{
	int *ids = xcalloc((size_t)e->mf.nlayers + 1, sizeof *ids);
	int i, added, cfg;

	for (i = 0; i < e->mf.nlayers; i++) {
		const struct descriptor *d = &e->mf.layers[i];
		struct model_blob *b;

		ids[i] = model_blob_add(m, d->digest, d->media_type, d->size, 1,
		    &added);
		b = model_blob(m, ids[i]);
		if (added) {
			group_blob_state(b, find(g, d->digest + 7) >= 0 ?
			    BLOB_EXISTS : BLOB_WAITING);
			model_set_str(m, &b->where, &b->meta_gen, ns);
			model_touch_blob(m, b);
		} else if (b->size == 0) {
			b->size = d->size;
			model_touch_blob(m, b);
		}
		model_blob_link(m, ids[i], id);
	}
	model_image_layers(m, id, ids, e->mf.nlayers);
	free(ids);
	cfg = model_blob_find(m, e->mf.config.digest);
	if (cfg >= 0)
		model_blob_link(m, cfg, id);
}

static int
make_image(struct group *g, struct model *m, int entry, const char *ns)
{
	const struct entry *e = &g->e[entry];
	struct model_image *im;
	struct gimage *gi;
	char *name, digest[80], plat[112];
	int id;

	name = xasprintf("%s@sha256:%s", ns, e->hex);
	id = model_image_add(m, name, "");
	free(name);
	im = model_image(m, id);
	im->state = IMAGE_DOWNLOADING;
	snprintf(digest, sizeof digest, "sha256:%s", e->hex);
	model_set_str(m, &im->digest, &im->meta_gen, digest);
	platform_of(g, e->hex, plat, sizeof plat);
	model_set_str(m, &im->platform, &im->meta_gen, plat);
	add_layers(g, m, e, id, ns);
	model_touch_image(m, im);
	if (g->nim == g->capim) {
		g->capim = g->capim ? g->capim * 2 : 16;
		g->im = xrealloc(g->im, (size_t)g->capim * sizeof *g->im);
	}
	gi = &g->im[g->nim++];
	gi->ns = xstrdup(ns);
	gi->entry = entry;
	gi->id = id;
	gi->last_active = now_mono();
	model_event(m, 0, EV_ADDED, id, -1, "%s", "");
	return id;
}

int
group_place(struct group *g, struct model *m, int blob, const char *ns)
{
	struct model_blob *b = model_blob(m, blob);
	int i, best = -1;

	if (b == NULL || strncmp(b->digest, "sha256:", 7) != 0)
		return -1;
	for (i = 0; i < g->nmfs; i++) {
		const struct entry *e = &g->e[g->mfs[i]];

		if (e->kind == K_MANIFEST && lists(&e->mf, b->digest) &&
		    (best < 0 || e->mtime > g->e[best].mtime))
			best = g->mfs[i];
	}
	if (best < 0)
		return -1;
	for (i = 0; i < g->nim; i++)
		if (g->im[i].entry == best && strcmp(g->im[i].ns, ns) == 0) {
			model_blob_link(m, blob, g->im[i].id);
			return g->im[i].id;
		}
	i = make_image(g, m, best, ns);
	model_blob_link(m, blob, i);	/* a config is not among the layers */
	return i;
}

/* Set the state of every layer of im that is in state from to state to. */
static void
layers_move(struct model *m, struct model_image *im, enum blob_state from,
    enum blob_state to)
{
	int i;

	for (i = 0; i < im->nlayers; i++) {
		struct model_blob *b = model_blob(m, im->layers[i]);

		if (b != NULL && b->state == from) {
			group_blob_state(b, to);
			model_touch_blob(m, b);
		}
	}
}

static void
image_update(struct model *m, struct gimage *gi, double now, double idle)
{
	struct model_image *im = model_image(m, gi->id);
	int i, done = 0, flight = 0;

	for (i = 0; i < im->nlayers; i++) {
		const struct model_blob *b = model_blob(m, im->layers[i]);

		if (b->state == BLOB_DONE || b->state == BLOB_EXISTS)
			done++;
		else if (b->state == BLOB_DOWNLOADING || b->state == BLOB_STALLED)
			flight++;
	}
	if (done == im->nlayers) {
		if (im->state == IMAGE_COMPLETE)
			return;
		im->state = IMAGE_COMPLETE;
		im->finished = now;
		im->up_to_date = 0;
		model_set_str(m, &im->error, &im->meta_gen, NULL);
		model_event(m, 0, EV_COMPLETE, gi->id, -1, "%s", im->digest);
	} else if (flight > 0) {
		gi->last_active = now;
		if (im->state == IMAGE_DOWNLOADING)
			return;
		im->state = IMAGE_DOWNLOADING;	/* it goes on */
		im->finished = 0;
		model_set_str(m, &im->error, &im->meta_gen, NULL);
		layers_move(m, im, BLOB_ABORTED, BLOB_WAITING);
	} else if (now - gi->last_active >= idle &&
	    im->state == IMAGE_DOWNLOADING) {
		char *why = xasprintf("the pull stopped with %d of %d layers "
		    "in the store", done, im->nlayers);

		im->state = IMAGE_FAILED;
		im->finished = now;
		model_set_str(m, &im->error, &im->meta_gen, why);
		layers_move(m, im, BLOB_WAITING, BLOB_ABORTED);
		model_event(m, 1, EV_FAILED, gi->id, -1, "%s", why);
		free(why);
	} else
		return;
	model_touch_image(m, im);
}

void
group_update(struct group *g, struct model *m, double now, double idle)
{
	int i;

	for (i = 0; i < g->nim; i++)
		image_update(m, &g->im[i], now, idle);
}
