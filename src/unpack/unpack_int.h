/*
 * unpack_int.h - what the parts of the unpack engine share, and nobody
 * else: the state of an unpack, the reader of a layer's byte stream, and
 * the functions one part calls in another. unpack.h is the public side.
 *
 * DESIGN
 * A helper thread reads a layer blob in 256 KiB pieces and decompresses it
 * (zlib, libzstd or nothing) into a ring of four 1 MiB buffers; the
 * layer's thread SHA-256s each buffer and hands it to libarchive through a
 * read callback (stream.c). libarchive only parses the tar stream; every
 * file system change is made here with the *at() calls relative to
 * directory fds (entry.c, remove.c).
 *
 * Paths (walk.c). An entry name is cleaned like tar cleans it (leading '/'
 * and '.' components dropped); a name with a '..' component fails the
 * layer. Its parent directory is then resolved one component at a time
 * with openat(O_PATH|O_NOFOLLOW|O_DIRECTORY), so the kernel never follows
 * a symbolic link for us. When a component is a symlink (from this layer
 * or an earlier one) walk.c reads it and resolves its target inside the
 * rootfs, the way chroot would: an absolute target restarts at the rootfs,
 * '..' stops at the rootfs, 40 links at most per path. Hard link targets
 * and whiteout parents are resolved the same way. The last component is
 * never followed: an entry replaces whatever is there (a directory over a
 * directory merges), and modes, owners and times are set on fds from
 * O_NOFOLLOW opens or with AT_SYMLINK_NOFOLLOW, never through a link.
 * Missing parent directories are created 0755, as tar does.
 *
 * Linear in depth. The walker keeps a cursor: the components of the last
 * path it resolved, what each led to and the fd of the deepest, plus the
 * fds of a few paths that went through symlinks (anchors). The next path
 * starts where it shares components with the cursor: going down costs one
 * openat() per new component, going up one openat("..") per level (checked
 * against the inode seen on the way down), so a layer's walking costs what
 * its names hold, however deep the tree. A cached step stays valid until
 * something it went through is removed; every removal says so first
 * (up_walk_forget()), and each step carries the clock of its first use, so
 * only the steps taken after it are dropped.
 *
 * The directory tree (dirtree.c). Directories are named by nodes of a
 * tree of the canonical directories this layer touched (parent, name,
 * inode, the hash of its path), never by path strings, so memory is per
 * directory, not per byte of depth. The nodes carry the modes and times of
 * the layer's directory entries, applied when the layer ends (writing into
 * a directory would change its times, and when not root a read-only one
 * could not be filled) by one depth-first pass with one fd open at a
 * time. Past DT_SOFT nodes the pass runs early and the tree starts again.
 * When not root directories keep u+rwx until commit; the modes to give
 * back are kept by inode (fixup.c) and set by one pass over the rootfs.
 *
 * Whiteouts (OCI image spec, remove.c). ".wh.NAME" removes NAME from the
 * layers below; ".wh..wh..opq" empties its directory of everything the
 * layers below put there, whatever its place in the tar: this layer's own
 * entries (before or after it) stay. Both need to know what this layer
 * wrote, so every path this layer creates (and each directory above one)
 * is kept as a 64-bit hash in a set that lives for one layer. Other
 * ".wh..wh." names are AUFS bookkeeping and are skipped.
 *
 * Bounds. Whatever the layer holds, memory stays under about 50 MiB: the
 * stream's 4.3 MiB (and a zstd window of 16 MiB at most: a frame asking
 * for more, as --long and --ultra make, is refused), the path set (SET_MAX hashes, 16 MiB), the tree
 * (DT_SOFT nodes plus what one entry can add), the cursor (one level per
 * component of a name), the fixups (FIX_MAX inodes, 8 MiB), libarchive's
 * own (headers over 1 MiB are refused). Every loop asks up_tick() whether
 * the caller cancelled, so a cancel takes effect within milliseconds.
 */
#ifndef PULLTOP_UNPACK_INT_H
#define PULLTOP_UNPACK_INT_H

#include "unpack.h"
#include "util.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include <zstd_errors.h>

#define IN_SIZE		(256u << 10)	/* compressed bytes per read() */
#define OUT_SIZE	(1u << 20)	/* decompressed bytes per callback */
#define ZSTD_WINDOW_LOG	24		/* zstd frames' windows: 16 MiB at most */
#define MAX_LINKS	40		/* symlinks followed per path */
#define MAX_NAME	32768		/* entry and hard link target names */
#define MAX_LINK	4096		/* symlink targets (the kernel's limit) */
#define MAX_DEPTH	32768		/* directories in directories */
#define ANCHORS		16		/* fds kept of paths through symlinks */
#define RECENT		8		/* and of directories walked to lately */
#define DT_SOFT		65536		/* tree nodes before the modes go */
#define DT_NAMES_SOFT	(1u << 20)	/* bytes of their names, likewise */
#define SET_MAX		(1u << 20)	/* paths remembered per layer (16 MiB) */
#define FIX_MAX		(1u << 18)	/* not root: dirs without u+rwx (8 MiB) */
#define SCRATCH_MAX	((size_t)1 << 30)	/* lengths are bounded above */
#define NONE		UINT32_MAX	/* no node */

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

/*
 * A canonical directory (or a symlink a walk followed) this layer
 * touched: a node of the tree rooted at the rootfs (node 0).
 */
struct dnode {
	uint64_t h;		/* FNV-1a state of its path ("a/b/c") */
	uint64_t ino;		/* its inode when last opened, 0: unknown */
	uint32_t parent, child, next;	/* tree links, NONE for none */
	uint32_t name;		/* offset of its name in dirtree.names */
	uint32_t first, last;	/* clock of the first and last walks that
				 * went through it, 0: none */
	uint32_t defer;		/* 1 + its index in dirtree.defer, 0: none */
	uint32_t depth;
	uint16_t len;		/* name length */
	uint8_t flags;		/* DN_* */
};

#define DN_LINK		1	/* a symbolic link */
#define DN_RECORDED	2	/* its path is in the layer's path set */
#define DN_BELOW	4	/* a deferred directory at or below it */

/* A directory entry's mode and times, set when the layer ends. */
struct defer {
	uint32_t node;
	mode_t mode;
	struct timespec ts[2];
};

struct dirtree {
	struct dnode *n;
	uint32_t nn, capn;
	uint32_t *idx;		/* open addressing: child path hash -> node */
	uint32_t capidx;
	char *names;
	size_t nnames, capnames;
	struct defer *defer;
	uint32_t ndefer, capdefer;
	uint32_t clock;		/* counts the steps of walks */
};

#define CLOCK_SOFT	(1u << 31)	/* the tree starts again past this */

/* One component of the cursor's path, resolved. */
struct level {
	uint32_t end;		/* its path is cursor.raw[0..end) */
	uint32_t t0, t1;	/* the clock while it was resolved */
	uint32_t node;		/* where it led, NONE: known to an anchor only */
	uint8_t links;		/* symlinks followed up to here */
};

struct cursor {
	struct buf raw;		/* the cleaned path of the levels */
	struct level *lv;
	uint32_t n, cap;	/* levels */
	uint32_t valid;		/* the first valid levels still hold */
	int fd;			/* level n's directory (O_PATH), -1: none */
};

/* A path that went through a symlink, and where it led. */
struct anchor {
	char *raw;		/* NULL: free slot */
	size_t len;
	uint32_t ncomp, node;
	uint32_t t0, t1;	/* the clock while its path was resolved */
	uint8_t links;
	int fd;
	uint64_t lru;
};

struct pathset {
	uint64_t *slot;
	size_t cap, n;
	int overflow;
};

/* Not root: directory modes without u+rwx, by inode, set at commit. */
struct fixent {
	uint64_t ino;		/* 0: free */
	uint64_t mode;
};

struct fixmap {
	struct fixent *e;
	size_t cap, n;
	int overflow;
};

struct unpack {
	char *dir, *name, *final, *staging, *marker;
	int dirfd;		/* DIR */
	int root;		/* the staging rootfs, flock()ed */
	dev_t root_dev;
	ino_t root_ino;
	int is_root;
	char digest[72];

	/* the layer being applied */
	char sid[13];
	struct unpack_cb cb;	/* the caller's, all members set or NULL */
	int cancel;		/* cb.cancelled() said yes */
	unsigned ticks;
	uint64_t total;
	struct pathset set;
	struct dirtree dt;
	struct cursor cur;
	struct anchor anchor[ANCHORS + RECENT];
	uint64_t anchor_lru;
	unsigned skipped_dev, skipped_type, xattr_fail, chown_fail;
	char first_skip[128], first_xattr[256];

	struct fixmap fix;

	/* scratch */
	struct buf path, hard, link, todo;
};

/* unpack.c: helpers */
int up_fail(char **cause, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *up_show(const char *s, char *out, size_t n);
void up_bset(struct buf *b, const char *s, size_t n);
void up_bcat(struct buf *b, const char *s, size_t n);

/* layer.c */
int up_cancelled(struct unpack *u);
int up_tick(struct unpack *u);

/* dirtree.c */
uint64_t up_ph_child(uint64_t parent, int parent_is_root, const char *name,
    size_t n);
uint64_t up_ph_final(uint64_t h);
void up_set_add(struct pathset *s, uint64_t key);
int up_set_has(const struct pathset *s, uint64_t key);
void up_set_free(struct pathset *s);
void up_dt_init(struct unpack *u);
void up_dt_free(struct unpack *u);
uint32_t up_dt_find(struct unpack *u, uint32_t parent, const char *name,
    size_t n);
uint32_t up_dt_child(struct unpack *u, uint32_t parent, const char *name,
    size_t n, int link, uint64_t ino);
void up_dt_visit(struct unpack *u, uint32_t node);
void up_dt_forget(struct unpack *u, uint32_t node);
void up_dt_record(struct unpack *u, uint32_t node);
uint64_t up_dt_key(struct unpack *u, uint32_t parent, const char *leaf);
const char *up_where(struct unpack *u, uint32_t node, const char *leaf,
    char *out, size_t n);
void up_dt_defer(struct unpack *u, uint32_t node, mode_t mode,
    const struct timespec ts[2]);
int up_dt_full(const struct unpack *u);
int up_dt_flush(struct unpack *u, char **cause);

/* walk.c */
int up_clean_name(const char *what, const char *raw, struct buf *b,
    char **cause);
int up_walk(struct unpack *u, const char *p, int create, int *fd,
    uint32_t *node, char **cause);
void up_walk_forget(struct unpack *u, uint32_t parent, const char *name);
void up_walk_reset(struct unpack *u);

/* remove.c */
int up_rm_tree(struct unpack *u, int pfd, const char *name, int cancellable,
    char **cause);
int up_remove_at(struct unpack *u, int pfd, uint32_t pnode,
    const char *name, char **cause);
int up_whiteout(struct unpack *u, const char *parent, const char *leaf,
    const char *raw, char **cause);

/* trash.c */
int up_trash(int dirfd, const char *name, const char *label, long pid);
void up_sweep_start(int dirfd);

/* entry.c */
int up_do_file(struct unpack *u, struct archive *a, struct archive_entry *e,
    int pfd, uint32_t pnode, const char *leaf, char **cause);
int up_do_dir(struct unpack *u, struct archive_entry *e, int pfd,
    uint32_t pnode, const char *leaf, char **cause);
int up_do_symlink(struct unpack *u, struct archive_entry *e, int pfd,
    uint32_t pnode, const char *leaf, char **cause);
int up_do_hardlink(struct unpack *u, const char *raw_target, int pfd,
    uint32_t pnode, const char *leaf, char **cause);
int up_do_node(struct unpack *u, struct archive_entry *e, int pfd,
    uint32_t pnode, const char *leaf, char **cause);

/* fixup.c */
void up_fix_note(struct unpack *u, uint64_t ino, mode_t mode);
void up_fix_forget(struct unpack *u, uint64_t ino);
void up_fix_free(struct unpack *u);
void up_fix_apply(struct unpack *u);

/* stream.c */
int up_reader_init(struct reader *r, struct unpack *u, const char *path,
    char **cause);
void up_reader_start(struct reader *r, enum codec codec);
void up_reader_free(struct reader *r);
ssize_t up_next_block(struct reader *r, const unsigned char **p);
void up_report(struct reader *r, int force);
la_ssize_t up_reader_read(struct archive *a, void *ctx, const void **out);
enum codec up_codec_of(const char *mt);

#endif
