/*
 * trash.c - the trash of an unpack folder: what an unpack gives up (the
 * staging folder of a cancelled unpack, what killed runs left) is moved
 * into DIR/.pulltop-trash in one rename, and deleted by a helper thread
 * that the next unpack_begin() in DIR starts, while that run goes on.
 * A cancel thus costs one rename, however big the tree; deleting it costs
 * the next run nothing but the disk time.
 *
 *   DIR/.pulltop-trash/PID.SEQ.NAME    given up by process PID (0: by
 *                                      one that is gone)
 *
 * The helper skips what this process gave up (a run does not delete its
 * own trash: its exit would wait for it), and takes each entry's
 * flock before it deletes it, so two runs never delete one tree at once
 * and a tree still held (moved with its lock) is left alone. When the
 * trash is empty it is removed. unpack_sweep_wait() lets a run that ends
 * normally wait for the helper, so a run that was not interrupted leaves
 * the trash of earlier runs deleted.
 */
#include "unpack_int.h"

#include <time.h>

#define TRASH		".pulltop-trash"
#define SWEEP_DIRS	8		/* DIRs queued for the helper */

static pthread_mutex_t sweep_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sweep_cv = PTHREAD_COND_INITIALIZER;
static int sweep_fd[SWEEP_DIRS];	/* DIRs whose trash is to go */
static int sweep_n;
static int sweeping;			/* the helper runs */
static unsigned trash_seq;

/*
 * Move dirfd/name into dirfd/.pulltop-trash as "PID.SEQ.label" (the
 * trash made if missing): PID is pid, the process that gave it up (0:
 * none that runs). 0 on success, -1 with errno.
 */
int
up_trash(int dirfd, const char *name, const char *label, long pid)
{
	char to[NAME_MAX + 1];
	int tfd, tries, r, e;

	for (tries = 0; tries < 8; tries++) {
		tfd = openat(dirfd, TRASH, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (tfd < 0) {
			if (errno != ENOENT || (mkdirat(dirfd, TRASH,
			    0700) != 0 && errno != EEXIST))
				return -1;
			continue;
		}
		pthread_mutex_lock(&sweep_mu);
		snprintf(to, sizeof to, "%ld.%u.%.200s", pid, trash_seq++,
		    label);
		pthread_mutex_unlock(&sweep_mu);
		r = renameat(dirfd, name, tfd, to);
		e = errno;
		close(tfd);
		if (r == 0)
			return 0;
		/* ENOENT: the trash went (emptied) meanwhile; EEXIST or
		 * ENOTEMPTY: an earlier process with this PID left one */
		if (e != ENOENT && e != EEXIST && e != ENOTEMPTY) {
			errno = e;
			return -1;
		}
		if (e == ENOENT && faccessat(dirfd, name, F_OK,
		    AT_SYMLINK_NOFOLLOW) != 0) {
			errno = ENOENT;
			return -1;	/* name itself is gone */
		}
	}
	errno = EEXIST;
	return -1;
}

/* The PID in a trash entry's name, 0 for none. */
static long
trash_pid(const char *name)
{
	char *end;
	long pid;

	if (*name < '1' || *name > '9')
		return 0;
	pid = strtol(name, &end, 10);
	return *end == '.' ? pid : 0;
}

/*
 * Delete the entries of dfd/.pulltop-trash that other processes put there
 * and that nobody holds; then the trash itself, if that left it empty.
 */
static void
trash_empty(int dfd)
{
	struct unpack *u = xcalloc(1, sizeof *u);	/* for up_rm_tree() */
	struct dirent *de;
	DIR *d;
	int tfd, lfd;

	u->is_root = geteuid() == 0;
	u->root = u->dirfd = u->cur.fd = -1;
	tfd = openat(dfd, TRASH, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (tfd < 0 || (d = fdopendir(tfd)) == NULL) {
		if (tfd >= 0)
			close(tfd);
		free(u);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char *cause = NULL;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    trash_pid(de->d_name) == (long)getpid())
			continue;
		lfd = openat(tfd, de->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (lfd < 0) {
			if (errno == ENOTDIR || errno == ELOOP)
				(void)unlinkat(tfd, de->d_name, 0);
			continue;
		}
		if (flock(lfd, LOCK_EX | LOCK_NB) == 0 &&
		    up_rm_tree(u, tfd, de->d_name, 0, &cause) != 0)
			free(cause);
		close(lfd);
	}
	closedir(d);
	(void)unlinkat(dfd, TRASH, AT_REMOVEDIR);	/* if empty */
	free(u);
}

static void *
sweep_main(void *arg)
{
	int fd;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&sweep_mu);
		if (sweep_n == 0) {
			sweeping = 0;
			pthread_cond_broadcast(&sweep_cv);
			pthread_mutex_unlock(&sweep_mu);
			return NULL;
		}
		fd = sweep_fd[--sweep_n];
		pthread_mutex_unlock(&sweep_mu);
		trash_empty(fd);
		close(fd);
	}
}

/*
 * Have the helper empty dirfd's trash, if it has one: started when not
 * running, detached (a process may exit while it works; what is left,
 * the next run deletes).
 */
void
up_sweep_start(int dirfd)
{
	pthread_attr_t attr;
	pthread_t t;
	struct stat sb;
	int fd;

	if (fstatat(dirfd, TRASH, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
	    !S_ISDIR(sb.st_mode))
		return;
	pthread_mutex_lock(&sweep_mu);
	if (sweep_n == SWEEP_DIRS ||
	    (fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0)) < 0) {
		pthread_mutex_unlock(&sweep_mu);
		return;
	}
	sweep_fd[sweep_n++] = fd;
	if (!sweeping) {
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, sweep_main, NULL) == 0)
			sweeping = 1;
		else		/* no helper: the next run tries again */
			close(sweep_fd[--sweep_n]);
		pthread_attr_destroy(&attr);
	}
	pthread_mutex_unlock(&sweep_mu);
}

void
unpack_sweep_wait(const volatile sig_atomic_t *stop)
{
	struct timespec ts;

	pthread_mutex_lock(&sweep_mu);
	while (sweeping && (stop == NULL || *stop == 0)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000 * 1000;		/* look at *stop */
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&sweep_cv, &sweep_mu, &ts);
	}
	pthread_mutex_unlock(&sweep_mu);
}
