/*
 * entry.c - one tar entry written into the rootfs: regular files,
 * directories (their modes and times deferred to the layer's end),
 * symbolic and hard links, device nodes and fifos.
 */
#include "unpack_int.h"

/* ------------------------------------------------------ entry writers */

/* Drop fixups at canon or below (it is being removed). */
static void
fixup_forget(struct unpack *u, const char *canon)
{
	size_t i, l = strlen(canon);

	for (i = 0; i < u->nfix; ) {
		const char *c = u->fix[i].canon;
		if (l == 0 || (strncmp(c, canon, l) == 0 &&
		    (c[l] == '\0' || c[l] == '/'))) {
			free(u->fix[i].canon);
			u->fix[i] = u->fix[--u->nfix];
		} else
			i++;
	}
}

/* Remove whatever is at pfd/name (a whole tree for a directory). */
int
up_remove_at(struct unpack *u, int pfd, const char *name, const char *canon,
    char **cause)
{
	struct stat sb;
	char sh[160];

	if (fstatat(pfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : up_fail(cause, "%s: %s",
		    up_show(canon, sh, sizeof sh), strerror(errno));
	if (!S_ISDIR(sb.st_mode)) {
		if (unlinkat(pfd, name, 0) != 0 && errno != ENOENT)
			return up_fail(cause, "remove %s: %s",
			    up_show(canon, sh, sizeof sh), strerror(errno));
		if (S_ISLNK(sb.st_mode))
			up_cache_flush(u);	/* paths through it change */
		return 0;
	}
	up_cache_flush(u);
	fixup_forget(u, canon);
	return up_rm_tree(pfd, name, u->is_root, cause);
}

static void
entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1] = ts[0];
	if (archive_entry_atime_is_set(e)) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = archive_entry_atime_nsec(e);
	}
	if (archive_entry_mtime_is_set(e)) {
		ts[1].tv_sec = archive_entry_mtime(e);
		ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	}
}

static void
note_chown(struct unpack *u, int r)
{
	/* a user namespace may map only some ids: keep going */
	if (r != 0)
		u->chown_fail++;
}

static void
set_xattrs(struct unpack *u, int fd, struct archive_entry *e,
    const char *canon)
{
	const char *name;
	const void *val;
	size_t len;

	if (archive_entry_xattr_reset(e) == 0)
		return;
	while (archive_entry_xattr_next(e, &name, &val, &len) == ARCHIVE_OK) {
		if (fsetxattr(fd, name, val, len, 0) == 0)
			continue;
		if (u->xattr_fail++ == 0) {
			const char *why = strerror(errno);
			char a[64], b[128];
			snprintf(u->first_xattr, sizeof u->first_xattr,
			    "%s on %s: %s", up_show(name, a, sizeof a),
			    up_show(canon, b, sizeof b), why);
		}
	}
}

int
up_do_file(struct unpack *u, struct archive *a, struct archive_entry *e,
    int pfd, const char *leaf, const char *canon, char **cause)
{
	struct timespec ts[2];
	const void *blk;
	size_t len;
	la_int64_t off, pos = 0, size = archive_entry_size(e);
	char sh[160];
	int fd, r, tries = 0;

	while ((fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
		if (errno != EEXIST || tries++ > 0)
			return up_fail(cause, "create %s: %s",
			    up_show(canon, sh, sizeof sh), strerror(errno));
		/* never write into what is there: it may be a hard link */
		if (up_remove_at(u, pfd, leaf, canon, cause) != 0)
			return -1;
	}
	for (;;) {
		r = archive_read_data_block(a, &blk, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			close(fd);
			return up_fail(cause, "%s: %s", up_show(canon, sh, sizeof sh),
			    archive_error_string(a));
		}
		if (off != pos && lseek(fd, off, SEEK_SET) < 0) {
			close(fd);
			return up_fail(cause, "%s: seek: %s",
			    up_show(canon, sh, sizeof sh), strerror(errno));
		}
		if (write_all(fd, blk, len) != 0) {
			close(fd);
			return up_fail(cause, "write %s: %s",
			    up_show(canon, sh, sizeof sh), strerror(errno));
		}
		pos = off + (la_int64_t)len;
	}
	if (pos < size && ftruncate(fd, size) != 0) {	/* sparse tail */
		close(fd);
		return up_fail(cause, "%s: truncate: %s",
		    up_show(canon, sh, sizeof sh), strerror(errno));
	}
	/* owner, then xattrs (a chown drops capabilities), then mode */
	if (u->is_root)
		note_chown(u, fchown(fd, archive_entry_uid(e),
		    archive_entry_gid(e)));
	set_xattrs(u, fd, e, canon);
	if (fchmod(fd, archive_entry_perm(e) & 07777) != 0) {
		close(fd);
		return up_fail(cause, "chmod %s: %s", up_show(canon, sh, sizeof sh),
		    strerror(errno));
	}
	entry_times(e, ts);
	(void)futimens(fd, ts);
	if (close(fd) != 0)
		return up_fail(cause, "write %s: %s", up_show(canon, sh, sizeof sh),
		    strerror(errno));
	return 0;
}

static void
defer_dir(struct unpack *u, const char *canon, mode_t mode,
    struct timespec ts[2])
{
	struct defer *d;

	if (u->ndefer == u->capdefer) {
		u->capdefer = u->capdefer ? u->capdefer * 2 : 64;
		u->defer = xrealloc(u->defer, u->capdefer * sizeof *u->defer);
	}
	d = &u->defer[u->ndefer++];
	d->canon = xstrdup(canon);
	d->mode = mode;
	d->ts[0] = ts[0];
	d->ts[1] = ts[1];
}

/* Open the directory at canonical path c, following nothing; -1 if gone. */
int
up_open_canon_dir(struct unpack *u, const char *c)
{
	char *cause = NULL;
	int fd, pfd;
	const char *slash = strrchr(c, '/');

	if (c[0] == '\0')
		return dup(u->root);
	if (slash == NULL)
		pfd = u->root;
	else {
		char *parent = xstrndup(c, (size_t)(slash - c));
		pfd = up_reopen_canon(u, parent, &cause);
		free(parent);
		free(cause);
		if (pfd < 0)
			return -1;
	}
	fd = openat(pfd, slash ? slash + 1 : c, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
	up_close_dir(u, pfd);
	return fd;
}

static void
fixup_set(struct unpack *u, const char *canon, mode_t mode)
{
	size_t i;

	for (i = 0; i < u->nfix; i++)
		if (strcmp(u->fix[i].canon, canon) == 0)
			break;
	if ((mode & 0700) == 0700) {
		if (i < u->nfix) {
			free(u->fix[i].canon);
			u->fix[i] = u->fix[--u->nfix];
		}
		return;
	}
	if (i == u->nfix) {
		if (u->nfix == u->capfix) {
			u->capfix = u->capfix ? u->capfix * 2 : 16;
			u->fix = xrealloc(u->fix, u->capfix * sizeof *u->fix);
		}
		u->fix[u->nfix++].canon = xstrdup(canon);
	}
	u->fix[i].mode = mode;
}

/* Give the layer's directories their modes and times. */
void
up_defer_flush(struct unpack *u)
{
	size_t i;

	for (i = 0; i < u->ndefer; i++) {
		struct defer *d = &u->defer[i];
		int fd = up_open_canon_dir(u, d->canon);
		if (fd >= 0) {
			mode_t m = d->mode;
			if (!u->is_root) {
				fixup_set(u, d->canon, m);
				m |= 0700;
			}
			(void)fchmod(fd, m);
			(void)futimens(fd, d->ts);
			close(fd);
		}
		free(d->canon);
	}
	u->ndefer = 0;
}

int
up_do_dir(struct unpack *u, struct archive_entry *e, int pfd, const char *leaf,
    const char *path, const char *canon, char **cause)
{
	struct timespec ts[2];
	char sh[160];
	int fd;

	if (leaf == NULL)	/* the rootfs itself ("./") */
		fd = dup(u->root);
	else {
		fd = openat(pfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (fd < 0 && errno != ENOENT) {
			/* not a directory: replace it */
			if (up_remove_at(u, pfd, leaf, canon, cause) != 0)
				return -1;
		}
		if (fd < 0) {
			if (mkdirat(pfd, leaf, 0700) != 0)
				return up_fail(cause, "mkdir %s: %s",
				    up_show(canon, sh, sizeof sh), strerror(errno));
			fd = openat(pfd, leaf, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
		}
	}
	if (fd < 0)
		return up_fail(cause, "open %s: %s", up_show(canon, sh, sizeof sh),
		    strerror(errno));
	if (u->is_root)
		note_chown(u, fchown(fd, archive_entry_uid(e),
		    archive_entry_gid(e)));
	set_xattrs(u, fd, e, canon);
	entry_times(e, ts);
	if (u->ndefer >= DEFER_MAX)
		up_defer_flush(u);
	defer_dir(u, canon, archive_entry_perm(e) & 07777, ts);
	if (leaf != NULL)	/* its entries likely come next */
		up_cache_put(u, path, canon, fd);
	else
		close(fd);
	return 0;
}

int
up_do_symlink(struct unpack *u, struct archive_entry *e, int pfd,
    const char *leaf, const char *canon, char **cause)
{
	const char *target = archive_entry_symlink(e);
	struct timespec ts[2];
	char sh[160];
	int tries = 0;

	if (target == NULL || strlen(target) > MAX_NAME)
		return up_fail(cause, "%s: bad symbolic link target",
		    up_show(canon, sh, sizeof sh));
	/* stored as is: it is only ever followed inside the rootfs */
	while (symlinkat(target, pfd, leaf) != 0) {
		if (errno != EEXIST || tries++ > 0)
			return up_fail(cause, "symlink %s: %s",
			    up_show(canon, sh, sizeof sh), strerror(errno));
		if (up_remove_at(u, pfd, leaf, canon, cause) != 0)
			return -1;
	}
	if (u->is_root)
		note_chown(u, fchownat(pfd, leaf, archive_entry_uid(e),
		    archive_entry_gid(e), AT_SYMLINK_NOFOLLOW));
	entry_times(e, ts);
	(void)utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW);
	return 0;
}

int
up_do_hardlink(struct unpack *u, const char *raw_target, int pfd,
    const char *leaf, const char *canon, char **cause)
{
	struct stat ts, ls;
	const char *tleaf, *slash;
	char sh[160], sh2[160], what[200];
	int tfd, r, tries = 0;

	snprintf(what, sizeof what, "%s: hard link target ",
	    up_show(canon, sh, sizeof sh));
	if (up_clean_name(what, raw_target, &u->hard, cause) != 0)
		return -1;
	if (u->hard.len == 0)
		return up_fail(cause, "%s: hard link to the rootfs itself",
		    up_show(canon, sh, sizeof sh));
	/* resolve the target's directory inside the rootfs too */
	slash = strrchr(u->hard.data, '/');
	if (slash == NULL) {
		tfd = u->root;
		tleaf = u->hard.data;
		r = 0;
	} else {
		u->hard.data[slash - u->hard.data] = '\0';
		r = up_walk(u, u->hard.data, 0, &tfd, cause);
		tleaf = slash + 1;
	}
	if (r < 0)
		return -1;
	if (r == 1 || fstatat(tfd, tleaf, &ts, AT_SYMLINK_NOFOLLOW) != 0) {
		if (r == 0)
			up_close_dir(u, tfd);
		return up_fail(cause, "%s: hard link target %s not found",
		    up_show(canon, sh, sizeof sh), up_show(raw_target, sh2,
		    sizeof sh2));
	}
	if (S_ISDIR(ts.st_mode)) {
		up_close_dir(u, tfd);
		return up_fail(cause, "%s: hard link to a directory",
		    up_show(canon, sh, sizeof sh));
	}
	if (fstatat(pfd, leaf, &ls, AT_SYMLINK_NOFOLLOW) == 0 &&
	    ls.st_dev == ts.st_dev && ls.st_ino == ts.st_ino) {
		up_close_dir(u, tfd);
		return 0;	/* already that file */
	}
	/* flags 0: a link to a symlink links the symlink itself */
	while (linkat(tfd, tleaf, pfd, leaf, 0) != 0) {
		if (errno != EEXIST || tries++ > 0) {
			up_fail(cause, "link %s: %s", up_show(canon, sh, sizeof sh),
			    strerror(errno));
			up_close_dir(u, tfd);
			return -1;
		}
		if (up_remove_at(u, pfd, leaf, canon, cause) != 0) {
			up_close_dir(u, tfd);
			return -1;
		}
	}
	up_close_dir(u, tfd);
	return 0;
}

int
up_do_node(struct unpack *u, struct archive_entry *e, int pfd, const char *leaf,
    const char *canon, char **cause)
{
	mode_t type = archive_entry_filetype(e);
	struct timespec ts[2];
	char sh[160];
	int tries = 0;

	if (type != AE_IFIFO && !u->is_root)
		goto skip;
	while (mknodat(pfd, leaf, type | 0600, type == AE_IFIFO ? 0 :
	    archive_entry_rdev(e)) != 0) {
		if (errno == EPERM && type != AE_IFIFO)
			goto skip;	/* root in a user namespace */
		if (errno != EEXIST || tries++ > 0)
			return up_fail(cause, "mknod %s: %s",
			    up_show(canon, sh, sizeof sh), strerror(errno));
		if (up_remove_at(u, pfd, leaf, canon, cause) != 0)
			return -1;
	}
	if (u->is_root)
		note_chown(u, fchownat(pfd, leaf, archive_entry_uid(e),
		    archive_entry_gid(e), AT_SYMLINK_NOFOLLOW));
	if (fchmodat(pfd, leaf, archive_entry_perm(e) & 07777,
	    AT_SYMLINK_NOFOLLOW) != 0)
		return up_fail(cause, "chmod %s: %s", up_show(canon, sh, sizeof sh),
		    strerror(errno));
	entry_times(e, ts);
	(void)utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW);
	return 0;
skip:
	if (u->skipped_dev++ == 0)
		up_show(canon, u->first_skip, sizeof u->first_skip);
	return 0;
}

/* ---------------------------------------------------------- one entry */

int
up_apply_entry(struct unpack *u, struct archive *a, struct archive_entry *e,
    char **cause)
{
	const char *raw = archive_entry_pathname(e), *hard, *leaf, *pcanon;
	char *parent, *slash, sh[160];
	mode_t type;
	int pfd, r;

	if (raw == NULL && (raw = archive_entry_pathname_utf8(e)) == NULL)
		return up_fail(cause, "entry without a name");
	if (up_clean_name("entry ", raw, &u->path, cause) != 0)
		return -1;
	hard = archive_entry_hardlink(e);
	type = archive_entry_filetype(e);
	if (u->path.len == 0) {
		/* "./": the rootfs itself; nothing else may take its place */
		if (hard != NULL || type != AE_IFDIR)
			return up_fail(cause, "entry %s would replace the rootfs",
			    up_show(raw, sh, sizeof sh));
		return up_do_dir(u, e, u->root, NULL, "", "", cause);
	}
	/* AUFS bookkeeping (".wh..wh.plnk/..." etc.) is not content */
	if (strncmp(u->path.data, ".wh..wh.", 8) == 0 ||
	    strstr(u->path.data, "/.wh..wh.") != NULL) {
		slash = strrchr(u->path.data, '/');
		leaf = slash ? slash + 1 : u->path.data;
		if (strcmp(leaf, ".wh..wh..opq") != 0)
			return 0;
	}
	slash = strrchr(u->path.data, '/');
	if (slash != NULL) {
		*slash = '\0';
		parent = u->path.data;
		leaf = slash + 1;
	} else {
		parent = "";
		leaf = u->path.data;
	}
	if (strncmp(leaf, ".wh.", 4) == 0) {
		char *p = xstrdup(parent), *l = xstrdup(leaf);
		r = up_whiteout(u, p, l, raw, cause);
		free(p);
		free(l);
		return r;
	}
	if (up_parent_fd(u, parent, &pfd, &pcanon, cause) != 0)
		return -1;
	up_join(&u->leafc, pcanon, leaf);
	up_set_add(&u->set, u->leafc.data);
	if (slash != NULL)
		*slash = '/';	/* u->path is the whole name again */
	u->pin = pfd;
	u->pin_orphan = 0;
	if (hard != NULL)
		r = up_do_hardlink(u, hard, pfd, leaf, u->leafc.data, cause);
	else {
		switch (type) {
		case AE_IFREG:
			r = up_do_file(u, a, e, pfd, leaf, u->leafc.data, cause);
			break;
		case AE_IFDIR:
			r = up_do_dir(u, e, pfd, leaf, u->path.data,
			    u->leafc.data, cause);
			break;
		case AE_IFLNK:
			r = up_do_symlink(u, e, pfd, leaf, u->leafc.data, cause);
			break;
		case AE_IFCHR:
		case AE_IFBLK:
		case AE_IFIFO:
			r = up_do_node(u, e, pfd, leaf, u->leafc.data, cause);
			break;
		default:
			if (u->skipped_type++ == 0)
				up_show(u->leafc.data, u->first_skip,
				    sizeof u->first_skip);
			r = 0;
		}
	}
	if (u->pin_orphan)
		close(u->pin);
	u->pin = -1;
	u->pin_orphan = 0;
	return r;
}
