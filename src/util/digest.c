/*
 * digest.c - SHA-256 via libcrypto. Nothing here hashes by hand.
 */
#include "util.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct sha256 {
	EVP_MD_CTX *ctx;
};

/*
 * SHA-256 fetched from libcrypto's default provider once. EVP_sha256()
 * is looked up again at every init, under libcrypto's locks, and the
 * first lookup loads the provider: about 3 ms, which sha256_warm() lets
 * an idle thread pay before the first manifest arrives.
 */
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md;

static void
md_fetch(void)
{
	if ((md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		abort();
}

static const EVP_MD *
sha256_md(void)
{
	pthread_once(&md_once, md_fetch);
	return md;
}

void
sha256_warm(void)
{
	(void)sha256_md();
}

struct sha256 *
sha256_new(void)
{
	struct sha256 *h = xmalloc(sizeof *h);

	h->ctx = EVP_MD_CTX_new();
	if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, sha256_md(), NULL) != 1)
		abort();
	return h;
}

void
sha256_update(struct sha256 *h, const void *p, size_t n)
{
	EVP_DigestUpdate(h->ctx, p, n);
}

void
sha256_final(struct sha256 *h, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	EVP_DigestFinal_ex(h->ctx, md, &len);
	memcpy(out, "sha256:", 7);
	for (i = 0; i < len; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[7 + 2 * len] = '\0';
	EVP_DigestInit_ex(h->ctx, sha256_md(), NULL);
}

void
sha256_free(struct sha256 *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void
sha256_buf(const void *p, size_t n, char *out)
{
	struct sha256 *h = sha256_new();

	sha256_update(h, p, n);
	sha256_final(h, out);
	sha256_free(h);
}

int
digest_valid(const char *s)
{
	size_t i;

	if (s == NULL || strncmp(s, "sha256:", 7) != 0)
		return 0;
	for (i = 7; i < 71; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[71] == '\0';
}
