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
 * Whether a cause holds a secret is judged from what went into it, not
 * from its text: a secret may well be a word of the fixed wording or part
 * of a registry key ("docker" in "https://index.docker.io/v1/"). Every
 * cause creds.c builds goes through xasprintf, wrapped here at link time;
 * the wrapper keeps the %s arguments. An argument is public when it is the
 * config path, the host or its key, a JSON object key, a string value that
 * is not a secret, a strerror text, or a string xasprintf made from public
 * arguments only. A cause holds a secret when one of its arguments is not
 * public and contains one. Fixed causes are copied by xstrdup from static
 * text (wrapped too, and told apart by the address of what it copies); a
 * cause that is neither is judged by its text.
 *
 * Sources: src/registry/creds.c src/util/util.c
 * Check-runs: 100000
 * Packages: jansson libcrypto
 * Ldflags: -Wl,--wrap=xasprintf -Wl,--wrap=xstrdup
 */
#include <errno.h>
#include <stdarg.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "creds.h"
#include "util.h"

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

/* What xasprintf was given and made while a lookup ran. */
struct made {
	char *result;
	char *args[8];
	size_t nargs;
};
static struct made made[64];
static size_t nmade;
static int recording;

char *
__wrap_xasprintf(const char *fmt, ...)
{
	struct made *m = recording && nmade < 64 ? &made[nmade++] : NULL;
	const char *p, *a;
	va_list ap, aq;
	char *r;

	va_start(ap, fmt);
	va_copy(aq, ap);
	r = xvasprintf(fmt, ap);
	va_end(ap);
	for (p = fmt; m != NULL && (p = strchr(p, '%')) != NULL; p++) {
		p++;
		if (*p == '%')
			continue;
		p += strspn(p, "-+ #0123456789.");
		switch (*p) {
		case 's':
			a = va_arg(aq, const char *);
			if (m->nargs == 8)
				fail("more than 8 %s in one cause", fmt);
			m->args[m->nargs++] = strdup(a);
			break;
		case 'd':
			(void)va_arg(aq, int);
			break;
		case 'u':
			(void)va_arg(aq, unsigned);
			break;
		case 'f':
			(void)va_arg(aq, double);
			break;
		default:
			fail("a conversion this harness does not follow", fmt);
		}
	}
	va_end(aq);
	if (m != NULL)
		m->result = strdup(r);
	return r;
}

/* The linker's marks: static text and data lie between the two. */
extern const char etext[], end[];

char *__real_xstrdup(const char *s);

char *
__wrap_xstrdup(const char *s)
{
	char *r = __real_xstrdup(s);

	if (recording && nmade < 64 && (uintptr_t)s >= (uintptr_t)etext &&
	    (uintptr_t)s < (uintptr_t)end)
		made[nmade++].result = strdup(r);
	return r;
}

static void
made_clear(void)
{
	size_t i, j;

	for (i = 0; i < nmade; i++) {
		for (j = 0; j < made[i].nargs; j++)
			free(made[i].args[j]);
		free(made[i].result);
	}
	memset(made, 0, sizeof made);
	nmade = 0;
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

static int
is_secret_key(const char *k)
{
	return strcmp(k, "password") == 0 || strcmp(k, "auth") == 0 ||
	    strcmp(k, "identitytoken") == 0;
}

/* Is s an object key or a string value not under a secret key of j? */
static int
in_json_public(json_t *j, const char *s)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_object(j)) {
		json_object_foreach(j, k, v) {
			if (strcmp(k, s) == 0)
				return 1;
			if (json_is_string(v) && !is_secret_key(k) &&
			    strcmp(json_string_value(v), s) == 0)
				return 1;
			if (in_json_public(v, s))
				return 1;
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			if (in_json_public(v, s))
				return 1;
	}
	return 0;
}

/* Is s public: see the header comment. upto: the results made before. */
static int
is_public(json_t *j, const char *host, const char *s, size_t upto)
{
	char key[300];
	size_t i, a;
	int e;

	creds_key(host, key, sizeof key);
	if (strcmp(s, config) == 0 || strcmp(s, host) == 0 ||
	    strcmp(s, key) == 0 || in_json_public(j, s))
		return 1;
	for (e = 0; e < 134; e++)
		if (strcmp(s, strerror(e)) == 0)
			return 1;
	for (i = 0; i < upto; i++) {
		if (made[i].result == NULL || strcmp(made[i].result, s) != 0)
			continue;
		for (a = 0; a < made[i].nargs; a++)
			if (!is_public(j, host, made[i].args[a], i))
				break;
		if (a == made[i].nargs)
			return 1;
	}
	return 0;
}

/* Does any string under a secret key of j (6 bytes or more) occur in s? */
static const char *
holds_secret(json_t *j, const char *s)
{
	const char *k, *v, *r;
	json_t *c;
	size_t i;

	if (json_is_object(j)) {
		json_object_foreach(j, k, c) {
			v = json_string_value(c);
			if (v != NULL && is_secret_key(k) && strlen(v) >= 6 &&
			    strstr(s, v) != NULL)
				return v;
			if ((r = holds_secret(c, s)) != NULL)
				return r;
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, c)
			if ((r = holds_secret(c, s)) != NULL)
				return r;
	}
	return NULL;
}

/* No argument of a cause made during the lookup gives a secret away. */
static void
check_no_secret(json_t *j, const char *host, const char *cause)
{
	size_t i, a;

	for (i = 0; i < nmade; i++)
		if (strcmp(made[i].result, cause) == 0)
			break;
	if (i == nmade && holds_secret(j, cause) != NULL)
		fail("a cause holds a secret", cause);
	for (i = 0; i < nmade; i++)
		for (a = 0; a < made[i].nargs; a++)
			if (holds_secret(j, made[i].args[a]) != NULL &&
			    !is_public(j, host, made[i].args[a], i))
				fail("a cause holds a secret", cause);
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
	made_clear();
	recording = 1;
	r = creds_lookup(host, NULL, &c, &cause);
	recording = 0;
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
		check_no_secret(j, host, cause);
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
