/*
 * prompt.c - the one-line editor: insert, Backspace/Delete, Left/Right,
 * Home/End (and Ctrl-A/Ctrl-E), Ctrl-U (clear to the start), Ctrl-W (a
 * word back); Enter accepts, Escape cancels. What it shows is sanitized
 * first: typed text is outside input like any other.
 */
#include "prompt.h"
#include "colors.h"
#include "draw.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

#define UI_CTRL(c) ((c) & 0x1f)

/* Append code point c as UTF-8 to out (n bytes, o used); 0 if no room. */
static int
prompt_put(char *out, size_t n, size_t *o, unsigned int c)
{
	char b[4];
	size_t len, i;

	if (c < 0x80) {
		b[0] = (char)c;
		len = 1;
	} else if (c < 0x800) {
		b[0] = (char)(0xc0 | (c >> 6));
		b[1] = (char)(0x80 | (c & 0x3f));
		len = 2;
	} else if (c < 0x10000) {
		b[0] = (char)(0xe0 | (c >> 12));
		b[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		b[2] = (char)(0x80 | (c & 0x3f));
		len = 3;
	} else {
		b[0] = (char)(0xf0 | (c >> 18));
		b[1] = (char)(0x80 | ((c >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((c >> 6) & 0x3f));
		b[3] = (char)(0x80 | (c & 0x3f));
		len = 4;
	}
	if (*o + len >= n)
		return 0;
	for (i = 0; i < len; i++)
		out[(*o)++] = b[i];
	return 1;
}

void
prompt_open(struct prompt *p, const char *label, const char *init)
{
	const unsigned char *s = (const unsigned char *)(init ? init : "");

	memset(p, 0, sizeof *p);
	p->label = label;
	/* init is our own earlier text: ASCII or UTF-8 from prompt_text */
	while (*s != '\0' && p->len < PROMPT_MAX) {
		unsigned int c = *s++;
		int more = 0;

		if (c >= 0xf0)
			more = 3, c &= 0x07;
		else if (c >= 0xe0)
			more = 2, c &= 0x0f;
		else if (c >= 0xc0)
			more = 1, c &= 0x1f;
		while (more-- > 0 && (*s & 0xc0) == 0x80)
			c = (c << 6) | (*s++ & 0x3f);
		p->text[p->len++] = (wchar_t)c;
	}
	p->cur = p->len;
}

static void
prompt_delete(struct prompt *p, int from, int to)
{
	if (from < 0)
		from = 0;
	if (to > p->len)
		to = p->len;
	if (from >= to)
		return;
	memmove(p->text + from, p->text + to,
	    (size_t)(p->len - to) * sizeof p->text[0]);
	p->len -= to - from;
	if (p->cur > to)
		p->cur -= to - from;
	else if (p->cur > from)
		p->cur = from;
}

enum prompt_result
prompt_key(struct prompt *p, wint_t c, int is_key)
{
	int i;

	if (is_key) {
		switch (c) {
		case KEY_ENTER:
			return PROMPT_ACCEPT;
		case KEY_BACKSPACE:
			prompt_delete(p, p->cur - 1, p->cur);
			break;
		case KEY_DC:
			prompt_delete(p, p->cur, p->cur + 1);
			break;
		case KEY_LEFT:
			if (p->cur > 0)
				p->cur--;
			break;
		case KEY_RIGHT:
			if (p->cur < p->len)
				p->cur++;
			break;
		case KEY_HOME:
			p->cur = 0;
			break;
		case KEY_END:
			p->cur = p->len;
			break;
		}
		return PROMPT_EDITING;
	}
	switch (c) {
	case '\r':
	case '\n':
		return PROMPT_ACCEPT;
	case 27:
		return PROMPT_CANCEL;
	case 127:
	case UI_CTRL('H'):
		prompt_delete(p, p->cur - 1, p->cur);
		return PROMPT_EDITING;
	case UI_CTRL('U'):
		prompt_delete(p, 0, p->cur);
		return PROMPT_EDITING;
	case UI_CTRL('K'):
		prompt_delete(p, p->cur, p->len);
		return PROMPT_EDITING;
	case UI_CTRL('W'):
		i = p->cur;
		while (i > 0 && p->text[i - 1] == L' ')
			i--;
		while (i > 0 && p->text[i - 1] != L' ')
			i--;
		prompt_delete(p, i, p->cur);
		return PROMPT_EDITING;
	case UI_CTRL('A'):
		p->cur = 0;
		return PROMPT_EDITING;
	case UI_CTRL('E'):
		p->cur = p->len;
		return PROMPT_EDITING;
	}
	if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c > 0x10ffff ||
	    p->len >= PROMPT_MAX)
		return PROMPT_EDITING;
	memmove(p->text + p->cur + 1, p->text + p->cur,
	    (size_t)(p->len - p->cur) * sizeof p->text[0]);
	p->text[p->cur++] = (wchar_t)c;
	p->len++;
	return PROMPT_EDITING;
}

/* UTF-8 of text[from, to). */
static void
prompt_range(const struct prompt *p, int from, int to, char *out, size_t n)
{
	size_t o = 0;
	int i;

	if (n == 0)
		return;
	for (i = from; i < to; i++)
		if (!prompt_put(out, n, &o, (unsigned int)p->text[i]))
			break;
	out[o] = '\0';
}

void
prompt_text(const struct prompt *p, char *out, size_t n)
{
	prompt_range(p, 0, p->len, out, n);
}

void
prompt_draw(const struct prompt *p, WINDOW *w, int y, int width)
{
	char raw[PROMPT_MAX * 4 + 1], before[PROMPT_MAX * 4 + 1];
	char clean[PROMPT_MAX * 4 + 1], cleanb[PROMPT_MAX * 4 + 1];
	attr_t a = colors_attr(ROLE_NORMAL);
	int lw, room, cx, skip;

	draw_blank(w, y, 0, width, a);
	lw = draw_text(w, y, 0, width, p->label, colors_attr(ROLE_HEADER));
	room = width - lw - 1;
	if (room < 1)
		return;
	prompt_text(p, raw, sizeof raw);
	prompt_range(p, 0, p->cur, before, sizeof before);
	sanitize(clean, sizeof clean, raw);
	sanitize(cleanb, sizeof cleanb, before);
	/* scroll left so that the cursor stays on screen */
	cx = draw_width(cleanb);
	skip = 0;
	if (cx >= room) {
		const char *s = clean;
		int drop = cx - room + 1;

		while (*s != '\0' && skip < drop) {
			const char *t = s + 1;
			char one[8];

			while ((*t & 0xc0) == 0x80)
				t++;
			snprintf(one, sizeof one, "%.*s", (int)(t - s), s);
			skip += draw_width(one);
			s = t;
		}
		draw_text(w, y, lw, room, s, a);
		cx -= skip;
	} else
		draw_text(w, y, lw, room, clean, a);
	wmove(w, y, lw + cx);
}
