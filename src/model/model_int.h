/*
 * model_int.h - what snapshot.c may read of the model's private state,
 * always with the model's lock held. Nobody outside src/model sees it.
 */
#ifndef PULLTOP_MODEL_INT_H
#define PULLTOP_MODEL_INT_H

#include "model.h"

struct model_view {
	uint64_t gen;
	double started;
	int jobs_limit;
	double rate_cap;
	int64_t space_free;
	enum model_final final;
	int nimages, nblobs;
	struct model_image **images;
	struct model_blob **blobs;
	const struct model_tally *tally;
};

void model_view_get(struct model *m, struct model_view *v);
/* Call fn for every event kept with a seq after `after`, oldest first. */
void model_view_events(struct model *m, uint64_t after,
    void (*fn)(void *ctx, const struct model_event *e), void *ctx);

#endif
