/*
 * util.h - small shared helpers: allocation that cannot fail, a capped
 * growable buffer, time, sizes, and text made safe for a terminal.
 */
#ifndef PULLTOP_UTIL_H
#define PULLTOP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdarg.h>

#define WUR __attribute__((warn_unused_result))

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap);

/* A growable byte buffer that refuses to grow past max. */
struct buf {
	char *data;
	size_t len, cap, max;
	int overflow;		/* set when an append hit max */
};
void buf_init(struct buf *b, size_t max);
int buf_append(struct buf *b, const void *p, size_t n) WUR; /* -1 over max */
const char *buf_str(struct buf *b);	/* NUL-terminated view */
void buf_free(struct buf *b);

double now_mono(void);			/* seconds, CLOCK_MONOTONIC */
double now_wall(void);

/* "12.3 MB" style (decimal units, like docker). */
void fmt_bytes(char *out, size_t n, uint64_t bytes);
/* "1m05s", "3h02m", "--" for negative */
void fmt_duration(char *out, size_t n, double secs);

/*
 * Copy src into dst (size n), dropping control characters (C0, DEL, C1,
 * escape sequences) and bidi controls so the text is safe to print on a
 * terminal; invalid UTF-8 bytes become '?'. Always NUL-terminates.
 */
void sanitize(char *dst, size_t n, const char *src);

/*
 * Decode the UTF-8 sequence at p into *cp; returns its length, or 0 when
 * it is invalid (overlong, a surrogate, past U+10FFFF, cut short).
 */
size_t utf8_decode(const unsigned char *p, uint32_t *cp);

/* write() all of p, going on after EINTR and short writes; 0 or -1. */
int write_all(int fd, const void *p, size_t n) WUR;

/* Parse "500K", "2M", "1.5G", "1024" into bytes; -1 on error. */
int parse_size(const char *s, uint64_t *out) WUR;

/* mkdir -p; 0 or -1 with errno. */
int mkdir_p(const char *path, int mode) WUR;

/*
 * digest.h - SHA-256 through OpenSSL's EVP interface, and digest strings.
 */

struct sha256;

struct sha256 *sha256_new(void);
/* Load libcrypto's SHA-256 now (a few ms the first time), off the path of
 * the first hash. Any thread, any number of times. */
void sha256_warm(void);
void sha256_update(struct sha256 *h, const void *p, size_t n);
/* Writes "sha256:<64 hex>" into out (at least 72 bytes) and resets h. */
void sha256_final(struct sha256 *h, char *out);
void sha256_free(struct sha256 *h);

/* One-shot hash of a buffer into "sha256:<hex>". */
void sha256_buf(const void *p, size_t n, char *out);

/* 1 if s is "sha256:" followed by exactly 64 lowercase hex digits. */
int digest_valid(const char *s);

/*
 * sig.h - SIGINT/SIGTERM turned into a flag and a wake-up, so that the
 * front end's loop (not a signal handler) cancels, restores the terminal
 * and exits 130 or 143.
 */

/* The signal number caught (SIGINT, SIGTERM), 0 if none. */
extern volatile sig_atomic_t sig_caught;

/* Install the handlers; a caught signal also writes to wake_fd. */
void sig_install(int wake_fd);

/* 128 + signal number, for the exit status. */
int sig_exit_status(void);

#endif
