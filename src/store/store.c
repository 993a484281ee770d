/*
 * store.c - the OCI image layout: committed blobs, resumable partials, and
 * index.json. Partials are flock'ed so two pulltop processes on one store
 * never write the same file; index.json is rewritten under a lock, by
 * write-to-temporary, fsync and rename. When a blob's bytes reach the disk
 * is durable.c's.
 */
#include "store.h"
#include "store_int.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HZ_MIN (2u << 20)	/* blobs this large get a hash thread */
#define HZ_BUF (192u << 10)	/* bytes per write() and per hash step */
#define HZ_NBUF 4
#define SYNC_EVERY (8u << 20)	/* start writeback this often */

void
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/*
 * Rename src to dst. When dst is a blob and a blob of that
 * size is already there (another writer of the same digest got there
 * first), it stays, src is removed and this is a success.
 */
static int
rename_into(const char *src, const char *dst, int blob, uint64_t size)
{
	struct stat st;

	if (!blob)
		return rename(src, dst);
	if (renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EINVAL || errno == ENOSYS)	/* no RENAME_NOREPLACE here */
		return rename(src, dst);
	if (errno != EEXIST)
		return -1;
	if (stat(dst, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size == size) {
		unlink(src);
		return 0;
	}
	return rename(src, dst);	/* a wrong file in its place: replace it */
}

/*
 * Write a whole file atomically: a temporary in tmpdir (on the same
 * filesystem), fsync (unless sync is WA_NOSYNC), rename into dir, and
 * with WA_SYNC_DIR an fsync of dir (blobs skip it: see store_index_set).
 * A blob's temporary lives in ingest/, never in blobs/.
 *
 * Every call writes its own temporary ".NAME.tmp.PID.SEQ": two threads
 * that write the same blob at once (two tags of one image) never share
 * one. A blob (keep != 0) is content-addressed: when one is already in
 * place under its name, it is kept and the write is a success.
 */
int
write_atomic(const char *tmpdir, const char *dir, const char *name,
    const void *p, size_t n, int sync, int keep, char **cause)
{
	static unsigned long seq;
	char *tmp = xasprintf("%s/.%s.tmp.%ld.%lu", tmpdir, name, (long)getpid(),
	    __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
	char *dst = xasprintf("%s/%s", dir, name);
	int fd, ret = -1, e = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		e = errno;
		*cause = xasprintf("%s: %s", tmp, strerror(e));
		goto out;
	}
	if (write_all(fd, p, n) != 0 || (sync != WA_NOSYNC && fsync(fd) != 0)) {
		e = errno;
		*cause = xasprintf("%s: %s", dst, strerror(e));
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename_into(tmp, dst, keep, (uint64_t)n) != 0) {
		e = errno;
		*cause = xasprintf("%s: %s", dst, strerror(e));
		unlink(tmp);
		goto out;
	}
	if (sync == WA_SYNC_DIR)
		fsync_dir(dir);
	ret = 0;
out:
	free(tmp);
	free(dst);
	errno = e;	/* the caller may name ENOSPC's remedy */
	return ret;
}

/*
 * A large blob's bytes are gathered into 192 KiB buffers. The worker
 * writes each full buffer to the partial file and hands it to a hash
 * thread, so receiving and writing overlap hashing instead of adding up.
 * Buffers go round a ring in order: the hash sees the bytes exactly as
 * written. They are smaller than the mmap threshold (main.c), so the next
 * blob's ring reuses heap memory that is already mapped: with 1 MiB
 * buffers, each blob faulted in and unmapped 4 MiB afresh, and copying
 * into them cost as much CPU as hashing.
 */
enum { HZ_FREE, HZ_FILLING, HZ_QUEUED };

struct hasher {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *buf[HZ_NBUF];
	size_t len[HZ_NBUF];
	int state[HZ_NBUF];
	int fill;		/* slot the worker fills */
	int quit;
	struct sha256 *hash;	/* owned by the thread until drained */
};

static void *
hasher_main(void *arg)
{
	struct hasher *hz = arg;
	int slot = 0;

	pthread_mutex_lock(&hz->mu);
	for (;;) {
		while (hz->state[slot] != HZ_QUEUED && !hz->quit)
			pthread_cond_wait(&hz->cv, &hz->mu);
		if (hz->state[slot] != HZ_QUEUED)
			break;
		pthread_mutex_unlock(&hz->mu);
		sha256_update(hz->hash, hz->buf[slot], hz->len[slot]);
		pthread_mutex_lock(&hz->mu);
		hz->state[slot] = HZ_FREE;
		hz->len[slot] = 0;
		pthread_cond_broadcast(&hz->cv);
		slot = (slot + 1) % HZ_NBUF;
	}
	pthread_mutex_unlock(&hz->mu);
	return NULL;
}

static struct hasher *
hasher_new(struct sha256 *hash)
{
	struct hasher *hz = xcalloc(1, sizeof *hz);
	int i;

	for (i = 0; i < HZ_NBUF; i++)
		hz->buf[i] = xmalloc(HZ_BUF);
	hz->state[0] = HZ_FILLING;
	hz->hash = hash;
	pthread_mutex_init(&hz->mu, NULL);
	pthread_cond_init(&hz->cv, NULL);
	if (pthread_create(&hz->thread, NULL, hasher_main, hz) != 0) {
		for (i = 0; i < HZ_NBUF; i++)
			free(hz->buf[i]);
		free(hz);
		return NULL;
	}
	return hz;
}

/* With --fsync, start writeback of what was written since the last
 * call: the final fsync then has little left to wait for. Without, the
 * bytes stay unallocated in the page cache (delayed allocation), so that
 * the fsync of index.json does not wait for them either. */
static void
ingest_writeback(struct ingest *in, uint64_t written)
{
	if (in->early && written - in->synced >= SYNC_EVERY) {
		sync_file_range(in->fd, (off64_t)in->synced,
		    (off64_t)(written - in->synced), SYNC_FILE_RANGE_WRITE);
		in->synced = written;
	}
}

/* Write the filling buffer and queue it for hashing; -1 with errno. */
static int
hasher_flush(struct ingest *in)
{
	struct hasher *hz = in->hz;
	int slot = hz->fill, next = (slot + 1) % HZ_NBUF;
	size_t len = hz->len[slot];

	if (len == 0)
		return 0;
	if (write_all(in->fd, hz->buf[slot], len) != 0) {
		/* keep what reached the file consistent with the hash: the
		 * partial is re-hashed from disk on the next open anyway */
		hz->len[slot] = 0;
		return -1;
	}
	pthread_mutex_lock(&hz->mu);
	hz->state[slot] = HZ_QUEUED;
	pthread_cond_broadcast(&hz->cv);
	while (hz->state[next] != HZ_FREE)
		pthread_cond_wait(&hz->cv, &hz->mu);
	hz->state[next] = HZ_FILLING;
	hz->fill = next;
	pthread_mutex_unlock(&hz->mu);
	ingest_writeback(in, in->have);
	return 0;
}

/* Flush, then wait until every queued buffer is hashed. */
static int
hasher_drain(struct ingest *in)
{
	struct hasher *hz = in->hz;
	int r = hasher_flush(in), i, busy;

	pthread_mutex_lock(&hz->mu);
	do {
		busy = 0;
		for (i = 0; i < HZ_NBUF; i++)
			if (hz->state[i] == HZ_QUEUED)
				busy = 1;
		if (busy)
			pthread_cond_wait(&hz->cv, &hz->mu);
	} while (busy);
	pthread_mutex_unlock(&hz->mu);
	return r;
}

static void
hasher_free(struct hasher *hz)
{
	int i;

	if (hz == NULL)
		return;
	pthread_mutex_lock(&hz->mu);
	hz->quit = 1;
	pthread_cond_broadcast(&hz->cv);
	pthread_mutex_unlock(&hz->mu);
	pthread_join(hz->thread, NULL);
	for (i = 0; i < HZ_NBUF; i++)
		free(hz->buf[i]);
	pthread_mutex_destroy(&hz->mu);
	pthread_cond_destroy(&hz->cv);
	free(hz);
}

void
ingest_hz_stop(struct ingest *in)
{
	if (in->hz == NULL)
		return;
	if (hasher_drain(in) != 0) { /* a short partial: hashed as written */ }
	hasher_free(in->hz);
	in->hz = NULL;
}

/*
 * Remove what write_atomic left in dir when its process died:
 * ".NAME.tmp.PID.SEQ" (earlier versions: ".NAME.tmp.PID") whose PID is gone and which is over a minute old (a live write takes
 * milliseconds; the age also spares a process in another PID namespace).
 * Earlier versions wrote small blobs' temporaries in blobs/sha256 itself.
 */
static void
sweep_temps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat st;
	const char *t;
	char *end;
	long pid;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.' ||
		    (t = strstr(e->d_name, ".tmp.")) == NULL)
			continue;
		pid = strtol(t + 5, &end, 10);
		if (*end == '.' && end[1] >= '0' && end[1] <= '9')
			strtoul(end + 1, &end, 10);
		if (pid <= 0 || *end != '\0' ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode) || st.st_mtime > time(NULL) - 60 ||
		    (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			continue;
		unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

/* Does the oci-layout file at path say imageLayoutVersion 1.0.0? */
static int
layout_known(const char *path)
{
	json_t *j = json_load_file(path, 0, NULL);
	const char *v = json_string_value(json_object_get(j,
	    "imageLayoutVersion"));
	int r = v != NULL && strcmp(v, "1.0.0") == 0;

	json_decref(j);
	return r;
}

int
store_open(const char *dir, struct store **out, char **cause)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	static const char empty[] = "{\"schemaVersion\":2,\"manifests\":[]}";
	static const char *const sub[] = { "blobs/sha256", "ingest" };
	char *p, *c2 = NULL;
	struct stat st;
	struct store *s;
	json_t *idx;
	size_t i;
	int have_layout, have_index;

	*out = NULL;
	s = xcalloc(1, sizeof *s);
	s->dir = xstrdup(dir);
	s->lease_fd = -1;
	s->marker_fd = -1;
	pthread_mutex_init(&s->mu, NULL);
	durable_init(s);
	/* what is there is checked before anything is made or written */
	p = xasprintf("%s/oci-layout", dir);
	have_layout = stat(p, &st) == 0;
	if (have_layout && !layout_known(p)) {
		*cause = xasprintf("store %s: %s is not an OCI image layout "
		    "1.0.0: not writing into it", dir, p);
		goto fail;
	}
	free(p);
	p = xasprintf("%s/index.json", dir);
	have_index = stat(p, &st) == 0;
	if (have_index) {
		if ((idx = index_load(s, &c2)) == NULL) {
			*cause = xasprintf("store %s: %s", dir, c2);
			free(c2);
			goto fail;
		}
		json_decref(idx);
	}
	free(p);
	p = NULL;
	for (i = 0; i < sizeof sub / sizeof sub[0]; i++) {
		p = xasprintf("%s/%s", dir, sub[i]);
		if (mkdir_p(p, 0755) != 0) {
			*cause = xasprintf("store %s: %s: %s", dir, p,
			    strerror(errno));
			goto fail;
		}
		free(p);
		p = NULL;
	}
	/* oci-layout last: it says the layout is whole, so a run killed
	 * while making the store leaves no half a layout behind it */
	if ((!have_index && write_atomic(dir, dir, "index.json", empty,
	    sizeof empty - 1, WA_SYNC_DIR, 0, cause) != 0) ||
	    (!have_layout && write_atomic(dir, dir, "oci-layout", layout,
	    sizeof layout - 1, WA_SYNC_DIR, 0, cause) != 0))
		goto fail;
	sweep_temps(dir);
	for (i = 0; i < sizeof sub / sizeof sub[0]; i++) {
		p = xasprintf("%s/%s", dir, sub[i]);
		sweep_temps(p);
		free(p);
	}
	durable_recover(s);
	*out = s;
	return 0;
fail:
	free(p);
	store_close(s);
	return -1;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	lease_close(s);
	durable_close(s);
	json_decref(s->reserved);
	json_decref(s->touched);
	pthread_mutex_destroy(&s->mu);
	free(s->dir);
	free(s);
}

const char *
store_dir(const struct store *s)
{
	return s->dir;
}

char *
store_blob_path(const struct store *s, const char *digest)
{
	if (!digest_valid(digest))
		abort();	/* callers validate: a bad digest here is a bug */
	return xasprintf("%s/blobs/sha256/%s", s->dir, digest + 7);
}

int
blob_there(const struct store *s, const char *digest, uint64_t size)
{
	char *p = store_blob_path(s, digest);
	struct stat st;
	int r = stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size == size;

	free(p);
	return r;
}

/*
 * A blob this process counts on is noted in its lease under the shared
 * store lock first (lease.c): from then on no prune deletes it. When the
 * note cannot be written, the blob is not there for us.
 */
int
store_has_blob(struct store *s, const char *digest, uint64_t size)
{
	int r;

	store_has_blobs(s, &digest, &size, 1, &r);
	return r;
}

void
store_has_blobs(struct store *s, const char *const *digests,
    const uint64_t *sizes, int n, int *there)
{
	int fd = store_lock(s, LOCK_SH), i, held;

	held = fd >= 0 && lease_note_many(s, digests, n) == 0;
	for (i = 0; i < n; i++)
		there[i] = held && blob_there(s, digests[i], sizes[i]);
	store_unlock(fd);
}

int
store_put_small(struct store *s, const char *digest, const void *p, size_t n,
    char **cause)
{
	char got[72], *dir, *tmpdir;
	int r, fd, e;

	sha256_buf(p, n, got);
	if (strcmp(got, digest) != 0) {
		*cause = xasprintf("content does not match digest %s (got %s)",
		    digest, got);
		return -1;
	}
	if ((fd = store_lock(s, LOCK_SH)) < 0 || lease_note(s, digest) != 0) {
		*cause = xasprintf("%s/ingest: cannot hold blob %s: %s", s->dir,
		    digest, strerror(errno));
		store_unlock(fd);
		return -1;
	}
	if (blob_there(s, digest, n)) {
		store_unlock(fd);
		return 0;
	}
	dir = xasprintf("%s/blobs/sha256", s->dir);
	tmpdir = xasprintf("%s/ingest", s->dir);
	r = durable_mark(s);
	if (r != 0)
		*cause = xasprintf("%s: cannot make its marker: %s", tmpdir,
		    strerror(errno));
	else
		r = write_atomic(tmpdir, dir, digest + 7, p, n,
		    s->fsync_each ? WA_SYNC : WA_NOSYNC, 1, cause);
	e = errno;
	store_unlock(fd);
	free(tmpdir);
	free(dir);
	if (r != 0)
		store_enospc_hint(s, e, cause);
	return r;
}

int
store_read_small(struct store *s, const char *digest, size_t max,
    struct buf *out, char **cause)
{
	char *p = store_blob_path(s, digest);
	char chunk[65536];
	ssize_t n;
	int fd = open(p, O_RDONLY | O_CLOEXEC);

	buf_init(out, max);
	if (fd < 0) {
		*cause = xasprintf("%s: %s", p, strerror(errno));
		free(p);
		return -1;
	}
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		if (buf_append(out, chunk, (size_t)n) != 0) {
			*cause = xasprintf("%s: larger than %zu bytes", p, max);
			break;
		}
	close(fd);
	free(p);
	if (n != 0) {
		if (*cause == NULL)
			*cause = xasprintf("read error: %s", strerror(errno));
		buf_free(out);
		return -1;
	}
	buf_str(out);
	return 0;
}

/* Re-hash the bytes an earlier run left in the partial. */
static int
ingest_rehash(struct ingest *in)
{
	char *chunk = xmalloc(1 << 18);
	uint64_t left = in->have;
	ssize_t n;

	if (lseek(in->fd, 0, SEEK_SET) != 0) {
		free(chunk);
		return -1;
	}
	while (left > 0) {
		n = read(in->fd, chunk, left < (1 << 18) ? left : (1 << 18));
		if (n <= 0) {
			free(chunk);
			return -1;
		}
		sha256_update(in->hash, chunk, (size_t)n);
		left -= (uint64_t)n;
	}
	free(chunk);
	return lseek(in->fd, (off_t)in->have, SEEK_SET) == (off_t)in->have ? 0 : -1;
}

int
store_ingest_open(struct store *s, const char *digest, uint64_t size,
    struct ingest *in, char **cause)
{
	struct stat st, cur;
	int lr;

	memset(in, 0, sizeof *in);
	in->fd = -1;
	if (!digest_valid(digest)) {
		*cause = xasprintf("invalid digest");
		return -1;
	}
	in->path = xasprintf("%s/ingest/%s.partial", s->dir, digest + 7);
	for (;;) {
		in->fd = open(in->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (in->fd < 0) {
			*cause = xasprintf("%s: %s", in->path, strerror(errno));
			goto fail;
		}
		if (flock(in->fd, LOCK_EX | LOCK_NB) != 0) {
			close(in->fd);
			free(in->path);
			memset(in, 0, sizeof *in);
			in->fd = -1;
			return 1;
		}
		/* the holder before us may have committed it: same file? */
		if (fstat(in->fd, &st) == 0 && stat(in->path, &cur) == 0 &&
		    st.st_ino == cur.st_ino && st.st_dev == cur.st_dev)
			break;
		close(in->fd);
	}
	snprintf(in->digest, sizeof in->digest, "%s", digest);
	in->size = size;
	in->hash = sha256_new();
	in->have = (uint64_t)st.st_size;
	space_touch(s, digest, size);
	lr = ranges_load(in, in->have);
	if (lr > 0)
		in->have = store_ingest_prefix(in);	/* only it is hashed */
	if (in->have > size || lr < 0) {
		if (store_ingest_reset(in) != 0) {
			*cause = xasprintf("%s: %s", in->path, strerror(errno));
			goto fail;
		}
	} else if (in->have > 0 && ingest_rehash(in) != 0) {
		if (store_ingest_reset(in) != 0) {
			*cause = xasprintf("%s: %s", in->path, strerror(errno));
			goto fail;
		}
	}
	in->synced = in->have;
	in->early = s->fsync_each;
	if (in->map == NULL && size - in->have >= HZ_MIN)
		in->hz = hasher_new(in->hash);	/* NULL: hash inline */
	return 0;
fail:
	store_ingest_close(in);
	return -1;
}

int
store_ingest_write(struct ingest *in, const void *p, size_t n)
{
	const char *c = p;

	if (in->have + n > in->size) {
		errno = EFBIG;
		return -1;
	}
	if (in->hz == NULL) {
		if (write_all(in->fd, p, n) != 0)
			return -1;
		sha256_update(in->hash, p, n);
		in->have += n;
		ingest_writeback(in, in->have);
		return 0;
	}
	while (n > 0) {
		struct hasher *hz = in->hz;
		size_t room = HZ_BUF - hz->len[hz->fill];
		size_t k = n < room ? n : room;

		memcpy(hz->buf[hz->fill] + hz->len[hz->fill], c, k);
		hz->len[hz->fill] += k;
		in->have += k;
		c += k;
		n -= k;
		if (hz->len[hz->fill] == HZ_BUF && hasher_flush(in) != 0) {
			in->have -= HZ_BUF;
			return -1;
		}
	}
	return 0;
}

int
store_ingest_reset(struct ingest *in)
{
	char scratch[72];

	if (in->hz != NULL) {
		in->hz->len[in->hz->fill] = 0;	/* drop what is buffered */
		hasher_drain(in);
	}
	sha256_final(in->hash, scratch);	/* final resets the context */
	ranges_drop(in);
	in->have = 0;
	in->synced = 0;
	if (ftruncate(in->fd, 0) != 0 || lseek(in->fd, 0, SEEK_SET) != 0)
		return -1;
	return 0;
}

int
store_ingest_commit(struct store *s, struct ingest *in, char **cause)
{
	char got[72], *dst;
	int fd;

	if (in->hz != NULL && hasher_drain(in) != 0) {
		*cause = xasprintf("%s", strerror(errno));
		return -1;
	}
	/* every byte is written and hashed: its buffers need not wait out
	 * the fsync */
	ingest_hz_stop(in);
	if (in->have != in->size) {
		*cause = xasprintf("size mismatch: got %llu bytes, expected %llu",
		    (unsigned long long)in->have, (unsigned long long)in->size);
		if (store_ingest_reset(in) != 0) { /* keep going */ }
		return -1;
	}
	sha256_final(in->hash, got);
	if (strcmp(got, in->digest) != 0) {
		*cause = xasprintf("digest mismatch: content hashes to %s", got);
		in->have = 0;
		if (ftruncate(in->fd, 0) != 0) { /* unlinked below anyway */ }
		unlink(in->path);
		ranges_drop(in);
		return -1;
	}
	if (s->fsync_each ? fsync(in->fd) != 0 :
	    durable_mark(s) != 0 || futimens(in->fd, NULL) != 0) {
		fd = errno;
		*cause = xasprintf("%s: %s", s->fsync_each ? "fsync" :
		    "cannot mark it unsynced", strerror(fd));
		store_enospc_hint(s, fd, cause);
		return -1;
	}
	if ((fd = store_lock(s, LOCK_SH)) < 0 ||
	    lease_note(s, in->digest) != 0) {
		*cause = xasprintf("%s/ingest: cannot hold blob %s: %s", s->dir,
		    in->digest, strerror(errno));
		store_unlock(fd);
		return -1;
	}
	dst = store_blob_path(s, in->digest);
	if (rename_into(in->path, dst, 1, in->size) != 0) {
		*cause = xasprintf("%s: %s", dst, strerror(errno));
		store_unlock(fd);
		free(dst);
		return -1;
	}
	store_unlock(fd);
	free(dst);
	space_done(s, in->digest);
	ranges_drop(in);	/* a map without its partial is discarded */
	/* the rename is made durable by store_index_set, before any
	 * index.json entry can point at the blob */
	return 0;
}

void
store_ingest_close(struct ingest *in)
{
	if (in->hz != NULL) {
		/* keep the buffered bytes: they are part of the partial */
		if (in->fd >= 0 && hasher_drain(in) != 0) {
			/* the next open re-hashes what did reach the file */
		}
		hasher_free(in->hz);
		in->hz = NULL;
	}
	if (in->map != NULL) {
		/* count every byte written: the next open resumes there */
		if (store_ingest_map_save(in, 0) != 0) { /* it undercounts */ }
		ranges_free(in);
	}
	if (in->fd >= 0)
		close(in->fd);	/* drops the flock */
	sha256_free(in->hash);
	free(in->path);
	memset(in, 0, sizeof *in);
	in->fd = -1;
}
