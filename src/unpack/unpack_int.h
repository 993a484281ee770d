/*
 * unpack_int.h - what the parts of the unpack engine share, and nobody
 * else: the state of an unpack, the reader of a layer's byte stream, and
 * the functions one part calls in another. unpack.h is the public side.
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
#ifndef PULLTOP_UNPACK_INT_H
#define PULLTOP_UNPACK_INT_H

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
	struct unpack_cb cb;	/* the caller's, all members set or NULL */
	int cancel;		/* cb.cancelled() said yes */
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

#define W_CREATE	1	/* make missing directories 0755, as tar does */
#define W_RECORD	2	/* add each directory passed to the layer's set */

/* unpack.c: helpers */
int up_fail(char **cause, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *up_show(const char *s, char *out, size_t n);
void up_bset(struct buf *b, const char *s, size_t n);
void up_bcat(struct buf *b, const char *s, size_t n);
void up_join(struct buf *b, const char *parent, const char *leaf);

/* walk.c */
uint64_t up_path_hash(const char *s);
void up_set_add(struct pathset *s, const char *path);
int up_set_has(const struct pathset *s, const char *path);
void up_set_free(struct pathset *s);
void up_cache_flush(struct unpack *u);
void up_close_dir(struct unpack *u, int fd);
void up_cache_put(struct unpack *u, const char *key, const char *canon,
    int fd);
int up_reopen_canon(struct unpack *u, const char *c, char **cause);
int up_walk(struct unpack *u, const char *p, int flags, int *out,
    char **cause);
int up_parent_fd(struct unpack *u, const char *parent, int *fd,
    const char **canon, char **cause);
int up_clean_name(const char *what, const char *raw, struct buf *b,
    char **cause);

/* remove.c */
int up_rm_tree(int pfd, const char *name, int is_root, char **cause);
int up_whiteout(struct unpack *u, const char *parent, const char *leaf,
    const char *raw, char **cause);

/* entry.c */
int up_remove_at(struct unpack *u, int pfd, const char *name,
    const char *canon, char **cause);
void up_defer_flush(struct unpack *u);
int up_open_canon_dir(struct unpack *u, const char *c);
int up_apply_entry(struct unpack *u, struct archive *a,
    struct archive_entry *e, char **cause);

/* layer.c */
int up_cancelled(struct unpack *u);

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
