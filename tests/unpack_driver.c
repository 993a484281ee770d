/*
 * unpack_driver.c - drive src/unpack/ from the shell, for tests/t-unpack.sh
 * and the unpack benchmark, until pulltop itself has --unpack:
 *
 *   unpack_driver DIR NAME MANIFESTDIGEST [BLOB MEDIATYPE DIFFID]...
 *
 * DIFFID "-" skips the check. Prints "unpacked PATH" or "up to date PATH"
 * and exits 0, or prints "error: CAUSE" and exits 1. Warnings go to
 * stderr as "warning: ...". UNPACK_CANCEL_AFTER=N makes check() ask for a
 * cancel from its Nth call on; UNPACK_PROGRESS=1 prints progress lines;
 * UNPACK_CHECKS=1 prints "checks N" after each layer: how many times the
 * layer asked whether to cancel.
 * SIGTERM and SIGINT cancel, as in pulltop: the staging folder is moved
 * into DIR/.pulltop-trash and the driver exits 128 + the signal, after
 * printing on stderr "cancelled N ms after the signal" (when the layer
 * returned) and "cleaned up N ms after the signal" (when the staging
 * folder was out of the way). As pulltop does, a run that was neither
 * signalled nor cancelled waits before it exits for the helper thread
 * that deletes the trash of earlier runs (unpack_sweep_wait()).
 */
#include "unpack.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static long checks, cancel_after = -1;
static int show_progress;
static volatile sig_atomic_t caught;
static struct timespec caught_at;

static void
on_signal(int sig)
{
	if (caught == 0) {
		clock_gettime(CLOCK_MONOTONIC, &caught_at);
		caught = sig;
	}
}

/* "WHAT N ms after the signal" on stderr, when one was caught. */
static void
since_signal(const char *what)
{
	struct timespec now;

	if (caught == 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	fprintf(stderr, "%s %ld ms after the signal\n", what,
	    (long)((now.tv_sec - caught_at.tv_sec) * 1000 +
	    (now.tv_nsec - caught_at.tv_nsec) / 1000000));
}

/* Exit status rc, once the trash of earlier runs is deleted (unless a
 * signal or UNPACK_CANCEL_AFTER gave up). */
static int
finish(int rc)
{
	if (cancel_after < 0 || checks < cancel_after)
		unpack_sweep_wait(&caught);
	return rc;
}

static void
progress(void *ctx, uint64_t done, uint64_t total)
{
	(void)ctx;
	if (show_progress)
		fprintf(stderr, "progress %llu/%llu\n",
		    (unsigned long long)done, (unsigned long long)total);
}

static int
check(void *ctx)
{
	(void)ctx;
	checks++;
	return caught != 0 || (cancel_after >= 0 && checks >= cancel_after);
}

static void
warn(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "warning: %s\n", msg);
}

int
main(int argc, char **argv)
{
	static const struct unpack_cb cb = { progress, check, warn, NULL };
	struct sigaction sa;
	struct unpack *u;
	char *cause = NULL, path[4096];
	const char *e;
	int i, r, count_checks;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if (argc < 4 || (argc - 4) % 3 != 0) {
		fprintf(stderr, "usage: %s DIR NAME MANIFESTDIGEST "
		    "[BLOB MEDIATYPE DIFFID]...\n", argv[0]);
		return 2;
	}
	if ((e = getenv("UNPACK_CANCEL_AFTER")) != NULL)
		cancel_after = atol(e);
	show_progress = getenv("UNPACK_PROGRESS") != NULL;
	count_checks = getenv("UNPACK_CHECKS") != NULL;
	r = unpack_begin(argv[1], argv[2], argv[3], &u, &cause);
	if (r < 0) {
		printf("error: %s\n", cause);
		free(cause);
		return finish(1);
	}
	if (r == 1) {
		printf("up to date %s/%s\n", argv[1], argv[2]);
		return finish(0);
	}
	snprintf(path, sizeof path, "%s", unpack_path(u));
	for (i = 4; i < argc; i += 3) {
		struct stat sb;
		uint64_t size = stat(argv[i], &sb) == 0 ? (uint64_t)sb.st_size
		    : 0;
		long before = checks;

		r = unpack_layer(u, argv[i], argv[i + 1],
		    strcmp(argv[i + 2], "-") == 0 ? NULL : argv[i + 2], size,
		    &cb, &cause);
		if (count_checks)
			fprintf(stderr, "checks %ld\n", checks - before);
		if (r != 0) {
			since_signal("cancelled");
			printf("error: %s\n", cause);
			free(cause);
			unpack_abort(u);
			since_signal("cleaned up");
			return finish(caught ? 128 + caught : 1);
		}
	}
	if (unpack_commit(u, &cause) != 0) {
		printf("error: %s\n", cause);
		free(cause);
		return finish(caught ? 128 + caught : 1);
	}
	printf("unpacked %s\n", path);
	return finish(caught ? 128 + caught : 0);
}
