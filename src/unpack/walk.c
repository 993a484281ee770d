/*
 * walk.c - paths inside the rootfs. An entry's name is cleaned; the
 * directory it goes in is resolved one component at a time, symlinks
 * followed here, inside the rootfs, never by the kernel. The last path
 * resolved stays as a cursor (what each of its components led to, the fd
 * of the deepest) with a few anchors (fds of paths that went through a
 * symlink), so the next path pays only for what it does not share with
 * them. See "Paths" and "Linear in depth" in unpack_int.h.
 */
#include "unpack_int.h"

/* Where a walk stands: a node, its fd (-1: the rootfs), links followed. */
struct wst {
	uint32_t node;
	int fd;
	unsigned links;
};

enum { STEP_DIR = 0, STEP_MISSING = 1, STEP_LINK = 2 };

static int
wfd(const struct unpack *u, const struct wst *w)
{
	return w->fd >= 0 ? w->fd : u->root;
}

/* Move w to fd (taken over; -1: the rootfs), which is node. */
static void
wmove(struct wst *w, int fd, uint32_t node)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = fd;
	w->node = node;
}

/*
 * Clean an entry name the way tar does: leading '/' and '.' components
 * and doubled slashes go; a '..' component is refused. Into b, in place
 * (one copy, whatever the number of components).
 */
int
up_clean_name(const char *what, const char *raw, struct buf *b, char **cause)
{
	size_t len = strlen(raw), r = 0, o = 0, n;
	char sh[160], *d;

	if (len > MAX_NAME)
		return up_fail(cause, "entry name longer than %d bytes",
		    MAX_NAME);
	up_bset(b, raw, len);
	d = b->data;
	while (r < len) {
		const char *e = memchr(d + r, '/', len - r);

		n = e ? (size_t)(e - (d + r)) : len - r;
		if (n == 2 && d[r] == '.' && d[r + 1] == '.')
			return up_fail(cause, "%s%s leads out of the rootfs "
			    "(\"..\")", what, up_show(raw, sh, sizeof sh));
		if (n > 0 && !(n == 1 && d[r] == '.')) {
			if (o > 0)
				d[o++] = '/';
			memmove(d + o, d + r, n);
			o += n;
		}
		r += n + 1;
	}
	b->len = o;
	d[o] = '\0';
	return 0;
}

/* ------------------------------------------------------------ one step */

static int
too_deep(const char *p, char **cause)
{
	char sh[160];

	return up_fail(cause, "%s: directories nested deeper than %d levels",
	    up_show(p, sh, sizeof sh), MAX_DEPTH);
}

/* A missing directory on the way: made exactly 0755, as tar does. */
static int
make_dir(struct unpack *u, struct wst *w, const char *name, const char *p,
    char **cause)
{
	char sh[160];
	int fd;

	if (mkdirat(wfd(u, w), name, 0755) != 0 && errno != EEXIST)
		return up_fail(cause, "mkdir %s: %s", up_show(p, sh, sizeof sh),
		    strerror(errno));
	if ((fd = openat(wfd(u, w), name, O_RDONLY | O_NOFOLLOW |
	    O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fchmod(fd, 0755);	/* whatever the umask */
		close(fd);
	}
	return 0;
}

/*
 * One component comp (n bytes, not "." or "..") from w's directory:
 * STEP_DIR with w moved into it, STEP_MISSING (only when !create),
 * STEP_LINK when it is a symlink (w stays), -1 with *cause. p names the
 * path in messages.
 */
static int
step(struct unpack *u, struct wst *w, const char *comp, size_t n, int create,
    const char *p, char **cause)
{
	char name[NAME_MAX + 1], sh[160];
	struct stat sb;
	uint32_t c;
	int fd, tries = 0;

	if (n > NAME_MAX)
		return up_fail(cause, "%s: name too long",
		    up_show(p, sh, sizeof sh));
	memcpy(name, comp, n);
	name[n] = '\0';
	while ((fd = openat(wfd(u, w), name, O_PATH | O_NOFOLLOW |
	    O_DIRECTORY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT && !create)
			return STEP_MISSING;
		if (errno == ENOENT && tries++ == 0) {
			if (make_dir(u, w, name, p, cause) != 0)
				return -1;
			continue;
		}
		if (errno != ENOTDIR && errno != ELOOP)
			return up_fail(cause, "%s: %s",
			    up_show(p, sh, sizeof sh), strerror(errno));
		if (fstatat(wfd(u, w), name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISLNK(sb.st_mode))
			return up_fail(cause, "%s: not a directory",
			    up_show(p, sh, sizeof sh));
		if ((c = up_dt_child(u, w->node, name, n, 1, 0)) == NONE)
			return too_deep(p, cause);
		up_dt_visit(u, c);
		return STEP_LINK;
	}
	c = up_dt_find(u, w->node, name, n);
	if (c == NONE || u->dt.n[c].ino == 0 ||
	    (u->dt.n[c].flags & DN_LINK)) {
		if (fstat(fd, &sb) != 0) {
			close(fd);
			return up_fail(cause, "%s: %s",
			    up_show(p, sh, sizeof sh), strerror(errno));
		}
		if ((c = up_dt_child(u, w->node, name, n, 0,
		    sb.st_ino)) == NONE) {
			close(fd);
			return too_deep(p, cause);
		}
	}
	up_dt_visit(u, c);
	wmove(w, fd, c);
	return STEP_DIR;
}

/* Open node from the rootfs down its path (no symlink in it) into w. */
static int
reopen(struct unpack *u, struct wst *w, uint32_t node, const char *p,
    char **cause)
{
	const struct dnode *n = u->dt.n;
	uint32_t *chain, x, k = 0, i;
	char sh[160];
	int r = 0;

	chain = xmalloc((n[node].depth + 1) * sizeof *chain);
	for (x = node; x != 0; x = n[x].parent)
		chain[k++] = x;
	wmove(w, -1, 0);
	for (i = k; i-- > 0 && r == 0; ) {
		const char *name = u->dt.names + n[chain[i]].name;
		int fd = openat(wfd(u, w), name, O_PATH | O_NOFOLLOW |
		    O_DIRECTORY | O_CLOEXEC);
		struct stat sb;

		if (fd < 0 || fstat(fd, &sb) != 0) {
			r = up_fail(cause, "%s: %s", up_show(p, sh, sizeof sh),
			    strerror(errno));
			if (fd >= 0)
				close(fd);
			break;
		}
		u->dt.n[chain[i]].ino = sb.st_ino;
		up_dt_visit(u, chain[i]);
		wmove(w, fd, chain[i]);
	}
	free(chain);
	return r;
}

/* One level up: ".." of the rootfs is the rootfs. */
static int
step_up(struct unpack *u, struct wst *w, const char *p, char **cause)
{
	uint32_t par;
	struct stat sb;
	int fd;

	if (w->node == 0)
		return 0;
	par = u->dt.n[w->node].parent;
	if (par == 0) {
		up_dt_visit(u, 0);
		wmove(w, -1, 0);
		return 0;
	}
	fd = openat(wfd(u, w), "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &sb) == 0 && sb.st_dev == u->root_dev &&
	    u->dt.n[par].ino != 0 && sb.st_ino == u->dt.n[par].ino) {
		up_dt_visit(u, par);
		wmove(w, fd, par);
		return 0;
	}
	if (fd >= 0)
		close(fd);
	return reopen(u, w, par, p, cause);
}

/* The symlink comp (in w's directory) read into b, and counted. */
static int
read_link(struct unpack *u, struct wst *w, const char *comp, size_t n,
    struct buf *b, const char *p, char **cause)
{
	char name[NAME_MAX + 1], target[MAX_LINK + 1], sh[160];
	ssize_t tl;

	if (++w->links > MAX_LINKS)
		return up_fail(cause, "%s: too many levels of symbolic links",
		    up_show(p, sh, sizeof sh));
	memcpy(name, comp, n);
	name[n] = '\0';
	tl = readlinkat(wfd(u, w), name, target, sizeof target);
	if (tl < 0 || (size_t)tl >= sizeof target)
		return up_fail(cause, "%s: unreadable symbolic link",
		    up_show(p, sh, sizeof sh));
	up_bset(b, target, (size_t)tl);
	if (tl > 0 && target[0] == '/')
		wmove(w, -1, 0);	/* absolute: from the rootfs again */
	return 0;
}

/*
 * Resolve one component of a path from w: into a directory, or through a
 * symlink and its target (and the links in that), the rest of whose
 * components go in u->todo. 0, STEP_MISSING or -1 as step().
 */
static int
resolve(struct unpack *u, struct wst *w, const char *comp, size_t n,
    int create, const char *p, char **cause)
{
	struct buf *todo = &u->todo;
	size_t pos = 0;
	int r;

	if ((r = step(u, w, comp, n, create, p, cause)) != STEP_LINK)
		return r;
	if (read_link(u, w, comp, n, todo, p, cause) != 0)
		return -1;
	while (pos < todo->len) {
		const char *c = todo->data + pos;
		const char *e = memchr(c, '/', todo->len - pos);
		size_t len = e ? (size_t)(e - c) : todo->len - pos;

		pos += len + (e != NULL);
		if (up_tick(u))
			return up_fail(cause, "cancelled");
		if (len == 0 || (len == 1 && c[0] == '.'))
			continue;
		if (len == 2 && c[0] == '.' && c[1] == '.') {
			if (step_up(u, w, p, cause) != 0)
				return -1;
			continue;
		}
		if ((r = step(u, w, c, len, create, p, cause)) != STEP_LINK) {
			if (r != STEP_DIR)
				return r;
			continue;
		}
		/* the rest now follows this link's target */
		if (read_link(u, w, c, len, &u->link, p, cause) != 0)
			return -1;
		up_bcat(&u->link, "/", 1);
		up_bcat(&u->link, todo->data + pos, todo->len - pos);
		up_bset(todo, u->link.data, u->link.len);
		pos = 0;
	}
	return STEP_DIR;
}

/* ------------------------------------------------------------- anchors */

static void
anchor_drop(struct anchor *a)
{
	free(a->raw);
	a->raw = NULL;
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
}

/* The deepest anchor of more than beyond components p starts with. */
static struct anchor *
anchor_find(struct unpack *u, const char *p, size_t plen, uint32_t beyond)
{
	struct anchor *best = NULL;
	int i;

	for (i = 0; i < ANCHORS + RECENT; i++) {
		struct anchor *a = &u->anchor[i];
		if (a->raw != NULL && a->ncomp > beyond && a->len <= plen &&
		    (a->len == plen || p[a->len] == '/') &&
		    (best == NULL || a->len > best->len) &&
		    memcmp(a->raw, p, a->len) == 0)
			best = a;
	}
	return best;
}

/*
 * Remember that p[0..len) (ncomp components) led where w stands: among
 * the paths through a symlink, or the directories walked to lately.
 */
static void
anchor_put(struct unpack *u, const char *p, size_t len, uint32_t ncomp,
    const struct wst *w, const struct level *l, int recent)
{
	int i, lo = recent ? ANCHORS : 0, n = recent ? RECENT : ANCHORS;
	int best = lo, fd = -1;
	struct anchor *a = NULL;

	for (i = 0; i < ANCHORS + RECENT && a == NULL; i++)
		if (u->anchor[i].raw != NULL && u->anchor[i].len == len &&
		    memcmp(u->anchor[i].raw, p, len) == 0)
			a = &u->anchor[i];	/* the same path again */
	for (i = lo; a == NULL && i < lo + n; i++)
		if (u->anchor[i].raw == NULL)
			a = &u->anchor[i];	/* a free slot */
	for (i = lo; a == NULL && i < lo + n; i++)
		if (u->anchor[i].lru < u->anchor[best].lru)
			best = i;		/* the least lately used */
	if (a == NULL)
		a = &u->anchor[best];
	if (w->fd >= 0 && (fd = fcntl(w->fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return;
	anchor_drop(a);
	a->raw = xstrndup(p, len);
	a->len = len;
	a->ncomp = ncomp;
	a->node = w->node;
	a->t0 = l->t0;	/* the path's first level: what it depends on */
	a->t1 = l->t1;
	a->links = (uint8_t)w->links;
	a->fd = fd;
	a->lru = ++u->anchor_lru;
}

/* -------------------------------------------------------------- cursor */

/* How many valid levels of the cursor p begins with. */
static uint32_t
cur_match(const struct cursor *c, const char *p, size_t plen)
{
	size_t l = 0, max;
	uint32_t lo = 0, hi;

	if (c->valid == 0)
		return 0;
	max = c->lv[c->valid - 1].end;
	if (max > plen)
		max = plen;
	while (l + 64 <= max && memcmp(c->raw.data + l, p + l, 64) == 0)
		l += 64;
	while (l < max && c->raw.data[l] == p[l])
		l++;
	/* the last level that ends within l bytes, at a component end */
	hi = c->valid;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (c->lv[mid].end <= l)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo > 0 && c->lv[lo - 1].end == l && l < plen && p[l] != '/')
		lo--;
	return lo;
}

/* A level resolved while the clock went from t0 to t1. */
static void
cur_push(struct cursor *c, uint32_t end, uint32_t t0, uint32_t t1,
    uint32_t node, unsigned links)
{
	struct level *l;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->lv = xrealloc(c->lv, c->cap * sizeof *c->lv);
	}
	l = &c->lv[c->n++];
	l->end = end;
	l->t0 = t0;
	l->t1 = t1;
	l->node = node;
	l->links = (uint8_t)links;
}

static void
cur_cut(struct cursor *c, uint32_t n)
{
	if (c->n > n)
		c->n = n;
	if (c->valid > n)
		c->valid = n;
}

/* Is a an ancestor of (or) b? */
static int
is_above(const struct unpack *u, uint32_t a, uint32_t b)
{
	const struct dnode *n = u->dt.n;

	while (b != NONE && n[b].depth > n[a].depth)
		b = n[b].parent;
	return b == a;
}

/* Up from w by "..", each step checked, to its ancestor to; -1 if one
 * does not check out (w is then at the rootfs). */
static int
climb(struct unpack *u, struct wst *w, uint32_t to)
{
	const struct dnode *n = u->dt.n;
	struct stat sb;

	while (w->node != to) {
		uint32_t par = n[w->node].parent;
		int fd;

		if (par == 0) {
			wmove(w, -1, 0);
			continue;
		}
		fd = openat(wfd(u, w), "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &sb) != 0 ||
		    sb.st_dev != u->root_dev || n[par].ino == 0 ||
		    sb.st_ino != n[par].ino) {
			if (fd >= 0)
				close(fd);
			wmove(w, -1, 0);
			return -1;
		}
		wmove(w, fd, par);
	}
	return 0;
}

/*
 * Start from anchor a (a path of p). When the cursor held that path, it
 * is cut to it; else it becomes the anchor's levels, all timed with
 * the anchor's time (the levels it shared with p before are dropped, so
 * the levels stay in the order of their times).
 */
static void
from_anchor(struct unpack *u, const char *p, struct anchor *a, uint32_t k,
    struct wst *w)
{
	struct cursor *c = &u->cur;
	size_t pos = 0;

	w->fd = -1;
	if (a->fd >= 0 && (w->fd = fcntl(a->fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		w->node = 0;	/* out of fds: from the rootfs */
		w->links = 0;
		cur_cut(c, 0);
		return;
	}
	w->node = a->node;
	w->links = a->links;
	a->lru = ++u->anchor_lru;
	if (a->ncomp <= k) {	/* the same path, resolved twice */
		cur_cut(c, a->ncomp);
		c->lv[a->ncomp - 1].node = a->node;
		return;
	}
	cur_cut(c, 0);
	while (c->n + 1 < a->ncomp) {
		const char *e = memchr(p + pos, '/', a->len - pos);
		pos = (size_t)(e - p);
		cur_push(c, (uint32_t)pos, a->t0, a->t1, NONE, a->links);
		pos++;
	}
	cur_push(c, (uint32_t)a->len, a->t0, a->t1, a->node, a->links);
	c->valid = c->n;
}

/*
 * Put w where the walk of p starts: the deepest place it shares with the
 * cursor or an anchor that has an fd (up from the cursor by ".." when
 * that is an ancestor), else the rootfs. The cursor is cut to the levels
 * w stands on and its fd is taken over. 0 when w is the cursor's top,
 * which p goes on from; 1 when the walk went elsewhere.
 */
static int
start(struct unpack *u, const char *p, size_t plen, struct wst *w)
{
	struct cursor *c = &u->cur;
	uint32_t k = cur_match(c, p, plen);
	uint32_t top = c->n ? c->lv[c->n - 1].node : NONE;
	int extend = k == c->n && k > 0 && c->fd >= 0;
	struct anchor *a = anchor_find(u, p, plen, extend ? k : 0);

	w->fd = -1;
	w->node = 0;
	w->links = 0;
	if (extend && a == NULL) {
		w->fd = c->fd;
		c->fd = -1;
		w->node = top;
		w->links = c->lv[k - 1].links;
		return 0;
	}
	if (a != NULL && a->ncomp >= k) {
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		from_anchor(u, p, a, k, w);
		return 1;
	}
	if (k > 0 && c->fd >= 0 && top != NONE && c->lv[k - 1].node != NONE &&
	    is_above(u, c->lv[k - 1].node, top)) {
		w->fd = c->fd;
		c->fd = -1;
		w->node = top;
		if (climb(u, w, c->lv[k - 1].node) == 0) {
			w->links = c->lv[k - 1].links;
			cur_cut(c, k);
			return 1;
		}
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (a != NULL)
		from_anchor(u, p, a, k, w);
	else
		cur_cut(c, 0);
	return 1;
}

/*
 * Resolve directory path p (cleaned, relative to the rootfs, "" is the
 * rootfs) inside the rootfs, making missing directories when create.
 * Returns 0 with *fd (O_PATH, owned by the walker: valid until the next
 * up_walk() or up_walk_reset(), never to be closed by the caller) and
 * *node; 1 when a directory is missing (!create); -1 with *cause.
 */
int
up_walk(struct unpack *u, const char *p, int create, int *fd,
    uint32_t *node, char **cause)
{
	struct cursor *c = &u->cur;
	size_t plen = strlen(p), pos;
	struct wst w;
	int r = 0, pushed = 0, moved;

	if (plen == 0) {
		*fd = u->root;
		*node = 0;
		return 0;
	}
	moved = start(u, p, plen, &w);
	up_bset(&c->raw, p, plen);	/* the levels are prefixes of p */
	pos = c->n ? c->lv[c->n - 1].end + 1 : 0;
	while (pos < plen) {
		const char *s = p + pos, *e = memchr(s, '/', plen - pos);
		size_t n = e ? (size_t)(e - s) : plen - pos;
		unsigned before = w.links;
		uint32_t t0 = u->dt.clock + 1;
		struct level span;

		if (up_tick(u)) {
			r = up_fail(cause, "cancelled");
			break;
		}
		if ((r = resolve(u, &w, s, n, create, p, cause)) != 0)
			break;
		pos += n;
		cur_push(c, (uint32_t)pos, t0, u->dt.clock, w.node, w.links);
		span.t0 = c->lv[0].t0;	/* the whole path, up to here */
		span.t1 = u->dt.clock;
		if (w.links != before)
			anchor_put(u, p, pos, c->n, &w, &span, 0);
		pos++;
		pushed = 1;
	}
	c->valid = c->n;
	if (r != 0) {	/* w may stand between two levels */
		wmove(&w, -1, 0);
		return r;
	}
	if (pushed && moved) {	/* somewhere else: worth coming back to */
		struct level span = { 0, c->lv[0].t0, u->dt.clock, 0, 0 };
		anchor_put(u, p, plen, c->n, &w, &span, 1);
	}
	c->fd = w.fd;
	*fd = wfd(u, &w);
	*node = w.node;
	return 0;
}

/*
 * Something at parent/name is about to be removed: every cached level
 * and anchor whose resolution may have gone through it is dropped, that
 * is those resolved while the clock was between the first and the last
 * time a walk stood on it (a walk below it went through it first).
 */
void
up_walk_forget(struct unpack *u, uint32_t parent, const char *name)
{
	struct cursor *c = &u->cur;
	uint32_t x = up_dt_find(u, parent, name, strlen(name)), f, l, lo, hi;
	int i;

	if (x == NONE)
		return;
	f = u->dt.n[x].first;
	l = u->dt.n[x].last;
	up_dt_forget(u, x);
	if (f == 0)
		return;
	lo = 0;
	hi = c->valid;
	while (lo < hi) {	/* the first level resolved after f began */
		uint32_t mid = lo + (hi - lo) / 2;
		if (c->lv[mid].t1 < f)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < c->valid && c->lv[lo].t0 <= l)
		c->valid = lo;
	for (i = 0; i < ANCHORS + RECENT; i++)
		if (u->anchor[i].raw != NULL && u->anchor[i].t1 >= f &&
		    u->anchor[i].t0 <= l)
			anchor_drop(&u->anchor[i]);
}

/* Forget every level and anchor, closing their fds. */
void
up_walk_reset(struct unpack *u)
{
	int i;

	if (u->cur.fd >= 0)
		close(u->cur.fd);
	u->cur.fd = -1;
	u->cur.n = u->cur.valid = 0;
	for (i = 0; i < ANCHORS + RECENT; i++)
		anchor_drop(&u->anchor[i]);
}
