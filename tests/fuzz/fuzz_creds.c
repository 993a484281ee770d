/*
 * fuzz_creds.c - libFuzzer target for the docker config.json side of
 * creds.c: creds_lookup on the input as $DOCKER_CONFIG/config.json (for a
 * host chosen by the first byte), creds_decode_auth and creds_key_matches
 * on its text. Credential helpers are never run: posix_spawnp is replaced
 * below by one that finds nothing. Checked: results are 0, 1 or -1 as
 * documented; 0 gives a secret or an identity token and a terminated
 * source; a cause is one line without control characters and never holds
 * a secret from the file; a decoded auth holds a non-empty user without
 * ':' and encodes back to what was decoded.
 *
 * Sources: src/creds.c src/util.c
 * Packages: jansson libcrypto
 */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "creds.h"

static char config[4096], config_dir[4096];

static const char *const hosts[] = {
	"registry-1.docker.io", "127.0.0.1:5000", "ghcr.io", "quay.io",
	"localhost:5000", "[::1]:5000",
};

/* No helper is ever started: every one is "not found on PATH". */
int
posix_spawnp(pid_t *pid, const char *file,
    const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
    char *const argv[], char *const envp[])
{
	(void)pid, (void)file, (void)fa, (void)attr, (void)argv, (void)envp;
	return ENOENT;
}

static void
fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_creds: %s%s%s\n", what, detail ? ": " : "",
	    detail ? detail : "");
	abort();
}

static void
cleanup(void)
{
	unlink(config);
	rmdir(config_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* a file written per input: memory-backed when there is such a place */
	char shm[] = "/dev/shm/pulltop-fuzz-creds-XXXXXX";
	char tmp[] = "/tmp/pulltop-fuzz-creds-XXXXXX";
	char *dir = shm;

	(void)argc, (void)argv;
	if (mkdtemp(shm) == NULL && mkdtemp(dir = tmp) == NULL)
		abort();
	setenv("DOCKER_CONFIG", dir, 1);
	snprintf(config_dir, sizeof config_dir, "%s", dir);
	snprintf(config, sizeof config, "%s/config.json", dir);
	atexit(cleanup);
	return 0;
}

/* Every string value in the input's JSON that is or holds a secret. */
static void
check_no_secret(json_t *j, const char *cause)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_object(j)) {
		json_object_foreach(j, k, v) {
			const char *s = json_string_value(v);
			if (s != NULL && strlen(s) >= 6 &&
			    (strcmp(k, "password") == 0 ||
			    strcmp(k, "auth") == 0 ||
			    strcmp(k, "identitytoken") == 0) &&
			    strstr(cause, s) != NULL)
				fail("a cause holds a secret", cause);
			check_no_secret(v, cause);
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			check_no_secret(v, cause);
	}
}

static void
check_lookup(const char *host, const uint8_t *data, size_t size)
{
	struct creds c;
	char *cause = (char *)"unset";
	const unsigned char *p;
	json_error_t je;
	json_t *j;
	FILE *f;
	int r;

	f = fopen(config, "wb");
	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	r = creds_lookup(host, NULL, &c, &cause);
	if (r == 0) {
		if (c.secret == NULL && c.identity_token == NULL)
			fail("found credentials without a secret", c.source);
		if (memchr(c.source, '\0', sizeof c.source) == NULL)
			fail("source not terminated", NULL);
		creds_free(&c);
	} else if (r == 1) {
		if (c.user != NULL || c.secret != NULL ||
		    c.identity_token != NULL)
			fail("none found, yet *out holds something", NULL);
	} else if (r == -1) {
		if (cause == NULL)
			fail("failure without a cause", NULL);
		for (p = (const unsigned char *)cause; *p != '\0'; p++)
			if (*p < 0x20 || *p == 0x7f)
				fail("cause holds a control character", cause);
		j = json_loadb((const char *)data, size, 0, &je);
		check_no_secret(j, cause);
		json_decref(j);
		free(cause);
	} else
		fail("result not 0, 1 or -1", NULL);
}

static void
check_decode(const char *s)
{
	char *user = (char *)"x", *secret = (char *)"x", *joined;
	unsigned char *enc, *dec;
	size_t n;
	int got;

	if (creds_decode_auth(s, &user, &secret) != 0) {
		if (user != NULL || secret != NULL)
			fail("decode failed but set user or secret", s);
		return;
	}
	if (user == NULL || secret == NULL || *user == '\0' ||
	    strchr(user, ':') != NULL)
		fail("decoded user is empty or holds ':'", s);
	/* user:secret encodes to base64 that decodes to the same pair */
	if (asprintf(&joined, "%s:%s", user, secret) < 0)
		abort();
	n = strlen(joined);
	enc = malloc(4 * ((n + 2) / 3) + 1);
	dec = malloc(n + 3);
	EVP_EncodeBlock(enc, (unsigned char *)joined, (int)n);
	got = EVP_DecodeBlock(dec, enc, (int)strlen((char *)enc));
	if (got < (int)n || memcmp(dec, joined, n) != 0)
		fail("user:secret does not survive base64", s);
	free(enc);
	free(dec);
	free(joined);
	free(user);
	free(secret);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *host;
	char *s, key[300];

	if (size == 0 || size > 65536)
		return 0;
	host = hosts[data[0] % (sizeof hosts / sizeof hosts[0])];
	check_lookup(host, data + 1, size - 1);

	s = malloc(size);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	check_decode(s);
	creds_key(host, key, sizeof key);
	if (!creds_key_matches(key, key))
		fail("a key does not match itself", key);
	(void)creds_key_matches(s, key);
	(void)creds_key_matches(key, s);
	free(s);
	return 0;
}
