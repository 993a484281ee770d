/*
 * watch.h - sources that watch a pull somebody else is doing, read only:
 * containerd's content store (what kubelet, ctr or nerdctl are pulling on
 * this machine), shown by the same views as pulltop's own pulls.
 *
 * A watch source offers no operations (caps 0, read_only set): no key
 * changes anything in containerd. Its thread writes the model; the
 * source's free op stops and joins it.
 */
#ifndef PULLTOP_WATCH_H
#define PULLTOP_WATCH_H

#include <stddef.h>
#include <stdint.h>

struct options;
struct source;

#define WATCH_CONTAINERD_ROOT "/var/lib/containerd"
/* The content store's folder under containerd's root. */
#define WATCH_CONTENT_DIR "io.containerd.content.v1.content"
/* Seconds without a growing download before --exit-when-done leaves. */
#define WATCH_IDLE_EXIT 3.0

/*
 * Watch containerd's content store under root (containerd's "root"
 * setting; NULL: /var/lib/containerd). Reads o->stall_timeout and
 * o->exit_when_done. Returns the source, its thread running; or NULL
 * with *cause: one line naming the path (no content store there), or
 * saying that root is needed (permission denied).
 */
struct source *watch_containerd_new(const char *root,
    const struct options *o, char **cause);

#endif
