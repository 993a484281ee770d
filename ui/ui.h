/*
 * ui.h - the full-screen dashboard. The only part of pulltop that knows
 * curses; it reads a source (model.h) through snapshots and drives it
 * through the source's operations.
 */
#ifndef PULLTOP_UI_H
#define PULLTOP_UI_H

#include <stddef.h>

struct source;
struct options;

/*
 * Can the dashboard run here? 0 if the terminal is usable, -1 (with a
 * reason in why) when TERM is dumb, unset, or has no terminfo entry.
 */
int ui_available(char *why, size_t n);

/*
 * Run the dashboard until the user quits (or, with --exit-when-done, until
 * every image is final). Returns the exit status: 0 all pulled, 1 some
 * failed or were cancelled, 130/143 on SIGINT/SIGTERM. Prints a summary
 * line per image on the normal screen after leaving the dashboard.
 */
int ui_run(struct source *src, const struct options *o);

#endif
