/*
 * progress.c - the headless views: docker-style plain lines, Docker
 * JSONMessage lines, and quiet. Each frame compares the snapshot with
 * what was printed: a line for every state a layer went through (the
 * model keeps the states each blob visited, so one too quick for a frame
 * is still told), at most one "Downloading" line per layer per second,
 * and the retries from the event log. Plain tells a layer shared by
 * several images once; JSON tells it for each image, as docker does.
 */
#include "view.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What was printed of one layer (plain: per blob; JSON: per image). */
struct seen {
	unsigned printed;	/* blob states told */
	int final_key;		/* state * 1000 + attempts of a failure told */
	int pull_complete;
	enum blob_state last_state;	/* in the last frame */
	double last_dl;
	uint64_t last_done;
};

struct seen_image {
	int started, ended;
	char *load_told;	/* --load: the engine's step last told */
	double load_at;
	struct seen *layers;	/* JSON: one per manifest layer */
	int nlayers;
};

struct out {
	const struct options *o;
	struct seen *blobs;		/* plain: by blob id */
	int nblobs;
	struct seen_image *images;
	int nimages;
};

/* The order docker tells a layer's states in. */
static const enum blob_state told_order[] = {
	BLOB_WAITING, BLOB_DOWNLOADING, BLOB_VERIFYING, BLOB_DONE,
	BLOB_EXISTS, BLOB_EXTRACTING,
};

static void
json_put(json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT);

	if (text != NULL) {
		fputs(text, stdout);
		fputc('\n', stdout);
		free(text);
	}
	json_decref(o);
}

/* A docker progress bar with byte counts: "[===>   ] 1.2 MB/3.4 MB". */
static json_t *
json_bar(uint64_t cur, uint64_t tot)
{
	char c[32], t[32], bar[64], *text;
	int w = 50, fill = tot ? (int)(cur * (uint64_t)w / tot) : 0, i;
	json_t *s;

	fmt_bytes(c, sizeof c, cur);
	fmt_bytes(t, sizeof t, tot);
	bar[0] = '[';
	for (i = 0; i < w; i++)
		bar[1 + i] = i < fill ? '=' : (i == fill ? '>' : ' ');
	bar[1 + w] = ']';
	bar[2 + w] = '\0';
	text = xasprintf("%s %s/%s", bar, c, t);
	s = json_string(text);
	free(text);
	return s;
}

/*
 * One JSONMessage about image im: status, id, progressDetail (detail 1:
 * empty, 2: current/total and a progress bar), error; plus what docker
 * does not send: "image" (several images share the stream) and "eta", the
 * seconds the image still needs by the estimate, when it has one.
 */
static void
json_line_from(const struct model_image *im, const char *id,
    const char *status, int detail, uint64_t cur, uint64_t tot,
    const char *err, const char *endpoint)
{
	json_t *o = json_object();

	if (status != NULL)
		json_object_set_new(o, "status", json_string(status));
	if (detail) {
		json_t *pd = json_object();
		if (detail > 1) {
			json_object_set_new(pd, "current",
			    json_integer((json_int_t)cur));
			json_object_set_new(pd, "total",
			    json_integer((json_int_t)tot));
			json_object_set_new(o, "progress", json_bar(cur, tot));
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
	json_object_set_new(o, "image", json_string(im->ref));
	if (im->eta >= 0 && !image_state_final(im->state))
		json_object_set_new(o, "eta", json_integer((json_int_t)(im->eta +
		    0.5)));
	/* with a mirror configured: who is serving (served) this layer */
	if (endpoint != NULL)
		json_object_set_new(o, "endpoint", json_string(endpoint));
	json_put(o);
}

static void
json_line(const struct model_image *im, const char *id, const char *status,
    int detail, uint64_t cur, uint64_t tot, const char *err)
{
	json_line_from(im, id, status, detail, cur, tot, err, NULL);
}

/* Print one line about layer b in state st (maybe one it passed). */
static void
tell(struct out *w, const struct snapshot *s, const struct model_image *im,
    const struct model_blob *b, enum blob_state st)
{
	const char *words = blob_state_name(st);
	uint64_t cur = b->done, tot = b->size;
	char a[32], c[32];
	int bytes = st == BLOB_DOWNLOADING || st == BLOB_EXTRACTING;
	const char *why = b->error != NULL ? b->error :
	    st == BLOB_ABORTED ? "went away unfinished" : "failed";

	if (st == BLOB_DOWNLOADING && b->state != BLOB_DOWNLOADING &&
	    b->state != BLOB_STALLED)
		cur = tot;	/* passed between two frames */
	if (st == BLOB_EXTRACTING) {
		cur = b->state == BLOB_EXTRACTING ? b->xdone : b->xsize;
		tot = b->xsize;
	}
	if (w->o->progress == PROGRESS_JSON) {
		if (st == BLOB_FAILED || st == BLOB_ABORTED)
			json_line_from(im, b->short_id, words, 1, 0, 0, why,
			    snapshot_endpoint(s, b));
		else
			json_line_from(im, b->short_id, words, bytes ? 2 : 1,
			    cur, tot, NULL, snapshot_endpoint(s, b));
		return;
	}
	if (bytes) {
		fmt_bytes(a, sizeof a, cur);
		fmt_bytes(c, sizeof c, tot);
		printf("%s: %s %s / %s\n", b->short_id, words, a, c);
	} else if (st == BLOB_FAILED || st == BLOB_ABORTED)
		printf("%s: %s: %s\n", b->short_id, words, why);
	else
		printf("%s: %s\n", b->short_id, words);
}

static void
emit_blob(struct out *w, const struct snapshot *s, const struct model_image *im,
    const struct model_blob *b, struct seen *seen)
{
	unsigned fresh = b->visited & ~seen->printed;
	size_t i;

	for (i = 0; i < sizeof told_order / sizeof told_order[0]; i++)
		if (fresh & (1u << told_order[i])) {
			tell(w, s, im, b, told_order[i]);
			if (told_order[i] == BLOB_DOWNLOADING)
				seen->last_dl = s->now;
		}
	seen->printed |= fresh;
	/* a stall is told each time it begins, even one too short for a
	 * frame (the worker's state can go Stalled and back in between) */
	if ((b->state == BLOB_STALLED && seen->last_state != BLOB_STALLED) ||
	    ((fresh & (1u << BLOB_STALLED)) && b->state != BLOB_STALLED))
		tell(w, s, im, b, BLOB_STALLED);
	seen->last_state = b->state;
	if (b->extracted && !seen->pull_complete) {
		seen->pull_complete = 1;
		if (w->o->progress == PROGRESS_JSON)
			json_line(im, b->short_id, "Pull complete", 1, 0, 0,
			    NULL);
		else
			printf("%s: Pull complete\n", b->short_id);
	}
	if ((b->state == BLOB_FAILED || b->state == BLOB_CANCELLED ||
	    b->state == BLOB_ABORTED) &&
	    seen->final_key != (int)b->state * 1000 + b->attempts) {
		seen->final_key = (int)b->state * 1000 + b->attempts;
		tell(w, s, im, b, b->state);
	}
	if ((b->state == BLOB_DOWNLOADING || b->state == BLOB_EXTRACTING) &&
	    !(fresh & (1u << b->state)) && s->now - seen->last_dl >= 1.0 &&
	    (b->state == BLOB_DOWNLOADING ? b->done : b->xdone) !=
	    seen->last_done) {
		tell(w, s, im, b, b->state);
		seen->last_dl = s->now;
		seen->last_done = b->state == BLOB_DOWNLOADING ? b->done :
		    b->xdone;
	}
}

/* "team/app" from "127.0.0.1:5000/team/app:latest" */
static char *
repo_of(const char *ref)
{
	const char *slash = strchr(ref, '/');
	char *r = xstrdup(slash ? slash + 1 : ref), *c;

	r[strcspn(r, "@")] = '\0';
	if ((c = strrchr(r, ':')) != NULL)
		*c = '\0';
	return r;
}

static void
emit_image_start(struct out *w, const struct model_image *im)
{
	char *repo = repo_of(im->ref), *status;

	if (w->o->progress == PROGRESS_JSON) {
		status = xasprintf("Pulling from %s", repo);
		json_line(im, im->ref, status, 0, 0, 0, NULL);
		free(status);
	} else if (w->o->progress == PROGRESS_PLAIN)
		printf("%s: Pulling from %s\n", im->ref, repo);
	free(repo);
}

static void
emit_image_end(struct out *w, const struct model_image *im)
{
	enum progress_mode p = w->o->progress;
	char *line;

	if (im->state != IMAGE_COMPLETE) {
		const char *why = im->error ? im->error :
		    image_state_name(im->state);
		if (p == PROGRESS_JSON)
			json_line(im, NULL, NULL, 0, 0, 0, why);
		fflush(stdout);
		fprintf(stderr, "pulltop: %s: %s\n", im->ref, why);
		return;
	}
	line = xasprintf("Status: %s for %s", im->note ? im->note :
	    im->up_to_date ? "Image is up to date" : "Downloaded newer image",
	    im->ref);
	if (p == PROGRESS_JSON) {
		char *d = xasprintf("Digest: %s", im->digest ? im->digest : "");
		json_line(im, NULL, d, 0, 0, 0, NULL);
		json_line(im, NULL, line, 0, 0, 0, NULL);
		free(d);
	} else if (p == PROGRESS_PLAIN)
		printf("Digest: %s\n%s\n%s\n", im->digest ? im->digest : "",
		    line, im->ref);
	else
		printf("%s\n", im->ref);
	free(line);
	if (im->unpack_dir == NULL || p == PROGRESS_QUIET)
		return;
	if (p == PROGRESS_JSON) {
		line = xasprintf("Unpacked to %s", im->unpack_dir);
		json_line(im, NULL, line, 0, 0, 0, NULL);
		free(line);
	} else
		printf("Unpacked to %s\n", im->unpack_dir);
}

/*
 * --load: the engine's progress on an image (its note while LOADING): a
 * new step at once, the same step's bytes at most once a second.
 */
static void
emit_loading(struct out *w, const struct snapshot *s,
    const struct model_image *im, struct seen_image *si)
{
	const char *t = im->note;
	size_t k = strcspn(t, " ");

	if (si->load_told != NULL && (strcmp(si->load_told, t) == 0 ||
	    (strncmp(si->load_told, t, k) == 0 && s->now - si->load_at < 1.0)))
		return;
	free(si->load_told);
	si->load_told = xstrdup(t);
	si->load_at = s->now;
	if (w->o->progress == PROGRESS_JSON)
		json_line(im, NULL, t, 0, 0, 0, NULL);
	else
		printf("%s: %s\n", im->ref, t);
}

/* Retries, from the event log: one can begin and end between frames. */
static void
emit_retries(struct out *w, const struct snapshot *s)
{
	char line[1024];
	int i, j;

	if (s->events_new == 0 || w->o->progress == PROGRESS_QUIET)
		return;
	for (i = 0; i < s->nevents; i++) {
		const struct model_event *e = &s->events[i];
		const struct model_blob *b;
		char *status;

		if (e->seq < s->events_new || (e->kind != EV_RETRYING &&
		    e->kind != EV_FALLBACK))
			continue;
		if (w->o->progress == PROGRESS_PLAIN) {
			model_event_line(s, e, line, sizeof line);
			printf("%s\n", line);
			continue;
		}
		if (e->kind == EV_FALLBACK)
			status = xstrdup(e->text);
		else
			status = xasprintf("Retrying in %.0fs (attempt %d/%d)%s%s",
			    e->delay, e->attempt, e->max_attempts,
			    e->text[0] ? ": " : "", e->text);
		if (e->blob >= 0 && e->blob < s->nblobs) {
			b = &s->blobs[e->blob];
			for (j = 0; j < b->nimages; j++)
				if (b->images[j] < s->nimages)
					json_line(&s->images[b->images[j]],
					    b->short_id, status, 0, 0, 0, NULL);
		} else if (e->image >= 0 && e->image < s->nimages)
			json_line(&s->images[e->image], NULL, status, 0, 0,
			    0, NULL);
		free(status);
	}
}

/*
 * With a mirror configured, the end of the run says how many bytes each
 * endpoint served: "Bytes from 127.0.0.1:5001 (mirror): 1.2 MB (1234567)"
 * plain; {"status": "Bytes from ENDPOINT", "endpoint", "bytes", "mirror"}
 * in JSON.
 */
static void
emit_endpoints(struct out *w, const struct snapshot *s)
{
	char a[32];
	int i;

	for (i = 0; i < s->tally.nep; i++) {
		const struct model_endpoint *e = &s->tally.ep[i];

		if (w->o->progress == PROGRESS_JSON) {
			char *st = xasprintf("Bytes from %s", e->name);
			json_t *o = json_pack("{s:s,s:s,s:I,s:b}", "status",
			    st, "endpoint", e->name, "bytes",
			    (json_int_t)e->bytes, "mirror", e->mirror);

			free(st);
			if (o != NULL)
				json_put(o);
		} else if (w->o->progress == PROGRESS_PLAIN) {
			fmt_bytes(a, sizeof a, e->bytes);
			printf("Bytes from %s%s: %s (%llu)\n", e->name,
			    e->mirror ? " (mirror)" : "", a,
			    (unsigned long long)e->bytes);
		}
	}
	fflush(stdout);
}

static void
grow(struct out *w, const struct snapshot *s)
{
	int i;

	if (s->nblobs > w->nblobs) {
		w->blobs = xrealloc(w->blobs, (size_t)s->nblobs * sizeof *w->blobs);
		memset(w->blobs + w->nblobs, 0,
		    (size_t)(s->nblobs - w->nblobs) * sizeof *w->blobs);
		w->nblobs = s->nblobs;
	}
	if (s->nimages > w->nimages) {
		w->images = xrealloc(w->images,
		    (size_t)s->nimages * sizeof *w->images);
		memset(w->images + w->nimages, 0,
		    (size_t)(s->nimages - w->nimages) * sizeof *w->images);
		w->nimages = s->nimages;
	}
	for (i = 0; i < s->nimages; i++) {
		struct seen_image *si = &w->images[i];

		if (si->nlayers < s->images[i].nlayers) {
			si->layers = xrealloc(si->layers,
			    (size_t)s->images[i].nlayers * sizeof *si->layers);
			memset(si->layers + si->nlayers, 0,
			    (size_t)(s->images[i].nlayers - si->nlayers) *
			    sizeof *si->layers);
			si->nlayers = s->images[i].nlayers;
		}
	}
}

/* The image that tells a shared layer in plain output: its first. */
static int
first_image(const struct model_blob *b)
{
	int i, first = -1;

	for (i = 0; i < b->nimages; i++)
		if (first < 0 || b->images[i] < first)
			first = b->images[i];
	return first;
}

static void
headless_frame(void *ctx, const struct snapshot *s, int changed)
{
	struct out *w = ctx;
	int i, j;

	if (!changed)
		return;
	grow(w, s);
	emit_retries(w, s);
	for (i = 0; i < s->nimages; i++) {
		const struct model_image *im = &s->images[i];
		struct seen_image *si = &w->images[i];

		if (!si->started) {
			si->started = 1;
			emit_image_start(w, im);
		}
		for (j = 0; w->o->progress != PROGRESS_QUIET &&
		    j < im->nlayers; j++) {
			const struct model_blob *b;

			if (im->layers[j] < 0 || im->layers[j] >= s->nblobs)
				continue;
			b = &s->blobs[im->layers[j]];
			if (w->o->progress == PROGRESS_JSON)
				emit_blob(w, s, im, b, &si->layers[j]);
			else if (first_image(b) == i)
				emit_blob(w, s, im, b, &w->blobs[b->id]);
		}
		if (im->state == IMAGE_LOADING && im->note != NULL &&
		    w->o->progress != PROGRESS_QUIET)
			emit_loading(w, s, im, si);
	}
	for (i = 0; i < s->nimages; i++)
		if (image_state_final(s->images[i].state) &&
		    !w->images[i].ended) {
			w->images[i].ended = 1;
			emit_image_end(w, &s->images[i]);
		}
	fflush(stdout);
}

int
view_headless(struct source *src, const struct options *o)
{
	static const struct view_ops ops = {
		.frame = headless_frame,
	};
	struct snapshot s;
	struct out w;
	int status, i;

	memset(&w, 0, sizeof w);
	memset(&s, 0, sizeof s);
	w.o = o;
	status = view_loop(src, &ops, &w, &s, 10);
	emit_endpoints(&w, &s);
	for (i = 0; i < w.nimages; i++) {
		free(w.images[i].layers);
		free(w.images[i].load_told);
	}
	free(w.images);
	free(w.blobs);
	snapshot_free(&s);
	return status;
}
