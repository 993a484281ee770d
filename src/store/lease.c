/*
 * lease.c - the store lock, and each pulling process's lease: the list of
 * blobs it has put into blobs/ or found there, which prune keeps although
 * no index.json entry reaches them yet. A pull takes the store lock
 * shared, appends the digest to its lease, then renames or looks; prune
 * takes it exclusive, reads every live lease and then index.json, and
 * deletes only what neither names. So a blob is never pruned between being
 * written and being indexed, and a pull never counts on a blob that a
 * prune is about to delete.
 */
#include "store.h"
#include "store_int.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LEASE_MAX (8u << 20)

int
store_lock(const struct store *s, int how)
{
	char *p = xasprintf("%s/ingest/store.lock", s->dir);
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644), e;

	free(p);
	if (fd < 0)
		return -1;
	while (flock(fd, how) != 0) {
		if (errno == EINTR)
			continue;
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

void
store_unlock(int fd)
{
	if (fd >= 0)
		close(fd);	/* drops the flock */
}

/* Lock s->mu held: make this process's lease, locked for its life. */
static int
lease_open(struct store *s)
{
	char *p = xasprintf("%s/ingest/lease-XXXXXX", s->dir);
	int fd = mkostemp(p, O_CLOEXEC | O_APPEND), e;

	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
		e = errno;
		if (fd >= 0) {
			unlink(p);
			close(fd);
		}
		free(p);
		errno = e;
		return -1;
	}
	s->lease_fd = fd;
	s->lease_path = p;
	return 0;
}

int
lease_note_many(struct store *s, const char *const *digests, int n)
{
	struct buf lines;
	json_t *added = json_object();
	int i, r = 0;

	buf_init(&lines, SIZE_MAX);
	pthread_mutex_lock(&s->mu);
	if (s->held == NULL)
		s->held = json_object();
	/* one write for all the digests not held yet: a manifest's layers */
	for (i = 0; i < n; i++)
		if (json_object_get(s->held, digests[i]) == NULL &&
		    json_object_get(added, digests[i]) == NULL) {
			json_object_set_new(added, digests[i], json_true());
			if (buf_append(&lines, digests[i], strlen(digests[i]))
			    != 0 || buf_append(&lines, "\n", 1) != 0)
				r = -1;
		}
	if (r == 0 && lines.len > 0) {
		if ((s->lease_fd < 0 && lease_open(s) != 0) ||
		    write_all(s->lease_fd, lines.data, lines.len) != 0)
			r = -1;
		else
			json_object_update(s->held, added);
	}
	pthread_mutex_unlock(&s->mu);
	json_decref(added);
	buf_free(&lines);
	return r;
}

int
lease_note(struct store *s, const char *digest)
{
	return lease_note_many(s, &digest, 1);
}

int
store_lease_forget(struct store *s, const char *const *digests, int n)
{
	const char *key;
	json_t *v;
	char line[80];
	int fd, i, r = 0;

	/* exclusive: a prune elsewhere never reads the lease half written */
	if ((fd = store_lock(s, LOCK_EX)) < 0)
		return -1;
	pthread_mutex_lock(&s->mu);
	for (i = 0; s->held != NULL && i < n; i++)
		json_object_del(s->held, digests[i]);
	if (s->lease_fd >= 0 && ftruncate(s->lease_fd, 0) != 0)
		r = -1;
	json_object_foreach(s->held, key, v) {
		int len = snprintf(line, sizeof line, "%s\n", key);

		(void)v;
		if (r == 0 && s->lease_fd >= 0 &&
		    write_all(s->lease_fd, line, (size_t)len) != 0)
			r = -1;
	}
	pthread_mutex_unlock(&s->mu);
	store_unlock(fd);
	return r;
}

void
lease_close(struct store *s)
{
	if (s->lease_fd >= 0) {
		/* whatever this run pulled is in index.json by now; what it
		 * did not finish is prune's to take */
		unlink(s->lease_path);
		close(s->lease_fd);
	}
	free(s->lease_path);
	json_decref(s->held);
	s->lease_fd = -1;
	s->lease_path = NULL;
	s->held = NULL;
}

/* Add the digests of one live lease to set. */
static void
lease_read(int fd, json_t *set)
{
	struct buf b;
	char chunk[8192], *line, *save = NULL;
	ssize_t n;

	buf_init(&b, LEASE_MAX);
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		if (buf_append(&b, chunk, (size_t)n) != 0)
			break;
	if (b.len > 0) {
		buf_str(&b);
		for (line = strtok_r(b.data, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			if (digest_valid(line))
				json_object_set_new(set, line, json_true());
	}
	buf_free(&b);
}

void
lease_roots(struct store *s, json_t *set, int sweep)
{
	char *dir = xasprintf("%s/ingest", s->dir);
	DIR *d = opendir(dir);
	struct dirent *e;
	int fd;

	free(dir);
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "lease-", 6) != 0)
			continue;
		fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC |
		    O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_SH | LOCK_NB) != 0)
			lease_read(fd, set);	/* its process is running */
		else if (sweep)
			unlinkat(dirfd(d), e->d_name, 0);
		close(fd);
	}
	closedir(d);
}
