/*
 * progress.c - plain, JSON and quiet output. One loop wakes on the jobs
 * queue's fd (or every 250 ms), takes a snapshot and compares it with what
 * it printed before: a line per layer state change, at most one
 * "Downloading" line per layer per second, never the same line twice.
 */
#include "view.h"
#include "engine.h"
#include "config.h"
#include "util.h"

#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct seen_blob {
	int key;		/* state and attempt last printed */
	double last_dl;		/* time of the last Downloading line */
	char last[300];
};

struct seen_image {
	int started, ended;
	int layers_known;
};

struct out {
	const struct options *o;
	uint64_t ev_seq;		/* last event looked at */
	struct seen_blob *blobs;	/* per (image, blob) for JSON */
	int nblobs_cap;
	struct seen_image images[64];
};

static void
json_line(const char *image, const char *id, const char *status,
    const struct snap_blob *b, const char *err)
{
	json_t *o = json_object();
	char *text;

	if (status != NULL)
		json_object_set_new(o, "status", json_string(status));
	if (b != NULL) {
		json_t *pd = json_object();
		if (b->state == BLOB_DOWNLOADING || b->state == BLOB_STALLED ||
		    b->state == BLOB_EXTRACTING) {
			char cur[32], tot[32], bar[64];
			int w = 50, fill = b->size ? (int)(b->done * w / b->size) : 0, i;
			json_object_set_new(pd, "current", json_integer((json_int_t)b->done));
			json_object_set_new(pd, "total", json_integer((json_int_t)b->size));
			fmt_bytes(cur, sizeof cur, b->done);
			fmt_bytes(tot, sizeof tot, b->size);
			bar[0] = '[';
			for (i = 0; i < w; i++)
				bar[1 + i] = i < fill ? '=' : (i == fill ? '>' : ' ');
			bar[1 + w] = ']';
			bar[2 + w] = '\0';
			text = xasprintf("%s %s/%s", bar, cur, tot);
			json_object_set_new(o, "progress", json_string(text));
			free(text);
		}
		json_object_set_new(o, "progressDetail", pd);
	}
	if (id != NULL)
		json_object_set_new(o, "id", json_string(id));
	if (err != NULL) {
		json_object_set_new(o, "errorDetail",
		    json_pack("{s:s}", "message", err));
		json_object_set_new(o, "error", json_string(err));
	}
	json_object_set_new(o, "image", json_string(image));
	text = json_dumps(o, JSON_COMPACT);
	if (text != NULL) {
		fputs(text, stdout);
		fputc('\n', stdout);
		free(text);
	}
	json_decref(o);
}

/* The words docker uses for a layer's state, with details. */
static void
blob_text(const struct snap_blob *b, double now, char *out, size_t n)
{
	char cur[32], tot[32];

	switch (b->state) {
	case BLOB_DOWNLOADING:
	case BLOB_EXTRACTING:
		fmt_bytes(cur, sizeof cur, b->done);
		fmt_bytes(tot, sizeof tot, b->size);
		snprintf(out, n, "%s %s / %s", blob_state_name(b->state), cur,
		    tot);
		break;
	case BLOB_DONE:
	case BLOB_EXISTS:
		snprintf(out, n, "%s", b->extracted ? "Pull complete" :
		    blob_state_name(b->state));
		break;
	case BLOB_RETRYING:
		snprintf(out, n, "Retrying in %.0fs (attempt %d/%d): %s",
		    b->retry_at > now ? b->retry_at - now + 0.5 : 0,
		    b->attempts + 1, b->max_attempts, b->error);
		break;
	case BLOB_FAILED:
		snprintf(out, n, "Failed: %s", b->error);
		break;
	default:
		snprintf(out, n, "%s", blob_state_name(b->state));
	}
}

static void
emit_blob(struct out *w, const struct snapshot *s, const struct snap_blob *b,
    struct seen_blob *seen, const struct snap_image *im)
{
	char text[300];
	int key = (int)b->state * 1000 + b->attempts + b->extracted * 100000;
	int dl = b->state == BLOB_DOWNLOADING || b->state == BLOB_EXTRACTING;

	/* retries are printed from the event log, which misses none */
	if (b->state == BLOB_RETRYING)
		return;

	if (seen->key == key && !dl)
		return;
	if (dl && seen->key == key && s->now - seen->last_dl < 1.0)
		return;
	blob_text(b, s->now, text, sizeof text);
	if (strcmp(text, seen->last) == 0 && seen->key == key)
		return;
	seen->key = key;
	if (dl)
		seen->last_dl = s->now;
	snprintf(seen->last, sizeof seen->last, "%s", text);
	if (w->o->progress == PROGRESS_JSON) {
		const char *status = text;
		char words[64];
		if (b->state != BLOB_RETRYING && b->state != BLOB_FAILED) {
			snprintf(words, sizeof words, "%s", b->extracted &&
			    (b->state == BLOB_DONE || b->state == BLOB_EXISTS) ?
			    "Pull complete" : blob_state_name(b->state));
			status = words;
		}
		json_line(im->ref, b->short_id, status, b,
		    b->state == BLOB_FAILED ? b->error : NULL);
	} else
		printf("%s: %s\n", b->short_id, text);
}

static const char *
repo_of(const char *ref)
{
	const char *slash = strchr(ref, '/');
	return slash ? slash + 1 : ref;
}

static void
emit_image_start(struct out *w, const struct snap_image *im)
{
	char repo[256];
	size_t n;

	snprintf(repo, sizeof repo, "%s", repo_of(im->ref));
	n = strcspn(repo, "@");
	repo[n] = '\0';
	if (strrchr(repo, ':') != NULL)
		*strrchr(repo, ':') = '\0';
	if (w->o->progress == PROGRESS_JSON) {
		char status[300];
		snprintf(status, sizeof status, "Pulling from %s", repo);
		json_line(im->ref, im->ref, status, NULL, NULL);
	} else if (w->o->progress == PROGRESS_PLAIN)
		printf("%s: Pulling from %s\n", im->ref, repo);
}

static void
emit_image_end(struct out *w, const struct snap_image *im)
{
	char line[400];

	if (im->state == IMAGE_COMPLETE) {
		snprintf(line, sizeof line, "Status: %s for %s", im->up_to_date ?
		    "Image is up to date" : "Downloaded newer image", im->ref);
		if (w->o->progress == PROGRESS_JSON) {
			char d[100];
			snprintf(d, sizeof d, "Digest: %s", im->digest);
			json_line(im->ref, NULL, d, NULL, NULL);
			json_line(im->ref, NULL, line, NULL, NULL);
		} else if (w->o->progress == PROGRESS_PLAIN)
			printf("Digest: %s\n%s\n%s\n", im->digest, line, im->ref);
		else
			printf("%s\n", im->ref);
		if (im->unpack_dir[0] == '\0')
			return;
		if (w->o->progress == PROGRESS_JSON) {
			char u[300];
			snprintf(u, sizeof u, "Unpacked to %s", im->unpack_dir);
			json_line(im->ref, NULL, u, NULL, NULL);
		} else if (w->o->progress == PROGRESS_PLAIN)
			printf("Unpacked to %s\n", im->unpack_dir);
		return;
	}
	if (w->o->progress == PROGRESS_JSON)
		json_line(im->ref, NULL, NULL, NULL, im->error);
	fflush(stdout);
	fprintf(stderr, "pulltop: %s: %s\n", im->ref, im->error[0] ? im->error :
	    image_state_name(im->state));
}

/*
 * Retries, from the event log: a retry can begin and end between two
 * snapshots, but its event ("<id>: Retrying in 5s (attempt 2/5): cause",
 * or "<ref>: Retrying ..." for a manifest) is always there.
 */
static void
emit_retries(struct out *w, const struct snapshot *s)
{
	int i, j;

	for (i = 0; i < s->nevents; i++) {
		const struct snap_event *e = &s->events[i];
		const char *sep = strstr(e->text, ": Retrying in ");

		if (e->seq <= w->ev_seq)
			continue;
		w->ev_seq = e->seq;
		if (sep == NULL || w->o->progress == PROGRESS_QUIET)
			continue;
		if (w->o->progress == PROGRESS_PLAIN) {
			printf("%s\n", e->text);
			continue;
		}
		/* JSON: the layer's line for each image using it */
		for (j = 0; j < s->nblobs; j++) {
			const struct snap_blob *b = &s->blobs[j];
			int k;

			if ((size_t)(sep - e->text) != strlen(b->short_id) ||
			    strncmp(e->text, b->short_id, sep - e->text) != 0)
				continue;
			for (k = 0; k < s->nimages; k++)
				if (b->image_mask & (1ull << k))
					json_line(s->images[k].ref, b->short_id,
					    sep + 2, NULL, NULL);
		}
		for (j = 0; j < s->nimages; j++)
			if ((size_t)(sep - e->text) == strlen(s->images[j].ref) &&
			    strncmp(e->text, s->images[j].ref, sep - e->text) == 0)
				json_line(s->images[j].ref, NULL, sep + 2, NULL,
				    NULL);
	}
}

static void
step(struct out *w, const struct snapshot *s)
{
	int i, j;

	emit_retries(w, s);

	for (i = 0; i < s->nimages && i < 64; i++) {
		const struct snap_image *im = &s->images[i];
		struct seen_image *si = &w->images[i];

		if (!si->started) {
			si->started = 1;
			emit_image_start(w, im);
		}
		if (w->o->progress == PROGRESS_QUIET)
			continue;
		for (j = 0; j < s->nblobs; j++) {
			const struct snap_blob *b = &s->blobs[j];
			struct seen_blob *seen;

			if (!b->is_layer || !(b->image_mask & (1ull << i)))
				continue;
			/* plain prints a shared layer once; JSON per image */
			if (w->o->progress == PROGRESS_PLAIN) {
				if ((b->image_mask & ((1ull << i) - 1)) != 0)
					continue;
				seen = &w->blobs[j];
			} else
				seen = &w->blobs[i * s->nblobs + j];
			emit_blob(w, s, b, seen, im);
		}
	}
	for (i = 0; i < s->nimages && i < 64; i++) {
		const struct snap_image *im = &s->images[i];
		int final = im->state == IMAGE_COMPLETE ||
		    im->state == IMAGE_FAILED || im->state == IMAGE_CANCELLED;
		if (final && !w->images[i].ended) {
			w->images[i].ended = 1;
			emit_image_end(w, im);
		}
	}
	fflush(stdout);
}

int
progress_run(struct jobq *q, const struct options *o)
{
	struct out w;
	struct snapshot s;
	struct pollfd pfd;
	int i, status = 0, cap_nblobs = 0;

	memset(&w, 0, sizeof w);
	w.o = o;
	pfd.fd = jobq_wakeup_fd(q);
	pfd.events = POLLIN;
	for (;;) {
		if (poll(&pfd, 1, 250) > 0)
			jobq_drain_wakeup(q);
		if (sig_caught) {
			jobq_cancel_all(q);
			jobq_wait_all(q);
		}
		jobq_snapshot(q, &s);
		if (s.nblobs != cap_nblobs) {
			/* keep per-blob memory when the blob count grows */
			int n = s.nblobs * (s.nimages ? s.nimages : 1);
			struct seen_blob *nb = xcalloc(n ? n : 1, sizeof *nb);
			int oldn = cap_nblobs, im;

			for (i = 0; i < n; i++)
				nb[i].key = -1;	/* nothing printed yet */
			for (im = 0; w.blobs != NULL && im < s.nimages; im++)
				for (i = 0; i < oldn; i++)
					if (im * oldn + i < w.nblobs_cap)
						nb[im * s.nblobs + i] =
						    w.blobs[im * oldn + i];
			free(w.blobs);
			w.blobs = nb;
			w.nblobs_cap = n;
			cap_nblobs = s.nblobs;
		}
		step(&w, &s);
		if (s.all_final && s.nimages > 0) {
			for (i = 0; i < s.nimages; i++)
				if (s.images[i].state != IMAGE_COMPLETE)
					status = 1;
			snapshot_free(&s);
			break;
		}
		snapshot_free(&s);
	}
	free(w.blobs);
	if (sig_caught)
		return sig_exit_status();
	return status;
}
