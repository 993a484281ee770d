/*
 * colors.h - colours named by role (what is drawn), never by colour. The
 * roles live in one table with a built-in dark scheme; a theme file only
 * has to change rows of that table.
 */
#ifndef PULLTOP_COLORS_H
#define PULLTOP_COLORS_H

#include "tui.h"

enum role {
	ROLE_NORMAL,
	ROLE_LABEL,		/* quiet text: header labels, "Waiting" */
	ROLE_HEADER,		/* header values */
	ROLE_PANE_TITLE,	/* a pane's title rule */
	ROLE_PANE_TITLE_FOCUS,	/* the focused pane's title */
	ROLE_SELECTED,		/* the selected row of the focused pane */
	ROLE_BAR_DONE,
	ROLE_BAR_TODO,
	ROLE_STATE_DOWNLOADING,
	ROLE_STATE_RETRYING,
	ROLE_STATE_STALLED,
	ROLE_STATE_FAILED,
	ROLE_STATE_COMPLETE,
	ROLE_STATE_EXISTS,
	ROLE_EVENT_WARN,
	ROLE_EVENT_ERROR,
	ROLE_KEYBAR,		/* key bar labels */
	ROLE_KEYBAR_KEY,	/* key bar keys */
	ROLE_SPARKLINE,
	ROLE_BOX,		/* overlay boxes (help, detail, prompts) */
	ROLE_COUNT
};

/* Set up colour pairs (after newterm); mono when use_color is 0. */
void colors_init(int use_color);
/* The curses attributes (pair included) to draw role r with. */
attr_t colors_attr(enum role r);
/* The role's name as a theme file spells it ("bar-done"). */
const char *colors_name(enum role r);
/* 1 if colour pairs are in use. */
int colors_enabled(void);

#endif
