/*
 * unpack.c - the public side of the unpack engine (unpack.h): a rootfs
 * begun in a staging folder, committed into place or aborted; what killed
 * runs left behind moved into the trash (trash.c); plus the small helpers
 * every part shares.
 */
#include "unpack_int.h"

static pthread_mutex_t begin_mu = PTHREAD_MUTEX_INITIALIZER;

/* Set *cause; returns -1. */
int
up_fail(char **cause, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	*cause = xvasprintf(fmt, ap);
	va_end(ap);
	return -1;
}

/* A name fit for a message: sanitized and cut short. */
const char *
up_show(const char *s, char *out, size_t n)
{
	sanitize(out, n, s);
	if (out[0] == '\0')
		snprintf(out, n, "/");
	return out;
}

void
up_bset(struct buf *b, const char *s, size_t n)
{
	b->len = 0;
	if (buf_append(b, s, n) != 0)
		abort();	/* callers check lengths first */
	buf_str(b);
}

void
up_bcat(struct buf *b, const char *s, size_t n)
{
	if (buf_append(b, s, n) != 0)
		abort();
	buf_str(b);
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
	up_walk_reset(u);
	up_dt_free(u);
	up_set_free(&u->set);
	up_fix_free(u);
	free(u->cur.lv);
	buf_free(&u->cur.raw);
	if (u->root >= 0)
		close(u->root);
	if (u->dirfd >= 0)
		close(u->dirfd);
	buf_free(&u->path);
	buf_free(&u->hard);
	buf_free(&u->link);
	buf_free(&u->todo);
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
 * The PID in a leftover's name ".NAME.staging-PID" or ".NAME.old-PID",
 * or 0 when name is not one.
 */
static long
leftover_pid(const char *name)
{
	const char *s = strrchr(name, '.'), *p = NULL;
	char *end;
	long pid;

	if (name[0] != '.' || s == NULL || s == name)
		return 0;
	if (strncmp(s, ".staging-", 9) == 0)
		p = s + 9;
	else if (strncmp(s, ".old-", 5) == 0)
		p = s + 5;
	if (p == NULL || *p < '1' || *p > '9')
		return 0;
	pid = strtol(p, &end, 10);
	return *end == '\0' && pid > 0 ? pid : 0;
}

/*
 * Remove dirfd/name, a tree this process holds the lock of: moved into
 * the trash in one rename (deleted by the next run; ours when this
 * process gave it up, else a dead one's), or when that cannot be done
 * deleted here.
 */
static void
discard(struct unpack *u, const char *name, int ours)
{
	long pid = ours ? (long)getpid() : 0;
	char *cause = NULL;

	if (up_trash(u->dirfd, name, u->name, pid) != 0 &&
	    up_rm_tree(u, u->dirfd, name, 0, &cause) != 0)
		free(cause);
}

/*
 * Clear away what killed runs left in DIR, whatever rootfs they were for:
 * staging and old folders of processes that are gone (as the store
 * sweeps its temporaries) and whose lock nobody holds go into the trash,
 * which a helper thread then empties while this run goes on. Called with
 * begin_mu held: this process's own are never touched.
 */
static void
sweep_stale(struct unpack *u)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if ((fd = openat(u->dirfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		long pid = leftover_pid(de->d_name);
		int lfd;

		if (pid == 0 || pid == (long)getpid() ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		lfd = openat(u->dirfd, de->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (lfd < 0)
			continue;
		if (flock(lfd, LOCK_EX | LOCK_NB) == 0)
			discard(u, de->d_name, 0);
		close(lfd);
	}
	closedir(d);
	up_sweep_start(u->dirfd);
}

/*
 * Make DIR/.NAME.staging-PID and lock it (one left by an earlier process
 * with this PID goes first). Called with begin_mu held.
 */
static int
make_staging(struct unpack *u, char **cause)
{
	struct stat sb;
	int fd, tries;

	for (tries = 0; mkdirat(u->dirfd, u->staging, 0755) != 0; tries++) {
		int stale;

		if (errno != EEXIST || tries > 0)
			return up_fail(cause, "%s/%s: %s", u->dir, u->staging,
			    strerror(errno));
		/* ours from an earlier process with this pid? */
		fd = openat(u->dirfd, u->staging, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		stale = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0;
		if (stale)
			discard(u, u->staging, 0);
		if (fd >= 0)
			close(fd);
		if (!stale)
			return up_fail(cause, "%s is being unpacked already",
			    u->final);
	}
	u->root = openat(u->dirfd, u->staging, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
	if (u->root < 0 || flock(u->root, LOCK_EX | LOCK_NB) != 0 ||
	    fstat(u->root, &sb) != 0)
		return up_fail(cause, "%s/%s: %s", u->dir, u->staging,
		    strerror(errno));
	u->root_dev = sb.st_dev;
	u->root_ino = sb.st_ino;
	return 0;
}

static struct unpack *
unpack_new(const char *dir, const char *name, const char *manifest_digest)
{
	struct unpack *u = xcalloc(1, sizeof *u);
	int i;

	u->root = u->dirfd = u->cur.fd = -1;
	for (i = 0; i < ANCHORS + RECENT; i++)
		u->anchor[i].fd = -1;
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
	buf_init(&u->cur.raw, SCRATCH_MAX);
	return u;
}

int
unpack_begin(const char *dir, const char *name, const char *manifest_digest,
    struct unpack **up, char **cause)
{
	struct unpack *u;
	struct stat sb;
	char sh[128];
	int r;

	*up = NULL;
	if (name == NULL || name[0] == '\0' || name[0] == '.' ||
	    strchr(name, '/') != NULL || strlen(name) > 200)
		return up_fail(cause, "bad rootfs name %s",
		    up_show(name ? name : "", sh, sizeof sh));
	if (!digest_valid(manifest_digest))
		return up_fail(cause, "bad manifest digest");
	if (mkdir_p(dir, 0755) != 0)
		return up_fail(cause, "%s: %s", dir, strerror(errno));
	u = unpack_new(dir, name, manifest_digest);
	u->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (u->dirfd < 0) {
		up_fail(cause, "%s: %s", dir, strerror(errno));
		goto bad;
	}
	/* a previous rootfs is replaced; anything else there is not ours */
	if (fstatat(u->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISDIR(sb.st_mode)) {
		up_fail(cause, "%s is there and is not a folder: left as it is",
		    u->final);
		goto bad;
	}
	/* one thread at a time between mkdir and flock (see sweep_stale) */
	pthread_mutex_lock(&begin_mu);
	sweep_stale(u);
	if (marker_matches(u, manifest_digest)) {
		pthread_mutex_unlock(&begin_mu);
		unpack_free(u);
		return 1;
	}
	r = make_staging(u, cause);
	pthread_mutex_unlock(&begin_mu);
	if (r != 0)
		goto bad;
	*up = u;
	return 0;
bad:
	if (u->root >= 0) {
		char *c2 = NULL;
		if (up_rm_tree(u, u->dirfd, u->staging, 0, &c2) != 0)
			free(c2);
	}
	unpack_free(u);
	return -1;
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
		up_fail(cause, "%s/%s: %s", u->dir, tmp, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlinkat(u->dirfd, tmp, 0);
		}
		goto out;
	}
	close(fd);
	if (renameat(u->dirfd, tmp, u->dirfd, u->marker) != 0) {
		up_fail(cause, "%s/%s: %s", u->dir, u->marker, strerror(errno));
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
		up_fix_apply(u);
	/* no marker may name a rootfs that is not there */
	if (unlinkat(u->dirfd, u->marker, 0) != 0 && errno != ENOENT) {
		up_fail(cause, "%s/%s: %s", u->dir, u->marker, strerror(errno));
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
		up_fail(cause, "rename to %s: %s", u->final, strerror(errno));
		goto fail;
	}
	/* no renameat2 here: move the old one aside, the new one in */
	old = xasprintf(".%s.old-%ld", u->name, (long)getpid());
	if (renameat(u->dirfd, u->name, u->dirfd, old) != 0 &&
	    errno != ENOENT) {
		up_fail(cause, "rename %s: %s", u->final, strerror(errno));
		free(old);
		goto fail;
	}
	if (renameat(u->dirfd, u->staging, u->dirfd, u->name) != 0) {
		up_fail(cause, "rename to %s: %s", u->final, strerror(errno));
		(void)renameat(u->dirfd, old, u->dirfd, u->name);
		free(old);
		goto fail;
	}
placed:
	if (old != NULL) {
		if (up_rm_tree(u, u->dirfd, old, 0, &c2) != 0)
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

/* Remove the staging folder: now, or into the trash when to_trash. */
static void
unpack_drop(struct unpack *u, int to_trash)
{
	char *cause = NULL;

	if (u == NULL)
		return;
	up_walk_reset(u);
	if (u->root >= 0 && to_trash)
		discard(u, u->staging, 1);	/* its lock still held */
	else if (u->root >= 0 && up_rm_tree(u, u->dirfd, u->staging, 0,
	    &cause) != 0)
		free(cause);
	unpack_free(u);
}

void
unpack_abort(struct unpack *u)
{
	unpack_drop(u, u != NULL && u->cancel);
}

void
unpack_cancel(struct unpack *u)
{
	unpack_drop(u, 1);
}
