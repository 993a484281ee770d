/*
 * progress.h - the headless front ends: docker-style plain lines, Docker
 * JSONMessage lines, and quiet. Each watches the jobs queue through
 * snapshots and prints what changed.
 */
#ifndef PULLTOP_PROGRESS_H
#define PULLTOP_PROGRESS_H

struct jobq;
struct options;

/* Run until every image is final; returns the exit status. */
int progress_run(struct jobq *q, const struct options *o);

#endif
