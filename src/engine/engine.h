/*
 * engine.h - pulltop's own pull engine, as a source (see model.h).
 *
 * DESIGN
 * One thread per image resolves its reference to a manifest for the
 * wanted platform, queues its layers as blob jobs, fetches the config
 * meanwhile, waits for the layers (unpacking each as it lands, with
 * --unpack) and commits the manifest and the index.json entry. Worker
 * threads, as many as the jobs limit, take WAITING blobs in the order
 * they were queued, download them unlocked into the store's partials
 * while hashing, and publish progress under the model's lock. A blob
 * wanted by several images is fetched once. Every state change goes
 * through one state machine (state.c) that also records the event.
 *
 * The source offers every operation: cancel and retry a layer or an
 * image, retry all, add an image, set the jobs limit.
 */
#ifndef PULLTOP_ENGINE_H
#define PULLTOP_ENGINE_H

#include "config.h"
#include "model.h"

/*
 * Open the store and start the workers. Returns NULL with *cause (one
 * line naming the store) when the store cannot be used.
 */
struct source *engine_new(const struct options *opt, char **cause);

#endif
