/*
 * colors.c - the role table: for every role its colours and attributes in
 * the built-in dark scheme, and the attributes used instead when there is
 * no colour (NO_COLOR, or a terminal without it): bold and reverse only.
 */
#include "colors.h"

struct role_style {
	const char *name;
	short fg, bg;		/* curses colour numbers, -1 the default */
	attr_t attr;		/* added to the pair when in colour */
	attr_t mono;		/* used alone when there is no colour */
};

/* The dark default scheme. Rows are indexed by enum role. */
static const struct role_style colors_dark[ROLE_COUNT] = {
	[ROLE_NORMAL] =		{ "normal", -1, -1, A_NORMAL, A_NORMAL },
	[ROLE_LABEL] =		{ "label", COLOR_WHITE, -1, A_DIM, A_NORMAL },
	[ROLE_HEADER] =		{ "header", COLOR_CYAN, -1, A_BOLD, A_BOLD },
	[ROLE_PANE_TITLE] =	{ "pane-title", COLOR_CYAN, -1, A_NORMAL,
				  A_BOLD },
	[ROLE_PANE_TITLE_FOCUS] = { "pane-title-focus", COLOR_BLACK,
				  COLOR_CYAN, A_BOLD, A_REVERSE | A_BOLD },
	[ROLE_SELECTED] =	{ "selected", COLOR_BLACK, COLOR_CYAN, A_NORMAL,
				  A_REVERSE },
	[ROLE_BAR_DONE] =	{ "bar-done", COLOR_GREEN, -1, A_NORMAL,
				  A_NORMAL },
	[ROLE_BAR_TODO] =	{ "bar-todo", COLOR_WHITE, -1, A_DIM,
				  A_NORMAL },
	[ROLE_STATE_DOWNLOADING] = { "state-downloading", COLOR_CYAN, -1,
				  A_NORMAL, A_NORMAL },
	[ROLE_STATE_RETRYING] =	{ "state-retrying", COLOR_YELLOW, -1, A_BOLD,
				  A_BOLD },
	[ROLE_STATE_STALLED] =	{ "state-stalled", COLOR_MAGENTA, -1, A_BOLD,
				  A_BOLD },
	[ROLE_STATE_FAILED] =	{ "state-failed", COLOR_RED, -1, A_BOLD,
				  A_BOLD },
	[ROLE_STATE_COMPLETE] =	{ "state-complete", COLOR_GREEN, -1, A_NORMAL,
				  A_NORMAL },
	[ROLE_STATE_EXISTS] =	{ "state-exists", COLOR_BLUE, -1, A_BOLD,
				  A_NORMAL },
	[ROLE_EVENT_WARN] =	{ "event-warn", COLOR_YELLOW, -1, A_NORMAL,
				  A_NORMAL },
	[ROLE_EVENT_ERROR] =	{ "event-error", COLOR_RED, -1, A_BOLD,
				  A_BOLD },
	[ROLE_KEYBAR] =		{ "keybar", COLOR_BLACK, COLOR_CYAN, A_NORMAL,
				  A_REVERSE },
	[ROLE_KEYBAR_KEY] =	{ "keybar-key", COLOR_WHITE, COLOR_BLACK,
				  A_BOLD, A_BOLD },
	[ROLE_SPARKLINE] =	{ "sparkline", COLOR_GREEN, -1, A_NORMAL,
				  A_NORMAL },
	[ROLE_BOX] =		{ "box", COLOR_CYAN, -1, A_BOLD, A_BOLD },
};

static attr_t colors_cache[ROLE_COUNT];
static int colors_on;

void
colors_init(int use_color)
{
	int i, defaults;

	colors_on = use_color && has_colors() && start_color() == OK &&
	    COLORS >= 8 && COLOR_PAIRS > ROLE_COUNT;
	if (!colors_on) {
		for (i = 0; i < ROLE_COUNT; i++)
			colors_cache[i] = colors_dark[i].mono;
		return;
	}
	defaults = use_default_colors() == OK;
	for (i = 0; i < ROLE_COUNT; i++) {
		const struct role_style *s = &colors_dark[i];
		short fg = s->fg, bg = s->bg;

		if (!defaults) {
			if (fg < 0)
				fg = COLOR_WHITE;
			if (bg < 0)
				bg = COLOR_BLACK;
		}
		init_pair((short)(i + 1), fg, bg);
		colors_cache[i] = COLOR_PAIR(i + 1) | s->attr;
	}
}

attr_t
colors_attr(enum role r)
{
	if ((int)r < 0 || r >= ROLE_COUNT)
		return A_NORMAL;
	return colors_cache[r];
}

const char *
colors_name(enum role r)
{
	if ((int)r < 0 || r >= ROLE_COUNT)
		return "?";
	return colors_dark[r].name;
}

int
colors_enabled(void)
{
	return colors_on;
}
