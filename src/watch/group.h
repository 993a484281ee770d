/*
 * group.h - layers grouped into images (private to src/watch). containerd
 * commits an image's manifest before it fetches the layers, so the
 * manifests already in blobs/sha256/ say which image an active layer
 * belongs to. The group keeps a cache of what every blob there is (a
 * manifest, an index, or neither: read once, blobs never change) and the
 * images it made in the model.
 */
#ifndef PULLTOP_WATCH_GROUP_H
#define PULLTOP_WATCH_GROUP_H

struct model;
struct group;

#define GROUP_MANIFEST_MAX (4u << 20)	/* larger blobs are not read */

enum blob_state;
struct model_blob;

/* Lock held: put b in state st and keep it among the states it visited
 * (the headless views tell each once). For every state the watch sets. */
void group_blob_state(struct model_blob *b, enum blob_state st);

/* content_fd: the content store's folder, kept open by the caller. */
struct group *group_new(int content_fd);
void group_free(struct group *g);

/*
 * Read the manifests committed since the last call (nothing when the
 * blobs folder has not changed). File I/O: call without the model lock.
 * Returns 1 when something new was read.
 */
int group_refresh(struct group *g);

/*
 * Lock held. Put blob (a layer or config with a known digest, seen in
 * namespace ns) into the image whose manifest lists it: the image is
 * made on first need ("ns@sha256:..."), with a record for each of its
 * layers (Already exists when in the store, else Waiting). Returns the
 * image id, or -1 when no manifest read so far lists it.
 */
int group_place(struct group *g, struct model *m, int blob, const char *ns);

/*
 * Lock held. Bring each image's state up to date with its layers: in
 * flight, complete, or stopped (nothing in flight for idle seconds: its
 * Waiting layers are then Aborted, and come back when it goes on).
 */
void group_update(struct group *g, struct model *m, double now,
    double idle);

#endif
