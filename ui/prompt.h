/*
 * prompt.h - a one-line editor drawn on the bottom line: the "Add image"
 * and "Filter" prompts. Keeps wide characters; hands back UTF-8.
 */
#ifndef PULLTOP_PROMPT_H
#define PULLTOP_PROMPT_H

#include <stddef.h>
#include <wchar.h>

#include "tui.h"

#define PROMPT_MAX 255

struct prompt {
	const char *label;	/* "Add image: " */
	wchar_t text[PROMPT_MAX + 1];
	int len, cur;
};

enum prompt_result {
	PROMPT_EDITING,		/* still going (the text may have changed) */
	PROMPT_ACCEPT,		/* Enter */
	PROMPT_CANCEL,		/* Escape */
};

/* Start editing, with UTF-8 text init (may be NULL). */
void prompt_open(struct prompt *p, const char *label, const char *init);
/* Feed one key from wget_wch: is_key set for KEY_* codes. */
enum prompt_result prompt_key(struct prompt *p, wint_t c, int is_key);
/* The text as UTF-8 (not sanitized) into out. */
void prompt_text(const struct prompt *p, char *out, size_t n);
/* Draw on line y of w (width columns) and leave the cursor there. */
void prompt_draw(const struct prompt *p, WINDOW *w, int y, int width);

#endif
