/*
 * ingest.c - parses the small text files of a containerd ingest: the ref
 * (namespace, sequence, client ref, digest), the expected total and the
 * timestamps. Every input is outside text: lengths are given, nothing is
 * assumed terminated, malformed text gives -1 and what could be read.
 */
#include "ingest.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const kinds[] = {
	"layer", "config", "manifest", "index", "unknown", NULL,
};

static int
is_hex_lower(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* The digest a client ref ends with ("...sha256:<64 hex>"), if any. */
static void
ref_digest(const char *client, char *out, size_t n)
{
	size_t len = strlen(client);
	const char *d;
	int i;

	out[0] = '\0';
	if (len < 71)
		return;
	d = client + len - 71;
	if (strncmp(d, "sha256:", 7) != 0)
		return;
	for (i = 7; i < 71; i++)
		if (!is_hex_lower(d[i]))
			return;
	snprintf(out, n, "%s", d);
}

/* "layer" of "layer-sha256:..." when it is one of containerd's words. */
static void
ref_kind(const char *client, char *out, size_t n)
{
	int i;

	out[0] = '\0';
	for (i = 0; kinds[i] != NULL; i++) {
		size_t k = strlen(kinds[i]);

		if (strncmp(client, kinds[i], k) == 0 && client[k] == '-') {
			snprintf(out, n, "%s", kinds[i]);
			return;
		}
	}
}

/* containerd's namespace names: letters, digits, and . _ - between. */
static int
ns_valid(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 76)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int
ingest_ref_parse(const char *s, size_t n, struct ingest_ref *r)
{
	const char *slash1, *slash2, *p;
	uint64_t seq = 0;

	memset(r, 0, sizeof *r);
	if (n > INGEST_FILE_MAX)
		n = INGEST_FILE_MAX;
	if (memchr(s, '\0', n) != NULL)
		n = strlen(s);
	slash1 = memchr(s, '/', n);
	slash2 = slash1 != NULL ? memchr(slash1 + 1, '/',
	    n - (size_t)(slash1 + 1 - s)) : NULL;
	if (slash2 == NULL || !ns_valid(s, (size_t)(slash1 - s)) ||
	    slash2 == slash1 + 1 || slash2 + 1 == s + n)
		goto bad;
	for (p = slash1 + 1; p < slash2; p++) {
		if (*p < '0' || *p > '9' || seq > (UINT64_MAX - 9) / 10)
			goto bad;
		seq = seq * 10 + (uint64_t)(*p - '0');
	}
	r->ns = xstrndup(s, (size_t)(slash1 - s));
	r->seq = seq;
	r->client = xstrndup(slash2 + 1, (size_t)(s + n - slash2 - 1));
	ref_kind(r->client, r->kind, sizeof r->kind);
	ref_digest(r->client, r->digest, sizeof r->digest);
	return 0;
bad:
	r->client = xstrndup(s, n);
	ref_kind(r->client, r->kind, sizeof r->kind);
	ref_digest(r->client, r->digest, sizeof r->digest);
	return -1;
}

void
ingest_ref_free(struct ingest_ref *r)
{
	free(r->ns);
	free(r->client);
	memset(r, 0, sizeof *r);
}

/* Trailing white space is forgiven: a hand-written file ends in '\n'. */
static size_t
trim_end(const char *s, size_t n)
{
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' ||
	    s[n - 1] == '\r' || s[n - 1] == '\t'))
		n--;
	return n;
}

int
ingest_total_parse(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	*out = 0;
	n = trim_end(s, n);
	if (n == 0 || n > 19)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v == 0 || v > (uint64_t)INT64_MAX)
		return -1;
	*out = v;
	return 0;
}

/* n decimal digits at s into *v; 0 or -1. */
static int
digits(const char *s, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

static int
days_in_month(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[m - 1];
}

/* The "±hh:mm" or "Z" at s (n bytes left) into seconds east of UTC. */
static int
zone(const char *s, size_t n, int *east)
{
	int hh, mm;

	if (n == 1 && (s[0] == 'Z' || s[0] == 'z')) {
		*east = 0;
		return 0;
	}
	if (n != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' ||
	    digits(s + 1, 2, &hh) != 0 || digits(s + 4, 2, &mm) != 0 ||
	    hh > 23 || mm > 59)
		return -1;
	*east = (hh * 3600 + mm * 60) * (s[0] == '-' ? -1 : 1);
	return 0;
}

int
ingest_time_parse(const char *s, size_t n, double *out)
{
	int y, mo, d, h, mi, sec, east;
	double frac = 0, scale = 0.1;
	size_t i = 19;
	struct tm tm;

	*out = 0;
	n = trim_end(s, n);
	if (n < 20 || digits(s, 4, &y) != 0 || s[4] != '-' ||
	    digits(s + 5, 2, &mo) != 0 || s[7] != '-' ||
	    digits(s + 8, 2, &d) != 0 || (s[10] != 'T' && s[10] != 't') ||
	    digits(s + 11, 2, &h) != 0 || s[13] != ':' ||
	    digits(s + 14, 2, &mi) != 0 || s[16] != ':' ||
	    digits(s + 17, 2, &sec) != 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
	    h > 23 || mi > 59 || sec > 60)
		return -1;
	if (s[i] == '.') {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
			frac += (s[i] - '0') * scale;
			scale /= 10;
		}
		if (s[i - 1] == '.')
			return -1;
	}
	if (i >= n || zone(s + i, n - i, &east) != 0)
		return -1;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = (double)timegm(&tm) - east + frac;
	return 0;
}
