/*
 * colors.h - colours named by role (what is drawn), never by colour. The
 * roles and the built-in dark theme live in theme.h (no curses there);
 * this file turns a theme into curses attributes for the terminal at hand.
 */
#ifndef PULLTOP_COLORS_H
#define PULLTOP_COLORS_H

#include "tui.h"
#include "theme.h"

/*
 * Set up colour (after newterm) and draw with the built-in theme; without
 * colour when use_color is 0 (NO_COLOR) or the terminal has none.
 */
void colors_init(int use_color);
/*
 * Draw with theme t from now on: colour pairs are redefined, so it also
 * works while the dashboard runs (force a full repaint afterwards).
 */
void colors_apply(const struct theme *t);
/* The curses attributes (pair included) to draw role r with. */
attr_t colors_attr(enum role r);
/* The role's name as a theme file spells it ("bar-done"). */
const char *colors_name(enum role r);
/* 1 if colour pairs are in use. */
int colors_enabled(void);

#endif
