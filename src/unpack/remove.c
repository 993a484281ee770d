/*
 * remove.c - taking things out of the rootfs: whole trees removed without
 * following a symlink, and OCI whiteouts (".wh.NAME", and opaque
 * directories emptied of what the layers below put there). One directory
 * fd open at a time, whatever the depth; every loop asks up_tick().
 */
#include "unpack_int.h"

/* ------------------------------------------------------------- removal */

#define RM_BUF	32768		/* getdents64() buffer */

struct rmlevel {
	char *name;
	dev_t dev;
	ino_t ino;
	int more;		/* it had another subdirectory: read it again */
};

/*
 * Read directory cur (from its start) and remove all but directories:
 * *sub is then the first subdirectory (malloc'd; NULL when none is left)
 * and l->more says whether there was another.
 */
static int
rm_scan(struct unpack *u, int cur, struct rmlevel *l, int cancellable,
    char *buf, char **sub, char **cause)
{
	struct stat sb;
	ssize_t n, i;

	*sub = NULL;
	l->more = 0;
	if (lseek(cur, 0, SEEK_SET) < 0)
		return up_fail(cause, "read %s: %s", l->name, strerror(errno));
	while ((n = getdents64(cur, buf, RM_BUF)) > 0)
		for (i = 0; i < n; ) {
			struct dirent64 *de = (struct dirent64 *)(buf + i);
			int isdir = de->d_type == DT_DIR;

			i += de->d_reclen;
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if (cancellable && up_tick(u))
				return up_fail(cause, "cancelled");
			if (de->d_type == DT_UNKNOWN) {
				if (fstatat(cur, de->d_name, &sb,
				    AT_SYMLINK_NOFOLLOW) != 0)
					continue;
				isdir = S_ISDIR(sb.st_mode);
			}
			if (isdir && *sub == NULL)
				*sub = xstrdup(de->d_name);
			else if (isdir)
				l->more = 1;
			else if (unlinkat(cur, de->d_name, 0) != 0 &&
			    errno != ENOENT)
				return up_fail(cause, "remove %s: %s",
				    de->d_name, strerror(errno));
		}
	if (n < 0)
		return up_fail(cause, "read %s: %s", l->name, strerror(errno));
	return 0;
}

/* Open name under cur for removal (u+rwx when not root), with its id. */
static int
rm_open(struct unpack *u, int cur, const char *name, struct rmlevel *l,
    char **cause)
{
	struct stat sb;
	int fd = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);

	if (fd < 0 || fstat(fd, &sb) != 0) {
		up_fail(cause, "open %s: %s", name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!u->is_root && (sb.st_mode & 0700) != 0700)
		(void)fchmod(fd, (sb.st_mode & 07777) | 0700);
	l->dev = sb.st_dev;
	l->ino = sb.st_ino;
	l->more = 1;		/* not read yet */
	return fd;
}

/* Remove the empty directory l under pfd. */
static int
rm_dir(struct unpack *u, int pfd, const struct rmlevel *l, char **cause)
{
	if (unlinkat(pfd, l->name, AT_REMOVEDIR) != 0 && errno != ENOENT)
		return up_fail(cause, "remove %s: %s", l->name,
		    strerror(errno));
	if (!u->is_root)
		up_fix_forget(u, l->ino);
	return 0;
}

/* From *cur (level *depth) up to its parent, removing it: checked to be
 * the directory we came down from. */
static int
rm_up(struct unpack *u, int *cur, struct rmlevel *st, size_t *depth,
    const char *top, char **cause)
{
	struct stat sb;
	int up = openat(*cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (up < 0 || fstat(up, &sb) != 0 || sb.st_dev != st[*depth - 2].dev ||
	    sb.st_ino != st[*depth - 2].ino) {
		if (up >= 0)
			close(up);
		return up_fail(cause, "%s changed while being removed", top);
	}
	close(*cur);
	*cur = up;
	if (rm_dir(u, up, &st[*depth - 1], cause) != 0)
		return -1;
	free(st[--*depth].name);
	return 0;
}

/*
 * Remove name under pfd and everything below it, following no symlink.
 * Iterative, with one directory open at a time (going up by ".." and
 * checking it is the directory we came down from), so depth costs no fds;
 * a directory is read again only if it had more than one subdirectory.
 * Directories without u+rwx are opened up first when not root. When
 * cancellable, a cancel stops it (what is left goes with the staging).
 */
int
up_rm_tree(struct unpack *u, int pfd, const char *name, int cancellable,
    char **cause)
{
	struct rmlevel *st;
	size_t depth = 0, cap = 16;
	struct stat sb;
	char *sub, *buf;
	int cur, down, r = -1;

	if (fstatat(pfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : up_fail(cause, "%s: %s", name,
		    strerror(errno));
	if (!S_ISDIR(sb.st_mode)) {
		if (unlinkat(pfd, name, 0) != 0 && errno != ENOENT)
			return up_fail(cause, "remove %s: %s", name,
			    strerror(errno));
		return 0;
	}
	st = xmalloc(sizeof *st * cap);
	buf = xmalloc(RM_BUF);
	st[0].name = xstrdup(name);
	depth = 1;
	if ((cur = rm_open(u, pfd, name, &st[0], cause)) < 0)
		goto out;
	for (;;) {
		sub = NULL;
		if (st[depth - 1].more && rm_scan(u, cur, &st[depth - 1],
		    cancellable, buf, &sub, cause) != 0)
			goto out;
		if (sub != NULL) {	/* down into it */
			if (depth == cap)
				st = xrealloc(st, sizeof *st * (cap *= 2));
			st[depth].name = sub;
			if ((down = rm_open(u, cur, sub, &st[depth],
			    cause)) < 0) {
				free(sub);
				goto out;
			}
			depth++;
			close(cur);
			cur = down;
			continue;
		}
		if (depth == 1) {	/* cur is empty: remove it */
			close(cur);
			cur = -1;
			r = rm_dir(u, pfd, &st[0], cause);
			goto out;
		}
		if (rm_up(u, &cur, st, &depth, name, cause) != 0)
			goto out;
	}
out:
	if (cur >= 0)
		close(cur);
	while (depth > 0)
		free(st[--depth].name);
	free(st);
	free(buf);
	return r;
}

/*
 * Remove whatever is at pfd/name (pnode's child; a whole tree for a
 * directory), telling the walker first when walks may have gone through
 * it.
 */
int
up_remove_at(struct unpack *u, int pfd, uint32_t pnode, const char *name,
    char **cause)
{
	struct stat sb;
	char sh[160];

	if (fstatat(pfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : up_fail(cause, "%s: %s",
		    up_where(u, pnode, name, sh, sizeof sh), strerror(errno));
	if (S_ISDIR(sb.st_mode) || S_ISLNK(sb.st_mode))
		up_walk_forget(u, pnode, name);
	if (S_ISDIR(sb.st_mode))
		return up_rm_tree(u, pfd, name, 1, cause);
	if (unlinkat(pfd, name, 0) != 0 && errno != ENOENT)
		return up_fail(cause, "remove %s: %s",
		    up_where(u, pnode, name, sh, sizeof sh), strerror(errno));
	return 0;
}

/* ------------------------------------------------------------ whiteouts */

/* A directory being emptied: its node (NONE if the tree has none), hash. */
struct olevel {
	uint32_t node;
	int top;		/* it is the rootfs */
	uint64_t h;
	dev_t dev;
	ino_t ino;
	long cookie;		/* where its second read goes on, 0: start */
};

static uint64_t
okey(const struct olevel *l, const char *name)
{
	return up_ph_final(up_ph_child(l->h, l->top, name, strlen(name)));
}

/* First read: remove from fd (level l) what this layer did not write. */
static int
opaque_sweep(struct unpack *u, int fd, const struct olevel *l, char **cause)
{
	struct dirent *de;
	DIR *d;
	int dfd, r = 0;

	if ((dfd = dup(fd)) < 0 || (d = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return up_fail(cause, "read: %s", strerror(errno));
	}
	rewinddir(d);
	while (r == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (up_tick(u))
			r = up_fail(cause, "cancelled");
		else if (!up_set_has(&u->set, okey(l, de->d_name)))
			r = up_remove_at(u, fd, l->node, de->d_name, cause);
	}
	closedir(d);
	return r;
}

/*
 * Second read, from l->cookie on (nothing is removed from fd any more):
 * the next directory this layer wrote in, into name; 0 when none is left.
 */
static int
opaque_next(struct unpack *u, int fd, struct olevel *l, char *name)
{
	struct dirent *de;
	struct stat sb;
	DIR *d;
	int dfd, found = 0;

	if ((dfd = dup(fd)) < 0 || (d = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	if (l->cookie != 0)
		seekdir(d, l->cookie);
	else
		rewinddir(d);
	while (!found && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    !up_set_has(&u->set, okey(l, de->d_name)))
			continue;
		if (de->d_type == DT_UNKNOWN)
			found = fstatat(fd, de->d_name, &sb,
			    AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode);
		else
			found = de->d_type == DT_DIR;
		if (found) {
			snprintf(name, NAME_MAX + 1, "%s", de->d_name);
			l->cookie = telldir(d);
		}
	}
	closedir(d);
	return found;
}

/* Down into name under *fd for opaque_clear(): the new level in l. */
static int
opaque_down(struct unpack *u, int *fd, const struct olevel *parent,
    const char *name, struct olevel *l)
{
	struct stat sb;
	int sub = openat(*fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);

	if (sub < 0 || fstat(sub, &sb) != 0) {
		if (sub >= 0)
			close(sub);
		return -1;
	}
	l->node = up_dt_find(u, parent->node, name, strlen(name));
	l->top = 0;
	l->h = up_ph_child(parent->h, parent->top, name, strlen(name));
	l->dev = sb.st_dev;
	l->ino = sb.st_ino;
	l->cookie = 0;
	close(*fd);
	*fd = sub;
	return 0;
}

/*
 * Empty directory fd (node) of what lower layers put there: keep what
 * this layer wrote, and go into the directories it wrote in, which may
 * still hold lower entries. Depth first, one fd open at a time: each
 * directory is read once to remove and once more for where to go down.
 */
static int
opaque_clear(struct unpack *u, int fd, uint32_t node, char **cause)
{
	struct olevel *st;
	size_t depth = 1, cap = 16;
	char name[NAME_MAX + 1];
	struct stat sb;
	int r, up;

	if ((fd = dup(fd)) < 0 || fstat(fd, &sb) != 0) {
		if (fd >= 0)
			close(fd);
		return up_fail(cause, "opaque directory: %s", strerror(errno));
	}
	st = xmalloc(cap * sizeof *st);
	st[0].node = node;
	st[0].top = node == 0;
	st[0].h = u->dt.n[node].h;
	st[0].dev = sb.st_dev;
	st[0].ino = sb.st_ino;
	st[0].cookie = 0;
	r = opaque_sweep(u, fd, &st[0], cause);
	while (r == 0) {
		if (opaque_next(u, fd, &st[depth - 1], name)) {
			if (depth == cap)
				st = xrealloc(st, (cap *= 2) * sizeof *st);
			if (depth > MAX_DEPTH)
				r = up_fail(cause, "opaque directory nested "
				    "deeper than %d levels", MAX_DEPTH);
			else if (opaque_down(u, &fd, &st[depth - 1], name,
			    &st[depth]) == 0)
				r = opaque_sweep(u, fd, &st[depth++], cause);
			continue;
		}
		if (depth == 1)
			break;
		up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (up < 0 || fstat(up, &sb) != 0 ||
		    sb.st_dev != st[depth - 2].dev ||
		    sb.st_ino != st[depth - 2].ino) {
			if (up >= 0)
				close(up);
			r = up_fail(cause, "opaque directory changed while "
			    "being emptied");
			break;
		}
		close(fd);
		fd = up;
		depth--;
	}
	close(fd);
	free(st);
	return r;
}

int
up_whiteout(struct unpack *u, const char *parent, const char *leaf,
    const char *raw, char **cause)
{
	const char *name = leaf + 4;
	uint32_t pnode;
	char sh[160];
	int pfd, fd, r;

	if (u->set.overflow)
		return up_fail(cause, "whiteout after more than %u entries",
		    SET_MAX);
	if (strcmp(leaf, ".wh..wh..opq") != 0 &&
	    (name[0] == '\0' || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0))
		return up_fail(cause, "invalid whiteout %s",
		    up_show(raw, sh, sizeof sh));
	/* the parent is resolved like any entry's (in the rootfs) */
	r = up_walk(u, parent, 0, &pfd, &pnode, cause);
	if (r != 0)
		return r < 0 ? -1 : 0;	/* nothing there to hide */
	if (strcmp(leaf, ".wh..wh..opq") != 0) {
		if (up_set_has(&u->set, up_dt_key(u, pnode, name)))
			return 0;	/* this layer's own: stays */
		return up_remove_at(u, pfd, pnode, name, cause);
	}
	fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return up_fail(cause, "open %s: %s",
		    up_show(parent, sh, sizeof sh), strerror(errno));
	r = opaque_clear(u, fd, pnode, cause);
	close(fd);
	return r;
}
