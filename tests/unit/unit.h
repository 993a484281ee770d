/*
 * unit.h - a tiny header-only test helper. Every case prints exactly one
 * line on stdout, "PASS <name>" or "FAIL <name>: <detail>";
 * unit_summary() prints the totals on stderr and returns the exit code
 * (1 if any case failed or none ran, else 0).
 *
 *	CHECK(n == 3, "count %d", i);
 *	CHECK_STR(got, "want", "name of case");
 *	unit_report(ok, detail, "name %s", s);	(custom detail)
 *	return unit_summary();
 */
#ifndef PULLTOP_UNIT_H
#define PULLTOP_UNIT_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int unit_npass, unit_nfail;

/* Print s with control characters flattened so a case stays on one line. */
__attribute__((unused))
static void unit_put_line_safe(const char *s)
{
	for (; *s; s++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s);
}

/* Record one case; detail is shown only on failure. */
__attribute__((unused, format(printf, 3, 4)))
static void unit_report(int ok, const char *detail, const char *fmt, ...)
{
	char name[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	fputs(ok ? "PASS " : "FAIL ", stdout);
	unit_put_line_safe(name);
	if (!ok) {
		fputs(": ", stdout);
		unit_put_line_safe(detail && *detail ? detail : "failed");
	}
	putchar('\n');
	fflush(stdout);
	if (ok)
		unit_npass++;
	else
		unit_nfail++;
}

/* NULL-safe string equality. */
__attribute__((unused))
static int unit_streq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

/* "got "x", want "y"" in a static buffer (valid until the next call). */
__attribute__((unused))
static const char *unit_str_detail(const char *got, const char *want)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), "got %s%s%s, want %s%s%s",
		 got ? "\"" : "", got ? got : "NULL", got ? "\"" : "",
		 want ? "\"" : "", want ? want : "NULL", want ? "\"" : "");
	return buf;
}

#define CHECK(cond, ...) \
	unit_report(!!(cond), "expected " #cond, __VA_ARGS__)

#define CHECK_STR(got, want, ...) do { \
	const char *unit_g_ = (got), *unit_w_ = (want); \
	unit_report(unit_streq(unit_g_, unit_w_), \
		    unit_str_detail(unit_g_, unit_w_), __VA_ARGS__); \
} while (0)

__attribute__((unused))
static int unit_summary(void)
{
	fprintf(stderr, "%d passed, %d failed\n", unit_npass, unit_nfail);
	return unit_nfail || !unit_npass ? 1 : 0;
}

#endif
