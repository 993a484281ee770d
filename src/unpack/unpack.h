/*
 * unpack.h - turn an image's layers into a root filesystem on disk.
 *
 *   DIR/NAME                     the rootfs (NAME from unpack_name())
 *   DIR/.NAME.pulltop            marker: the manifest digest it came from
 *   DIR/.NAME.staging-PID        the rootfs being built (removed on abort)
 *   DIR/.pulltop-trash/          what was given up, to be deleted
 *
 * Layers are applied in manifest order into the staging folder; only
 * unpack_commit() puts it in place, so a failed or cancelled unpack never
 * leaves a half-made rootfs and never disturbs the previous one. A process
 * killed outright leaves its staging folder (or a .NAME.old-PID): the next
 * unpack_begin() in DIR clears away every such folder whose PID is gone
 * and whose lock nobody holds, whatever NAME it was for.
 *
 * Deleting a tree costs what the file system makes it (seconds for ten
 * thousand nested directories), so a cancelled unpack and what killed
 * runs left are not deleted on the spot: they are renamed into
 * DIR/.pulltop-trash (one rename, same file system), and the next
 * unpack_begin() in DIR starts a helper thread that deletes what other
 * runs put there while its own run goes on (trash.c). A run that ends
 * normally waits for that thread (unpack_sweep_wait()); one that is
 * interrupted does not, and the run after it goes on where it stopped.
 *
 * Costs: time grows with what the layers hold (names, entries, data),
 * not with the depth of the tree squared; memory stays under about 50 MiB
 * whatever the layer; a cancel (struct unpack_cb) takes effect within
 * milliseconds, however long the entry being written.
 *
 * Layer entries are read with libarchive but written with the *at()
 * system calls against directory fds opened from the rootfs down, one
 * component at a time with O_NOFOLLOW: symbolic links met on the way are
 * resolved by this module inside the rootfs (as under chroot), so no entry
 * can create, change or link anything outside it. OCI whiteouts are
 * applied; see unpack_int.h for the exact rules.
 */
#ifndef PULLTOP_UNPACK_H
#define PULLTOP_UNPACK_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct unpack;

/*
 * Prepare DIR/NAME (DIR is created if missing). Returns 1 (and *u NULL)
 * when DIR/NAME was already unpacked from manifest_digest; 0 with a fresh
 * staging folder; -1 with *cause (also when another unpack of NAME is
 * running).
 */
int unpack_begin(const char *dir, const char *name,
    const char *manifest_digest, struct unpack **u, char **cause) WUR;

/*
 * What unpack_layer() tells its caller and asks of it: one struct of
 * callbacks (any of them may be NULL) and the ctx they all receive.
 *
 * Contract, for every callback:
 *  - It is called only on the thread that called unpack_layer(), only
 *    while that call runs, and never twice at once. The helper thread that
 *    decompresses the blob never calls it.
 *  - It must return promptly and must not block on the unpack's progress
 *    (the unpack is waiting for it): it may take its own locks, update
 *    its own state, wake other threads.
 *  - It must not call any unpack_*() function (on this unpack or another
 *    one that this thread is applying a layer to), and must not longjmp
 *    out of unpack_layer() or exit the process: the staging folder would
 *    be left behind.
 *  - Strings it receives are valid only for the call.
 */
struct unpack_cb {
	/*
	 * done of total: compressed bytes of the blob read so far and the size
	 * passed to unpack_layer(). Called once at the start, then about every
	 * 100 ms, and once more with everything read when the layer applied.
	 */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	/*
	 * Non-zero cancels the layer: unpack_layer() stops and returns -1 with
	 * a cause ending in "cancelled". Asked between entries and inside every
	 * loop the layer runs (data blocks, path components, directories
	 * removed, emptied or given their modes), so a cancel takes effect
	 * within milliseconds; once it has said yes it is not asked again for
	 * this layer. It is asked often: make it cheap (a flag, a short lock).
	 */
	int (*cancelled)(void *ctx);
	/*
	 * One line saying what was skipped (device nodes when not root,
	 * entries of unknown type, xattrs the file system refused, owners it
	 * would not take), starting "layer <12 hex>: ", at most one line per
	 * kind per layer, after the layer applied. msg holds no control
	 * characters.
	 */
	void (*warn)(void *ctx, const char *msg);
	void *ctx;
};

/*
 * Apply one layer (call in manifest order). media_type selects the
 * decompressor (...+gzip and docker's ...tar.gzip: zlib; ...+zstd:
 * libzstd; ...tar: none); the uncompressed stream must hash to diff_id
 * (the config's rootfs.diff_ids[i]; NULL skips the check). size is the
 * blob's compressed size, for progress. cb may be NULL. On -1, *cause
 * starts "layer <12 hex>: " and the staging rootfs is unusable: call
 * unpack_abort().
 */
int unpack_layer(struct unpack *u, const char *blob_path,
    const char *media_type, const char *diff_id, uint64_t size,
    const struct unpack_cb *cb, char **cause) WUR;

/*
 * Put the staging rootfs at DIR/NAME (swapping out any previous one, which
 * is then removed) and write the marker. Frees u, on failure too (the
 * staging folder is then removed).
 */
int unpack_commit(struct unpack *u, char **cause) WUR;

/*
 * Remove the staging folder, leaving any previous DIR/NAME intact. Frees
 * u. After a layer that returned "cancelled" the folder is moved into
 * DIR/.pulltop-trash instead (as unpack_cancel() does), at once; otherwise
 * it is deleted before this returns.
 */
void unpack_abort(struct unpack *u);

/*
 * For an unpack its caller gave up on (cancelled, interrupted): move the
 * staging folder into DIR/.pulltop-trash in one rename, whatever it holds,
 * and free u. Deleting it is left to the next unpack_begin() in DIR.
 */
void unpack_cancel(struct unpack *u);

/*
 * Wait until the helper thread an unpack_begin() of this process started
 * has deleted the trash of earlier runs (at once when there is none), or
 * until *stop (a signal flag; NULL: none) is non-zero.
 */
void unpack_sweep_wait(const volatile sig_atomic_t *stop);

/* The final DIR/NAME. */
const char *unpack_path(const struct unpack *u);

/* ref with every '/' and ':' turned into '_' (truncated to fit n). */
void unpack_name(const char *ref, char *out, size_t n);

#endif
