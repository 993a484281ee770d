/*
 * avail.c - ui_available(): can the dashboard run on this terminal? Asks
 * terminfo directly (setupterm with an error return, which never exits),
 * so that main can fall back to plain lines instead of curses failing
 * half-way. Kept apart because <term.h> defines macros (lines, columns)
 * that would clash with ordinary names elsewhere.
 */
#include "ui.h"
#include "tui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <term.h>
#include <unistd.h>

int
ui_available(char *why, size_t n)
{
	const char *term = getenv("TERM");
	const char *cup;
	int err = 0;

	if (term == NULL || *term == '\0') {
		snprintf(why, n, "TERM is not set");
		return -1;
	}
	if (strcmp(term, "dumb") == 0) {
		snprintf(why, n, "TERM is dumb");
		return -1;
	}
	if (!isatty(STDOUT_FILENO)) {
		snprintf(why, n, "standard output is not a terminal");
		return -1;
	}
	if (setupterm(term, STDOUT_FILENO, &err) != OK) {
		if (err == 0)
			snprintf(why, n, "no terminfo entry for TERM '%.64s'",
			    term);
		else
			snprintf(why, n, "no terminfo database");
		return -1;
	}
	cup = tigetstr("cup");
	if (cup == NULL || cup == (const char *)-1) {
		snprintf(why, n, "terminal '%.64s' cannot move the cursor",
		    term);
		del_curterm(cur_term);
		return -1;
	}
	del_curterm(cur_term);
	return 0;
}
