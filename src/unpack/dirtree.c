/*
 * dirtree.c - the directories a layer touches, as a tree of nodes named by
 * parent and component (never by path strings, so a deep tree costs memory
 * per directory, not per byte of its paths); the hashes of their paths and
 * the set of paths the layer wrote; the modes and times of the layer's
 * directory entries, applied by one depth-first pass (see unpack_int.h).
 */
#include "unpack_int.h"

#define FNV_BASIS	0xcbf29ce484222325ull
#define FNV_PRIME	0x100000001b3ull

/* ---------------------------------------------------------- path hashes */

static uint64_t
fnv(uint64_t h, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
	return h;
}

/* The hash state of the path parent + "/" + name ("name" at the top). */
uint64_t
up_ph_child(uint64_t parent, int parent_is_root, const char *name, size_t n)
{
	if (!parent_is_root)
		parent = fnv(parent, "/", 1);
	return fnv(parent, name, n);
}

/* A hash state made a key: mixed, never 0 (0 marks a free slot). */
uint64_t
up_ph_final(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h ? h : 1;
}

/* ------------------------------------------------------------- path set */

void
up_set_add(struct pathset *s, uint64_t key)
{
	size_t i;

	if (s->overflow)
		return;
	if (s->n >= SET_MAX) {
		s->overflow = 1;
		return;
	}
	if ((s->n + 1) * 2 > s->cap) {
		struct pathset g = { NULL, s->cap ? s->cap * 2 : 4096, 0, 0 };
		g.slot = xcalloc(g.cap, sizeof *g.slot);
		for (i = 0; i < s->cap; i++) {
			size_t j;
			if (s->slot[i] == 0)
				continue;
			for (j = s->slot[i] & (g.cap - 1); g.slot[j] != 0;
			    j = (j + 1) & (g.cap - 1))
				;
			g.slot[j] = s->slot[i];
		}
		g.n = s->n;
		free(s->slot);
		*s = g;
	}
	for (i = key & (s->cap - 1); s->slot[i] != 0; i = (i + 1) & (s->cap - 1))
		if (s->slot[i] == key)
			return;
	s->slot[i] = key;
	s->n++;
}

int
up_set_has(const struct pathset *s, uint64_t key)
{
	size_t i;

	if (s->cap == 0)
		return 0;
	for (i = key & (s->cap - 1); s->slot[i] != 0; i = (i + 1) & (s->cap - 1))
		if (s->slot[i] == key)
			return 1;
	return 0;
}

void
up_set_free(struct pathset *s)
{
	free(s->slot);
	memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------- the tree */

static char *
dname(const struct dirtree *t, uint32_t id)
{
	return t->names + t->n[id].name;
}

/* The tree with only the rootfs in it (node 0). */
void
up_dt_init(struct unpack *u)
{
	struct dirtree *t = &u->dt;
	struct dnode *r;

	if (t->n == NULL) {
		t->capn = 256;
		t->n = xmalloc(t->capn * sizeof *t->n);
		t->capidx = 512;
		t->idx = xmalloc(t->capidx * sizeof *t->idx);
		t->capnames = 4096;
		t->names = xmalloc(t->capnames);
	}
	memset(t->idx, 0xff, t->capidx * sizeof *t->idx);	/* all NONE */
	t->nn = 1;
	t->names[0] = '\0';
	t->nnames = 1;
	t->ndefer = 0;
	t->clock = 0;
	r = &t->n[0];
	memset(r, 0, sizeof *r);
	r->h = FNV_BASIS;
	r->ino = u->root_ino;
	r->parent = r->child = r->next = NONE;
}

void
up_dt_free(struct unpack *u)
{
	free(u->dt.n);
	free(u->dt.idx);
	free(u->dt.names);
	free(u->dt.defer);
	memset(&u->dt, 0, sizeof u->dt);
}

static void
idx_insert(struct dirtree *t, uint32_t id)
{
	uint32_t m = t->capidx - 1, i;

	for (i = (uint32_t)up_ph_final(t->n[id].h) & m; t->idx[i] != NONE;
	    i = (i + 1) & m)
		;
	t->idx[i] = id;
}

static void
idx_grow(struct dirtree *t)
{
	uint32_t id;

	t->capidx *= 2;
	t->idx = xrealloc(t->idx, t->capidx * sizeof *t->idx);
	memset(t->idx, 0xff, t->capidx * sizeof *t->idx);
	for (id = 1; id < t->nn; id++)
		idx_insert(t, id);
}

/* The node of parent's child name, or NONE. */
uint32_t
up_dt_find(struct unpack *u, uint32_t parent, const char *name, size_t n)
{
	const struct dirtree *t = &u->dt;
	uint64_t h;
	uint32_t m, i, id;

	if (parent == NONE || t->n == NULL)
		return NONE;
	h = up_ph_child(t->n[parent].h, parent == 0, name, n);
	m = t->capidx - 1;
	for (i = (uint32_t)up_ph_final(h) & m; (id = t->idx[i]) != NONE;
	    i = (i + 1) & m) {
		const struct dnode *d = &t->n[id];
		if (d->h == h && d->parent == parent && d->len == n &&
		    memcmp(dname(t, id), name, n) == 0)
			return id;
	}
	return NONE;
}

static uint32_t
dt_new(struct dirtree *t, uint32_t parent, const char *name, size_t n)
{
	struct dnode *d;
	uint32_t id = t->nn;

	if (t->nn == t->capn) {
		t->capn *= 2;
		t->n = xrealloc(t->n, t->capn * sizeof *t->n);
	}
	while (t->nnames + n + 1 > t->capnames) {
		t->capnames *= 2;
		t->names = xrealloc(t->names, t->capnames);
	}
	if ((size_t)(t->nn + 1) * 2 > t->capidx)
		idx_grow(t);
	d = &t->n[id];
	memset(d, 0, sizeof *d);
	d->h = up_ph_child(t->n[parent].h, parent == 0, name, n);
	d->parent = parent;
	d->child = NONE;
	d->next = t->n[parent].child;
	t->n[parent].child = id;
	d->name = (uint32_t)t->nnames;
	d->len = (uint16_t)n;
	d->depth = t->n[parent].depth + 1;
	memcpy(t->names + t->nnames, name, n);
	t->names[t->nnames + n] = '\0';
	t->nnames += n + 1;
	t->nn++;
	idx_insert(t, id);
	return id;
}

/*
 * The node of parent's child name (made if missing), seen as a symlink
 * (link) or a directory with inode ino (0: not known now). NONE when it
 * would be nested deeper than MAX_DEPTH.
 */
uint32_t
up_dt_child(struct unpack *u, uint32_t parent, const char *name, size_t n,
    int link, uint64_t ino)
{
	struct dirtree *t = &u->dt;
	uint32_t id = up_dt_find(u, parent, name, n);

	if (id == NONE) {
		if (t->n[parent].depth >= MAX_DEPTH)
			return NONE;
		id = dt_new(t, parent, name, n);
	}
	if (link) {
		t->n[id].flags |= DN_LINK;
		t->n[id].ino = 0;
	} else {
		t->n[id].flags &= ~DN_LINK;
		if (ino != 0)
			t->n[id].ino = ino;
	}
	return id;
}

/* A walk stands on node now: the clock ticks, the node notes when. */
void
up_dt_visit(struct unpack *u, uint32_t node)
{
	struct dnode *d = &u->dt.n[node];

	d->last = ++u->dt.clock;
	if (d->first == 0)
		d->first = d->last;
}

/*
 * node (and all below it) is being removed: forget their inodes. A node
 * with no inode known has none known below it, so such subtrees are
 * skipped and each inode is forgotten once per time it was learnt.
 */
void
up_dt_forget(struct unpack *u, uint32_t x)
{
	struct dnode *n = u->dt.n;
	uint32_t c;

	if (n[x].ino == 0)
		return;
	n[x].ino = 0;
	c = n[x].child;
	while (c != NONE) {
		if (n[c].ino != 0) {
			n[c].ino = 0;
			if (n[c].child != NONE) {
				c = n[c].child;
				continue;
			}
		}
		while (c != x && n[c].next == NONE)
			c = n[c].parent;
		if (c == x)
			break;
		c = n[c].next;
	}
}

/* The layer wrote below node: its path and those above go in the set. */
void
up_dt_record(struct unpack *u, uint32_t node)
{
	struct dnode *n = u->dt.n;

	for (; node != 0 && node != NONE && !(n[node].flags & DN_RECORDED);
	    node = n[node].parent) {
		up_set_add(&u->set, up_ph_final(n[node].h));
		n[node].flags |= DN_RECORDED;
	}
}

/* The path set's key of parent's child leaf. */
uint64_t
up_dt_key(struct unpack *u, uint32_t parent, const char *leaf)
{
	return up_ph_final(up_ph_child(u->dt.n[parent].h, parent == 0, leaf,
	    strlen(leaf)));
}

/*
 * node's path (+ "/" + leaf when leaf is not NULL) for a message:
 * sanitized, cut to n. Costs the depth; only for messages.
 */
const char *
up_where(struct unpack *u, uint32_t node, const char *leaf, char *out,
    size_t n)
{
	const struct dirtree *t = &u->dt;
	size_t len = leaf ? strlen(leaf) : 0, at;
	uint32_t x;
	char *s;

	for (x = node; x != 0 && x != NONE; x = t->n[x].parent)
		len += t->n[x].len + 1u;
	s = xmalloc(len + 1);
	at = len;
	s[at] = '\0';
	if (leaf != NULL) {
		at -= strlen(leaf);
		memcpy(s + at, leaf, strlen(leaf));
	}
	for (x = node; x != 0 && x != NONE; x = t->n[x].parent) {
		if (at < len)
			s[--at] = '/';
		at -= t->n[x].len;
		memcpy(s + at, dname(t, x), t->n[x].len);
	}
	up_show(s + at, out, n);
	free(s);
	return out;
}

/* ------------------------------------------------- deferred directories */

/* Directory node gets mode and times ts when the layer ends. */
void
up_dt_defer(struct unpack *u, uint32_t node, mode_t mode,
    const struct timespec ts[2])
{
	struct dirtree *t = &u->dt;
	struct defer *d;
	uint32_t x;

	if (t->n[node].defer == 0) {
		if (t->ndefer == t->capdefer) {
			t->capdefer = t->capdefer ? t->capdefer * 2 : 64;
			t->defer = xrealloc(t->defer, t->capdefer *
			    sizeof *t->defer);
		}
		t->n[node].defer = ++t->ndefer;
	}
	d = &t->defer[t->n[node].defer - 1];
	d->node = node;
	d->mode = mode;
	d->ts[0] = ts[0];
	d->ts[1] = ts[1];
	for (x = node; x != NONE && !(t->n[x].flags & DN_BELOW);
	    x = t->n[x].parent)
		t->n[x].flags |= DN_BELOW;
}

/* Past its soft limits: flush before the next entry. */
int
up_dt_full(const struct unpack *u)
{
	return u->dt.nn > DT_SOFT || u->dt.nnames > DT_NAMES_SOFT ||
	    u->dt.clock > CLOCK_SOFT;
}

static void
apply_defer(struct unpack *u, uint32_t node, int fd, const struct stat *sb)
{
	const struct defer *d = &u->dt.defer[u->dt.n[node].defer - 1];
	mode_t m = d->mode;

	if (!u->is_root) {
		up_fix_note(u, sb->st_ino, m);
		m |= 0700;
	}
	(void)fchmod(fd, m);
	(void)futimens(fd, d->ts);
}

/* From c on, the first sibling that leads to a deferred directory. */
static uint32_t
next_marked(const struct dirtree *t, uint32_t c)
{
	while (c != NONE && ((t->n[c].flags & (DN_BELOW | DN_LINK)) !=
	    DN_BELOW))
		c = t->n[c].next;
	return c;
}

struct flv {
	uint32_t next;		/* the next child to visit */
	dev_t dev;
	ino_t ino;
};

/* Visit node c under fd: its mode, then 1 with *fd moved into it when
 * something below it waits, else 0. */
static int
flush_enter(struct unpack *u, uint32_t c, int *fd, struct flv *lv)
{
	struct dirtree *t = &u->dt;
	struct stat sb;
	int nfd;

	nfd = openat(*fd, dname(t, c), O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (nfd < 0)
		return 0;	/* gone, or no longer a directory */
	if (fstat(nfd, &sb) != 0 || sb.st_dev != u->root_dev) {
		close(nfd);
		return 0;
	}
	if (t->n[c].defer != 0)
		apply_defer(u, c, nfd, &sb);
	lv->next = next_marked(t, t->n[c].child);
	if (lv->next == NONE) {
		close(nfd);
		return 0;
	}
	lv->dev = sb.st_dev;
	lv->ino = sb.st_ino;
	close(*fd);
	*fd = nfd;
	return 1;
}

/* Up from *fd (at level *depth) to level want by "..", each checked. */
static int
flush_up(int *fd, const struct flv *st, size_t *depth, size_t want)
{
	struct stat sb;
	int up;

	while (*depth > want) {
		up = openat(*fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (up < 0 || fstat(up, &sb) != 0 ||
		    sb.st_dev != st[*depth - 2].dev ||
		    sb.st_ino != st[*depth - 2].ino) {
			if (up >= 0)	/* moved under us: stop */
				close(up);
			return -1;
		}
		close(*fd);
		*fd = up;
		(*depth)--;
	}
	return 0;
}

/*
 * Give the deferred directories their modes and times: one depth-first
 * pass down the nodes marked DN_BELOW, one fd open at a time (up by "..",
 * checked against the inode seen on the way down). Then the tree starts
 * again with only the rootfs, and the walker forgets where it was.
 * -1 with *cause when cancelled, or when not root and more directories
 * than FIX_MAX lack u+rwx.
 */
int
up_dt_flush(struct unpack *u, char **cause)
{
	struct dirtree *t = &u->dt;
	struct flv *st = NULL;
	size_t depth = 0, cap = 0, want;
	struct stat sb;
	int fd = -1, r = 0;

	if (t->n == NULL || t->ndefer == 0 ||
	    (fd = openat(u->root, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0 || fstat(fd, &sb) != 0) {
		if (fd >= 0)
			close(fd);
		goto reset;
	}
	if (t->n[0].defer != 0)
		apply_defer(u, 0, fd, &sb);
	cap = 64;
	st = xmalloc(cap * sizeof *st);
	st[0].next = next_marked(t, t->n[0].child);
	st[0].dev = sb.st_dev;
	st[0].ino = sb.st_ino;
	depth = 1;
	while (depth > 0) {
		uint32_t c = st[depth - 1].next;

		if (up_tick(u)) {
			r = up_fail(cause, "cancelled");
			break;
		}
		if (c != NONE) {
			st[depth - 1].next = next_marked(t, t->n[c].next);
			if (depth == cap)
				st = xrealloc(st, (cap *= 2) * sizeof *st);
			if (flush_enter(u, c, &fd, &st[depth]))
				depth++;
			continue;
		}
		/* up to the deepest level with more to visit, if any */
		for (want = depth - 1; want > 0 && st[want - 1].next == NONE;
		    want--)
			;
		if (want == 0 || flush_up(&fd, st, &depth, want) != 0)
			break;
	}
	close(fd);
	free(st);
	if (r == 0 && u->fix.overflow)
		r = up_fail(cause, "more than %u directories without owner "
		    "rwx: only root can unpack this", FIX_MAX);
reset:
	up_walk_reset(u);
	up_dt_init(u);
	return r;
}
