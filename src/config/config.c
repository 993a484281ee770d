/*
 * config.c - the run's settings before the command line is read.
 */
#include "config.h"

#include <string.h>

void
options_defaults(struct options *o)
{
	memset(o, 0, sizeof *o);
	o->progress = PROGRESS_AUTO;
	o->jobs = 3;
	o->retries = 5;
	o->retry_delay = 5;
	o->stall_timeout = 30;
	o->chunks = 4;
	o->chunk_min = 64u << 20;
}
