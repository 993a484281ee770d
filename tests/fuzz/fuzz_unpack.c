/*
 * fuzz_unpack.c - libFuzzer target for src/unpack/: image layers (tar, gzip
 * or zstd) as a registry sends them, applied to a rootfs. The question is
 * the one unpack.h promises: can any entry create, change or link anything
 * outside the rootfs? Next to DIR sits a sentinel folder whose file must
 * come out of every input unchanged (content, mode, owner, times, link
 * count), and nothing else may appear beside DIR. An aborted unpack must
 * leave no staging folder; a committed one a rootfs and its marker. Causes
 * are one line without control characters.
 *
 * Input: byte 0 flags (bit 0: two layers, bit 1: commit rather than
 * abort, bits 2-3: codec 0/1 tar, 2 gzip, 3 zstd), bytes 1-2 the length of
 * the first layer (little-endian) when there are two, then the layers.
 *
 * Safety: the process runs as root in CI, and a bug here could write
 * anywhere. So LLVMFuzzerInitialize moves it into a mount namespace of its
 * own with a private tmpfs mounted nodev,nosuid,noexec (device nodes a
 * layer makes are inert, the tmpfs is capped at 256 MiB and gone when the
 * process ends), and every unpack runs chroot()ed into that tmpfs, leaving
 * it again through a saved fd. Without the rights for that it refuses to
 * run.
 *
 * The corpus holds, beside the hand-made seeds, the inputs a 5,000-run
 * check found new coverage with (found-*, by -merge=1): a check of 2,000
 * runs starts where those ended (each run costs about 20 ms here).
 *
 * Sources: src/unpack/dirtree.c src/unpack/entry.c src/unpack/fixup.c src/unpack/layer.c src/unpack/remove.c src/unpack/stream.c src/unpack/trash.c src/unpack/unpack.c src/unpack/walk.c src/util/digest.c src/util/util.c
 * Check-runs: 1000
 * Packages: libarchive zlib libzstd libcrypto
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <sanitizer/common_interface_defs.h>

#include "unpack.h"

#define DIGEST "sha256:0000000000000000000000000000000000000000000000000000000000000000"
#define VICTIM "victim\n"

static char mnt[] = "/tmp/pulltop-fuzz-unpack-XXXXXX";
static int real_root = -1, real_cwd = -1;
static struct stat victim_st;

static void
die(const char *what)
{
	fprintf(stderr, "fuzz_unpack: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_unpack: %s%s%s\n", what, detail ? ": " : "",
	    detail ? detail : "");
	abort();
}

/* Into the tmpfs: "/" is the tmpfs from here until leave(). */
static void
enter(void)
{
	if (chroot(mnt) != 0)
		die("chroot");
}

static void
leave(void)
{
	if (fchdir(real_root) != 0 || chroot(".") != 0 ||
	    fchdir(real_cwd) != 0)
		die("leaving the chroot");
}

static void
cleanup(void)
{
	if (real_root >= 0 && umount2(mnt, MNT_DETACH) == 0)
		rmdir(mnt);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct statvfs sv;
	struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	char sym[256];
	int fd;

	(void)argc, (void)argv;
	/* start the symbolizer now: it cannot be found inside the chroot */
	__sanitizer_symbolize_pc(__builtin_return_address(0), "%p %F %L", sym,
	    sizeof sym);
	if (mkdtemp(mnt) == NULL)
		die("mkdtemp");
	if (unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", mnt, "tmpfs", MS_NODEV | MS_NOSUID | MS_NOEXEC,
	    "size=256m,mode=0755") != 0) {
		rmdir(mnt);
		die("no private nodev tmpfs (needs root and mount namespaces)");
	}
	if (statvfs(mnt, &sv) != 0 || !(sv.f_flag & ST_NODEV))
		die("the tmpfs is not nodev");
	atexit(cleanup);
	real_root = fcntl(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC),
	    F_DUPFD_CLOEXEC, 900);
	real_cwd = fcntl(open(".", O_PATH | O_DIRECTORY | O_CLOEXEC),
	    F_DUPFD_CLOEXEC, 900);
	if (real_root < 0 || real_cwd < 0)
		die("saving / and the working directory");
	enter();
	if (mkdir("/dir", 0755) != 0 || mkdir("/outside", 0755) != 0)
		die("mkdir");
	fd = open("/outside/victim", O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0 || write(fd, VICTIM, strlen(VICTIM)) != (ssize_t)strlen(VICTIM))
		die("victim");
	close(fd);
	if (utimensat(AT_FDCWD, "/outside/victim", ts, 0) != 0 ||
	    utimensat(AT_FDCWD, "/outside", ts, 0) != 0 ||
	    lstat("/outside/victim", &victim_st) != 0)
		die("victim times");
	leave();
	return 0;
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag;
	if (f->level > 0 && remove(p) != 0)
		die(p);
	return 0;
}

/* Names in folder p, but the ones listed; fail on an unexpected one. */
static void
only(const char *p, const char *const *names, size_t n)
{
	DIR *d = opendir(p);
	struct dirent *e;
	size_t i;

	if (d == NULL)
		fail("a folder outside the rootfs is gone", p);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		for (i = 0; i < n; i++)
			if (strcmp(e->d_name, names[i]) == 0)
				break;
		if (i == n)
			fail("an entry appeared outside the rootfs", e->d_name);
	}
	closedir(d);
}

static void
check_outside(void)
{
	static const char *const top[] = { "dir", "outside", "blob" };
	static const char *const out[] = { "victim" };
	char got[64] = "";
	struct stat st;
	int fd;
	ssize_t n;

	only("/", top, 3);
	only("/outside", out, 1);
	if (lstat("/outside/victim", &st) != 0)
		fail("the file outside the rootfs is gone", NULL);
	if (st.st_ino != victim_st.st_ino || st.st_mode != victim_st.st_mode ||
	    st.st_uid != victim_st.st_uid || st.st_gid != victim_st.st_gid ||
	    st.st_nlink != 1 || st.st_size != victim_st.st_size ||
	    st.st_mtim.tv_sec != victim_st.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != victim_st.st_mtim.tv_nsec)
		fail("the file outside the rootfs was changed or linked", NULL);
	fd = open("/outside/victim", O_RDONLY | O_NOFOLLOW);
	n = fd < 0 ? -1 : read(fd, got, sizeof got - 1);
	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)strlen(VICTIM) || memcmp(got, VICTIM, (size_t)n) != 0)
		fail("the file outside the rootfs was written", NULL);
}

/* After an abort: no staging folder; after a commit: rootfs and marker. */
static void
check_dir(int committed)
{
	DIR *d = opendir("/dir");
	struct dirent *e;
	struct stat st;

	if (d == NULL)
		fail("DIR is gone", NULL);
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, ".img.staging", 12) == 0)
			fail("a staging folder was left", e->d_name);
	closedir(d);
	if (committed && (lstat("/dir/img", &st) != 0 || !S_ISDIR(st.st_mode) ||
	    lstat("/dir/.img.pulltop", &st) != 0))
		fail("commit left no rootfs or no marker", NULL);
}

static void
check_cause(const char *cause)
{
	const unsigned char *p;

	if (cause == NULL)
		fail("failure without a cause", NULL);
	for (p = (const unsigned char *)cause; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			fail("cause holds a control character", cause);
}

static int
put_blob(const uint8_t *p, size_t n)
{
	int fd = open("/blob", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int ok = fd >= 0 && write(fd, p, n) == (ssize_t)n;

	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const mts[] = {
		"application/vnd.oci.image.layer.v1.tar",
		"application/vnd.docker.image.rootfs.diff.tar",
		"application/vnd.oci.image.layer.v1.tar+gzip",
		"application/vnd.oci.image.layer.v1.tar+zstd",
	};
	struct unpack *u = NULL;
	const uint8_t *layer[2];
	size_t len[2], first, i, nlayers;
	char *cause = NULL;
	const char *mt;
	int commit, r, failed = 0;

	if (size < 3 || size > (1u << 20))
		return 0;
	nlayers = (data[0] & 1) ? 2 : 1;
	commit = (data[0] & 2) != 0;
	mt = mts[(data[0] >> 2) & 3];
	first = (size_t)data[1] | (size_t)data[2] << 8;
	data += 3;
	size -= 3;
	if (nlayers == 2 && first > size)
		first = size;
	layer[0] = data;
	len[0] = nlayers == 2 ? first : size;
	layer[1] = data + len[0];
	len[1] = size - len[0];

	enter();
	r = unpack_begin("/dir", "img", DIGEST, &u, &cause);
	if (r != 0) {
		check_cause(cause);
		fail("unpack_begin failed", cause);
	}
	for (i = 0; i < nlayers; i++) {
		if (put_blob(layer[i], len[i]) != 0)
			die("/blob");
		if (unpack_layer(u, "/blob", mt, NULL, len[i], NULL,
		    &cause) != 0) {
			check_cause(cause);
			free(cause);
			cause = NULL;
			failed = 1;
			break;
		}
	}
	if (failed || !commit)
		unpack_abort(u);
	else if (unpack_commit(u, &cause) != 0) {
		check_cause(cause);
		free(cause);
		cause = NULL;
		failed = 1;
	}
	check_outside();
	check_dir(!failed && commit);
	nftw("/dir", rm_one, 16, FTW_DEPTH | FTW_PHYS);
	leave();
	return 0;
}
