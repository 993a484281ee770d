/*
 * containerd.c - the containerd watch source: a thread that looks at
 * containerd's content store, ROOT/io.containerd.content.v1.content, and
 * writes what it sees into the model. It never writes there.
 *
 * DESIGN
 * Every active download is a folder ingest/<hex>/ (hex: the sha256 of
 * its ref) holding "ref", "startedat", "updatedat", "total" when known,
 * and "data", the bytes so far. A commit renames data to
 * blobs/sha256/<digest> and then removes the folder; an abort removes
 * the folder. So each look lists ingest/, stats each data file and reads
 * the small files of new folders only; a folder that went away became a
 * blob (Download complete) or did not (Aborted).
 *
 * The thread looks every WATCH_TICK seconds, and at once when inotify
 * says ingest/ changed (a new download shows within milliseconds; without
 * inotify, within a tick). A look does its file I/O first, without the
 * model lock, then takes the lock once to write the records (ingest.c
 * parses the files, group.c makes the images).
 */
#include "watch.h"
#include "ingest.h"
#include "group.h"
#include "config.h"
#include "model.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define WATCH_TICK 0.25		/* seconds between looks */
#define WATCH_BURST 0.02	/* inotify wake-ups closer than this coalesce */
#define REF_GRACE 1.0		/* seconds a new folder may lack its ref */
#define TOTAL_READS 8		/* looks that try a missing total again */
#define RATE_WINDOW 4.0		/* seconds of sizes the rate is taken over */
#define RATE_SAMPLES 24		/* sizes kept: one per look, 0.2 s apart */

struct ingest {			/* one folder of ingest/ */
	char key[65];		/* its name */
	int blob;		/* model id; -1 before the record exists */
	struct ingest_ref ref;
	int have_ref;
	int placed;		/* in an image, or no manifest will say */
	uint64_t total;		/* 0: unknown */
	int total_reads;
	struct {		/* data's size over the last RATE_WINDOW */
		double t;	/* monotonic */
		uint64_t size;
	} rate[RATE_SAMPLES];
	int nrate;		/* oldest first */
	double started;		/* wall; 0 unknown */
	double updated;		/* wall: updatedat */
	double first_seen;	/* monotonic */
	/* this look */
	int listed, has_data, ended;
	uint64_t cur;		/* data's size */
	double mtime;		/* data's, wall */
	enum blob_state end;	/* ended: BLOB_DONE or BLOB_ABORTED */
};

struct cwatch {
	struct model *m;
	char *content;		/* the content store's path, for messages */
	int content_fd;
	int ino_fd, ino_wd;	/* inotify; -1 without */
	int stop_rd, stop_wr;
	pthread_t thread;
	int running;
	double stall_timeout;
	int exit_when_done;
	double last_active;	/* monotonic: something grew */
	struct ingest *in;
	int nin, capin;
	struct group *g;
};

/* -------------------------------------------------------- small files */

/* Up to cap bytes of folder key's file name; the length, or -1. */
static ssize_t
read_small(int dfd, const char *key, const char *name, char *buf, size_t cap)
{
	char path[96];
	size_t len = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/%s", key, name);
	fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	while (len < cap && ((n = read(fd, buf + len, cap - len)) > 0 ||
	    (n < 0 && errno == EINTR)))
		if (n > 0)
			len += (size_t)n;
	close(fd);
	return (ssize_t)len;
}

static double
read_time(int dfd, const char *key, const char *name)
{
	char buf[INGEST_FILE_MAX];
	ssize_t n = read_small(dfd, key, name, buf, sizeof buf);
	double t;

	return n > 0 && ingest_time_parse(buf, (size_t)n, &t) == 0 ? t : 0;
}

static void
read_total(int dfd, struct ingest *in)
{
	char buf[64];
	ssize_t n = read_small(dfd, in->key, "total", buf, sizeof buf);

	in->total_reads++;
	if (n > 0 && ingest_total_parse(buf, (size_t)n, &in->total) != 0)
		in->total_reads = TOTAL_READS;	/* malformed: stop asking */
}

/* The ref and timestamps of a new folder; 0, or -1 to look again later. */
static int
read_meta(int dfd, struct ingest *in, double now)
{
	char buf[INGEST_FILE_MAX];
	ssize_t n = read_small(dfd, in->key, "ref", buf, sizeof buf);

	if (n <= 0 && now - in->first_seen < REF_GRACE)
		return -1;	/* being made: the ref comes first */
	ingest_ref_parse(buf, n > 0 ? (size_t)n : 0, &in->ref);
	in->have_ref = 1;
	in->started = read_time(dfd, in->key, "startedat");
	in->updated = read_time(dfd, in->key, "updatedat");
	read_total(dfd, in);
	return 0;
}

/* ------------------------------------------------------------ looking */

static int
is_key(const char *s)
{
	int i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[64] == '\0';
}

static struct ingest *
ingest_find(struct cwatch *w, const char *key)
{
	int i;

	for (i = 0; i < w->nin; i++)
		if (strcmp(w->in[i].key, key) == 0)
			return &w->in[i];
	return NULL;
}

static struct ingest *
ingest_add(struct cwatch *w, const char *key, double now)
{
	struct ingest *in;

	if (w->nin == w->capin) {
		w->capin = w->capin ? w->capin * 2 : 32;
		w->in = xrealloc(w->in, (size_t)w->capin * sizeof *w->in);
	}
	in = &w->in[w->nin++];
	memset(in, 0, sizeof *in);
	memcpy(in->key, key, 65);
	in->blob = -1;
	in->first_seen = now;
	return in;
}

/* Stat one listed folder's data; read what a new one says. */
static void
look_one(int dfd, struct ingest *in, double now)
{
	char path[80];
	struct stat st;

	snprintf(path, sizeof path, "%s/data", in->key);
	in->has_data = fstatat(dfd, path, &st, 0) == 0 && S_ISREG(st.st_mode);
	if (!in->has_data)
		return;		/* not made yet, or being committed */
	in->cur = (uint64_t)st.st_size;
	in->mtime = (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9;
	if (!in->have_ref && read_meta(dfd, in, now) != 0)
		return;
	if (in->total == 0 && in->total_reads < TOTAL_READS)
		read_total(dfd, in);
}

/* Is blob digest in the store? A folder that went away became it. */
static int
in_store(struct cwatch *w, const char *digest, uint64_t *size)
{
	char path[96];
	struct stat st;

	if (strncmp(digest, "sha256:", 7) != 0)
		return 0;
	snprintf(path, sizeof path, "blobs/sha256/%s", digest + 7);
	if (fstatat(w->content_fd, path, &st, 0) != 0)
		return 0;
	*size = (uint64_t)st.st_size;
	return 1;
}

/* How an ingest that left (or whose data left) ended. */
static void
look_end(struct cwatch *w, struct ingest *in)
{
	const char *d = in->ref.digest;

	in->ended = 0;
	if (in->blob < 0)
		return;
	if (d[0] != '\0' && in_store(w, d, &in->cur)) {
		in->ended = 1;
		in->end = BLOB_DONE;
	} else if (!in->listed) {
		in->ended = 1;
		in->end = d[0] == '\0' && in->total > 0 &&
		    in->cur == in->total ? BLOB_DONE : BLOB_ABORTED;
	}
}

/*
 * List ingest/ and look at every folder; no lock. -1 when it could not
 * be listed for a passing reason (nothing is concluded then); a missing
 * ingest/ is an empty one.
 */
static int
look(struct cwatch *w, double now)
{
	struct dirent *de;
	DIR *d = NULL;
	int fd, i;

	fd = openat(w->content_fd, "ingest", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if ((fd < 0 && errno != ENOENT) ||
	    (fd >= 0 && (d = fdopendir(fd)) == NULL)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (i = 0; i < w->nin; i++)
		w->in[i].listed = w->in[i].ended = 0;
	while (d != NULL && (de = readdir(d)) != NULL) {
		struct ingest *in;

		if (!is_key(de->d_name))
			continue;
		in = ingest_find(w, de->d_name);
		if (in == NULL)
			in = ingest_add(w, de->d_name, now);
		in->listed = 1;
		look_one(dirfd(d), in, now);
	}
	if (d != NULL)
		closedir(d);
	for (i = 0; i < w->nin; i++) {
		struct ingest *in = &w->in[i];

		if (!in->listed || !in->has_data)
			look_end(w, in);
	}
	return 0;
}

/* ------------------------------------------------- writing the model */

/* Another folder in flight already shows blob id? */
static int
owned_elsewhere(const struct cwatch *w, int id, const struct ingest *self)
{
	int i;

	for (i = 0; i < w->nin; i++)
		if (&w->in[i] != self && w->in[i].blob == id)
			return 1;
	return 0;
}

/* Wall time t as monotonic time, for the model. */
static double
mono_of(double t, double now, double wall)
{
	return now - (wall - t);
}

/* Keep data's size now for the rate; a shrunk file starts it over. */
static void
rate_add(struct ingest *in, double now)
{
	if (in->nrate > 0 && in->cur < in->rate[in->nrate - 1].size)
		in->nrate = 0;
	if (in->nrate > 0 && now - in->rate[in->nrate - 1].t < 0.2)
		return;
	if (in->nrate == RATE_SAMPLES) {
		memmove(&in->rate[0], &in->rate[1],
		    (RATE_SAMPLES - 1) * sizeof in->rate[0]);
		in->nrate--;
	}
	in->rate[in->nrate].t = now;
	in->rate[in->nrate].size = in->cur;
	in->nrate++;
}

/*
 * Bytes per second over the last RATE_WINDOW: containerd writes in
 * chunks (ctr: 1 MiB), so a rate between two looks would jump between
 * nothing and a chunk; over a few seconds it is steady.
 */
static double
rate_get(const struct ingest *in, double now)
{
	int i;

	for (i = 0; i < in->nrate - 1; i++)
		if (now - in->rate[i].t <= RATE_WINDOW)
			break;
	if (in->nrate < 2 || now - in->rate[i].t < 0.5)
		return 0;
	return (double)(in->cur - in->rate[i].size) / (now - in->rate[i].t);
}

/* Lock held: the record of a new folder, made or taken up again. */
static void
bind(struct cwatch *w, struct ingest *in, double now, double wall)
{
	const char *kind = in->ref.kind;
	int layer = kind[0] == '\0' || strcmp(kind, "layer") == 0;
	struct model_blob *b;
	char *id;
	int found;

	id = in->ref.digest[0] != '\0' ? xstrdup(in->ref.digest) :
	    xasprintf("ingest:%s", in->key);
	found = model_blob_find(w->m, id);
	if (found >= 0 && owned_elsewhere(w, found, in)) {
		char *alt = xasprintf("%s#%.12s", id, in->key);

		free(id);
		id = alt;	/* one digest, two namespaces at once */
	}
	in->blob = model_blob_add(w->m, id, "", in->total, layer, NULL);
	free(id);
	b = model_blob(w->m, in->blob);
	group_blob_state(b, BLOB_DOWNLOADING);
	if (in->total > 0)
		b->size = in->total;
	b->done = in->cur;
	b->speed = 0;
	b->finished = 0;
	b->attempts = 1;
	b->started = in->started > 0 ? mono_of(in->started, now, wall) : now;
	model_set_str(w->m, &b->error, &b->meta_gen, NULL);
	model_set_str(w->m, &b->where, &b->meta_gen, in->ref.ns);
	model_touch_blob(w->m, b);
	in->nrate = 0;
	if (in->started > 0 && wall - in->started < RATE_WINDOW &&
	    in->started <= wall) {	/* just begun: it had 0 bytes then */
		in->rate[0].t = mono_of(in->started, now, wall);
		in->rate[0].size = 0;
		in->nrate = 1;
	}
	rate_add(in, now);
	in->placed = in->ref.digest[0] == '\0' || b->nimages > 0 ||
	    !(layer || strcmp(kind, "config") == 0);
}

/* Lock held: a folder in flight; its bytes, rate and state. */
static void
update(struct cwatch *w, struct ingest *in, double now, double wall)
{
	struct model_blob *b = model_blob(w->m, in->blob);
	double last, speed;
	enum blob_state state;

	rate_add(in, now);
	last = in->mtime > in->updated ? in->mtime : in->updated;
	state = last > 0 && wall - last >= w->stall_timeout ?
	    BLOB_STALLED : BLOB_DOWNLOADING;
	speed = state == BLOB_STALLED ? 0 : rate_get(in, now);
	if (speed < 1)
		speed = 0;
	if (state == BLOB_DOWNLOADING)
		w->last_active = now;
	if (b->done == in->cur && b->state == state &&
	    fabs(b->speed - speed) <= 0.01 * speed &&
	    (in->total == 0 || b->size == in->total))
		return;
	b->done = in->cur;
	group_blob_state(b, state);
	b->speed = speed;
	if (in->total > 0)
		b->size = in->total;
	if (last > 0)
		b->last_byte = mono_of(last, now, wall);
	model_touch_blob(w->m, b);
}

/* Lock held: a folder that went away, or whose data became a blob. */
static void
finish(struct cwatch *w, struct ingest *in, double now)
{
	struct model_blob *b = model_blob(w->m, in->blob);
	char done[32], size[32];

	group_blob_state(b, in->end);
	b->finished = now;
	b->speed = 0;
	if (in->end == BLOB_DONE) {
		if (b->size == 0)
			b->size = in->cur;
		b->done = b->size;
	} else {
		char *why;

		fmt_bytes(done, sizeof done, b->done);
		if (b->size > 0)
			fmt_bytes(size, sizeof size, b->size);
		else
			snprintf(size, sizeof size, "?");
		why = xasprintf("the download went away at %s of %s", done,
		    size);
		model_set_str(w->m, &b->error, &b->meta_gen, why);
		model_event(w->m, 1, EV_FAILED, -1, in->blob, "aborted: %s",
		    why);
		free(why);
	}
	model_touch_blob(w->m, b);
}

/* Lock held: every folder's record, then images, then "done?". */
static void
apply(struct cwatch *w, int fresh, double now, double wall)
{
	int i;

	for (i = 0; i < w->nin; i++) {
		struct ingest *in = &w->in[i];
		int was_bound = in->blob >= 0;

		if (in->blob < 0 && in->listed && in->has_data && in->have_ref)
			bind(w, in, now, wall);
		if (in->blob < 0)
			continue;
		if (!in->placed && (fresh || !was_bound))
			in->placed = group_place(w->g, w->m, in->blob,
			    in->ref.ns != NULL ? in->ref.ns : "") >= 0;
		if (in->ended)
			finish(w, in, now);
		else if (in->listed && in->has_data)
			update(w, in, now, wall);
	}
	group_update(w->g, w->m, now, WATCH_IDLE_EXIT);
	if (w->exit_when_done && now - w->last_active >= WATCH_IDLE_EXIT)
		model_set_final(w->m, MODEL_FINAL_YES);
}

/* Drop the folders that are gone or ended. */
static void
forget(struct cwatch *w)
{
	int i = 0;

	while (i < w->nin) {
		struct ingest *in = &w->in[i];

		if (in->ended || !in->listed) {
			ingest_ref_free(&in->ref);
			*in = w->in[--w->nin];
		} else
			i++;
	}
}

/* One look: file I/O first, then the records under the lock. */
static void
scan(struct cwatch *w)
{
	double now = now_mono(), wall = now_wall();
	int i, fresh = 0;

	if (look(w, now) != 0)
		return;
	for (i = 0; i < w->nin; i++)
		if (!w->in[i].placed && w->in[i].have_ref &&
		    w->in[i].ref.digest[0] != '\0') {
			fresh = group_refresh(w->g);
			break;
		}
	model_lock(w->m);
	apply(w, fresh, now, wall);
	model_unlock(w->m);
	forget(w);
}

/* ------------------------------------------------------------ thread */

static void
ino_arm(struct cwatch *w)
{
	char *path;

	if (w->ino_fd < 0 || w->ino_wd >= 0)
		return;
	path = xasprintf("%s/ingest", w->content);
	w->ino_wd = inotify_add_watch(w->ino_fd, path, IN_CREATE | IN_DELETE |
	    IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF |
	    IN_ONLYDIR);
	free(path);
}

static void
ino_drain(struct cwatch *w)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(w->ino_fd, buf, sizeof buf)) > 0) {
		char *p;

		for (p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const void *)p;

			if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))
				w->ino_wd = -1;	/* armed again next look */
			p += sizeof *ev + ev->len;
		}
	}
}

static void *
watch_main(void *arg)
{
	struct cwatch *w = arg;
	struct pollfd p[2];

	for (;;) {
		ino_arm(w);
		scan(w);
		p[0].fd = w->stop_rd;
		p[0].events = POLLIN;
		p[1].fd = w->ino_wd >= 0 ? w->ino_fd : -1;
		p[1].events = POLLIN;
		p[0].revents = p[1].revents = 0;
		if (poll(p, 2, (int)(WATCH_TICK * 1000)) < 0 && errno != EINTR)
			break;
		if (p[0].revents != 0)
			break;
		if (p[1].revents != 0) {
			ino_drain(w);
			/* a burst of folders: one look for all of them */
			if (poll(p, 1, (int)(WATCH_BURST * 1000)) > 0)
				break;
		}
	}
	return NULL;
}

/* ------------------------------------------------------------ source */

/* Quit or a signal: stop looking; nothing is left to wait for. */
static void
cw_cancel_all(void *impl)
{
	struct cwatch *w = impl;
	char c = 1;

	if (write(w->stop_wr, &c, 1) < 0) {
		/* full: already asked to stop */
	}
	model_lock(w->m);
	model_set_final(w->m, MODEL_FINAL_YES);
	model_unlock(w->m);
}

static void
cw_free(void *impl)
{
	struct cwatch *w = impl;
	int i;

	if (w->running) {
		cw_cancel_all(w);
		pthread_join(w->thread, NULL);
	}
	for (i = 0; i < w->nin; i++)
		ingest_ref_free(&w->in[i].ref);
	free(w->in);
	group_free(w->g);
	if (w->ino_fd >= 0)
		close(w->ino_fd);
	close(w->stop_rd);
	close(w->stop_wr);
	close(w->content_fd);
	free(w->content);
	free(w);
}

static const struct source_ops cw_ops = {
	.cancel_all = cw_cancel_all,
	.free = cw_free,
};

/* Open the content store; -1 with *cause naming the path. */
static int
open_store(const char *content, char **cause)
{
	int fd = open(content, O_RDONLY | O_DIRECTORY | O_CLOEXEC), e = errno;
	char clean[512];

	if (fd >= 0) {
		int in = openat(fd, "ingest", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		e = errno;
		if (in >= 0 || e == ENOENT) {
			if (in >= 0)
				close(in);
			return fd;
		}
		close(fd);
	}
	sanitize(clean, sizeof clean, content);
	if (e == EACCES || e == EPERM)
		*cause = xasprintf("%s: permission denied: watching containerd "
		    "needs root", clean);
	else if (e == ENOENT || e == ENOTDIR)
		*cause = xasprintf("no containerd content store at %s (see "
		    "--containerd-root)", clean);
	else
		*cause = xasprintf("%s: %s", clean, strerror(e));
	return -1;
}

struct source *
watch_containerd_new(const char *root, const struct options *o, char **cause)
{
	struct cwatch *w;
	struct source *s;
	int fd, p[2];
	char *content;

	content = xasprintf("%s/%s", root != NULL ? root :
	    WATCH_CONTAINERD_ROOT, WATCH_CONTENT_DIR);
	if ((fd = open_store(content, cause)) < 0) {
		free(content);
		return NULL;
	}
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
		*cause = xasprintf("pipe: %s", strerror(errno));
		close(fd);
		free(content);
		return NULL;
	}
	w = xcalloc(1, sizeof *w);
	w->content = content;
	w->content_fd = fd;
	w->stop_rd = p[0];
	w->stop_wr = p[1];
	w->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	w->ino_wd = -1;
	w->stall_timeout = o->stall_timeout;
	w->exit_when_done = o->exit_when_done;
	w->last_active = now_mono();
	w->g = group_new(fd);
	w->m = model_new();

	s = xcalloc(1, sizeof *s);
	s->name = "containerd";
	s->read_only = "watching containerd: read only";
	s->caps = 0;
	s->ops = &cw_ops;
	s->impl = w;
	s->model = w->m;
	model_lock(w->m);
	model_set_final(w->m, MODEL_FINAL_NO);
	model_event(w->m, 0, EV_NOTE, -1, -1, "watching %s%s", content,
	    w->ino_fd < 0 ? " (polling)" : "");
	model_unlock(w->m);
	if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
		*cause = xasprintf("cannot start a thread");
		source_free(s);
		return NULL;
	}
	w->running = 1;
	return s;
}
