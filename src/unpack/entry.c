/*
 * entry.c - one tar entry written into the rootfs, in the directory pfd
 * (tree node pnode) under the name leaf: regular files, directories (their
 * modes and times deferred to the layer's end, see dirtree.c), symbolic
 * and hard links, device nodes and fifos. Whatever is in the way is
 * removed first, never written through.
 */
#include "unpack_int.h"

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
set_xattrs(struct unpack *u, int fd, struct archive_entry *e, uint32_t pnode,
    const char *leaf)
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
			    up_where(u, pnode, leaf, b, sizeof b), why);
		}
	}
}

/* The entry's data into fd (holes of a sparse file stay holes). */
static int
copy_data(struct unpack *u, struct archive *a, struct archive_entry *e,
    int fd, uint32_t pnode, const char *leaf, char **cause)
{
	la_int64_t off, pos = 0, size = archive_entry_size(e);
	const void *blk;
	char sh[160];
	size_t len;
	int r;

	for (;;) {
		r = archive_read_data_block(a, &blk, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return up_fail(cause, "%s: %s", up_where(u, pnode,
			    leaf, sh, sizeof sh), archive_error_string(a));
		if (up_tick(u))
			return up_fail(cause, "cancelled");
		if (off != pos && lseek(fd, off, SEEK_SET) < 0)
			return up_fail(cause, "%s: seek: %s", up_where(u,
			    pnode, leaf, sh, sizeof sh), strerror(errno));
		if (write_all(fd, blk, len) != 0)
			return up_fail(cause, "write %s: %s", up_where(u,
			    pnode, leaf, sh, sizeof sh), strerror(errno));
		pos = off + (la_int64_t)len;
	}
	if (pos < size && ftruncate(fd, size) != 0)	/* sparse tail */
		return up_fail(cause, "%s: truncate: %s", up_where(u, pnode,
		    leaf, sh, sizeof sh), strerror(errno));
	return 0;
}

int
up_do_file(struct unpack *u, struct archive *a, struct archive_entry *e,
    int pfd, uint32_t pnode, const char *leaf, char **cause)
{
	struct timespec ts[2];
	char sh[160];
	int fd, tries = 0;

	while ((fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
		if (errno != EEXIST || tries++ > 0)
			return up_fail(cause, "create %s: %s",
			    up_where(u, pnode, leaf, sh, sizeof sh),
			    strerror(errno));
		/* never write into what is there: it may be a hard link */
		if (up_remove_at(u, pfd, pnode, leaf, cause) != 0)
			return -1;
	}
	if (copy_data(u, a, e, fd, pnode, leaf, cause) != 0) {
		close(fd);
		return -1;
	}
	/* owner, then xattrs (a chown drops capabilities), then mode */
	if (u->is_root)
		note_chown(u, fchown(fd, archive_entry_uid(e),
		    archive_entry_gid(e)));
	set_xattrs(u, fd, e, pnode, leaf);
	if (fchmod(fd, archive_entry_perm(e) & 07777) != 0) {
		close(fd);
		return up_fail(cause, "chmod %s: %s",
		    up_where(u, pnode, leaf, sh, sizeof sh), strerror(errno));
	}
	entry_times(e, ts);
	(void)futimens(fd, ts);
	if (close(fd) != 0)
		return up_fail(cause, "write %s: %s",
		    up_where(u, pnode, leaf, sh, sizeof sh), strerror(errno));
	return 0;
}

/*
 * A directory: made (or merged into what is there), owner and xattrs set
 * now, mode and times when the layer ends. leaf NULL: the rootfs itself.
 */
int
up_do_dir(struct unpack *u, struct archive_entry *e, int pfd, uint32_t pnode,
    const char *leaf, char **cause)
{
	struct timespec ts[2];
	struct stat sb;
	uint32_t node = 0;
	char sh[160];
	int fd;

	if (leaf == NULL)
		fd = dup(u->root);
	else {
		fd = openat(pfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (fd < 0 && errno != ENOENT &&	/* not a directory */
		    up_remove_at(u, pfd, pnode, leaf, cause) != 0)
			return -1;
		if (fd < 0) {
			if (mkdirat(pfd, leaf, 0700) != 0)
				return up_fail(cause, "mkdir %s: %s",
				    up_where(u, pnode, leaf, sh, sizeof sh),
				    strerror(errno));
			fd = openat(pfd, leaf, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
		}
	}
	if (fd < 0 || fstat(fd, &sb) != 0) {
		up_fail(cause, "open %s: %s", up_where(u, pnode, leaf, sh,
		    sizeof sh), strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (leaf != NULL && (node = up_dt_child(u, pnode, leaf, strlen(leaf),
	    0, sb.st_ino)) == NONE) {
		close(fd);
		return up_fail(cause, "%s: directories nested deeper than %d "
		    "levels", up_where(u, pnode, leaf, sh, sizeof sh),
		    MAX_DEPTH);
	}
	if (u->is_root)
		note_chown(u, fchown(fd, archive_entry_uid(e),
		    archive_entry_gid(e)));
	set_xattrs(u, fd, e, pnode, leaf);
	close(fd);
	entry_times(e, ts);
	up_dt_defer(u, node, archive_entry_perm(e) & 07777, ts);
	return 0;
}

int
up_do_symlink(struct unpack *u, struct archive_entry *e, int pfd,
    uint32_t pnode, const char *leaf, char **cause)
{
	const char *target = archive_entry_symlink(e);
	struct timespec ts[2];
	char sh[160];
	int tries = 0;

	if (target == NULL || strlen(target) >= MAX_LINK)
		return up_fail(cause, "%s: bad symbolic link target",
		    up_where(u, pnode, leaf, sh, sizeof sh));
	/* stored as is: it is only ever followed inside the rootfs */
	while (symlinkat(target, pfd, leaf) != 0) {
		if (errno != EEXIST || tries++ > 0)
			return up_fail(cause, "symlink %s: %s",
			    up_where(u, pnode, leaf, sh, sizeof sh),
			    strerror(errno));
		if (up_remove_at(u, pfd, pnode, leaf, cause) != 0)
			return -1;
	}
	if (u->is_root)
		note_chown(u, fchownat(pfd, leaf, archive_entry_uid(e),
		    archive_entry_gid(e), AT_SYMLINK_NOFOLLOW));
	entry_times(e, ts);
	(void)utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW);
	return 0;
}

/* Link pfd/leaf to tfd/tleaf (not a directory); pfd is ours to use. */
static int
link_to(struct unpack *u, int tfd, const char *tleaf, int pfd, uint32_t pnode,
    const char *leaf, const char *raw_target, char **cause)
{
	struct stat ts, ls;
	char sh[160], sh2[160];
	int tries = 0;

	if (fstatat(tfd, tleaf, &ts, AT_SYMLINK_NOFOLLOW) != 0)
		return up_fail(cause, "%s: hard link target %s not found",
		    up_where(u, pnode, leaf, sh, sizeof sh),
		    up_show(raw_target, sh2, sizeof sh2));
	if (S_ISDIR(ts.st_mode))
		return up_fail(cause, "%s: hard link to a directory",
		    up_where(u, pnode, leaf, sh, sizeof sh));
	if (fstatat(pfd, leaf, &ls, AT_SYMLINK_NOFOLLOW) == 0 &&
	    ls.st_dev == ts.st_dev && ls.st_ino == ts.st_ino)
		return 0;	/* already that file */
	/* flags 0: a link to a symlink links the symlink itself */
	while (linkat(tfd, tleaf, pfd, leaf, 0) != 0) {
		if (errno != EEXIST || tries++ > 0)
			return up_fail(cause, "link %s: %s",
			    up_where(u, pnode, leaf, sh, sizeof sh),
			    strerror(errno));
		if (up_remove_at(u, pfd, pnode, leaf, cause) != 0)
			return -1;
	}
	return 0;
}

/*
 * A hard link to raw_target, whose directory is resolved inside the
 * rootfs like any path. That walk moves the walker, so the entry's own
 * directory is held by a copy of pfd.
 */
int
up_do_hardlink(struct unpack *u, const char *raw_target, int pfd,
    uint32_t pnode, const char *leaf, char **cause)
{
	char sh[160], sh2[160], *slash, *why = NULL;
	const char *tleaf;
	uint32_t tnode;
	int tfd, own, r;

	if (up_clean_name("", raw_target, &u->hard, &why) != 0) {
		up_fail(cause, "%s: hard link target %s",
		    up_where(u, pnode, leaf, sh, sizeof sh), why);
		free(why);
		return -1;
	}
	if (u->hard.len == 0)
		return up_fail(cause, "%s: hard link to the rootfs itself",
		    up_where(u, pnode, leaf, sh, sizeof sh));
	if ((own = fcntl(pfd, F_DUPFD_CLOEXEC, 0)) < 0)
		return up_fail(cause, "%s: %s",
		    up_where(u, pnode, leaf, sh, sizeof sh), strerror(errno));
	slash = strrchr(u->hard.data, '/');
	if (slash == NULL) {
		tfd = u->root;
		tleaf = u->hard.data;
		r = 0;
	} else {
		*slash = '\0';
		r = up_walk(u, u->hard.data, 0, &tfd, &tnode, cause);
		tleaf = slash + 1;
	}
	if (r == 1)
		r = up_fail(cause, "%s: hard link target %s not found",
		    up_where(u, pnode, leaf, sh, sizeof sh),
		    up_show(raw_target, sh2, sizeof sh2));
	if (r == 0)
		r = link_to(u, tfd, tleaf, own, pnode, leaf, raw_target, cause);
	close(own);
	return r;
}

int
up_do_node(struct unpack *u, struct archive_entry *e, int pfd,
    uint32_t pnode, const char *leaf, char **cause)
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
			    up_where(u, pnode, leaf, sh, sizeof sh),
			    strerror(errno));
		if (up_remove_at(u, pfd, pnode, leaf, cause) != 0)
			return -1;
	}
	if (u->is_root)
		note_chown(u, fchownat(pfd, leaf, archive_entry_uid(e),
		    archive_entry_gid(e), AT_SYMLINK_NOFOLLOW));
	if (fchmodat(pfd, leaf, archive_entry_perm(e) & 07777,
	    AT_SYMLINK_NOFOLLOW) != 0)
		return up_fail(cause, "chmod %s: %s",
		    up_where(u, pnode, leaf, sh, sizeof sh), strerror(errno));
	entry_times(e, ts);
	(void)utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW);
	return 0;
skip:
	if (u->skipped_dev++ == 0)
		up_where(u, pnode, leaf, u->first_skip, sizeof u->first_skip);
	return 0;
}
