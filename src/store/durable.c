/*
 * durable.c - when a stored blob reaches the disk.
 *
 * A pull does not wait for the disk before it counts a blob as stored: the
 * blob is hashed as it arrives and renamed into blobs/ while its bytes may
 * still be in the page cache, and the kernel writes them back in its own
 * time (within about 30 s). Waiting for each blob (fsync) made a pull of
 * one big layer half again as slow as the download on a disk that flushes
 * slowly, and it buys nothing while the machine stays up.
 *
 * What it would buy is a store that is right after a power loss or a
 * kernel crash. That is kept another way: before its first blob goes into
 * blobs/, a run makes a marker
 *
 *   STORE/ingest/unsynced-BOOT-SINCE-PID-N
 *
 * (BOOT: the kernel's boot id; SINCE: the run's start, in seconds, less a
 * minute's slack for the clock; N tells apart the stores one process
 * opens), and holds a lock on it for its life. The
 * facts are in the name, not in the file's bytes, because a name is
 * metadata: a journaling filesystem (ext4, xfs, btrfs) makes it durable in
 * order, before any later rename, with no fsync of ours.
 *
 * Every store_open looks at the markers of runs that have ended:
 *   - same boot: nothing was lost. Once the marker is a minute old (the
 *     kernel has long written those bytes back), the blobs modified since
 *     SINCE are fdatasync'ed, which costs next to nothing by then, and the
 *     marker goes.
 *   - another boot: the machine went down after that run, perhaps before
 *     its bytes reached the disk. Every blob modified since SINCE is hashed
 *     again; one that does not match its name is deleted, to be pulled
 *     again. Then the marker goes.
 * A blob is modified when written; a commit also touches it (futimens), so
 * a resumed partial committed by this run counts as this run's.
 *
 * index.json is still written by temporary, fsync and rename: a name there
 * may point at a blob that the check after a restart removes (a pull puts
 * it back), but index.json itself is never lost or torn.
 *
 * --fsync restores the old way: each blob is fsynced before it counts, and
 * no marker is made.
 */
#include "store.h"
#include "store_int.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MARK "unsynced-"
#define SLACK 60	/* seconds: SINCE is this much before the run began */
#define SETTLE_AGE 60	/* seconds after its run ended: written back */

/* The kernel's boot id as 32 hex digits, or "" when it cannot be read. */
static void
boot_id(char out[33])
{
	char raw[64];
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	size_t i, k = 0;

	out[0] = '\0';
	if (f == NULL)
		return;
	if (fgets(raw, sizeof raw, f) != NULL)
		for (i = 0; raw[i] != '\0' && k < 32; i++)
			if ((raw[i] >= '0' && raw[i] <= '9') ||
			    (raw[i] >= 'a' && raw[i] <= 'f'))
				out[k++] = raw[i];
	fclose(f);
	out[k == 32 ? 32 : 0] = '\0';
}

void
durable_init(struct store *s)
{
	boot_id(s->boot);
	store_set_fsync(s, 0);
}

void
store_set_fsync(struct store *s, int each)
{
	s->fsync_each = each || s->boot[0] == '\0';
}

/*
 * Before this run's first blob goes into blobs/: make its marker, once.
 * 0, or -1 with errno (the blob must then not be committed unsynced).
 */
int
durable_mark(struct store *s)
{
	static unsigned long seq;
	char *p;
	int fd, r = 0;

	if (s->fsync_each)
		return 0;
	pthread_mutex_lock(&s->mu);
	if (s->marker_fd < 0) {
		p = xasprintf("%s/ingest/" MARK "%s-%lld-%ld-%lu", s->dir,
		    s->boot, (long long)(time(NULL) - SLACK), (long)getpid(),
		    __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
		fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
			r = -1;
			if (fd >= 0) {
				unlink(p);
				close(fd);
			}
		} else
			s->marker_fd = fd;
		free(p);
	}
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* At store_close: the marker's mtime says when the run's writes ended. */
void
durable_close(struct store *s)
{
	if (s->marker_fd >= 0) {
		(void)futimens(s->marker_fd, NULL);
		close(s->marker_fd);	/* drops the lock */
		s->marker_fd = -1;
	}
}

/* Does the file at dfd/name hold what its name says? */
static int
blob_whole(int dfd, const char *name)
{
	char got[72], *chunk;
	struct sha256 *h;
	ssize_t n;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return errno == ENOENT;	/* gone: nothing wrong is left */
	chunk = xmalloc(1 << 18);
	h = sha256_new();
	while ((n = read(fd, chunk, 1 << 18)) > 0)
		sha256_update(h, chunk, (size_t)n);
	sha256_final(h, got);
	sha256_free(h);
	free(chunk);
	close(fd);
	return n == 0 && strcmp(got + 7, name) == 0;	/* got: "sha256:HEX" */
}

/* Settle (sync) or check (hash, delete the wrong) every blob modified
 * since `since`. */
static void
walk_blobs(struct store *s, time_t since, int check)
{
	char *dir = xasprintf("%s/blobs/sha256", s->dir);
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat st;
	int fd, removed = 0;

	if (d == NULL) {
		free(dir);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strlen(e->d_name) != 64 || !is_hex64(e->d_name) ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode) || st.st_mtime < since)
			continue;
		if (!check) {
			fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC);
			if (fd >= 0) {
				(void)fdatasync(fd);
				close(fd);
			}
			continue;
		}
		s->rec_checked++;
		if (!blob_whole(dirfd(d), e->d_name) &&
		    unlinkat(dirfd(d), e->d_name, 0) == 0) {
			s->rec_removed++;
			removed = 1;
		}
	}
	closedir(d);
	if (removed)
		fsync_dir(dir);
	free(dir);
}

/* Parse MARK BOOT-SINCE-...; 0 when the name is one of ours. */
static int
parse_mark(const char *name, char boot[33], time_t *since)
{
	const char *p = name + strlen(MARK);
	char *end;
	long long t;

	if (strncmp(name, MARK, strlen(MARK)) != 0 || strlen(p) < 34 ||
	    p[32] != '-')
		return -1;
	memcpy(boot, p, 32);
	boot[32] = '\0';
	t = strtoll(p + 33, &end, 10);
	if (*end != '-' || end == p + 33)
		return -1;
	*since = (time_t)t;
	return 0;
}

/* A marker store_open has locked and will remove. */
struct mark {
	int fd;
	char *name;
};

/*
 * Lock every marker of an ended run and note it in marks; *check_since
 * and *settle_since get the earliest SINCE of those of another boot and
 * of this one (or stay at -1).
 */
static size_t
take_marks(struct store *s, DIR *d, struct mark **marks, time_t *check_since,
    time_t *settle_since)
{
	struct dirent *e;
	struct stat st;
	char boot[33];
	time_t since, *to;
	size_t n = 0, cap = 0;
	int fd, other;

	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, MARK, strlen(MARK)) != 0)
			continue;
		if (parse_mark(e->d_name, boot, &since) != 0) {
			unlinkat(dirfd(d), e->d_name, 0);	/* not ours */
			continue;
		}
		fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC |
		    O_NOFOLLOW);
		if (fd < 0)
			continue;
		other = s->boot[0] == '\0' || strcmp(boot, s->boot) != 0;
		/* same boot: a held lock is a run still going. Another
		 * boot: a held lock is another pulltop checking it now, and
		 * we wait for it rather than trust what it checks. */
		if (flock(fd, other ? LOCK_EX : LOCK_EX | LOCK_NB) != 0 ||
		    fstat(fd, &st) != 0 || st.st_nlink == 0 ||
		    (!other && st.st_mtime > time(NULL) - SETTLE_AGE)) {
			close(fd);
			continue;
		}
		to = other ? check_since : settle_since;
		if (*to < 0 || since < *to)
			*to = since;
		s->rec_marks += (unsigned)other;
		if (n == cap) {
			cap = cap ? cap * 2 : 4;
			*marks = xrealloc(*marks, cap * sizeof **marks);
		}
		(*marks)[n].fd = fd;
		(*marks)[n++].name = xstrdup(e->d_name);
	}
	return n;
}

/*
 * Markers whose runs overlap name the same blobs: each kind of work is
 * one walk from the earliest SINCE, so no blob is hashed twice.
 */
void
durable_recover(struct store *s)
{
	char *dir = xasprintf("%s/ingest", s->dir);
	DIR *d = opendir(dir);
	struct mark *marks = NULL;
	time_t check_since = -1, settle_since = -1;
	size_t i, n;

	free(dir);
	if (d == NULL)
		return;
	n = take_marks(s, d, &marks, &check_since, &settle_since);
	if (check_since >= 0)
		walk_blobs(s, check_since, 1);
	if (settle_since >= 0)
		walk_blobs(s, settle_since, 0);
	for (i = 0; i < n; i++) {
		unlinkat(dirfd(d), marks[i].name, 0);
		close(marks[i].fd);
		free(marks[i].name);
	}
	free(marks);
	closedir(d);
}

char *
store_recovery(const struct store *s, int *removed)
{
	unsigned r = s->rec_marks, c = s->rec_checked, d = s->rec_removed;

	if (removed != NULL)
		*removed = d > 0;
	if (r == 0)
		return NULL;
	return xasprintf("store %s: %u earlier run%s ended before a restart; "
	    "hashed the %u blob%s written then again: %u not whole, "
	    "deleted%s", s->dir, r, r == 1 ? "" : "s", c, c == 1 ? "" : "s",
	    d, d > 0 ? " (pulled again when wanted)" : "");
}
