/*
 * colors.c - a theme (theme.h) into curses: every role gets colour pair
 * role + 1 and its attributes, cached for colors_attr().
 *
 * Colours are mapped down to what the terminal has: exact #rrggbb on a
 * direct-colour terminal (COLORS > 256 and the terminfo RGB flag), else
 * the nearest xterm-256 index, else the nearest of the 16 or 8 basic
 * colours (theme_colour_map). The palette is never redefined. The normal
 * role's colours become the screen's own (assume_default_colors), so a
 * light theme paints blank cells too, and stand in for "default" in every
 * other role. A role whose foreground and background come out the same
 * falls back to the built-in colours for that role, then to normal's.
 * Without colour (NO_COLOR, a mono terminal) a role gets its theme's
 * attributes plus theme_mono_attrs(): the selection, the focused title and
 * the key bar are always reversed, so every theme stays readable.
 */
#include "colors.h"

static attr_t colors_cache[ROLE_COUNT];
static int colors_on;		/* colour pairs in use */
static int colors_defaults;	/* use_default_colors() worked */
static int colors_direct;	/* colour numbers are 0xrrggbb */

void
colors_init(int use_color)
{
	struct theme t;

	colors_on = use_color && has_colors() && start_color() == OK &&
	    COLORS >= 8 && COLOR_PAIRS > ROLE_COUNT;
	if (colors_on) {
		colors_defaults = use_default_colors() == OK;
#if NCURSES_EXT_COLORS
		colors_direct = COLORS > 256 && tigetflag("RGB") > 0;
#else
		colors_direct = 0;
#endif
	}
	theme_builtin(&t);
	colors_apply(&t);
}

static attr_t
colors_attrs(unsigned a)
{
	attr_t r = A_NORMAL;

	if (a & THEME_ATTR_BOLD)
		r |= A_BOLD;
	if (a & THEME_ATTR_DIM)
		r |= A_DIM;
	if (a & THEME_ATTR_UNDERLINE)
		r |= A_UNDERLINE;
	if (a & THEME_ATTR_REVERSE)
		r |= A_REVERSE;
	if (a & THEME_ATTR_BLINK)
		r |= A_BLINK;
#ifdef A_ITALIC
	if (a & THEME_ATTR_ITALIC)
		r |= A_ITALIC;
#endif
	return r;
}

/* A theme colour as this terminal's colour number; -1 the default. */
static int
colors_map(const struct theme_colour *c, int *bold)
{
	return theme_colour_map(c, COLORS, colors_direct, bold);
}

/*
 * The colours of style s, "default" standing for normal's (nfg, nbg);
 * -1 if they come out the same, so the role would be unreadable.
 */
static int
colors_resolve(const struct theme_style *s, int nfg, int nbg, int *fg,
    int *bg, int *bold)
{
	*bold = 0;
	*fg = colors_map(&s->fg, bold);
	*bg = colors_map(&s->bg, NULL);
	if (*fg < 0)
		*fg = nfg;
	if (*bg < 0)
		*bg = nbg;
	return *fg >= 0 && *fg == *bg ? -1 : 0;
}

static void
colors_pair(int pair, int fg, int bg)
{
#if NCURSES_EXT_COLORS
	init_extended_pair(pair, fg, bg);
#else
	init_pair((short)pair, (short)fg, (short)bg);
#endif
}

void
colors_apply(const struct theme *t)
{
	struct theme builtin;
	int i, nfg, nbg, fg, bg, bold = 0;

	if (!colors_on) {
		for (i = 0; i < ROLE_COUNT; i++)
			colors_cache[i] = colors_attrs(t->style[i].attrs |
			    theme_mono_attrs(i));
		return;
	}
	theme_builtin(&builtin);
	nfg = colors_map(&t->style[ROLE_NORMAL].fg, &bold);
	nbg = colors_map(&t->style[ROLE_NORMAL].bg, NULL);
	if (nfg >= 0 && nfg == nbg)
		nfg = nbg = -1;
	if (colors_defaults)
		assume_default_colors(nfg, nbg);	/* pair 0: blank cells */
	else {
		if (nfg < 0)
			nfg = COLOR_WHITE;
		if (nbg < 0)
			nbg = COLOR_BLACK;
	}
	for (i = 0; i < ROLE_COUNT; i++) {
		if (colors_resolve(&t->style[i], nfg, nbg, &fg, &bg,
		    &bold) != 0 && colors_resolve(&builtin.style[i], nfg, nbg,
		    &fg, &bg, &bold) != 0) {
			fg = nfg;
			bg = nbg;
			bold = 0;
		}
		colors_pair(i + 1, fg, bg);
		colors_cache[i] = COLOR_PAIR(i + 1) |
		    colors_attrs(t->style[i].attrs) | (bold ? A_BOLD : 0);
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
	return theme_role_name((int)r);
}

int
colors_enabled(void)
{
	return colors_on;
}
