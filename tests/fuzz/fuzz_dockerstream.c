/*
 * fuzz_dockerstream.c - libFuzzer target for what a Docker Engine sends
 * while it pulls for --via docker: JSONMessage lines (dk_msg_parse) fed
 * into the model as src/docker/stream.c does, for two images that share
 * the model, then the end of each (the engine's inspect answer, or a
 * failure). The first byte picks which image each line goes to and how
 * they end; the rest is lines. Afterwards every string a view can print
 * holds no control character and is valid UTF-8, layer lists name real
 * blobs, and a layer's bytes never pass its size in a snapshot.
 *
 * Sources: src/docker/jsonmsg.c src/docker/stream.c src/model/model.c src/model/snapshot.c src/model/eta.c src/model/source.c src/util/util.c
 * Check-runs: 3000
 * Packages: jansson
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dk_int.h"
#include "model.h"
#include "util.h"

static void
fail(const char *what, const char *s)
{
	fprintf(stderr, "fuzz_dockerstream: %s: %s\n", what, s ? s : "(null)");
	abort();
}

/* Printable: no C0, DEL or C1, valid UTF-8. */
static void
check_text(const char *what, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t c;
	size_t n;

	if (s == NULL)
		return;
	while (*p != '\0') {
		n = utf8_decode(p, &c);
		if (n == 0)
			fail(what, "invalid UTF-8");
		if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
			fail(what, "a control character");
		p += n;
	}
}

static void
check(struct model *m)
{
	struct snapshot s;
	char line[512];
	int i, k;

	memset(&s, 0, sizeof s);
	model_snapshot(m, &s);
	for (i = 0; i < s.nimages; i++) {
		const struct model_image *im = &s.images[i];

		check_text("ref", im->ref);
		check_text("digest", im->digest);
		check_text("note", im->note);
		check_text("error", im->error);
		check_text("platform", im->platform);
		for (k = 0; k < im->nlayers; k++)
			if (im->layers[k] < 0 || im->layers[k] >= s.nblobs)
				fail("layer list", "names no blob");
	}
	for (i = 0; i < s.nblobs; i++) {
		const struct model_blob *b = &s.blobs[i];

		check_text("blob id", b->digest);
		check_text("short id", b->short_id);
		if (b->size > 0 && b->done > b->size)
			fail("blob", "done past size");
	}
	for (i = 0; i < s.nevents; i++) {
		check_text("event", s.events[i].text);
		model_event_line(&s, &s.events[i], line, sizeof line);
		check_text("event line", line);
	}
	snapshot_free(&s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model *m;
	struct dk_job jobs[2];
	const char *p, *end, *nl, *last = NULL;
	size_t last_n = 0;
	uint8_t how;
	int i, n = 0, secs;

	if (size < 1)
		return 0;
	how = data[0];
	m = model_new();
	memset(jobs, 0, sizeof jobs);
	model_lock(m);
	for (i = 0; i < 2; i++) {
		jobs[i].ref = (char *)(i ? "127.0.0.1:5000/a/b:1" :
		    "docker.io/library/x:2");
		jobs[i].image = model_image_add(m, jobs[i].ref, "127.0.0.1:5000");
		dk_job_begin(m, &jobs[i], i ? "linux/arm64" : NULL);
	}
	p = (const char *)data + 1;
	end = (const char *)data + size;
	while (p < end) {
		struct dk_msg msg;
		char *cause = NULL;
		int r;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		r = dk_msg_parse(p, (size_t)(nl - p), &msg, &cause);
		if (r == 0) {
			check_text("status", msg.status);
			check_text("id", msg.id);
			check_text("msg error", msg.error);
			dk_step_of(msg.status, &secs);
			dk_job_message(m, &jobs[(how >> (n++ % 8)) & 1], &msg);
			dk_msg_free(&msg);
		} else if (r < 0) {
			if (cause == NULL || strchr(cause, '\n') != NULL)
				fail("cause", cause);
			free(cause);
		}
		last = p;
		last_n = (size_t)(nl - p);
		p = nl + 1;
	}
	dk_model_tick(m);
	for (i = 0; i < 2; i++) {
		if (how & (0x10 << i))
			dk_job_complete(m, &jobs[i], last ? last : "", last_n);
		else
			dk_job_end(m, &jobs[i], how & 0x40, jobs[i].error ?
			    jobs[i].error : "failed");
	}
	model_unlock(m);
	check(m);
	for (i = 0; i < 2; i++) {
		free(jobs[i].error);
		free(jobs[i].layers);
	}
	model_free(m);
	return 0;
}
