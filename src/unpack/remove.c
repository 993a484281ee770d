/*
 * remove.c - taking things out of the rootfs: whole trees removed
 * without following a symlink, and OCI whiteouts (".wh.NAME" and opaque
 * directories).
 */
#include "unpack_int.h"

/* ---------------------------------------------------------- removal */

struct rmlevel {
	char *name;
	dev_t dev;
	ino_t ino;
};

/*
 * Remove name under pfd and everything below it, following no symlink.
 * Iterative, with one directory open at a time (going up by ".." and
 * checking it is the directory we came down from), so depth costs no fds.
 * Directories without u+rwx are opened up first when not root.
 */
int
up_rm_tree(int pfd, const char *name, int is_root, char **cause)
{
	struct rmlevel *st;
	size_t depth, cap = 16;
	struct stat sb;
	int cur, r = -1;

	if (fstatat(pfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : up_fail(cause, "%s: %s", name,
		    strerror(errno));
	if (!S_ISDIR(sb.st_mode)) {
		if (unlinkat(pfd, name, 0) != 0 && errno != ENOENT)
			return up_fail(cause, "remove %s: %s", name,
			    strerror(errno));
		return 0;
	}
	cur = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (cur < 0)
		return up_fail(cause, "open %s: %s", name, strerror(errno));
	st = xmalloc(sizeof *st * cap);
	st[0].name = xstrdup(name);
	st[0].dev = sb.st_dev;
	st[0].ino = sb.st_ino;
	depth = 1;
	for (;;) {
		struct dirent *de;
		DIR *d;
		char *sub = NULL;
		int dfd, up;

		if (!is_root && fstat(cur, &sb) == 0 &&
		    (sb.st_mode & 0700) != 0700)
			(void)fchmod(cur, (sb.st_mode & 07777) | 0700);
		dfd = dup(cur);
		if (dfd < 0 || (d = fdopendir(dfd)) == NULL) {
			up_fail(cause, "read %s: %s", st[depth - 1].name,
			    strerror(errno));
			if (dfd >= 0)
				close(dfd);
			goto out;
		}
		while ((de = readdir(d)) != NULL) {
			int isdir = de->d_type == DT_DIR;
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if (de->d_type == DT_UNKNOWN) {
				if (fstatat(cur, de->d_name, &sb,
				    AT_SYMLINK_NOFOLLOW) != 0)
					continue;
				isdir = S_ISDIR(sb.st_mode);
			}
			if (isdir) {
				sub = xstrdup(de->d_name);
				break;
			}
			if (unlinkat(cur, de->d_name, 0) != 0 &&
			    errno != ENOENT) {
				up_fail(cause, "remove %s: %s", de->d_name,
				    strerror(errno));
				closedir(d);
				goto out;
			}
		}
		closedir(d);
		if (sub != NULL) {
			int nfd = openat(cur, sub, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			if (nfd < 0 || fstat(nfd, &sb) != 0) {
				up_fail(cause, "open %s: %s", sub, strerror(errno));
				free(sub);
				if (nfd >= 0)
					close(nfd);
				goto out;
			}
			if (depth == cap)
				st = xrealloc(st, sizeof *st * (cap *= 2));
			st[depth].name = sub;
			st[depth].dev = sb.st_dev;
			st[depth].ino = sb.st_ino;
			depth++;
			close(cur);
			cur = nfd;
			continue;
		}
		/* cur is empty: go up and remove it */
		if (depth == 1) {
			close(cur);
			cur = -1;
			if (unlinkat(pfd, name, AT_REMOVEDIR) != 0 &&
			    errno != ENOENT) {
				up_fail(cause, "remove %s: %s", name,
				    strerror(errno));
				goto out;
			}
			break;
		}
		up = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (up < 0 || fstat(up, &sb) != 0 ||
		    sb.st_dev != st[depth - 2].dev ||
		    sb.st_ino != st[depth - 2].ino) {
			up_fail(cause, "%s changed while being removed", name);
			if (up >= 0)
				close(up);
			goto out;
		}
		close(cur);
		cur = up;
		depth--;
		if (unlinkat(cur, st[depth].name, AT_REMOVEDIR) != 0 &&
		    errno != ENOENT) {
			up_fail(cause, "remove %s: %s", st[depth].name,
			    strerror(errno));
			depth++;
			goto out;
		}
		free(st[depth].name);
	}
	r = 0;
	depth = 1;
out:
	if (cur >= 0)
		close(cur);
	while (depth > 0)
		free(st[--depth].name);
	free(st);
	return r;
}

/* ------------------------------------------------------------ whiteouts */

/*
 * Empty directory fd (at canonical path canon) of what lower layers put
 * there: keep what this layer wrote, and go into the directories it wrote
 * into, which may still hold lower entries.
 */
static int
opaque_clear(struct unpack *u, int fd, const char *canon, int depth,
    char **cause)
{
	struct dirent *de;
	struct buf child;
	char **keep = NULL;
	size_t nkeep = 0, i;
	DIR *d;
	int dfd, r = 0;

	if (depth > OPAQUE_DEPTH)
		return up_fail(cause, "opaque directory too deep");
	if ((dfd = dup(fd)) < 0 || (d = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return up_fail(cause, "read %s: %s", canon, strerror(errno));
	}
	buf_init(&child, SCRATCH_MAX);
	while (r == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		up_join(&child, canon, de->d_name);
		if (!up_set_has(&u->set, child.data))
			r = up_remove_at(u, fd, de->d_name, child.data, cause);
		else if (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN) {
			keep = xrealloc(keep, (nkeep + 1) * sizeof *keep);
			keep[nkeep++] = xstrdup(de->d_name);
		}
	}
	closedir(d);
	for (i = 0; i < nkeep; i++) {
		int sub;
		if (r == 0 && (sub = openat(fd, keep[i], O_RDONLY |
		    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
			up_join(&child, canon, keep[i]);
			r = opaque_clear(u, sub, child.data, depth + 1, cause);
			close(sub);
		}
		free(keep[i]);
	}
	free(keep);
	buf_free(&child);
	return r;
}

int
up_whiteout(struct unpack *u, const char *parent, const char *leaf,
    const char *raw, char **cause)
{
	const char *name = leaf + 4;
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
	r = up_walk(u, parent, 0, &pfd, cause);
	if (r != 0)
		return r < 0 ? -1 : 0;	/* nothing there to hide */
	up_cache_flush(u);
	if (strcmp(leaf, ".wh..wh..opq") == 0) {
		char *canon = xstrdup(u->canon.data);
		fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		up_close_dir(u, pfd);
		if (fd < 0) {
			free(canon);
			return up_fail(cause, "open %s: %s",
			    up_show(parent, sh, sizeof sh), strerror(errno));
		}
		r = opaque_clear(u, fd, canon, 0, cause);
		close(fd);
		free(canon);
		return r;
	}
	up_join(&u->leafc, u->canon.data, name);
	r = 0;
	if (!up_set_has(&u->set, u->leafc.data))	/* not this layer's own */
		r = up_remove_at(u, pfd, name, u->leafc.data, cause);
	up_close_dir(u, pfd);
	return r;
}
