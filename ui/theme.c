/*
 * theme.c - colour themes without curses: the role names, the built-in
 * dark theme, the theme file parser, and the mapping of colours down to
 * what a terminal has (theme_find.c finds the files).
 *
 * A theme file is outside input: the file is read up to THEME_FILE_MAX
 * bytes, each line up to THEME_LINE_MAX, every word is matched against
 * fixed tables, and whatever goes into a warning is stripped of control
 * characters first. A bad line is skipped with a warning; nothing in a
 * file can stop the dashboard from drawing. Only libc is used here, so a
 * fuzz target links this file alone.
 */
#include "theme.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PULLTOP_DATADIR
#define PULLTOP_DATADIR "/usr/local/share/pulltop"
#endif

#define C(k, v)		{ THEME_COLOUR_##k, (v) }
#define DEF		C(DEFAULT, 0)
#define IX(i)		C(INDEX, (i))
#define B		THEME_ATTR_BOLD
#define D		THEME_ATTR_DIM
#define R		THEME_ATTR_REVERSE

enum { BLACK, RED, GREEN, YELLOW, BLUE, MAGENTA, CYAN, WHITE };

static const char *const theme_role_names[ROLE_COUNT] = {
	[ROLE_NORMAL] = "normal",
	[ROLE_LABEL] = "label",
	[ROLE_HEADER] = "header",
	[ROLE_PANE_TITLE] = "pane-title",
	[ROLE_PANE_TITLE_FOCUS] = "pane-title-focus",
	[ROLE_SELECTED] = "selected",
	[ROLE_BAR_DONE] = "bar-done",
	[ROLE_BAR_TODO] = "bar-todo",
	[ROLE_STATE_DOWNLOADING] = "state-downloading",
	[ROLE_STATE_RETRYING] = "state-retrying",
	[ROLE_STATE_STALLED] = "state-stalled",
	[ROLE_STATE_FAILED] = "state-failed",
	[ROLE_STATE_COMPLETE] = "state-complete",
	[ROLE_STATE_EXISTS] = "state-exists",
	[ROLE_EVENT_WARN] = "event-warn",
	[ROLE_EVENT_ERROR] = "event-error",
	[ROLE_KEYBAR] = "keybar",
	[ROLE_KEYBAR_KEY] = "keybar-key",
	[ROLE_SPARKLINE] = "sparkline",
	[ROLE_BOX] = "box",
};

/* The dark default; themes/default.theme says the same. */
static const struct theme_style theme_dark[ROLE_COUNT] = {
	[ROLE_NORMAL] =		  { DEF, DEF, 0 },
	[ROLE_LABEL] =		  { IX(WHITE), DEF, D },
	[ROLE_HEADER] =		  { IX(CYAN), DEF, B },
	[ROLE_PANE_TITLE] =	  { IX(CYAN), DEF, 0 },
	[ROLE_PANE_TITLE_FOCUS] = { IX(BLACK), IX(CYAN), B },
	[ROLE_SELECTED] =	  { IX(BLACK), IX(CYAN), 0 },
	[ROLE_BAR_DONE] =	  { IX(GREEN), DEF, 0 },
	[ROLE_BAR_TODO] =	  { IX(WHITE), DEF, D },
	[ROLE_STATE_DOWNLOADING] = { IX(CYAN), DEF, 0 },
	[ROLE_STATE_RETRYING] =	  { IX(YELLOW), DEF, B },
	[ROLE_STATE_STALLED] =	  { IX(MAGENTA), DEF, B },
	[ROLE_STATE_FAILED] =	  { IX(RED), DEF, B },
	[ROLE_STATE_COMPLETE] =	  { IX(GREEN), DEF, 0 },
	[ROLE_STATE_EXISTS] =	  { IX(BLUE), DEF, B },
	[ROLE_EVENT_WARN] =	  { IX(YELLOW), DEF, 0 },
	[ROLE_EVENT_ERROR] =	  { IX(RED), DEF, B },
	[ROLE_KEYBAR] =		  { IX(BLACK), IX(CYAN), 0 },
	[ROLE_KEYBAR_KEY] =	  { IX(WHITE), IX(BLACK), B },
	[ROLE_SPARKLINE] =	  { IX(GREEN), DEF, 0 },
	[ROLE_BOX] =		  { IX(CYAN), DEF, B },
};

/*
 * Without colour every theme keeps at least these, so the selection, the
 * focused title and the key bar stand out on any terminal.
 */
static const unsigned theme_mono[ROLE_COUNT] = {
	[ROLE_HEADER] = B,
	[ROLE_PANE_TITLE] = B,
	[ROLE_PANE_TITLE_FOCUS] = R | B,
	[ROLE_SELECTED] = R,
	[ROLE_STATE_RETRYING] = B,
	[ROLE_STATE_STALLED] = B,
	[ROLE_STATE_FAILED] = B,
	[ROLE_EVENT_ERROR] = B,
	[ROLE_KEYBAR] = R,
	[ROLE_KEYBAR_KEY] = B,
	[ROLE_BOX] = B,
};

static const char *const theme_colour_names[8] = {
	"black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"
};

static const struct {
	const char *name;
	unsigned bit;
} theme_attr_names[] = {
	{ "none", 0 },
	{ "bold", THEME_ATTR_BOLD },
	{ "dim", THEME_ATTR_DIM },
	{ "underline", THEME_ATTR_UNDERLINE },
	{ "reverse", THEME_ATTR_REVERSE },
	{ "italic", THEME_ATTR_ITALIC },
	{ "blink", THEME_ATTR_BLINK },
};

/* xterm's default palette for 0-15. */
static const int theme_basic_rgb[16] = {
	0x000000, 0xcd0000, 0x00cd00, 0xcdcd00, 0x0000ee, 0xcd00cd, 0x00cdcd,
	0xe5e5e5, 0x7f7f7f, 0xff0000, 0x00ff00, 0xffff00, 0x5c5cff, 0xff00ff,
	0x00ffff, 0xffffff
};

static const int theme_cube[6] = { 0x00, 0x5f, 0x87, 0xaf, 0xd7, 0xff };

const char *
theme_role_name(int role)
{
	if (role < 0 || role >= ROLE_COUNT)
		return "?";
	return theme_role_names[role];
}

int
theme_role_find(const char *name)
{
	int i;

	for (i = 0; i < ROLE_COUNT; i++)
		if (strcasecmp(name, theme_role_names[i]) == 0)
			return i;
	return -1;
}

void
theme_builtin(struct theme *t)
{
	memset(t, 0, sizeof *t);
	memcpy(t->style, theme_dark, sizeof t->style);
}

unsigned
theme_mono_attrs(int role)
{
	if (role < 0 || role >= ROLE_COUNT)
		return 0;
	return theme_mono[role];
}

/*
 * Copy src (n bytes, or up to its NUL if n is (size_t)-1) into dst for a
 * message: at most max bytes of it, control characters and bytes that are
 * not well-formed UTF-8 (or are C1 controls) as '?', "..." if cut.
 */
void
theme_clean(char *dst, size_t dstn, const char *src, size_t n, size_t max)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, o = 0, len, k;
	unsigned cp;

	if (dstn == 0)
		return;
	if (n == (size_t)-1)
		n = strlen(src);
	while (i < n && o + 4 < dstn && o < max) {
		unsigned char c = s[i];

		len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 :
		    (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		if (len == 1) {
			dst[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
			i++;
			continue;
		}
		cp = len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
		for (k = 1; len > 1 && k < len; k++) {
			if (i + k >= n || (s[i + k] & 0xc0) != 0x80)
				break;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (len < 2 || k < len || cp < 0xa0 ||
		    (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
		    o + len + 4 >= dstn) {
			dst[o++] = '?';
			i++;
			continue;
		}
		memcpy(dst + o, s + i, len);
		o += len;
		i += len;
	}
	if (i < n && o + 3 < dstn) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
}

/* The parser's state: where warnings go and how many there were. */
struct theme_parser {
	char file[160];		/* cleaned file name for messages */
	theme_warn_fn *warn;
	void *ctx;
	int problems;
};

static void theme_problem(struct theme_parser *p, unsigned line,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
theme_problem(struct theme_parser *p, unsigned line, const char *fmt, ...)
{
	char text[320], msg[512];
	va_list ap;

	if (p->problems++ >= THEME_WARN_MAX || p->warn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(msg, sizeof msg, "%s:%u: %s", p->file, line, text);
	else
		snprintf(msg, sizeof msg, "%s: %s", p->file, text);
	p->warn(p->ctx, msg);
}

int
theme_colour_parse(const char *s, struct theme_colour *c)
{
	const char *n = s;
	char *end;
	long v;
	int i, bright = 0;

	if (strcasecmp(s, "default") == 0) {
		c->kind = THEME_COLOUR_DEFAULT;
		c->value = 0;
		return 0;
	}
	if (s[0] == '#') {
		for (i = 1; i <= 6; i++)
			if (!isxdigit((unsigned char)s[i]))
				return -1;
		if (s[7] != '\0')
			return -1;
		c->kind = THEME_COLOUR_RGB;
		c->value = (int)strtol(s + 1, NULL, 16);
		return 0;
	}
	if (strncasecmp(s, "colour", 6) == 0 || strncasecmp(s, "color", 5) == 0) {
		n = s + (tolower((unsigned char)s[4]) == 'u' ? 6 : 5);
		if (!isdigit((unsigned char)n[0]) || strlen(n) > 3)
			return -1;
		v = strtol(n, &end, 10);
		if (*end != '\0' || v > 255)
			return -1;
		c->kind = THEME_COLOUR_INDEX;
		c->value = (int)v;
		return 0;
	}
	if (strncasecmp(n, "bright", 6) == 0) {
		bright = 8;
		n += 6;
		if (*n == '-')
			n++;
	}
	for (i = 0; i < 8; i++)
		if (strcasecmp(n, theme_colour_names[i]) == 0) {
			c->kind = THEME_COLOUR_INDEX;
			c->value = i + bright;
			return 0;
		}
	return -1;
}

int
theme_attr_parse(const char *s, unsigned *bit)
{
	size_t i;

	for (i = 0; i < sizeof theme_attr_names / sizeof theme_attr_names[0];
	    i++)
		if (strcasecmp(s, theme_attr_names[i].name) == 0) {
			*bit = theme_attr_names[i].bit;
			return 0;
		}
	return -1;
}

static int
theme_colour_same(const struct theme_colour *a, const struct theme_colour *b)
{
	return a->kind == b->kind && a->value == b->value;
}

/* Split s in place on blanks and commas; returns the number of words. */
static int
theme_words(char *s, char **w, int max)
{
	int n = 0;

	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		if (*s == '\0')
			return n;
		if (n == max)
			return max + 1;
		w[n++] = s;
		while (*s != '\0' && *s != ' ' && *s != '\t' && *s != ',')
			s++;
		if (*s != '\0')
			*s++ = '\0';
	}
}

static char *
theme_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	*e = '\0';
	return s;
}

/* One line of a theme file, n bytes at s (no newline). */
static void
theme_line(struct theme_parser *p, unsigned line, const char *s, size_t n,
    struct theme *out)
{
	char buf[THEME_LINE_MAX + 1], tok[48], *l, *eq, *w[8];
	struct theme_style st;
	unsigned bit;
	int role, nw, i;
	size_t k;

	if (n > THEME_LINE_MAX) {
		theme_problem(p, line, "line longer than %d bytes: ignored",
		    THEME_LINE_MAX);
		return;
	}
	if (memchr(s, '\0', n) != NULL) {
		theme_problem(p, line, "NUL byte in the line: ignored");
		return;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	/* '#' opens a comment at the start or after a blank, before a blank */
	for (k = 0; k < n; k++)
		if (buf[k] == '#' && (k == 0 || buf[k - 1] == ' ' ||
		    buf[k - 1] == '\t') && (buf[k + 1] == '\0' ||
		    buf[k + 1] == ' ' || buf[k + 1] == '\t' ||
		    buf[k + 1] == '\r' || buf[k + 1] == '#')) {
			buf[k] = '\0';
			break;
		}
	l = theme_trim(buf);
	if (*l == '#' || *l == '\0')
		return;
	eq = strchr(l, '=');
	if (eq == NULL || eq == l) {
		theme_clean(tok, sizeof tok, l, (size_t)-1, 32);
		theme_problem(p, line, "expected 'role = foreground background "
		    "attributes', not '%s'", tok);
		return;
	}
	*eq = '\0';
	l = theme_trim(l);
	role = theme_role_find(l);
	if (role < 0) {
		theme_clean(tok, sizeof tok, l, (size_t)-1, 32);
		theme_problem(p, line, "unknown role '%s'", tok);
		return;
	}
	nw = theme_words(eq + 1, w, (int)(sizeof w / sizeof w[0]));
	if (nw == 0) {
		theme_problem(p, line, "no colour for %s", theme_role_names[role]);
		return;
	}
	if (nw > (int)(sizeof w / sizeof w[0])) {
		theme_problem(p, line, "too many words for %s",
		    theme_role_names[role]);
		return;
	}
	memset(&st, 0, sizeof st);
	if (theme_colour_parse(w[0], &st.fg) != 0) {
		theme_clean(tok, sizeof tok, w[0], (size_t)-1, 32);
		theme_problem(p, line, "bad colour '%s' for %s (a name, colourN "
		    "or #rrggbb)", tok, theme_role_names[role]);
		return;
	}
	for (i = 1; i < nw; i++) {
		struct theme_colour c;

		if (theme_attr_parse(w[i], &bit) == 0) {
			st.attrs |= bit;
			continue;
		}
		theme_clean(tok, sizeof tok, w[i], (size_t)-1, 32);
		if (i == 1 && theme_colour_parse(w[i], &c) == 0) {
			st.bg = c;
			continue;
		}
		if (i == 1)
			theme_problem(p, line, "bad colour '%s' for %s (a name, "
			    "colourN or #rrggbb)", tok, theme_role_names[role]);
		else if (theme_colour_parse(w[i], &c) == 0)
			theme_problem(p, line, "a third colour '%s' for %s",
			    tok, theme_role_names[role]);
		else
			theme_problem(p, line, "bad attribute '%s' for %s (bold, "
			    "dim, underline, reverse, italic, blink or none)",
			    tok, theme_role_names[role]);
		return;
	}
	if (st.fg.kind != THEME_COLOUR_DEFAULT &&
	    theme_colour_same(&st.fg, &st.bg)) {
		theme_clean(tok, sizeof tok, w[0], (size_t)-1, 32);
		theme_problem(p, line, "%s is '%s' on '%s': unreadable, "
		    "default kept", theme_role_names[role], tok, tok);
		return;
	}
	out->style[role] = st;
	out->set[role] = 1;
}

int
theme_parse(const char *text, size_t len, const char *filename,
    struct theme *out, theme_warn_fn *warn, void *ctx)
{
	struct theme_parser p;
	const char *s, *nl;
	size_t off = 0, n;
	unsigned line = 0;

	memset(&p, 0, sizeof p);
	theme_clean(p.file, sizeof p.file, filename ? filename : "theme",
	    (size_t)-1, 120);
	p.warn = warn;
	p.ctx = ctx;
	theme_builtin(out);
	if (len > THEME_FILE_MAX) {
		theme_problem(&p, 0, "larger than %d KiB: ignored, using the "
		    "default theme", THEME_FILE_MAX / 1024);
		return -1;
	}
	if (text == NULL)
		return 0;
	while (off < len) {
		s = text + off;
		nl = memchr(s, '\n', len - off);
		n = nl != NULL ? (size_t)(nl - s) : len - off;
		off += n + (nl != NULL);
		line++;
		theme_line(&p, line, s, n, out);
	}
	if (p.problems > THEME_WARN_MAX && warn != NULL) {
		char msg[256];

		snprintf(msg, sizeof msg, "%s: %d more problem%s not shown",
		    p.file, p.problems - THEME_WARN_MAX,
		    p.problems - THEME_WARN_MAX > 1 ? "s" : "");
		warn(ctx, msg);
	}
	return p.problems;
}

/* ---------------------------------------------------------- mapping */

int
theme_index_rgb(int i)
{
	int g;

	if (i < 0 || i > 255)
		return 0;
	if (i < 16)
		return theme_basic_rgb[i];
	if (i >= 232) {
		g = 8 + (i - 232) * 10;
		return g << 16 | g << 8 | g;
	}
	i -= 16;
	return theme_cube[i / 36] << 16 | theme_cube[i / 6 % 6] << 8 |
	    theme_cube[i % 6];
}

static long
theme_dist(int a, int b)
{
	long r1 = a >> 16 & 0xff, g1 = a >> 8 & 0xff, b1 = a & 0xff;
	long r2 = b >> 16 & 0xff, g2 = b >> 8 & 0xff, b2 = b & 0xff;
	long rm = (r1 + r2) / 2, dr = r1 - r2, dg = g1 - g2, db = b1 - b2;

	/* "redmean": closer to what the eye sees than plain RGB distance */
	return ((512 + rm) * dr * dr >> 8) + 4 * dg * dg +
	    ((767 - rm) * db * db >> 8);
}

/* Nearest xterm-256 index: the 6x6x6 cube or the grey ramp (as tmux). */
static int
theme_nearest_256(int rgb)
{
	int r = rgb >> 16 & 0xff, g = rgb >> 8 & 0xff, b = rgb & 0xff;
	int qr, qg, qb, cube, grey, avg, gi;

#define Q(v) ((v) < 48 ? 0 : (v) < 115 ? 1 : ((v) - 35) / 40)
	qr = Q(r);
	qg = Q(g);
	qb = Q(b);
#undef Q
	cube = 16 + 36 * qr + 6 * qg + qb;
	if (theme_index_rgb(cube) == rgb)
		return cube;
	avg = (r + g + b) / 3;
	gi = avg > 238 ? 23 : avg < 8 ? 0 : (avg - 3) / 10;
	if (gi > 23)
		gi = 23;
	grey = 232 + gi;
	return theme_dist(theme_index_rgb(grey), rgb) <
	    theme_dist(theme_index_rgb(cube), rgb) ? grey : cube;
}

/* Nearest of the first n (8 or 16) basic colours. */
static int
theme_nearest_basic(int rgb, int n)
{
	long best = -1, d;
	int i, bi = 0;

	for (i = 0; i < n; i++) {
		d = theme_dist(theme_basic_rgb[i], rgb);
		if (best < 0 || d < best) {
			best = d;
			bi = i;
		}
	}
	return bi;
}

int
theme_colour_map(const struct theme_colour *c, int ncolours, int direct,
    int *bold)
{
	int v = c->value;

	if (c->kind == THEME_COLOUR_DEFAULT || ncolours < 8)
		return -1;
	if (c->kind == THEME_COLOUR_INDEX && (v < 0 || v > 255))
		return -1;
	if (c->kind == THEME_COLOUR_RGB)
		v &= 0xffffff;
	if (direct) {
		/* colour numbers are 0xrrggbb, except 0-7: the ANSI eight */
		if (c->kind == THEME_COLOUR_INDEX)
			return v < 8 ? v : theme_index_rgb(v);
		return v < 8 ? 0 : v;
	}
	if (ncolours >= 256)
		return c->kind == THEME_COLOUR_INDEX ? v : theme_nearest_256(v);
	if (c->kind == THEME_COLOUR_INDEX && v < 16) {
		if (v < ncolours)
			return v;
		if (bold != NULL)
			*bold = 1;
		return v - 8;
	}
	if (c->kind == THEME_COLOUR_INDEX)
		v = theme_index_rgb(v);
	return theme_nearest_basic(v, ncolours >= 16 ? 16 : 8);
}
