/*
 * config.h - the run's settings, filled from the command line and the
 * environment by main.c and read (never written) by the engine.
 */
#ifndef PULLTOP_CONFIG_H
#define PULLTOP_CONFIG_H

#include <stdint.h>

enum progress_mode {
	PROGRESS_AUTO,
	PROGRESS_TTY,
	PROGRESS_PLAIN,
	PROGRESS_JSON,
	PROGRESS_QUIET,
};

#define MAX_INSECURE 32

struct options {
	const char *store;		/* store directory */
	const char *platform;		/* "os/arch[/variant]" or NULL */
	const char *unpack;		/* --unpack DIR or NULL */
	const char *theme;
	const char *creds;		/* USER:PASSWORD or NULL */
	const char *cacert;
	const char *insecure[MAX_INSECURE];
	int ninsecure;
	enum progress_mode progress;
	int jobs;			/* concurrent blob downloads */
	int retries;			/* attempts in all */
	double retry_delay;		/* seconds, times the attempt number */
	double stall_timeout;		/* seconds without bytes */
	uint64_t limit_rate;		/* bytes/s per download, 0 = none */
	int exit_when_done;
	const char *via;		/* --via ENGINE ("docker"): it pulls */
	const char *load;		/* --load ENGINE ("docker"): gets each */
};

void options_defaults(struct options *o);

#endif
