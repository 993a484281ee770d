/*
 * theme.h - colour themes without curses: the roles the dashboard colours,
 * the built-in dark theme, the parser of theme files (outside input: every
 * line and the whole file are capped), the mapping of a theme colour down
 * to what a terminal has (direct colour, 256, 16, 8), and where theme
 * files are looked up. ui/colors.c turns a struct theme into curses
 * attributes; nothing here includes curses, so tests/fuzz can link
 * ui/theme.c alone.
 */
#ifndef PULLTOP_THEME_H
#define PULLTOP_THEME_H

#include <stddef.h>

/* What is coloured; a theme file names them as theme_role_name() spells. */
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

#define THEME_FILE_MAX	(64 * 1024)	/* bytes in a theme file */
#define THEME_LINE_MAX	256		/* bytes in one line */
#define THEME_WARN_MAX	10		/* warnings reported per file */
#define THEME_NAME_MAX	64		/* a theme's name, NUL included */
#define THEME_PATH_MAX	4096
#define THEME_DIRS_MAX	4
#define THEME_LIST_MAX	128		/* themes offered by the t key */

/* Attributes, curses-free; colors.c turns them into A_* bits. */
#define THEME_ATTR_BOLD		0x01u
#define THEME_ATTR_DIM		0x02u
#define THEME_ATTR_UNDERLINE	0x04u
#define THEME_ATTR_REVERSE	0x08u
#define THEME_ATTR_ITALIC	0x10u
#define THEME_ATTR_BLINK	0x20u

enum theme_colour_kind {
	THEME_COLOUR_DEFAULT,	/* the terminal's own (or the theme's normal) */
	THEME_COLOUR_INDEX,	/* 0-255: 0-7 named, 8-15 bright, xterm-256 */
	THEME_COLOUR_RGB	/* value is 0xrrggbb */
};

struct theme_colour {
	enum theme_colour_kind kind;
	int value;
};

struct theme_style {
	struct theme_colour fg, bg;
	unsigned attrs;		/* THEME_ATTR_* */
};

struct theme {
	struct theme_style style[ROLE_COUNT];
	unsigned char set[ROLE_COUNT];	/* 1 if the file gave the role */
};

/* Receives one warning, "FILE:LINE: problem", already free of controls. */
typedef void theme_warn_fn(void *ctx, const char *msg);

/* The role's name in a theme file ("bar-done"); "?" if out of range. */
const char *theme_role_name(int role);
/* The role called name, or -1. */
int theme_role_find(const char *name);

/* Fill t with the built-in dark theme (what themes/default.theme says). */
void theme_builtin(struct theme *t);
/* The attributes a role keeps at least when there is no colour. */
unsigned theme_mono_attrs(int role);

/*
 * Parse len bytes of a theme file over the built-in theme: out starts as
 * theme_builtin() and each good line replaces its role's style. A bad line
 * (junk, unknown role, bad colour or attribute, foreground the same as the
 * background, too long, a NUL byte) is skipped with one warning naming
 * filename:line, so its role keeps the default. At most THEME_WARN_MAX
 * warnings, then one saying how many more. A text over THEME_FILE_MAX is
 * refused whole. warn may be NULL. Returns the number of problems found
 * (0: clean), or -1 if the text was refused.
 */
int theme_parse(const char *text, size_t len, const char *filename,
    struct theme *out, theme_warn_fn *warn, void *ctx);

/* Parse one colour word ("brightred", "colour33", "#d33682"); 0 or -1. */
int theme_colour_parse(const char *s, struct theme_colour *c);
/* Parse one attribute word ("bold", "none"); the bit (0 for none), or -1. */
int theme_attr_parse(const char *s, unsigned *bit);

/*
 * The colour number to give a terminal with ncolours colours, or -1 for
 * THEME_COLOUR_DEFAULT. With direct set (a terminal whose colour numbers
 * are 0xrrggbb) RGB stays exact. Else #rrggbb and colour16-255 become the
 * nearest xterm-256 index (6x6x6 cube or grey ramp) when ncolours >= 256,
 * and the nearest of the 16 (or 8) basic colours below that; a bright
 * colour on an 8-colour terminal becomes its basic colour and sets *bold.
 */
int theme_colour_map(const struct theme_colour *c, int ncolours, int direct,
    int *bold);
/* The 0xrrggbb the xterm palette gives colour index i (0-255). */
int theme_index_rgb(int i);

/*
 * The folders searched for NAME.theme, in order: $XDG_CONFIG_HOME/pulltop/
 * themes (default ~/.config/pulltop/themes), the installed themes folder
 * (../share/pulltop/themes from the running executable, if it exists,
 * then PULLTOP_DATADIR/themes), then ./themes. Returns how many.
 */
int theme_dirs(char dirs[][THEME_PATH_MAX], int max);

/* 1 if spec is a file path (has a '/' or ends in .theme), 0 if a NAME. */
int theme_is_path(const char *spec);

/*
 * Find a theme: a path is checked for reading; a NAME is looked up as
 * NAME.theme in theme_dirs(). On success path holds the file, or "" for
 * the built-in default ("default" with no default.theme anywhere), and
 * name the theme's name (a path's file name without .theme). On failure
 * returns -1 with a one-line reason in why naming where it looked.
 */
int theme_find(const char *spec, char *path, size_t pathn, char *name,
    size_t namen, char *why, size_t whyn);

/*
 * Find, read (at most THEME_FILE_MAX bytes) and parse a theme into out.
 * A file that cannot be found, read, or is too big warns and leaves out
 * as the built-in theme; returns -1 then, else theme_parse's count.
 */
int theme_load(const char *spec, struct theme *out, char *name,
    size_t namen, theme_warn_fn *warn, void *ctx);

/*
 * The themes the t key cycles through: the names of the *.theme files in
 * theme_dirs() plus "default" (built in), sorted and without repeats.
 * Returns how many were stored in names.
 */
int theme_list(char names[][THEME_NAME_MAX], int max);

/*
 * Copy src (n bytes, or up to its NUL if n is (size_t)-1) into dst for a
 * message: at most max bytes, control characters and bad UTF-8 as '?',
 * "..." if cut (theme.c; theme_find.c uses it too).
 */
void theme_clean(char *dst, size_t dstn, const char *src, size_t n,
    size_t max);

#endif
