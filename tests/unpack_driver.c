/*
 * unpack_driver.c - drive src/unpack/ from the shell, for tests/t-unpack.sh
 * and the unpack benchmark, until pulltop itself has --unpack:
 *
 *   unpack_driver DIR NAME MANIFESTDIGEST [BLOB MEDIATYPE DIFFID]...
 *
 * DIFFID "-" skips the check. Prints "unpacked PATH" or "up to date PATH"
 * and exits 0, or prints "error: CAUSE" and exits 1. Warnings go to
 * stderr as "warning: ...". UNPACK_CANCEL_AFTER=N makes check() ask for a
 * cancel from its Nth call on; UNPACK_PROGRESS=1 prints progress lines.
 */
#include "unpack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static long checks, cancel_after = -1;
static int show_progress;

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
	return cancel_after >= 0 && ++checks >= cancel_after;
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
	struct unpack *u;
	char *cause = NULL, path[4096];
	const char *e;
	int i, r;

	if (argc < 4 || (argc - 4) % 3 != 0) {
		fprintf(stderr, "usage: %s DIR NAME MANIFESTDIGEST "
		    "[BLOB MEDIATYPE DIFFID]...\n", argv[0]);
		return 2;
	}
	if ((e = getenv("UNPACK_CANCEL_AFTER")) != NULL)
		cancel_after = atol(e);
	show_progress = getenv("UNPACK_PROGRESS") != NULL;
	r = unpack_begin(argv[1], argv[2], argv[3], &u, &cause);
	if (r < 0) {
		printf("error: %s\n", cause);
		free(cause);
		return 1;
	}
	if (r == 1) {
		printf("up to date %s/%s\n", argv[1], argv[2]);
		return 0;
	}
	snprintf(path, sizeof path, "%s", unpack_path(u));
	for (i = 4; i < argc; i += 3) {
		struct stat sb;
		uint64_t size = stat(argv[i], &sb) == 0 ? (uint64_t)sb.st_size
		    : 0;
		if (unpack_layer(u, argv[i], argv[i + 1],
		    strcmp(argv[i + 2], "-") == 0 ? NULL : argv[i + 2], size,
		    &cb, &cause) != 0) {
			printf("error: %s\n", cause);
			free(cause);
			unpack_abort(u);
			return 1;
		}
	}
	if (unpack_commit(u, &cause) != 0) {
		printf("error: %s\n", cause);
		free(cause);
		return 1;
	}
	printf("unpacked %s\n", path);
	return 0;
}
