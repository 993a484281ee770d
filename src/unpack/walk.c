/*
 * walk.c - paths inside the rootfs: entry names cleaned, parent
 * directories resolved one component at a time with symlinks followed here,
 * inside the rootfs, never by the kernel; the set of paths a layer wrote.
 */
#include "unpack_int.h"

/* ------------------------------------------------------------ path set */

uint64_t
up_path_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h ? h : 1;
}

void
up_set_add(struct pathset *s, const char *path)
{
	uint64_t h = up_path_hash(path);
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
	for (i = h & (s->cap - 1); s->slot[i] != 0; i = (i + 1) & (s->cap - 1))
		if (s->slot[i] == h)
			return;
	s->slot[i] = h;
	s->n++;
}

int
up_set_has(const struct pathset *s, const char *path)
{
	uint64_t h = up_path_hash(path);
	size_t i;

	if (s->cap == 0)
		return 0;
	for (i = h & (s->cap - 1); s->slot[i] != 0; i = (i + 1) & (s->cap - 1))
		if (s->slot[i] == h)
			return 1;
	return 0;
}

void
up_set_free(struct pathset *s)
{
	free(s->slot);
	memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------ path walking */

/*
 * Close a cached fd, unless it is the parent of the entry being written
 * (u->pin): that one is closed when the entry is done.
 */
static void
slot_drop(struct unpack *u, struct slot *s)
{
	if (s->fd == u->pin)
		u->pin_orphan = 1;
	else if (s->fd != u->root)
		close(s->fd);
	free(s->key);
	free(s->canon);
	s->key = s->canon = NULL;
}

void
up_cache_flush(struct unpack *u)
{
	int i;

	for (i = 0; i < CACHE_SLOTS; i++)
		if (u->cache[i].key != NULL)
			slot_drop(u, &u->cache[i]);
}

/* Keep fd (taken over) as the resolution of raw path key. */
void
up_cache_put(struct unpack *u, const char *key, const char *canon, int fd)
{
	struct slot *s = &u->cache[up_path_hash(key) % CACHE_SLOTS];

	if (s->key != NULL)
		slot_drop(u, s);
	s->key = xstrdup(key);
	s->canon = xstrdup(canon);
	s->fd = fd;
}

void
up_close_dir(struct unpack *u, int fd)
{
	if (fd >= 0 && fd != u->root)
		close(fd);
}

/* Reopen the directory at canonical path c (no symlinks in it). */
int
up_reopen_canon(struct unpack *u, const char *c, char **cause)
{
	char comp[NAME_MAX + 1];
	const char *p = c, *e;
	int cur = u->root, fd;

	while (*p != '\0') {
		e = strchr(p, '/');
		if (e == NULL)
			e = p + strlen(p);
		snprintf(comp, sizeof comp, "%.*s", (int)(e - p), p);
		fd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_DIRECTORY |
		    O_CLOEXEC);
		up_close_dir(u, cur);
		if (fd < 0) {
			char sh[160];
			return up_fail(cause, "%s: %s", up_show(c, sh, sizeof sh),
			    strerror(errno));
		}
		cur = fd;
		p = *e ? e + 1 : e;
	}
	return cur;
}

/*
 * Resolve directory path p (cleaned, relative to the rootfs, "" is the
 * rootfs) inside the rootfs. Symlinks on the way are followed here, in
 * the rootfs, never by the kernel. Returns 0 with *out (close with
 * up_close_dir()) and u->canon holding where it led, 1 if a directory is
 * missing (without W_CREATE), -1 with *cause.
 */
int
up_walk(struct unpack *u, const char *p, int flags, int *out, char **cause)
{
	char comp[NAME_MAX + 1], sh[160], target[MAX_NAME + 1];
	struct stat sb;
	size_t pos = 0, n;
	int cur = u->root, fd, links = 0;
	ssize_t tl;

	up_bset(&u->todo, p, strlen(p));
	up_bset(&u->canon, "", 0);
	while (pos < u->todo.len) {
		const char *c = u->todo.data + pos;
		const char *e = strchr(c, '/');

		n = e ? (size_t)(e - c) : strlen(c);
		pos += n + (e != NULL);
		if (n == 0 || (n == 1 && c[0] == '.'))
			continue;
		if (n > NAME_MAX) {
			up_close_dir(u, cur);
			return up_fail(cause, "%s: name too long",
			    up_show(p, sh, sizeof sh));
		}
		memcpy(comp, c, n);
		comp[n] = '\0';
		if (strcmp(comp, "..") == 0) {
			/* only from a link target: stop at the rootfs */
			char *slash = strrchr(u->canon.data, '/');
			up_close_dir(u, cur);
			u->canon.len = slash ? (size_t)(slash - u->canon.data)
			    : 0;
			u->canon.data[u->canon.len] = '\0';
			if ((cur = up_reopen_canon(u, u->canon.data, cause)) < 0)
				return -1;
			continue;
		}
	again:
		fd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_DIRECTORY |
		    O_CLOEXEC);
		if (fd >= 0) {
			up_close_dir(u, cur);
			cur = fd;
			if (u->canon.len > 0)
				up_bcat(&u->canon, "/", 1);
			up_bcat(&u->canon, comp, n);
			if (flags & W_RECORD)
				up_set_add(&u->set, u->canon.data);
			continue;
		}
		if (errno == ENOENT) {
			if (!(flags & W_CREATE)) {
				up_close_dir(u, cur);
				return 1;
			}
			if (mkdirat(cur, comp, 0755) != 0 && errno != EEXIST) {
				up_close_dir(u, cur);
				return up_fail(cause, "mkdir %s: %s",
				    up_show(p, sh, sizeof sh), strerror(errno));
			}
			/* exactly 0755 whatever the umask */
			if ((fd = openat(cur, comp, O_RDONLY | O_NOFOLLOW |
			    O_DIRECTORY | O_CLOEXEC)) >= 0) {
				(void)fchmod(fd, 0755);
				close(fd);
			}
			goto again;
		}
		if (errno != ENOTDIR && errno != ELOOP) {
			up_close_dir(u, cur);
			return up_fail(cause, "%s: %s", up_show(p, sh, sizeof sh),
			    strerror(errno));
		}
		if (fstatat(cur, comp, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISLNK(sb.st_mode)) {
			up_close_dir(u, cur);
			return up_fail(cause, "%s: not a directory",
			    up_show(p, sh, sizeof sh));
		}
		if (++links > MAX_LINKS) {
			up_close_dir(u, cur);
			return up_fail(cause, "%s: too many levels of symbolic "
			    "links", up_show(p, sh, sizeof sh));
		}
		tl = readlinkat(cur, comp, target, sizeof target);
		if (tl < 0 || (size_t)tl >= sizeof target) {
			up_close_dir(u, cur);
			return up_fail(cause, "%s: unreadable symbolic link",
			    up_show(p, sh, sizeof sh));
		}
		target[tl] = '\0';
		/* the rest of the path now follows the link's target */
		up_bset(&u->link, target, (size_t)tl);
		up_bcat(&u->link, "/", 1);
		if (pos < u->todo.len)
			up_bcat(&u->link, u->todo.data + pos, u->todo.len - pos);
		up_bset(&u->todo, u->link.data, u->link.len);
		pos = 0;
		if (target[0] == '/') {
			up_close_dir(u, cur);
			cur = u->root;
			up_bset(&u->canon, "", 0);
		}
	}
	*out = cur;
	return 0;
}

/*
 * The fd of an entry's parent directory (raw cleaned path), created if
 * missing; cached. *canon is where it resolved to. The fd belongs to the
 * cache.
 */
int
up_parent_fd(struct unpack *u, const char *parent, int *fd, const char **canon,
    char **cause)
{
	struct slot *s = &u->cache[up_path_hash(parent) % CACHE_SLOTS];

	if (parent[0] == '\0') {
		*fd = u->root;
		*canon = "";
		return 0;
	}
	if (s->key == NULL || strcmp(s->key, parent) != 0) {
		int nfd;
		if (up_walk(u, parent, W_CREATE | W_RECORD, &nfd, cause) != 0)
			return -1;
		up_cache_put(u, parent, u->canon.data, nfd);
	}
	*fd = s->fd;
	*canon = s->canon;
	return 0;
}

/*
 * Clean an entry name the way tar does: leading '/' and '.' components
 * and doubled slashes go; a '..' component is refused. Into u->path.
 */
int
up_clean_name(const char *what, const char *raw, struct buf *b, char **cause)
{
	const char *p = raw, *e;
	char sh[160];
	size_t n;

	if (strlen(raw) > MAX_NAME)
		return up_fail(cause, "entry name longer than %d bytes", MAX_NAME);
	up_bset(b, "", 0);
	while (*p != '\0') {
		e = strchr(p, '/');
		n = e ? (size_t)(e - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return up_fail(cause, "%s%s leads out of the rootfs "
			    "(\"..\")", what, up_show(raw, sh, sizeof sh));
		if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (b->len > 0)
				up_bcat(b, "/", 1);
			up_bcat(b, p, n);
		}
		p += n + (e != NULL);
	}
	return 0;
}
