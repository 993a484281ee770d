/*
 * test_toml.c - unit tests for src/config/toml.c, the strict reader of the
 * TOML hosts.toml and registries.conf are written in: a document with
 * every kind it takes, and bad text, each with its exact "FILE:LINE: what".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toml.h"
#include "util.h"
#include "unit.h"

/* The message toml_parse gives for text, or "OK". */
static char *
toml_msg(const char *text)
{
	char *cause = NULL;
	struct toml *t = toml_parse(text, strlen(text), "t.toml", &cause);

	if (t != NULL) {
		toml_free(t);
		return xstrdup("OK");
	}
	return cause;
}

static void
test_toml_good(void)
{
	static const char doc[] =
	    "\xef\xbb\xbf# a comment\r\n"
	    "server = \"https://x\" # after\n"
	    "'lit key' = 'C:\\path\\n'\n"
	    "\"q.key\" = \"tab\\there \\\"q\\\" \\\\ \\u00e9 \\U0001F600\"\n"
	    "num = -1_000\n"
	    "zero = +0\n"
	    "yes = true\n"
	    "no=false\n"
	    "a.b . c = 3\n"
	    "a.d = 4\n"
	    "list = [ [\"c\", \"k\"], # pair\n"
	    "   [\"p\", \"\"],\n"
	    "]\n"
	    "empty = []\n"
	    "[host.\"https://m.example/v2\".header]\n"
	    "  x-one = \"1\"\n"
	    "[ host . \"https://m.example/v2\" ]\n"
	    "  capabilities = [\"pull\"]\n"
	    "[[registry]]\n"
	    "prefix = \"p1\"\n"
	    "[[registry.mirror]]\n"
	    "location = \"m1\"\n"
	    "[[registry]]\n"
	    "prefix = \"p2\"\n";
	char *cause = NULL;
	struct toml *t = toml_parse(doc, strlen(doc), "good.toml", &cause);
	const struct toml *v, *h, *r;

	CHECK(t != NULL, "toml: a document of every supported kind parses");
	if (t == NULL) {
		printf("  (%s)\n", cause);
		free(cause);
		return;
	}
	v = toml_get(t, "server");
	CHECK_STR(v ? v->str : NULL, "https://x", "toml: basic string");
	CHECK(v && v->line == 2, "toml: the value's line counts CRLF");
	v = toml_get(t, "lit key");
	CHECK_STR(v ? v->str : NULL, "C:\\path\\n",
	    "toml: quoted key, literal string keeps backslashes");
	v = toml_get(t, "q.key");
	CHECK_STR(v ? v->str : NULL,
	    "tab\there \"q\" \\ \xc3\xa9 \xf0\x9f\x98\x80",
	    "toml: escapes \\t \\\" \\\\ \\u \\U");
	v = toml_get(t, "num");
	CHECK(v && v->kind == TOML_INT && v->num == -1000,
	    "toml: integer with sign and underscore");
	v = toml_get(t, "zero");
	CHECK(v && v->kind == TOML_INT && v->num == 0, "toml: +0");
	CHECK(toml_get(t, "yes")->boolean == 1 &&
	    toml_get(t, "no")->boolean == 0, "toml: booleans");
	v = toml_get(toml_get(toml_get(t, "a"), "b"), "c");
	CHECK(v && v->num == 3 && toml_get(toml_get(t, "a"), "d")->num == 4,
	    "toml: dotted keys make and extend tables");
	v = toml_get(t, "list");
	CHECK(v && v->kind == TOML_ARRAY && v->nkid == 2 &&
	    v->kid[0]->nkid == 2 && strcmp(v->kid[1]->kid[1]->str, "") == 0,
	    "toml: nested arrays over lines with comments and a trailing ','");
	CHECK(toml_get(t, "empty")->nkid == 0, "toml: empty array");
	h = toml_get(toml_get(t, "host"), "https://m.example/v2");
	CHECK(h && toml_get(toml_get(h, "header"), "x-one") &&
	    toml_get(h, "capabilities") && h->line == 17,
	    "toml: a table named after its sub-table, line of its header");
	r = toml_get(t, "registry");
	CHECK(r && r->kind == TOML_ARRAY && r->nkid == 2 &&
	    strcmp(toml_get(r->kid[1], "prefix")->str, "p2") == 0 &&
	    toml_get(r->kid[0], "mirror")->nkid == 1 &&
	    !toml_get(r->kid[1], "mirror"),
	    "toml: [[arrays of tables]] with [[sub.arrays]] in the last one");
	toml_free(t);
	free(cause);
}

static void
test_toml_bad(void)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "a\n", "t.toml:1: expected '=' after key" },
		{ "\n\n\n\n\n\nserver \"x\"\n", "t.toml:7: expected '=' after key" },
		{ "a =\n", "t.toml:1: expected a value after '='" },
		{ "= 1\n", "t.toml:1: expected a key" },
		{ "\n\n[a\n", "t.toml:3: expected ']' after the table name" },
		{ "[[a]\n", "t.toml:1: expected ']]' after the table name" },
		{ "[]\n", "t.toml:1: expected a key" },
		{ "a = \"abc\n", "t.toml:1: unterminated string" },
		{ "a = 'abc", "t.toml:1: unterminated string" },
		{ "a = \"\"\"x\"\"\"\n", "t.toml:1: multi-line strings are not supported" },
		{ "a = '''x'''\n", "t.toml:1: multi-line strings are not supported" },
		{ "a = {b = 1}\n", "t.toml:1: inline tables are not supported" },
		{ "a = 1.5\n", "t.toml:1: floats are not supported" },
		{ "a = 1e3\n", "t.toml:1: floats are not supported" },
		{ "a = inf\n", "t.toml:1: floats are not supported" },
		{ "a = 1979-05-27\n", "t.toml:1: dates and times are not supported" },
		{ "a = 07:32:00\n", "t.toml:1: leading zeros are not allowed in an integer" },
		{ "a = 0x10\n", "t.toml:1: only decimal integers are supported" },
		{ "a = 012\n", "t.toml:1: leading zeros are not allowed in an integer" },
		{ "a = 1__0\n", "t.toml:1: '_' in an integer must be between digits" },
		{ "a = 99999999999999999999\n", "t.toml:1: integer out of range" },
		{ "a = tru\n", "t.toml:1: expected a value" },
		{ "a = \"\\q\"\n", "t.toml:1: invalid escape '\\q' in a string" },
		{ "a = \"\\u12\"\n", "t.toml:1: \\u escape needs 4 hex digits" },
		{ "a = \"\\uD800\"\n", "t.toml:1: \\u escape is not a Unicode scalar value" },
		{ "a = \"\\u0000\"\n", "t.toml:1: \\u0000 (NUL) is not allowed in a string" },
		{ "a = \"x\001\"\n", "t.toml:1: control character in a string" },
		{ "# \001\n", "t.toml:1: control character in a comment" },
		{ "a = 1\n# ok\nb = \"\xff\"\n", "t.toml:3: invalid UTF-8" },
		{ "a = 1\na = 2\n", "t.toml:2: duplicate key 'a' (first at line 1)" },
		{ "[a]\nx = 1\n\n[a]\n", "t.toml:4: table [a] is defined twice (line 1)" },
		{ "a = 1\n[a]\n", "t.toml:2: 'a' is already an integer (line 1)" },
		{ "a = 1\n[a.b]\n", "t.toml:2: 'a' is already an integer (line 1), not a table" },
		{ "[[a]]\n[a]\n", "t.toml:2: [a] is an array of tables: name it [[a]]" },
		{ "a = []\n[[a]]\n", "t.toml:2: 'a' is already an array (line 1)" },
		{ "[a]\n[[a]]\n", "t.toml:2: 'a' is already a table (line 1)" },
		{ "a.b = 1\n[a]\n", "t.toml:2: table [a] is defined twice (line 1)" },
		{ "[a.b]\n[a]\nb.c = 1\n", "t.toml:3: 'b' is already defined (line 1)" },
		{ "a = [1 2]\n", "t.toml:1: expected ',' or ']' in an array" },
		{ "a = [1,\n\n2,,]\n", "t.toml:3: expected a value" },
		{ "a = 1 b\n", "t.toml:1: expected the end of the line after the value" },
		{ "[a] b = 1\n", "t.toml:1: expected the end of the line after the table header" },
		{ "a = 1\rb = 2\n", "t.toml:1: carriage return without a newline" },
		{ "a = [[[[[[[[[1]]]]]]]]]\n", "t.toml:1: arrays nested more than 8 deep" },
		{ "\"a\nb\" = 1\n", "t.toml:1: unterminated string" },
		{ "a = \"\\\u00e9\"\n", "t.toml:1: invalid escape in a string" },
	};
	size_t i;
	char *got;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		got = toml_msg(cases[i].text);
		CHECK_STR(got, cases[i].msg, "toml rejects: %s",
		    strstr(cases[i].msg, ": ") + 2);
		free(got);
	}
}

int
main(void)
{
	test_toml_good();
	test_toml_bad();
	return unit_summary();
}
