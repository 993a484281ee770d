/*
 * watch_driver.c - drives the containerd watch source without the views:
 * prints each record that changed, from snapshots, as one line, until the
 * source says all is final (--exit-when-done) or SIGINT/SIGTERM. For the
 * tests of src/watch until the views read struct source.
 *
 *   watch_driver ROOT [STALL_SECONDS] [exit]
 *
 * Lines: "blob SHORT STATE DONE SIZE SPEED WHERE IMAGES [ERROR]",
 * "image REF STATE LAYERS_DONE NLAYERS BYTES_DONE BYTES_TOTAL PLATFORM",
 * "event TEXT", and "seen SHORT SECONDS" the first time a download shows:
 * how long after containerd started it.
 */
#include "config.h"
#include "model.h"
#include "watch.h"
#include "util.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* bytes_done of each image when last printed: totals are derived */
static uint64_t printed[4096];

static void
print_changed(const struct snapshot *s, uint64_t since, char *seen)
{
	int i, j;

	for (i = 0; i < s->nblobs; i++) {
		const struct model_blob *b = &s->blobs[i];

		if (b->gen <= since && b->meta_gen <= since)
			continue;
		if (!seen[i] && b->state == BLOB_DOWNLOADING) {
			seen[i] = 1;
			printf("seen %s %.3f\n", b->short_id, s->now - b->started);
		}
		printf("blob %s %s %llu %llu %.0f %s ", b->short_id,
		    blob_state_name(b->state), (unsigned long long)b->done,
		    (unsigned long long)b->size, b->speed,
		    b->where ? b->where : "-");
		for (j = 0; j < b->nimages; j++)
			printf("%s%d", j ? "," : "", b->images[j]);
		printf("%s %s\n", b->nimages ? "" : "-",
		    b->error ? b->error : "");
	}
	for (i = 0; i < s->nimages; i++) {
		const struct model_image *im = &s->images[i];

		if (im->gen <= since && im->meta_gen <= since &&
		    (i >= 4096 || printed[i] == im->bytes_done))
			continue;
		if (i < 4096)
			printed[i] = im->bytes_done;
		printf("image %s %s %d %d %llu %llu %s\n", im->ref,
		    image_state_name(im->state), im->layers_done, im->nlayers,
		    (unsigned long long)im->bytes_done,
		    (unsigned long long)im->bytes_total,
		    im->platform ? im->platform : "-");
	}
	for (i = 0; i < s->nevents; i++) {
		char line[512];

		if (s->events[i].seq < s->events_new || s->events_new == 0)
			continue;
		model_event_line(s, &s->events[i], line, sizeof line);
		printf("event %s\n", line);
	}
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct options o;
	struct snapshot s;
	struct source *src;
	char *cause = NULL;
	uint64_t since = 0;
	char seen[65536] = { 0 };

	if (argc < 2) {
		fprintf(stderr, "usage: watch_driver ROOT [STALL] [exit]\n");
		return 2;
	}
	memset(&o, 0, sizeof o);
	o.stall_timeout = argc > 2 ? atof(argv[2]) : 30;
	o.exit_when_done = argc > 3 && strcmp(argv[3], "exit") == 0;
	src = watch_containerd_new(argv[1], &o, &cause);
	if (src == NULL) {
		fprintf(stderr, "pulltop: %s\n", cause);
		free(cause);
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	memset(&s, 0, sizeof s);
	while (!stop) {
		struct pollfd p = { model_wakeup_fd(src->model), POLLIN, 0 };

		poll(&p, 1, 500);
		model_drain(src->model);
		model_snapshot(src->model, &s);
		if (s.nblobs > (int)sizeof seen)
			break;
		print_changed(&s, since, seen);
		since = s.gen;
		if (s.all_final)
			break;
	}
	snapshot_free(&s);
	source_free(src);
	return 0;
}
