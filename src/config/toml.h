/*
 * toml.h - a strict reader of the part of TOML that containerd's hosts.toml
 * and containers-registries.conf(5) are written in (private to src/config).
 *
 * Read: comments, bare and quoted keys, dotted keys, [table] and
 * [[array of tables]] headers with dotted (and quoted) names, basic strings
 * with their escapes, literal strings, booleans, decimal integers, arrays
 * (nested, over several lines, trailing comma), CRLF line ends.
 * Refused, each with one line "NAME:LINE: what": anything else, including
 * multi-line strings, inline tables, floats, dates, non-decimal integers,
 * a key or table defined twice, invalid UTF-8, control characters.
 * The tree keeps every value's line and each table's keys in file order.
 */
#ifndef PULLTOP_TOML_H
#define PULLTOP_TOML_H

#include <stddef.h>

#define TOML_MAX_BYTES	(1u << 20)	/* a bigger file is refused */
#define TOML_MAX_KEYS	4096		/* keys in one table */
#define TOML_MAX_DEPTH	8		/* arrays inside arrays */
#define TOML_MAX_PARTS	32		/* parts of one dotted key */

enum toml_kind {
	TOML_STRING,
	TOML_INT,
	TOML_BOOL,
	TOML_ARRAY,
	TOML_TABLE,
};

struct toml {
	enum toml_kind kind;
	int line;		/* of the value, or of the table's header */
	char *key;		/* its name in its table; NULL in an array */
	char *str;		/* TOML_STRING: UTF-8, no NUL inside */
	long long num;		/* TOML_INT */
	int boolean;		/* TOML_BOOL */
	struct toml **kid;	/* a table's values in order; an array's items */
	int nkid, cap;
	unsigned flags;		/* the reader's: how a table came to be */
};

/*
 * Parse text (len bytes, no NUL needed) into a root table. name starts
 * every message ("/etc/containerd/certs.d/docker.io/hosts.toml").
 * Returns NULL with *cause "NAME:LINE: what" on error.
 */
struct toml *toml_parse(const char *text, size_t len, const char *name,
    char **cause);
void toml_free(struct toml *t);

/* The value of key in table t, or NULL (also when t is not a table). */
const struct toml *toml_get(const struct toml *t, const char *key);

/* "a string", "an integer"... for messages. */
const char *toml_kind_name(enum toml_kind k);

#endif
