/*
 * unpack.c - the unpack engine: layers of an image applied, in order, to a
 * staging rootfs that is renamed into place once every layer is in.
 *
 * DESIGN
 * A helper thread reads a layer blob in 256 KiB pieces and decompresses it
 * (zlib, libzstd or nothing) into a ring of four 1 MiB buffers; the
 * layer's thread SHA-256s each buffer and hands it to libarchive through a
 * read callback. Memory stays bounded whatever the layer holds (libarchive
 * refuses special headers over 1 MiB). libarchive only parses the tar
 * stream; every file system change is made here with the *at() calls
 * relative to directory fds.
 *
 * Paths. An entry name is cleaned like tar cleans it (leading '/' and '.'
 * components dropped); a name with a '..' component fails the layer. Its
 * parent directory is then resolved one component at a time from the
 * rootfs fd with openat(O_PATH|O_NOFOLLOW|O_DIRECTORY), so the kernel never
 * follows a symbolic link for us. When a component is a symlink (from this
 * layer or an earlier one) this file reads it and resolves its target
 * inside the rootfs, the way chroot would: an absolute target restarts at
 * the rootfs, '..' stops at the rootfs, 40 links at most. Hard link
 * targets and whiteout parents are resolved the same way. The last
 * component is never followed: an entry replaces whatever is there (a
 * directory over a directory merges), and modes, owners and times are set
 * on fds from O_NOFOLLOW opens or with AT_SYMLINK_NOFOLLOW, never through
 * a link. Missing parent directories are created 0755, as tar does.
 *
 * Whiteouts (OCI image spec). ".wh.NAME" removes NAME from the layers
 * below; ".wh..wh..opq" empties its directory of everything the layers
 * below put there, whatever its place in the tar: this layer's own entries
 * (before or after it) stay. Both need to know what this layer wrote, so
 * every path this layer creates (and each directory it passes through) is
 * kept as a 64-bit hash in a set that lives for one layer. Other
 * ".wh..wh." names are AUFS bookkeeping and are skipped.
 *
 * Directories get their mode and times when the layer ends (writing into
 * them would change the times, and when not root a read-only directory
 * could not be filled); when not root they keep u+rwx until commit.
 */
#include "unpack.h"
#include "util.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define IN_SIZE		(256u << 10)	/* compressed bytes per read() */
#define OUT_SIZE	(1u << 20)	/* decompressed bytes per callback */
#define MAX_LINKS	40		/* symlinks followed per path */
#define MAX_NAME	4096		/* entry names and link targets */
#define CACHE_SLOTS	16		/* parent directory fds kept */
#define DEFER_MAX	65536		/* directories waiting for their times */
#define SET_MAX		(2u << 20)	/* paths remembered per layer (32 MB) */
#define OPAQUE_DEPTH	256		/* levels below an opaque directory */
#define SCRATCH_MAX	((size_t)1 << 30)	/* lengths are bounded above */

enum codec { CODEC_NONE, CODEC_GZIP, CODEC_ZSTD };

/*
 * The source libarchive reads from. A helper thread reads and decompresses
 * into a ring of NBUF buffers while the layer's thread hashes them, parses
 * the tar and writes files: inflate is most of the CPU an unpack costs, so
 * the two overlap. Fields marked (p) belong to the helper while it runs;
 * the ring is guarded by mu.
 */
#define NBUF 4

struct reader {
	int fd;
	enum codec codec;
	unsigned char *in;		/* (p) */
	size_t in_len;			/* (p) */
	int in_eof;			/* (p) */
	z_stream z;			/* (p) */
	int z_init, member_end;		/* (p) */
	ZSTD_DCtx *zd;			/* (p) */
	ZSTD_inBuffer zin;		/* (p) */
	size_t zhint;			/* (p) */
	uint64_t raw_done;		/* (p) compressed bytes read */
	char *err;			/* (p) why the stream failed */

	pthread_t thread;
	int threaded;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned char *buf[NBUF];
	ssize_t len[NBUF];		/* bytes, 0 at the end, -1 error */
	int head, count, held;		/* filled: head..; held by reader */
	int done, stop;
	uint64_t pub_done;		/* raw_done as of the last buffer */

	struct sha256 *hash;
	int ended;
	const char *why;		/* what broke the stream, for the reader */
	struct unpack *u;
	double last_progress;
};

/* A parent directory resolved recently: the raw path, its fd. */
struct slot {
	char *key;
	char *canon;		/* where it resolved to */
	int fd;
};

/* A directory whose mode and times are set when the layer ends. */
struct defer {
	char *canon;
	mode_t mode;
	struct timespec ts[2];
};

/* When not root: a directory mode to restore at commit. */
struct fixup {
	char *canon;
	mode_t mode;
};

struct pathset {
	uint64_t *slot;
	size_t cap, n;
	int overflow;
};

struct unpack {
	char *dir, *name, *final, *staging, *marker;
	int dirfd;		/* DIR */
	int root;		/* the staging rootfs, flock()ed */
	int is_root;
	char digest[72];

	/* the layer being applied */
	char sid[13];
	void (*progress)(void *, uint64_t, uint64_t);
	int (*check)(void *);
	void (*warn)(void *, const char *);
	void *ctx;
	uint64_t total;
	struct slot cache[CACHE_SLOTS];
	int pin, pin_orphan;	/* the parent fd in use, see slot_drop() */
	struct pathset set;
	struct defer *defer;
	size_t ndefer, capdefer;
	unsigned skipped_dev, skipped_type, xattr_fail, chown_fail;
	char first_skip[128], first_xattr[256];

	struct fixup *fix;
	size_t nfix, capfix;

	/* scratch */
	struct buf path, hard, link, todo, canon, leafc;
};

static pthread_mutex_t begin_mu = PTHREAD_MUTEX_INITIALIZER;

static int fail(char **, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* Set *cause; returns -1. */
static int
fail(char **cause, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	*cause = xvasprintf(fmt, ap);
	va_end(ap);
	return -1;
}

/* A name fit for a message: sanitized and cut short. */
static const char *
show(const char *s, char *out, size_t n)
{
	sanitize(out, n, s);
	if (out[0] == '\0')
		snprintf(out, n, "/");
	return out;
}

static void
bset(struct buf *b, const char *s, size_t n)
{
	b->len = 0;
	if (buf_append(b, s, n) != 0)
		abort();	/* callers check lengths first */
	buf_str(b);
}

static void
bcat(struct buf *b, const char *s, size_t n)
{
	if (buf_append(b, s, n) != 0)
		abort();
	buf_str(b);
}

/* canon of parent + "/" + leaf into b. */
static void
join(struct buf *b, const char *parent, const char *leaf)
{
	size_t pl = strlen(parent);

	bset(b, parent, pl);
	if (pl > 0)
		bcat(b, "/", 1);
	bcat(b, leaf, strlen(leaf));
}

/* ------------------------------------------------------------ path set */

static uint64_t
path_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h ? h : 1;
}

static void
set_add(struct pathset *s, const char *path)
{
	uint64_t h = path_hash(path);
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

static int
set_has(const struct pathset *s, const char *path)
{
	uint64_t h = path_hash(path);
	size_t i;

	if (s->cap == 0)
		return 0;
	for (i = h & (s->cap - 1); s->slot[i] != 0; i = (i + 1) & (s->cap - 1))
		if (s->slot[i] == h)
			return 1;
	return 0;
}

static void
set_free(struct pathset *s)
{
	free(s->slot);
	memset(s, 0, sizeof *s);
}

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
static int
rm_tree(int pfd, const char *name, int is_root, char **cause)
{
	struct rmlevel *st;
	size_t depth, cap = 16;
	struct stat sb;
	int cur, r = -1;

	if (fstatat(pfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : fail(cause, "%s: %s", name,
		    strerror(errno));
	if (!S_ISDIR(sb.st_mode)) {
		if (unlinkat(pfd, name, 0) != 0 && errno != ENOENT)
			return fail(cause, "remove %s: %s", name,
			    strerror(errno));
		return 0;
	}
	cur = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (cur < 0)
		return fail(cause, "open %s: %s", name, strerror(errno));
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
			fail(cause, "read %s: %s", st[depth - 1].name,
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
				fail(cause, "remove %s: %s", de->d_name,
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
				fail(cause, "open %s: %s", sub, strerror(errno));
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
				fail(cause, "remove %s: %s", name,
				    strerror(errno));
				goto out;
			}
			break;
		}
		up = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (up < 0 || fstat(up, &sb) != 0 ||
		    sb.st_dev != st[depth - 2].dev ||
		    sb.st_ino != st[depth - 2].ino) {
			fail(cause, "%s changed while being removed", name);
			if (up >= 0)
				close(up);
			goto out;
		}
		close(cur);
		cur = up;
		depth--;
		if (unlinkat(cur, st[depth].name, AT_REMOVEDIR) != 0 &&
		    errno != ENOENT) {
			fail(cause, "remove %s: %s", st[depth].name,
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

/* ------------------------------------------------------ path walking */

#define W_CREATE	1	/* make missing directories 0755, as tar does */
#define W_RECORD	2	/* add each directory passed to the layer's set */

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

static void
cache_flush(struct unpack *u)
{
	int i;

	for (i = 0; i < CACHE_SLOTS; i++)
		if (u->cache[i].key != NULL)
			slot_drop(u, &u->cache[i]);
}

/* Keep fd (taken over) as the resolution of raw path key. */
static void
cache_put(struct unpack *u, const char *key, const char *canon, int fd)
{
	struct slot *s = &u->cache[path_hash(key) % CACHE_SLOTS];

	if (s->key != NULL)
		slot_drop(u, s);
	s->key = xstrdup(key);
	s->canon = xstrdup(canon);
	s->fd = fd;
}

static void
close_dir(struct unpack *u, int fd)
{
	if (fd >= 0 && fd != u->root)
		close(fd);
}

/* Reopen the directory at canonical path c (no symlinks in it). */
static int
reopen_canon(struct unpack *u, const char *c, char **cause)
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
		close_dir(u, cur);
		if (fd < 0) {
			char sh[160];
			return fail(cause, "%s: %s", show(c, sh, sizeof sh),
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
 * close_dir()) and u->canon holding where it led, 1 if a directory is
 * missing (without W_CREATE), -1 with *cause.
 */
static int
walk(struct unpack *u, const char *p, int flags, int *out, char **cause)
{
	char comp[NAME_MAX + 1], sh[160], target[MAX_NAME + 1];
	struct stat sb;
	size_t pos = 0, n;
	int cur = u->root, fd, links = 0;
	ssize_t tl;

	bset(&u->todo, p, strlen(p));
	bset(&u->canon, "", 0);
	while (pos < u->todo.len) {
		const char *c = u->todo.data + pos;
		const char *e = strchr(c, '/');

		n = e ? (size_t)(e - c) : strlen(c);
		pos += n + (e != NULL);
		if (n == 0 || (n == 1 && c[0] == '.'))
			continue;
		if (n > NAME_MAX) {
			close_dir(u, cur);
			return fail(cause, "%s: name too long",
			    show(p, sh, sizeof sh));
		}
		memcpy(comp, c, n);
		comp[n] = '\0';
		if (strcmp(comp, "..") == 0) {
			/* only from a link target: stop at the rootfs */
			char *slash = strrchr(u->canon.data, '/');
			close_dir(u, cur);
			u->canon.len = slash ? (size_t)(slash - u->canon.data)
			    : 0;
			u->canon.data[u->canon.len] = '\0';
			if ((cur = reopen_canon(u, u->canon.data, cause)) < 0)
				return -1;
			continue;
		}
	again:
		fd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_DIRECTORY |
		    O_CLOEXEC);
		if (fd >= 0) {
			close_dir(u, cur);
			cur = fd;
			if (u->canon.len > 0)
				bcat(&u->canon, "/", 1);
			bcat(&u->canon, comp, n);
			if (flags & W_RECORD)
				set_add(&u->set, u->canon.data);
			continue;
		}
		if (errno == ENOENT) {
			if (!(flags & W_CREATE)) {
				close_dir(u, cur);
				return 1;
			}
			if (mkdirat(cur, comp, 0755) != 0 && errno != EEXIST) {
				close_dir(u, cur);
				return fail(cause, "mkdir %s: %s",
				    show(p, sh, sizeof sh), strerror(errno));
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
			close_dir(u, cur);
			return fail(cause, "%s: %s", show(p, sh, sizeof sh),
			    strerror(errno));
		}
		if (fstatat(cur, comp, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISLNK(sb.st_mode)) {
			close_dir(u, cur);
			return fail(cause, "%s: not a directory",
			    show(p, sh, sizeof sh));
		}
		if (++links > MAX_LINKS) {
			close_dir(u, cur);
			return fail(cause, "%s: too many levels of symbolic "
			    "links", show(p, sh, sizeof sh));
		}
		tl = readlinkat(cur, comp, target, sizeof target);
		if (tl < 0 || (size_t)tl >= sizeof target) {
			close_dir(u, cur);
			return fail(cause, "%s: unreadable symbolic link",
			    show(p, sh, sizeof sh));
		}
		target[tl] = '\0';
		/* the rest of the path now follows the link's target */
		bset(&u->link, target, (size_t)tl);
		bcat(&u->link, "/", 1);
		if (pos < u->todo.len)
			bcat(&u->link, u->todo.data + pos, u->todo.len - pos);
		bset(&u->todo, u->link.data, u->link.len);
		pos = 0;
		if (target[0] == '/') {
			close_dir(u, cur);
			cur = u->root;
			bset(&u->canon, "", 0);
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
static int
parent_fd(struct unpack *u, const char *parent, int *fd, const char **canon,
    char **cause)
{
	struct slot *s = &u->cache[path_hash(parent) % CACHE_SLOTS];

	if (parent[0] == '\0') {
		*fd = u->root;
		*canon = "";
		return 0;
	}
	if (s->key == NULL || strcmp(s->key, parent) != 0) {
		int nfd;
		if (walk(u, parent, W_CREATE | W_RECORD, &nfd, cause) != 0)
			return -1;
		cache_put(u, parent, u->canon.data, nfd);
	}
	*fd = s->fd;
	*canon = s->canon;
	return 0;
}

/*
 * Clean an entry name the way tar does: leading '/' and '.' components
 * and doubled slashes go; a '..' component is refused. Into u->path.
 */
static int
clean_name(const char *what, const char *raw, struct buf *b, char **cause)
{
	const char *p = raw, *e;
	char sh[160];
	size_t n;

	if (strlen(raw) > MAX_NAME)
		return fail(cause, "entry name longer than %d bytes", MAX_NAME);
	bset(b, "", 0);
	while (*p != '\0') {
		e = strchr(p, '/');
		n = e ? (size_t)(e - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return fail(cause, "%s%s leads out of the rootfs "
			    "(\"..\")", what, show(raw, sh, sizeof sh));
		if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (b->len > 0)
				bcat(b, "/", 1);
			bcat(b, p, n);
		}
		p += n + (e != NULL);
	}
	return 0;
}

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
static int
remove_at(struct unpack *u, int pfd, const char *name, const char *canon,
    char **cause)
{
	struct stat sb;
	char sh[160];

	if (fstatat(pfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : fail(cause, "%s: %s",
		    show(canon, sh, sizeof sh), strerror(errno));
	if (!S_ISDIR(sb.st_mode)) {
		if (unlinkat(pfd, name, 0) != 0 && errno != ENOENT)
			return fail(cause, "remove %s: %s",
			    show(canon, sh, sizeof sh), strerror(errno));
		if (S_ISLNK(sb.st_mode))
			cache_flush(u);	/* paths through it change */
		return 0;
	}
	cache_flush(u);
	fixup_forget(u, canon);
	return rm_tree(pfd, name, u->is_root, cause);
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
			    "%s on %s: %s", show(name, a, sizeof a),
			    show(canon, b, sizeof b), why);
		}
	}
}

static int
do_file(struct unpack *u, struct archive *a, struct archive_entry *e,
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
			return fail(cause, "create %s: %s",
			    show(canon, sh, sizeof sh), strerror(errno));
		/* never write into what is there: it may be a hard link */
		if (remove_at(u, pfd, leaf, canon, cause) != 0)
			return -1;
	}
	for (;;) {
		r = archive_read_data_block(a, &blk, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			close(fd);
			return fail(cause, "%s: %s", show(canon, sh, sizeof sh),
			    archive_error_string(a));
		}
		if (off != pos && lseek(fd, off, SEEK_SET) < 0) {
			close(fd);
			return fail(cause, "%s: seek: %s",
			    show(canon, sh, sizeof sh), strerror(errno));
		}
		if (write_all(fd, blk, len) != 0) {
			close(fd);
			return fail(cause, "write %s: %s",
			    show(canon, sh, sizeof sh), strerror(errno));
		}
		pos = off + (la_int64_t)len;
	}
	if (pos < size && ftruncate(fd, size) != 0) {	/* sparse tail */
		close(fd);
		return fail(cause, "%s: truncate: %s",
		    show(canon, sh, sizeof sh), strerror(errno));
	}
	/* owner, then xattrs (a chown drops capabilities), then mode */
	if (u->is_root)
		note_chown(u, fchown(fd, archive_entry_uid(e),
		    archive_entry_gid(e)));
	set_xattrs(u, fd, e, canon);
	if (fchmod(fd, archive_entry_perm(e) & 07777) != 0) {
		close(fd);
		return fail(cause, "chmod %s: %s", show(canon, sh, sizeof sh),
		    strerror(errno));
	}
	entry_times(e, ts);
	(void)futimens(fd, ts);
	if (close(fd) != 0)
		return fail(cause, "write %s: %s", show(canon, sh, sizeof sh),
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
static int
open_canon_dir(struct unpack *u, const char *c)
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
		pfd = reopen_canon(u, parent, &cause);
		free(parent);
		free(cause);
		if (pfd < 0)
			return -1;
	}
	fd = openat(pfd, slash ? slash + 1 : c, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
	close_dir(u, pfd);
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
static void
defer_flush(struct unpack *u)
{
	size_t i;

	for (i = 0; i < u->ndefer; i++) {
		struct defer *d = &u->defer[i];
		int fd = open_canon_dir(u, d->canon);
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

static int
do_dir(struct unpack *u, struct archive_entry *e, int pfd, const char *leaf,
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
			if (remove_at(u, pfd, leaf, canon, cause) != 0)
				return -1;
		}
		if (fd < 0) {
			if (mkdirat(pfd, leaf, 0700) != 0)
				return fail(cause, "mkdir %s: %s",
				    show(canon, sh, sizeof sh), strerror(errno));
			fd = openat(pfd, leaf, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
		}
	}
	if (fd < 0)
		return fail(cause, "open %s: %s", show(canon, sh, sizeof sh),
		    strerror(errno));
	if (u->is_root)
		note_chown(u, fchown(fd, archive_entry_uid(e),
		    archive_entry_gid(e)));
	set_xattrs(u, fd, e, canon);
	entry_times(e, ts);
	if (u->ndefer >= DEFER_MAX)
		defer_flush(u);
	defer_dir(u, canon, archive_entry_perm(e) & 07777, ts);
	if (leaf != NULL)	/* its entries likely come next */
		cache_put(u, path, canon, fd);
	else
		close(fd);
	return 0;
}

static int
do_symlink(struct unpack *u, struct archive_entry *e, int pfd,
    const char *leaf, const char *canon, char **cause)
{
	const char *target = archive_entry_symlink(e);
	struct timespec ts[2];
	char sh[160];
	int tries = 0;

	if (target == NULL || strlen(target) > MAX_NAME)
		return fail(cause, "%s: bad symbolic link target",
		    show(canon, sh, sizeof sh));
	/* stored as is: it is only ever followed inside the rootfs */
	while (symlinkat(target, pfd, leaf) != 0) {
		if (errno != EEXIST || tries++ > 0)
			return fail(cause, "symlink %s: %s",
			    show(canon, sh, sizeof sh), strerror(errno));
		if (remove_at(u, pfd, leaf, canon, cause) != 0)
			return -1;
	}
	if (u->is_root)
		note_chown(u, fchownat(pfd, leaf, archive_entry_uid(e),
		    archive_entry_gid(e), AT_SYMLINK_NOFOLLOW));
	entry_times(e, ts);
	(void)utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW);
	return 0;
}

static int
do_hardlink(struct unpack *u, const char *raw_target, int pfd,
    const char *leaf, const char *canon, char **cause)
{
	struct stat ts, ls;
	const char *tleaf, *slash;
	char sh[160], sh2[160], what[200];
	int tfd, r, tries = 0;

	snprintf(what, sizeof what, "%s: hard link target ",
	    show(canon, sh, sizeof sh));
	if (clean_name(what, raw_target, &u->hard, cause) != 0)
		return -1;
	if (u->hard.len == 0)
		return fail(cause, "%s: hard link to the rootfs itself",
		    show(canon, sh, sizeof sh));
	/* resolve the target's directory inside the rootfs too */
	slash = strrchr(u->hard.data, '/');
	if (slash == NULL) {
		tfd = u->root;
		tleaf = u->hard.data;
		r = 0;
	} else {
		u->hard.data[slash - u->hard.data] = '\0';
		r = walk(u, u->hard.data, 0, &tfd, cause);
		tleaf = slash + 1;
	}
	if (r < 0)
		return -1;
	if (r == 1 || fstatat(tfd, tleaf, &ts, AT_SYMLINK_NOFOLLOW) != 0) {
		if (r == 0)
			close_dir(u, tfd);
		return fail(cause, "%s: hard link target %s not found",
		    show(canon, sh, sizeof sh), show(raw_target, sh2,
		    sizeof sh2));
	}
	if (S_ISDIR(ts.st_mode)) {
		close_dir(u, tfd);
		return fail(cause, "%s: hard link to a directory",
		    show(canon, sh, sizeof sh));
	}
	if (fstatat(pfd, leaf, &ls, AT_SYMLINK_NOFOLLOW) == 0 &&
	    ls.st_dev == ts.st_dev && ls.st_ino == ts.st_ino) {
		close_dir(u, tfd);
		return 0;	/* already that file */
	}
	/* flags 0: a link to a symlink links the symlink itself */
	while (linkat(tfd, tleaf, pfd, leaf, 0) != 0) {
		if (errno != EEXIST || tries++ > 0) {
			fail(cause, "link %s: %s", show(canon, sh, sizeof sh),
			    strerror(errno));
			close_dir(u, tfd);
			return -1;
		}
		if (remove_at(u, pfd, leaf, canon, cause) != 0) {
			close_dir(u, tfd);
			return -1;
		}
	}
	close_dir(u, tfd);
	return 0;
}

static int
do_node(struct unpack *u, struct archive_entry *e, int pfd, const char *leaf,
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
			return fail(cause, "mknod %s: %s",
			    show(canon, sh, sizeof sh), strerror(errno));
		if (remove_at(u, pfd, leaf, canon, cause) != 0)
			return -1;
	}
	if (u->is_root)
		note_chown(u, fchownat(pfd, leaf, archive_entry_uid(e),
		    archive_entry_gid(e), AT_SYMLINK_NOFOLLOW));
	if (fchmodat(pfd, leaf, archive_entry_perm(e) & 07777,
	    AT_SYMLINK_NOFOLLOW) != 0)
		return fail(cause, "chmod %s: %s", show(canon, sh, sizeof sh),
		    strerror(errno));
	entry_times(e, ts);
	(void)utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW);
	return 0;
skip:
	if (u->skipped_dev++ == 0)
		show(canon, u->first_skip, sizeof u->first_skip);
	return 0;
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
		return fail(cause, "opaque directory too deep");
	if ((dfd = dup(fd)) < 0 || (d = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return fail(cause, "read %s: %s", canon, strerror(errno));
	}
	buf_init(&child, SCRATCH_MAX);
	while (r == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		join(&child, canon, de->d_name);
		if (!set_has(&u->set, child.data))
			r = remove_at(u, fd, de->d_name, child.data, cause);
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
			join(&child, canon, keep[i]);
			r = opaque_clear(u, sub, child.data, depth + 1, cause);
			close(sub);
		}
		free(keep[i]);
	}
	free(keep);
	buf_free(&child);
	return r;
}

static int
whiteout(struct unpack *u, const char *parent, const char *leaf,
    const char *raw, char **cause)
{
	const char *name = leaf + 4;
	char sh[160];
	int pfd, fd, r;

	if (u->set.overflow)
		return fail(cause, "whiteout after more than %u entries",
		    SET_MAX);
	if (strcmp(leaf, ".wh..wh..opq") != 0 &&
	    (name[0] == '\0' || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0))
		return fail(cause, "invalid whiteout %s",
		    show(raw, sh, sizeof sh));
	/* the parent is resolved like any entry's (in the rootfs) */
	r = walk(u, parent, 0, &pfd, cause);
	if (r != 0)
		return r < 0 ? -1 : 0;	/* nothing there to hide */
	cache_flush(u);
	if (strcmp(leaf, ".wh..wh..opq") == 0) {
		char *canon = xstrdup(u->canon.data);
		fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close_dir(u, pfd);
		if (fd < 0) {
			free(canon);
			return fail(cause, "open %s: %s",
			    show(parent, sh, sizeof sh), strerror(errno));
		}
		r = opaque_clear(u, fd, canon, 0, cause);
		close(fd);
		free(canon);
		return r;
	}
	join(&u->leafc, u->canon.data, name);
	r = 0;
	if (!set_has(&u->set, u->leafc.data))	/* not this layer's own */
		r = remove_at(u, pfd, name, u->leafc.data, cause);
	close_dir(u, pfd);
	return r;
}

/* ---------------------------------------------------------- one entry */

static int
apply_entry(struct unpack *u, struct archive *a, struct archive_entry *e,
    char **cause)
{
	const char *raw = archive_entry_pathname(e), *hard, *leaf, *pcanon;
	char *parent, *slash, sh[160];
	mode_t type;
	int pfd, r;

	if (raw == NULL && (raw = archive_entry_pathname_utf8(e)) == NULL)
		return fail(cause, "entry without a name");
	if (clean_name("entry ", raw, &u->path, cause) != 0)
		return -1;
	hard = archive_entry_hardlink(e);
	type = archive_entry_filetype(e);
	if (u->path.len == 0) {
		/* "./": the rootfs itself; nothing else may take its place */
		if (hard != NULL || type != AE_IFDIR)
			return fail(cause, "entry %s would replace the rootfs",
			    show(raw, sh, sizeof sh));
		return do_dir(u, e, u->root, NULL, "", "", cause);
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
		r = whiteout(u, p, l, raw, cause);
		free(p);
		free(l);
		return r;
	}
	if (parent_fd(u, parent, &pfd, &pcanon, cause) != 0)
		return -1;
	join(&u->leafc, pcanon, leaf);
	set_add(&u->set, u->leafc.data);
	if (slash != NULL)
		*slash = '/';	/* u->path is the whole name again */
	u->pin = pfd;
	u->pin_orphan = 0;
	if (hard != NULL)
		r = do_hardlink(u, hard, pfd, leaf, u->leafc.data, cause);
	else {
		switch (type) {
		case AE_IFREG:
			r = do_file(u, a, e, pfd, leaf, u->leafc.data, cause);
			break;
		case AE_IFDIR:
			r = do_dir(u, e, pfd, leaf, u->path.data,
			    u->leafc.data, cause);
			break;
		case AE_IFLNK:
			r = do_symlink(u, e, pfd, leaf, u->leafc.data, cause);
			break;
		case AE_IFCHR:
		case AE_IFBLK:
		case AE_IFIFO:
			r = do_node(u, e, pfd, leaf, u->leafc.data, cause);
			break;
		default:
			if (u->skipped_type++ == 0)
				show(u->leafc.data, u->first_skip,
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

/* ----------------------------------------------------- the byte stream */

static int
refill(struct reader *r)
{
	ssize_t n;

	do
		n = read(r->fd, r->in, IN_SIZE);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		r->err = xasprintf("read: %s", strerror(errno));
		return -1;
	}
	r->in_len = (size_t)n;
	r->in_eof = n == 0;
	r->raw_done += (uint64_t)n;
	return 0;
}

/* Decompress into out; bytes made, 0 at the end, -1 with r->err. */
static ssize_t
gz_produce(struct reader *r, unsigned char *out)
{
	z_stream *z = &r->z;
	int ret;

	z->next_out = out;
	z->avail_out = OUT_SIZE;
	while (z->avail_out > 0) {
		if (z->avail_in == 0 && !r->in_eof) {
			if (refill(r) != 0)
				return -1;
			z->next_in = r->in;
			z->avail_in = (uInt)r->in_len;
			continue;
		}
		if (r->member_end) {
			if (z->avail_in == 0)
				break;		/* the end */
			/* another gzip member follows (as pigz may write) */
			if (z->next_in[0] != 0x1f) {
				r->err = xasprintf("corrupt gzip stream "
				    "(garbage after the end)");
				return -1;
			}
			inflateReset(z);
			r->member_end = 0;
		}
		if (z->avail_in == 0) {
			r->err = xasprintf("truncated gzip stream");
			return -1;
		}
		ret = inflate(z, Z_NO_FLUSH);
		if (ret == Z_STREAM_END)
			r->member_end = 1;
		else if (ret != Z_OK && ret != Z_BUF_ERROR) {
			r->err = xasprintf("corrupt gzip stream (%s)",
			    z->msg ? z->msg : "inflate failed");
			return -1;
		}
	}
	return (ssize_t)(OUT_SIZE - z->avail_out);
}

static ssize_t
zstd_produce(struct reader *r, unsigned char *out)
{
	ZSTD_outBuffer ob = { out, OUT_SIZE, 0 };
	size_t h, before;

	while (ob.pos < ob.size) {
		if (r->zin.pos == r->zin.size && !r->in_eof) {
			if (refill(r) != 0)
				return -1;
			r->zin.src = r->in;
			r->zin.size = r->in_len;
			r->zin.pos = 0;
			continue;
		}
		if (r->zin.pos == r->zin.size && r->in_eof && r->zhint == 0)
			break;		/* every frame ended: the end */
		before = ob.pos;
		h = ZSTD_decompressStream(r->zd, &ob, &r->zin);
		if (ZSTD_isError(h)) {
			r->err = xasprintf("corrupt zstd stream (%s)",
			    ZSTD_getErrorName(h));
			return -1;
		}
		r->zhint = h;
		if (r->zin.pos == r->zin.size && r->in_eof &&
		    ob.pos == before && h != 0) {
			r->err = xasprintf("truncated zstd stream");
			return -1;
		}
	}
	return (ssize_t)ob.pos;
}

static ssize_t
produce(struct reader *r, unsigned char *out)
{
	ssize_t n;

	switch (r->codec) {
	case CODEC_GZIP:
		return gz_produce(r, out);
	case CODEC_ZSTD:
		return zstd_produce(r, out);
	default:
		do
			n = read(r->fd, out, OUT_SIZE);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			r->err = xasprintf("read: %s", strerror(errno));
		else
			r->raw_done += (uint64_t)n;
		return n;
	}
}

/* The helper thread: fill free buffers until the end, an error or stop. */
static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	ssize_t n;
	int slot;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->stop && r->count + (r->held >= 0) >= NBUF)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->stop)
			break;
		slot = (r->head + r->count) % NBUF;
		pthread_mutex_unlock(&r->mu);
		n = produce(r, r->buf[slot]);
		pthread_mutex_lock(&r->mu);
		r->len[slot] = n;
		r->pub_done = r->raw_done;
		r->count++;
		pthread_cond_broadcast(&r->cv);
		if (n <= 0)
			break;
	}
	r->done = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

static int
reader_init(struct reader *r, struct unpack *u, const char *path, char **cause)
{
	int i;

	memset(r, 0, sizeof *r);
	r->u = u;
	r->held = -1;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->hash = sha256_new();
	r->in = xmalloc(IN_SIZE);
	for (i = 0; i < NBUF; i++)
		r->buf[i] = xmalloc(OUT_SIZE);
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0)
		return fail(cause, "%s: %s", path, strerror(errno));
	(void)posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return 0;
}

static void
reader_start(struct reader *r, enum codec codec)
{
	r->codec = codec;
	if (r->codec == CODEC_GZIP) {
		if (inflateInit2(&r->z, 15 + 16) != Z_OK)
			abort();
		r->z_init = 1;
	} else if (r->codec == CODEC_ZSTD) {
		if ((r->zd = ZSTD_createDCtx()) == NULL)
			abort();
		r->zhint = 1;
	}
	/* without a thread the reader decompresses itself */
	r->threaded = pthread_create(&r->thread, NULL, reader_main, r) == 0;
}

static void
reader_free(struct reader *r)
{
	int i;

	if (r->threaded) {
		pthread_mutex_lock(&r->mu);
		r->stop = 1;
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->thread, NULL);
	}
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	if (r->z_init)
		inflateEnd(&r->z);
	ZSTD_freeDCtx(r->zd);
	sha256_free(r->hash);
	free(r->in);
	for (i = 0; i < NBUF; i++)
		free(r->buf[i]);
	free(r->err);
	if (r->fd >= 0)
		close(r->fd);
}

/*
 * The next piece of the uncompressed stream, hashed: its size, 0 at the
 * end, -1 with r->err. The previous piece is given back.
 */
static ssize_t
next_block(struct reader *r, const unsigned char **p)
{
	ssize_t n;
	int slot;

	if (r->ended)
		return 0;
	if (!r->threaded) {
		n = produce(r, r->buf[0]);
		r->pub_done = r->raw_done;
		slot = 0;
	} else {
		pthread_mutex_lock(&r->mu);
		r->held = -1;
		pthread_cond_broadcast(&r->cv);
		while (r->count == 0 && !r->done)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->count == 0) {	/* cannot happen: the last has n <= 0 */
			pthread_mutex_unlock(&r->mu);
			r->ended = 1;
			return 0;
		}
		slot = r->head;
		r->head = (r->head + 1) % NBUF;
		r->count--;
		r->held = slot;
		n = r->len[slot];
		pthread_mutex_unlock(&r->mu);
	}
	if (n > 0) {
		sha256_update(r->hash, r->buf[slot], (size_t)n);
		*p = r->buf[slot];
	} else if (n == 0)
		r->ended = 1;
	else
		r->why = r->err;	/* the helper has stopped */
	return n;
}

/* compressed bytes read so far */
static uint64_t
reader_done(struct reader *r)
{
	uint64_t d;

	if (!r->threaded)
		return r->pub_done;
	pthread_mutex_lock(&r->mu);
	d = r->pub_done;
	pthread_mutex_unlock(&r->mu);
	return d;
}

static void
report(struct reader *r, int force)
{
	struct unpack *u = r->u;
	double now;

	if (u->progress == NULL)
		return;
	now = now_mono();
	if (!force && now - r->last_progress < 0.1)
		return;
	r->last_progress = now;
	u->progress(u->ctx, reader_done(r), u->total);
}

static la_ssize_t
reader_read(struct archive *a, void *ctx, const void **out)
{
	struct reader *r = ctx;
	const unsigned char *p = NULL;
	ssize_t n;

	if (r->u->check != NULL && r->u->check(r->u->ctx)) {
		r->why = "cancelled";
		archive_set_error(a, ECANCELED, "cancelled");
		return -1;
	}
	n = next_block(r, &p);
	if (n < 0) {
		archive_set_error(a, EIO, "%s", r->why);
		return -1;
	}
	report(r, 0);
	*out = p;
	return n;
}

static enum codec
codec_of(const char *mt)
{
	size_t n = mt ? strlen(mt) : 0;

#define ENDS(s) (n >= sizeof(s) - 1 && strcmp(mt + n - (sizeof(s) - 1), s) == 0)
	if (ENDS("+gzip") || ENDS(".tar.gzip"))
		return CODEC_GZIP;
	if (ENDS("+zstd"))
		return CODEC_ZSTD;
	if (ENDS(".tar"))
		return CODEC_NONE;
#undef ENDS
	return (enum codec)-1;
}

/* ------------------------------------------------------------- layers */

/* One warning line for the layer: "layer <id>: ..." to the callback. */
static void
layer_warn(struct unpack *u, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
layer_warn(struct unpack *u, const char *fmt, ...)
{
	va_list ap;
	char *what, *m;

	va_start(ap, fmt);
	what = xvasprintf(fmt, ap);
	va_end(ap);
	m = xasprintf("layer %s: %s", u->sid, what);
	u->warn(u->ctx, m);
	free(m);
	free(what);
}

static void
layer_warnings(struct unpack *u)
{
	if (u->warn == NULL)
		return;
	if (u->skipped_dev > 0)
		layer_warn(u, "skipped %u device node%s (not root), e.g. %s",
		    u->skipped_dev, u->skipped_dev == 1 ? "" : "s",
		    u->first_skip);
	if (u->skipped_type > 0)
		layer_warn(u, "skipped %u entr%s of unknown type, e.g. %s",
		    u->skipped_type, u->skipped_type == 1 ? "y" : "ies",
		    u->first_skip);
	if (u->xattr_fail > 0)
		layer_warn(u, "could not set %u extended attribute%s, e.g. %s",
		    u->xattr_fail, u->xattr_fail == 1 ? "" : "s",
		    u->first_xattr);
	if (u->chown_fail > 0)
		layer_warn(u, "could not set the owner of %u entr%s",
		    u->chown_fail, u->chown_fail == 1 ? "y" : "ies");
}

/* The layer's short id: from the blob's file name, else the diff_id. */
static void
layer_sid(struct unpack *u, const char *blob_path, const char *diff_id)
{
	const char *b = strrchr(blob_path, '/');
	size_t i;

	b = b ? b + 1 : blob_path;
	for (i = 0; i < 64 && ((b[i] >= '0' && b[i] <= '9') ||
	    (b[i] >= 'a' && b[i] <= 'f')); i++)
		;
	if (i != 64 || b[64] != '\0') {
		b = diff_id && strncmp(diff_id, "sha256:", 7) == 0 ?
		    diff_id + 7 : "";
		if (b[0] == '\0')
			b = "unknown";
	}
	snprintf(u->sid, sizeof u->sid, "%.12s", b);
}

static int
run_layer(struct unpack *u, struct reader *r, const char *diff_id,
    char **cause)
{
	struct archive *a;
	struct archive_entry *e;
	const unsigned char *p;
	char got[72];
	int ret, rc = -1;
	ssize_t n;

	a = archive_read_new();
	if (a == NULL)
		return fail(cause, "out of memory");
	archive_read_support_format_tar(a);
	if (archive_read_open(a, r, NULL, reader_read, NULL) != ARCHIVE_OK) {
		fail(cause, "%s", r->why ? r->why : archive_error_string(a));
		goto out;
	}
	for (;;) {
		ret = archive_read_next_header(a, &e);
		if (ret == ARCHIVE_EOF)
			break;
		if (ret < ARCHIVE_WARN) {	/* warnings: charset only */
			fail(cause, "%s", r->why ? r->why :
			    archive_error_string(a));
			goto out;
		}
		if (u->check != NULL && u->check(u->ctx)) {
			fail(cause, "cancelled");
			goto out;
		}
		if (apply_entry(u, a, e, cause) != 0) {
			if (r->why != NULL) {	/* the stream broke mid-file */
				free(*cause);
				*cause = xstrdup(r->why);
			}
			goto out;
		}
	}
	/* the diff_id covers the whole stream, padding after the tar too */
	while ((n = next_block(r, &p)) > 0)
		;
	if (n < 0) {
		fail(cause, "%s", r->why);
		goto out;
	}
	sha256_final(r->hash, got);
	if (diff_id != NULL && strcmp(got, diff_id) != 0) {
		fail(cause, "uncompressed content is %s, not the diff_id %s",
		    got, diff_id);
		goto out;
	}
	rc = 0;
out:
	archive_read_free(a);
	return rc;
}

int
unpack_layer(struct unpack *u, const char *blob_path, const char *media_type,
    const char *diff_id, uint64_t size,
    void (*progress)(void *ctx, uint64_t done, uint64_t total),
    int (*check)(void *ctx), void (*warn)(void *ctx, const char *msg),
    void *ctx, char **cause)
{
	struct reader r;
	char *inner = NULL, mt[96];
	enum codec codec = codec_of(media_type);
	int rc;

	layer_sid(u, blob_path, diff_id);
	u->progress = progress;
	u->check = check;
	u->warn = warn;
	u->ctx = ctx;
	u->total = size;
	u->skipped_dev = u->skipped_type = u->xattr_fail = u->chown_fail = 0;
	if ((int)codec < 0) {
		*cause = xasprintf("layer %s: cannot unpack media type %s",
		    u->sid, show(media_type ? media_type : "(none)", mt,
		    sizeof mt));
		return -1;
	}
	if (diff_id != NULL && !digest_valid(diff_id)) {
		*cause = xasprintf("layer %s: bad diff_id %s", u->sid,
		    show(diff_id, mt, sizeof mt));
		return -1;
	}
	if (reader_init(&r, u, blob_path, &inner) != 0) {
		*cause = xasprintf("layer %s: %s", u->sid, inner);
		free(inner);
		reader_free(&r);
		return -1;
	}
	reader_start(&r, codec);
	u->pin = -1;
	cache_flush(u);
	report(&r, 1);
	rc = run_layer(u, &r, diff_id, &inner);
	cache_flush(u);
	defer_flush(u);
	set_free(&u->set);
	if (rc == 0) {
		report(&r, 1);
		layer_warnings(u);
	} else {
		*cause = xasprintf("layer %s: %s", u->sid, inner);
		free(inner);
	}
	reader_free(&r);
	return rc;
}

/* ---------------------------------------------------------------- api */

void
unpack_name(const char *ref, char *out, size_t n)
{
	size_t i;

	if (n == 0)
		return;
	for (i = 0; ref[i] != '\0' && i + 1 < n; i++)
		out[i] = ref[i] == '/' || ref[i] == ':' ? '_' : ref[i];
	out[i] = '\0';
}

const char *
unpack_path(const struct unpack *u)
{
	return u->final;
}

static void
unpack_free(struct unpack *u)
{
	size_t i;

	u->pin = -1;
	cache_flush(u);
	for (i = 0; i < u->ndefer; i++)
		free(u->defer[i].canon);
	for (i = 0; i < u->nfix; i++)
		free(u->fix[i].canon);
	free(u->defer);
	free(u->fix);
	set_free(&u->set);
	if (u->root >= 0)
		close(u->root);
	if (u->dirfd >= 0)
		close(u->dirfd);
	buf_free(&u->path);
	buf_free(&u->hard);
	buf_free(&u->link);
	buf_free(&u->todo);
	buf_free(&u->canon);
	buf_free(&u->leafc);
	free(u->dir);
	free(u->name);
	free(u->final);
	free(u->staging);
	free(u->marker);
	free(u);
}

/* 1 if the marker says DIR/NAME came from digest. */
static int
marker_matches(struct unpack *u, const char *digest)
{
	char text[512], want[128];
	struct stat sb;
	ssize_t n;
	int fd;

	if (fstatat(u->dirfd, u->name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
	    !S_ISDIR(sb.st_mode))
		return 0;
	fd = openat(u->dirfd, u->marker, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	snprintf(want, sizeof want, "\"manifest\":\"%s\"", digest);
	return strstr(text, want) != NULL;
}

/*
 * Remove what crashed runs left: .NAME.staging-PID and .NAME.old-PID of
 * processes that are gone and whose staging lock is free.
 */
static void
remove_stale(struct unpack *u)
{
	char *pre_s = xasprintf(".%s.staging-", u->name);
	char *pre_o = xasprintf(".%s.old-", u->name);
	struct dirent *de;
	DIR *d;
	int fd;

	if ((fd = openat(u->dirfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		const char *p = NULL;
		char *end, *cause = NULL;
		long pid;
		int lfd;

		if (strncmp(de->d_name, pre_s, strlen(pre_s)) == 0)
			p = de->d_name + strlen(pre_s);
		else if (strncmp(de->d_name, pre_o, strlen(pre_o)) == 0)
			p = de->d_name + strlen(pre_o);
		if (p == NULL)
			continue;
		pid = strtol(p, &end, 10);
		if (*end != '\0' || pid <= 0 || pid == (long)getpid() ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		lfd = openat(u->dirfd, de->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (lfd < 0)
			continue;
		if (flock(lfd, LOCK_EX | LOCK_NB) == 0 &&
		    rm_tree(u->dirfd, de->d_name, u->is_root, &cause) != 0)
			free(cause);
		close(lfd);
	}
	closedir(d);
out:
	free(pre_s);
	free(pre_o);
}

int
unpack_begin(const char *dir, const char *name, const char *manifest_digest,
    struct unpack **up, char **cause)
{
	struct unpack *u;
	struct stat sb;
	char sh[128];
	int tries, i;

	*up = NULL;
	if (name == NULL || name[0] == '\0' || name[0] == '.' ||
	    strchr(name, '/') != NULL || strlen(name) > 200)
		return fail(cause, "bad rootfs name %s",
		    show(name ? name : "", sh, sizeof sh));
	if (!digest_valid(manifest_digest))
		return fail(cause, "bad manifest digest");
	if (mkdir_p(dir, 0755) != 0)
		return fail(cause, "%s: %s", dir, strerror(errno));
	u = xcalloc(1, sizeof *u);
	u->root = u->dirfd = u->pin = -1;
	for (i = 0; i < CACHE_SLOTS; i++)
		u->cache[i].fd = -1;
	u->is_root = geteuid() == 0;
	u->dir = xstrdup(dir);
	u->name = xstrdup(name);
	u->final = xasprintf("%s/%s", dir, name);
	u->staging = xasprintf(".%s.staging-%ld", name, (long)getpid());
	u->marker = xasprintf(".%s.pulltop", name);
	snprintf(u->digest, sizeof u->digest, "%s", manifest_digest);
	buf_init(&u->path, SCRATCH_MAX);
	buf_init(&u->hard, SCRATCH_MAX);
	buf_init(&u->link, SCRATCH_MAX);
	buf_init(&u->todo, SCRATCH_MAX);
	buf_init(&u->canon, SCRATCH_MAX);
	buf_init(&u->leafc, SCRATCH_MAX);
	u->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (u->dirfd < 0) {
		fail(cause, "%s: %s", dir, strerror(errno));
		goto bad;
	}
	/* a previous rootfs is replaced; anything else there is not ours */
	if (fstatat(u->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISDIR(sb.st_mode)) {
		fail(cause, "%s is there and is not a folder: left as it is",
		    u->final);
		goto bad;
	}
	if (marker_matches(u, manifest_digest)) {
		unpack_free(u);
		return 1;
	}
	/* one thread at a time between mkdir and flock (see remove_stale) */
	pthread_mutex_lock(&begin_mu);
	remove_stale(u);
	for (tries = 0; ; tries++) {
		if (mkdirat(u->dirfd, u->staging, 0755) == 0)
			break;
		if (errno == EEXIST && tries == 0) {
			/* ours from an earlier process with this pid? */
			char *c2 = NULL;
			int fd = openat(u->dirfd, u->staging, O_RDONLY |
			    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			int stale = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0;
			if (stale && rm_tree(u->dirfd, u->staging, u->is_root,
			    &c2) == 0) {
				close(fd);
				continue;
			}
			if (fd >= 0)
				close(fd);
			if (c2 != NULL)
				*cause = c2;
			else
				*cause = xasprintf("%s is being unpacked "
				    "already", u->final);
		} else
			*cause = xasprintf("%s/%s: %s", dir, u->staging,
			    strerror(errno));
		pthread_mutex_unlock(&begin_mu);
		goto bad;
	}
	u->root = openat(u->dirfd, u->staging, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
	if (u->root < 0 || flock(u->root, LOCK_EX | LOCK_NB) != 0) {
		pthread_mutex_unlock(&begin_mu);
		fail(cause, "%s/%s: %s", dir, u->staging, strerror(errno));
		goto bad;
	}
	pthread_mutex_unlock(&begin_mu);
	*up = u;
	return 0;
bad:
	if (u->root >= 0) {
		char *c2 = NULL;
		if (rm_tree(u->dirfd, u->staging, u->is_root, &c2) != 0)
			free(c2);
	}
	unpack_free(u);
	return -1;
}

/* When not root: give directories back the modes they were unpacked with. */
static void
apply_fixups(struct unpack *u)
{
	size_t i, j;

	/* deepest first: a directory's mode may shut us out of it */
	for (i = 1; i < u->nfix; i++)
		for (j = i; j > 0; j--) {
			struct fixup t;
			const char *a = u->fix[j - 1].canon, *b = u->fix[j].canon;
			size_t da = 0, db = 0;
			for (; *a; a++)
				da += *a == '/';
			for (; *b; b++)
				db += *b == '/';
			if (da >= db)
				break;
			t = u->fix[j];
			u->fix[j] = u->fix[j - 1];
			u->fix[j - 1] = t;
		}
	for (i = 0; i < u->nfix; i++) {
		int fd = open_canon_dir(u, u->fix[i].canon);
		if (fd >= 0) {
			(void)fchmod(fd, u->fix[i].mode);
			close(fd);
		}
	}
}

static int
write_marker(struct unpack *u, char **cause)
{
	char *tmp = xasprintf("%s.tmp-%ld", u->marker, (long)getpid());
	char *text = xasprintf("{\"manifest\":\"%s\",\"rootfs\":\"%s\"}\n",
	    u->digest, u->name);
	int fd, r = -1;

	fd = openat(u->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, text, strlen(text)) != 0 ||
	    fsync(fd) != 0) {
		fail(cause, "%s/%s: %s", u->dir, tmp, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlinkat(u->dirfd, tmp, 0);
		}
		goto out;
	}
	close(fd);
	if (renameat(u->dirfd, tmp, u->dirfd, u->marker) != 0) {
		fail(cause, "%s/%s: %s", u->dir, u->marker, strerror(errno));
		unlinkat(u->dirfd, tmp, 0);
		goto out;
	}
	(void)fsync(u->dirfd);
	r = 0;
out:
	free(tmp);
	free(text);
	return r;
}

int
unpack_commit(struct unpack *u, char **cause)
{
	char *old = NULL, *c2 = NULL;
	int r = -1;

	if (!u->is_root)
		apply_fixups(u);
	/* no marker may name a rootfs that is not there */
	if (unlinkat(u->dirfd, u->marker, 0) != 0 && errno != ENOENT) {
		fail(cause, "%s/%s: %s", u->dir, u->marker, strerror(errno));
		goto fail;
	}
	if (renameat2(u->dirfd, u->staging, u->dirfd, u->name,
	    RENAME_NOREPLACE) == 0)
		goto placed;
	if (errno == EEXIST || errno == ENOTEMPTY) {
		/* swap in one step; the old rootfs is then at staging */
		if (renameat2(u->dirfd, u->staging, u->dirfd, u->name,
		    RENAME_EXCHANGE) == 0) {
			old = xstrdup(u->staging);
			goto placed;
		}
	}
	if (errno != EINVAL && errno != ENOSYS && errno != EEXIST) {
		fail(cause, "rename to %s: %s", u->final, strerror(errno));
		goto fail;
	}
	/* no renameat2 here: move the old one aside, the new one in */
	old = xasprintf(".%s.old-%ld", u->name, (long)getpid());
	if (renameat(u->dirfd, u->name, u->dirfd, old) != 0 &&
	    errno != ENOENT) {
		fail(cause, "rename %s: %s", u->final, strerror(errno));
		free(old);
		goto fail;
	}
	if (renameat(u->dirfd, u->staging, u->dirfd, u->name) != 0) {
		fail(cause, "rename to %s: %s", u->final, strerror(errno));
		(void)renameat(u->dirfd, old, u->dirfd, u->name);
		free(old);
		goto fail;
	}
placed:
	if (old != NULL) {
		if (rm_tree(u->dirfd, old, u->is_root, &c2) != 0)
			free(c2);	/* a leftover, not a failure */
		free(old);
	}
	r = write_marker(u, cause);
	close(u->root);
	u->root = -1;
	unpack_free(u);
	return r;
fail:
	unpack_abort(u);
	return r;
}

void
unpack_abort(struct unpack *u)
{
	char *cause = NULL;

	if (u == NULL)
		return;
	u->pin = -1;
	cache_flush(u);
	if (u->root >= 0 && rm_tree(u->dirfd, u->staging, u->is_root,
	    &cause) != 0)
		free(cause);
	unpack_free(u);
}
