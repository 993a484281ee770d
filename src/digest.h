/*
 * digest.h - SHA-256 through OpenSSL's EVP interface, and digest strings.
 */
#ifndef PULLTOP_DIGEST_H
#define PULLTOP_DIGEST_H

#include <stddef.h>

struct sha256;

struct sha256 *sha256_new(void);
void sha256_update(struct sha256 *h, const void *p, size_t n);
/* Writes "sha256:<64 hex>" into out (at least 72 bytes) and resets h. */
void sha256_final(struct sha256 *h, char *out);
void sha256_free(struct sha256 *h);

/* One-shot hash of a buffer into "sha256:<hex>". */
void sha256_buf(const void *p, size_t n, char *out);

/* 1 if s is "sha256:" followed by exactly 64 lowercase hex digits. */
int digest_valid(const char *s);

#endif
