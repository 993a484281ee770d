/*
 * keys.h - the dashboard's key table (keys.c): one row per action with
 * its keys, key bar label, help text and the source capability it needs.
 */
#ifndef PULLTOP_KEYS_H
#define PULLTOP_KEYS_H

#include <stddef.h>

#include "tui.h"
#include "model.h"

enum key_op {
	KEYS_HELP, KEYS_MOVE, KEYS_PANE, KEYS_DETAIL, KEYS_CANCEL,
	KEYS_RETRY, KEYS_RETRY_ALL, KEYS_ADD, KEYS_JOBS, KEYS_FILTER,
	KEYS_THEME, KEYS_ESCAPE, KEYS_REDRAW, KEYS_QUIT, KEYS_REMOVE,
};

#define KEYS_PER_ACTION 4

struct key_bind {
	wint_t code;
	int fn;			/* a curses KEY_ code, not a character */
};

struct key_action {
	const char *name;	/* as the help shows it */
	const char *bar_key;	/* as the key bar shows it; NULL: help only */
	const char *bar;	/* key bar label */
	const char *help;
	unsigned needs;		/* any of these source_cap bits; 0: the
				 * view's own */
	enum key_op op;
	struct key_bind keys[KEYS_PER_ACTION];
};

extern const struct key_action key_table[];
extern const size_t key_table_len;

/* The action bound to a key, or NULL. */
const struct key_action *keys_find(wint_t c, int is_key);
/* Does the source offer what the action needs? */
int keys_offered(const struct key_action *a, const struct source *src);

#endif
