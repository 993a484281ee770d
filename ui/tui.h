/*
 * tui.h - the one place the dashboard includes curses from (like htop's
 * ProvideCurses.h): ncursesw with the wide-character (cchar_t, wget_wch)
 * interface turned on. Every ui/ file that draws includes this, never
 * <curses.h> directly.
 */
#ifndef PULLTOP_TUI_H
#define PULLTOP_TUI_H

#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <curses.h>

#endif
