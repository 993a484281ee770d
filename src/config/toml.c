/*
 * toml.c - the strict TOML reader of toml.h: one pass over the text with
 * the line counted, values put into a tree of tables as they come. The
 * first thing not understood stops the read with "NAME:LINE: what".
 */
#include "toml.h"
#include "util.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* struct toml.flags */
#define T_DEFINED	1u	/* a table named by a header, or made whole */
#define T_DOTTED	2u	/* a table made by a dotted key */
#define T_AOT		4u	/* an array made by [[headers]] */

struct rd {
	const char *p, *end;
	const char *name;
	int line;
	char *err;
	struct toml *root, *cur;
};

struct path {
	char *part[TOML_MAX_PARTS];
	int n;
	int line;
};

static int __attribute__((format(printf, 2, 3)))
fail(struct rd *r, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (r->err != NULL)
		return -1;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	r->err = xasprintf("%s:%d: %s", r->name, r->line, msg);
	free(msg);
	return -1;
}

/* A key made fit for a message: printable, and not too long. */
static const char *
shown(const char *key, char *out, size_t n)
{
	sanitize(out, n, key);
	return out;
}

const char *
toml_kind_name(enum toml_kind k)
{
	switch (k) {
	case TOML_STRING: return "a string";
	case TOML_INT: return "an integer";
	case TOML_BOOL: return "a boolean";
	case TOML_ARRAY: return "an array";
	case TOML_TABLE: return "a table";
	}
	return "a value";
}

static struct toml *
node_new(enum toml_kind kind, int line)
{
	struct toml *t = xcalloc(1, sizeof *t);

	t->kind = kind;
	t->line = line;
	return t;
}

void
toml_free(struct toml *t)
{
	int i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nkid; i++)
		toml_free(t->kid[i]);
	free(t->kid);
	free(t->key);
	free(t->str);
	free(t);
}

static int
node_add(struct rd *r, struct toml *parent, struct toml *kid)
{
	if (parent->kind == TOML_TABLE && parent->nkid >= TOML_MAX_KEYS) {
		toml_free(kid);
		return fail(r, "more than %d keys in one table", TOML_MAX_KEYS);
	}
	if (parent->nkid == parent->cap) {
		parent->cap = parent->cap ? parent->cap * 2 : 4;
		parent->kid = xrealloc(parent->kid,
		    (size_t)parent->cap * sizeof *parent->kid);
	}
	parent->kid[parent->nkid++] = kid;
	return 0;
}

const struct toml *
toml_get(const struct toml *t, const char *key)
{
	int i;

	if (t == NULL || t->kind != TOML_TABLE)
		return NULL;
	for (i = 0; i < t->nkid; i++)
		if (strcmp(t->kid[i]->key, key) == 0)
			return t->kid[i];
	return NULL;
}

static struct toml *
table_find(struct toml *t, const char *key)
{
	return (struct toml *)toml_get(t, key);
}

/* ------------------------------------------------------------ lexing */

static int
at(struct rd *r, size_t k)
{
	return r->p + k < r->end ? (unsigned char)r->p[k] : -1;
}

static void
skip_ws(struct rd *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t'))
		r->p++;
}

/* A comment, from '#' to the end of its line (the newline is left). */
static int
skip_comment(struct rd *r)
{
	if (at(r, 0) != '#')
		return 0;
	for (r->p++; r->p < r->end && *r->p != '\n'; r->p++) {
		unsigned char c = (unsigned char)*r->p;
		if (c == '\r' && at(r, 1) == '\n')
			continue;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(r, "control character in a comment");
	}
	return 0;
}

/* A newline ("\n" or "\r\n"): 1 if one was taken, else 0. */
static int
take_newline(struct rd *r)
{
	if (at(r, 0) == '\n') {
		r->p++;
		r->line++;
		return 1;
	}
	if (at(r, 0) == '\r' && at(r, 1) == '\n') {
		r->p += 2;
		r->line++;
		return 1;
	}
	return 0;
}

/* Blanks, comments and newlines, as allowed inside an array. */
static int
skip_space(struct rd *r)
{
	for (;;) {
		skip_ws(r);
		if (skip_comment(r) != 0)
			return -1;
		if (!take_newline(r))
			return 0;
	}
}

/* After a value or a header: blanks, a comment, then a newline or the end. */
static int
end_of_line(struct rd *r, const char *after)
{
	skip_ws(r);
	if (skip_comment(r) != 0)
		return -1;
	if (r->p == r->end || take_newline(r))
		return 0;
	if (at(r, 0) == '\r')
		return fail(r, "carriage return without a newline");
	return fail(r, "expected the end of the line after %s", after);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void
put_utf8(struct buf *b, unsigned long c)
{
	unsigned char u[4];
	size_t n;

	if (c < 0x80) {
		u[0] = (unsigned char)c;
		n = 1;
	} else if (c < 0x800) {
		u[0] = (unsigned char)(0xc0 | (c >> 6));
		u[1] = (unsigned char)(0x80 | (c & 0x3f));
		n = 2;
	} else if (c < 0x10000) {
		u[0] = (unsigned char)(0xe0 | (c >> 12));
		u[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (c & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | (c >> 18));
		u[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (c & 0x3f));
		n = 4;
	}
	/* never past max: what is decoded is shorter than its source */
	if (buf_append(b, u, n) != 0)
		b->overflow = 1;
}

/* \uXXXX or \UXXXXXXXX, the p at the 'u'. */
static int
unicode_escape(struct rd *r, struct buf *b)
{
	int n = *r->p == 'u' ? 4 : 8, i, h;
	unsigned long c = 0;

	for (i = 1; i <= n; i++) {
		if ((h = hexval(at(r, (size_t)i))) < 0)
			return fail(r, "\\%c escape needs %d hex digits",
			    *r->p, n);
		c = c * 16 + (unsigned long)h;
	}
	if (c == 0)
		return fail(r, "\\u0000 (NUL) is not allowed in a string");
	if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return fail(r, "\\%c escape is not a Unicode scalar value",
		    *r->p);
	put_utf8(b, c);
	r->p += n + 1;
	return 0;
}

static int
escape(struct rd *r, struct buf *b)
{
	static const char from[] = "btnfr\"\\", to[] = "\b\t\n\f\r\"\\";
	const char *k;
	int c = at(r, 0);

	if (c == 'u' || c == 'U')
		return unicode_escape(r, b);
	if (c <= 0 || (k = strchr(from, c)) == NULL) {
		if (c >= 0x21 && c < 0x7f)
			return fail(r, "invalid escape '\\%c' in a string", c);
		return fail(r, "invalid escape in a string");
	}
	if (buf_append(b, &to[k - from], 1) != 0)
		b->overflow = 1;
	r->p++;
	return 0;
}

/*
 * A basic "..." or literal '...' string, p at its quote, into *out.
 * The text was checked to be UTF-8 before.
 */
static int
string(struct rd *r, char **out)
{
	char q = *r->p;
	struct buf b;
	int rc = -1;

	if (at(r, 1) == q && at(r, 2) == q)
		return fail(r, "multi-line strings are not supported");
	buf_init(&b, TOML_MAX_BYTES);
	for (r->p++;; ) {
		int c = at(r, 0);
		if (c < 0 || c == '\n' || (c == '\r' && at(r, 1) == '\n')) {
			fail(r, "unterminated string");
			break;
		}
		if (c == q) {
			r->p++;
			rc = 0;
			break;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			fail(r, "control character in a string");
			break;
		}
		if (c == '\\' && q == '"') {
			r->p++;
			if (escape(r, &b) != 0)
				break;
			continue;
		}
		if (buf_append(&b, r->p, 1) != 0)
			b.overflow = 1;
		r->p++;
	}
	if (rc == 0 && b.overflow)
		rc = fail(r, "string too long");
	if (rc == 0)
		*out = xstrdup(b.len ? buf_str(&b) : "");
	buf_free(&b);
	return rc;
}

static int
bare_key_char(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* One key: bare, or a quoted string. */
static int
key(struct rd *r, char **out)
{
	const char *s = r->p;

	if (at(r, 0) == '"' || at(r, 0) == '\'')
		return string(r, out);
	while (r->p < r->end && bare_key_char((unsigned char)*r->p))
		r->p++;
	if (r->p == s)
		return fail(r, "expected a key");
	*out = xstrndup(s, (size_t)(r->p - s));
	return 0;
}

static void
path_free(struct path *k)
{
	int i;

	for (i = 0; i < k->n; i++)
		free(k->part[i]);
	k->n = 0;
}

/* A dotted key: key [ws] '.' [ws] key ... */
static int
key_path(struct rd *r, struct path *k)
{
	k->n = 0;
	k->line = r->line;
	for (;;) {
		if (k->n == TOML_MAX_PARTS)
			return fail(r, "a key of more than %d parts",
			    TOML_MAX_PARTS);
		if (key(r, &k->part[k->n]) != 0)
			return -1;
		k->n++;
		skip_ws(r);
		if (at(r, 0) != '.')
			return 0;
		r->p++;
		skip_ws(r);
	}
}

/* k's parts joined with dots, made printable, for messages. */
static char *
path_text(const struct path *k, int n)
{
	struct buf b;
	char part[128], *s;
	int i;

	buf_init(&b, 1024);
	for (i = 0; i < n; i++) {
		shown(k->part[i], part, sizeof part);
		if ((i > 0 && buf_append(&b, ".", 1) != 0) ||
		    buf_append(&b, part, strlen(part)) != 0)
			break;
	}
	s = xstrdup(b.len ? buf_str(&b) : "");
	buf_free(&b);
	return s;
}

/* ------------------------------------------------------------ values */

static int value(struct rd *r, struct toml **out, int depth);

static int
integer(struct rd *r, struct toml **out)
{
	const char *s = r->p;
	long long v = 0;
	int neg = 0, digits = 0, d;

	if (at(r, 0) == '+' || at(r, 0) == '-')
		neg = *r->p++ == '-';
	if (at(r, 0) == '0' && (at(r, 1) == 'x' || at(r, 1) == 'o' ||
	    at(r, 1) == 'b'))
		return fail(r, "only decimal integers are supported");
	if (at(r, 0) == '0' && ((at(r, 1) >= '0' && at(r, 1) <= '9') ||
	    at(r, 1) == '_'))
		return fail(r, "leading zeros are not allowed in an integer");
	while ((d = at(r, 0)) >= '0' && d <= '9') {
		if (v > (LLONG_MAX - (d - '0')) / 10)
			return fail(r, "integer out of range");
		v = v * 10 + (d - '0');
		digits++;
		r->p++;
		if (at(r, 0) == '_' && at(r, 1) >= '0' && at(r, 1) <= '9')
			r->p++;
	}
	if (digits == 0) {
		r->p = s;
		return fail(r, "expected a value");
	}
	d = at(r, 0);
	if (d == '.' || d == 'e' || d == 'E')
		return fail(r, "floats are not supported");
	if (d == '-' || d == ':')
		return fail(r, "dates and times are not supported");
	if (d == '_')
		return fail(r, "'_' in an integer must be between digits");
	*out = node_new(TOML_INT, r->line);
	(*out)->num = neg ? -v : v;
	return 0;
}

static int
array(struct rd *r, struct toml **out, int depth)
{
	struct toml *a, *item;

	if (depth >= TOML_MAX_DEPTH)
		return fail(r, "arrays nested more than %d deep",
		    TOML_MAX_DEPTH);
	a = node_new(TOML_ARRAY, r->line);
	r->p++;
	for (;;) {
		if (skip_space(r) != 0)
			break;
		if (at(r, 0) == ']') {
			r->p++;
			*out = a;
			return 0;
		}
		if (value(r, &item, depth + 1) != 0)
			break;
		if (node_add(r, a, item) != 0 || skip_space(r) != 0)
			break;
		if (at(r, 0) == ',') {
			r->p++;
			continue;
		}
		if (at(r, 0) != ']') {
			fail(r, "expected ',' or ']' in an array");
			break;
		}
	}
	toml_free(a);
	return -1;
}

static int
word(struct rd *r, const char *w)
{
	size_t n = strlen(w);

	return (size_t)(r->end - r->p) >= n && memcmp(r->p, w, n) == 0 &&
	    !bare_key_char(at(r, n));
}

static int
value(struct rd *r, struct toml **out, int depth)
{
	int c = at(r, 0);

	if (c == '"' || c == '\'') {
		char *s;
		if (string(r, &s) != 0)
			return -1;
		*out = node_new(TOML_STRING, r->line);
		(*out)->str = s;
		return 0;
	}
	if (c == '[')
		return array(r, out, depth);
	if (c == '{')
		return fail(r, "inline tables are not supported");
	if (word(r, "true") || word(r, "false")) {
		*out = node_new(TOML_BOOL, r->line);
		(*out)->boolean = c == 't';
		r->p += c == 't' ? 4 : 5;
		return 0;
	}
	if (word(r, "inf") || word(r, "nan") || word(r, "+inf") ||
	    word(r, "-inf") || word(r, "+nan") || word(r, "-nan"))
		return fail(r, "floats are not supported");
	if ((c >= '0' && c <= '9') || c == '+' || c == '-')
		return integer(r, out);
	return fail(r, "expected a value");
}

/* ------------------------------------------------------------ tables */

/* The table that part leads to from t, made if missing (a header's way). */
static struct toml *
walk(struct rd *r, struct toml *t, const struct path *k, int i)
{
	struct toml *n = table_find(t, k->part[i]);
	char *what;

	if (n == NULL) {
		n = node_new(TOML_TABLE, k->line);
		n->key = xstrdup(k->part[i]);
		return node_add(r, t, n) == 0 ? n : NULL;
	}
	if (n->kind == TOML_TABLE)
		return n;
	if (n->kind == TOML_ARRAY && (n->flags & T_AOT) && n->nkid > 0)
		return n->kid[n->nkid - 1];
	what = path_text(k, i + 1);
	fail(r, "'%s' is already %s (line %d), not a table", what,
	    toml_kind_name(n->kind), n->line);
	free(what);
	return NULL;
}

/* [a.b.c] or [[a.b.c]]: the table that key/values now go into. */
static int
header_open(struct rd *r, const struct path *k, int aot)
{
	struct toml *t = r->root, *n, *elem;
	char *what;
	int i, rc = -1;

	for (i = 0; i < k->n - 1; i++)
		if ((t = walk(r, t, k, i)) == NULL)
			return -1;
	what = path_text(k, k->n);
	n = table_find(t, k->part[k->n - 1]);
	if (!aot && n == NULL) {
		n = node_new(TOML_TABLE, k->line);
		n->key = xstrdup(k->part[k->n - 1]);
		n->flags = T_DEFINED;
		if (node_add(r, t, n) == 0) {
			r->cur = n;
			rc = 0;
		}
	} else if (!aot && n->kind == TOML_TABLE && !(n->flags & T_DEFINED)) {
		n->flags |= T_DEFINED;
		n->line = k->line;
		r->cur = n;
		rc = 0;
	} else if (!aot && n->kind == TOML_TABLE) {
		fail(r, "table [%s] is defined twice (line %d)", what, n->line);
	} else if (aot && (n == NULL || (n->kind == TOML_ARRAY &&
	    (n->flags & T_AOT)))) {
		if (n == NULL) {
			n = node_new(TOML_ARRAY, k->line);
			n->key = xstrdup(k->part[k->n - 1]);
			n->flags = T_AOT;
			if (node_add(r, t, n) != 0)
				goto out;
		}
		elem = node_new(TOML_TABLE, k->line);
		elem->flags = T_DEFINED;
		if (node_add(r, n, elem) == 0) {
			r->cur = elem;
			rc = 0;
		}
	} else if (n->kind == TOML_ARRAY && (n->flags & T_AOT)) {
		fail(r, "[%s] is an array of tables: name it [[%s]]", what,
		    what);
	} else {
		fail(r, "'%s' is already %s (line %d)", what,
		    toml_kind_name(n->kind), n->line);
	}
out:
	free(what);
	return rc;
}

static int
header(struct rd *r)
{
	struct path k;
	int aot = at(r, 1) == '[', rc;

	r->p += aot ? 2 : 1;
	skip_ws(r);
	if (key_path(r, &k) != 0) {
		path_free(&k);
		return -1;
	}
	if (at(r, 0) != ']' || (aot && at(r, 1) != ']'))
		rc = fail(r, "expected '%s' after the table name",
		    aot ? "]]" : "]");
	else {
		r->p += aot ? 2 : 1;
		rc = header_open(r, &k, aot);
	}
	path_free(&k);
	return rc == 0 ? end_of_line(r, "the table header") : -1;
}

/* key = value, into the current table (dotted keys make tables). */
static int
keyval(struct rd *r)
{
	struct path k;
	struct toml *t = r->cur, *n, *v = NULL;
	char *what = NULL;
	int i, rc = -1;

	if (key_path(r, &k) != 0)
		goto out;
	if (at(r, 0) != '=') {
		fail(r, "expected '=' after key");
		goto out;
	}
	r->p++;
	skip_ws(r);
	for (i = 0; i < k.n - 1; i++) {
		n = table_find(t, k.part[i]);
		if (n == NULL) {
			n = node_new(TOML_TABLE, k.line);
			n->key = xstrdup(k.part[i]);
			n->flags = T_DEFINED | T_DOTTED;
			if (node_add(r, t, n) != 0)
				goto out;
		} else if (n->kind != TOML_TABLE || !(n->flags & T_DOTTED)) {
			what = path_text(&k, i + 1);
			fail(r, "'%s' is already defined (line %d)", what,
			    n->line);
			goto out;
		}
		t = n;
	}
	if ((n = table_find(t, k.part[k.n - 1])) != NULL) {
		what = path_text(&k, k.n);
		fail(r, "duplicate key '%s' (first at line %d)", what, n->line);
		goto out;
	}
	if (at(r, 0) == '\n' || at(r, 0) == '\r' || at(r, 0) < 0) {
		fail(r, "expected a value after '='");
		goto out;
	}
	if (value(r, &v, 0) != 0)
		goto out;
	v->key = xstrdup(k.part[k.n - 1]);
	v->line = k.line;
	if (node_add(r, t, v) == 0)
		rc = end_of_line(r, "the value");
out:
	free(what);
	path_free(&k);
	return rc;
}

/* Every byte UTF-8; the line of the first that is not. */
static int
check_utf8(struct rd *r)
{
	const unsigned char *p = (const unsigned char *)r->p;
	const unsigned char *end = (const unsigned char *)r->end;
	uint32_t c;
	size_t n;

	while (p < end) {
		if (*p == '\n')
			r->line++;
		if (*p < 0x80) {
			p++;
			continue;
		}
		n = utf8_decode(p, &c);
		if (n == 0 || n > (size_t)(end - p))
			return fail(r, "invalid UTF-8");
		p += n;
	}
	r->line = 1;
	return 0;
}

struct toml *
toml_parse(const char *text, size_t len, const char *name, char **cause)
{
	struct rd r;
	char *copy;

	memset(&r, 0, sizeof r);
	r.name = name;
	r.line = 1;
	if (len > TOML_MAX_BYTES) {
		*cause = xasprintf("%s: larger than %u bytes", name,
		    TOML_MAX_BYTES);
		return NULL;
	}
	/* a NUL after the text, for utf8_decode */
	copy = xmalloc(len + 1);
	memcpy(copy, text, len);
	copy[len] = '\0';
	r.p = copy;
	r.end = copy + len;
	r.root = r.cur = node_new(TOML_TABLE, 1);
	r.root->flags = T_DEFINED;
	if (len >= 3 && memcmp(copy, "\xef\xbb\xbf", 3) == 0)
		r.p += 3;	/* a byte order mark */
	if (check_utf8(&r) == 0) {
		while (r.p < r.end) {
			skip_ws(&r);
			if (skip_comment(&r) != 0)
				break;
			if (r.p == r.end || take_newline(&r))
				continue;
			if (at(&r, 0) == '[' ? header(&r) : keyval(&r))
				break;
		}
	}
	free(copy);
	if (r.err != NULL) {
		toml_free(r.root);
		*cause = r.err;
		return NULL;
	}
	return r.root;
}
