/*
 * util.c - allocation that cannot fail, the capped buffer, clocks, size and
 * duration formatting, and terminal-safe text.
 */
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void
oom(void)
{
	static const char msg[] = "pulltop: out of memory\n";
	if (write(2, msg, sizeof msg - 1) < 0) { /* nothing left to do */ }
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		oom();
	return p;
}

void *
xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (p == NULL)
		oom();
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		oom();
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);
	if (p == NULL)
		oom();
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (p == NULL)
		oom();
	return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	char *p;
	if (vasprintf(&p, fmt, ap) < 0)
		oom();
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof *b);
	b->max = max;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n > b->max - b->len) {
		b->overflow = 1;
		return -1;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

const char *
buf_str(struct buf *b)
{
	if (b->data == NULL) {
		b->data = xcalloc(1, 1);
		b->cap = 1;
	}
	return b->data;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

double
now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

double
now_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void
fmt_bytes(char *out, size_t n, uint64_t bytes)
{
	static const char *unit[] = { "B", "kB", "MB", "GB", "TB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(out, n, "%llu B", (unsigned long long)bytes);
	else
		snprintf(out, n, "%.1f %s", v, unit[u]);
}

void
fmt_duration(char *out, size_t n, double secs)
{
	long s;

	if (secs < 0 || secs != secs || secs > 99 * 3600.0) {
		snprintf(out, n, "--");
		return;
	}
	s = (long)(secs + 0.5);
	if (s < 60)
		snprintf(out, n, "%lds", s);
	else if (s < 3600)
		snprintf(out, n, "%ldm%02lds", s / 60, s % 60);
	else
		snprintf(out, n, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
}

size_t
utf8_decode(const unsigned char *p, uint32_t *cp)
{
	size_t len, i;
	uint32_t c;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		c = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		c = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		c = p[0] & 0x07;
	} else
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) ||
	    (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static int
unsafe_codepoint(uint32_t c)
{
	if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
		return 1;
	/* bidi controls and other invisible formatting marks */
	if ((c >= 0x200b && c <= 0x200f) || (c >= 0x202a && c <= 0x202e) ||
	    (c >= 0x2066 && c <= 0x2069) || c == 0x061c || c == 0xfeff ||
	    c == 0x2028 || c == 0x2029 || (c >= 0xe0000 && c <= 0xe007f))
		return 1;
	return 0;
}

void
sanitize(char *dst, size_t n, const char *src)
{
	const unsigned char *p = (const unsigned char *)(src ? src : "");
	size_t o = 0, len;
	uint32_t c;

	if (n == 0)
		return;
	while (*p != '\0') {
		if (*p == 0x1b) {
			/* drop a whole escape sequence: ESC [ ... final, ESC ] ... BEL/ST */
			p++;
			if (*p == '[') {
				p++;
				while (*p != '\0' && !(*p >= 0x40 && *p <= 0x7e))
					p++;
				if (*p != '\0')
					p++;
			} else if (*p == ']' || *p == 'P' || *p == '_' || *p == '^') {
				p++;
				while (*p != '\0' && *p != 0x07 &&
				    !(*p == 0x1b && p[1] == '\\'))
					p++;
				if (*p == 0x07)
					p++;
				else if (*p == 0x1b)
					p += 2;
			} else if (*p != '\0')
				p++;
			continue;
		}
		len = utf8_decode(p, &c);
		if (len == 0) {
			if (o + 1 >= n)
				break;
			dst[o++] = '?';
			p++;
			continue;
		}
		if (unsafe_codepoint(c)) {
			/* tabs and newlines read as spaces; the rest vanish */
			if ((c == '\t' || c == '\n' || c == '\r') && o > 0 &&
			    dst[o - 1] != ' ' && o + 1 < n)
				dst[o++] = ' ';
			p += len;
			continue;
		}
		if (o + len >= n)
			break;
		memcpy(dst + o, p, len);
		o += len;
		p += len;
	}
	dst[o] = '\0';
}

int
parse_size(const char *s, uint64_t *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno != 0 || !(v >= 0))
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		v *= 1024;
		end++;
		break;
	case 'm': case 'M':
		v *= 1024 * 1024;
		end++;
		break;
	case 'g': case 'G':
		v *= 1024.0 * 1024 * 1024;
		end++;
		break;
	default:
		return -1;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0' || !(v <= 1e15))
		return -1;
	*out = (uint64_t)v;
	return 0;
}

int
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int
mkdir_p(const char *path, int mode)
{
	char *p = xstrdup(path), *s;
	int r = 0;

	for (s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, mode) != 0 && errno != EEXIST) {
				r = -1;
				break;
			}
			*s = c;
			if (c == '\0') {
				/* there already, but is it a folder? */
				struct stat st;

				if (stat(p, &st) != 0)
					r = -1;
				else if (!S_ISDIR(st.st_mode)) {
					errno = ENOTDIR;
					r = -1;
				}
				break;
			}
		}
	}
	free(p);
	return r;
}
