/*
 * fuzz_ref.c - libFuzzer target for ref_parse: image references as a user
 * types them. On success the parts must rebuild the normalized name, the
 * digest must be valid, the domain must fit the 256-byte host name that
 * registry.c keeps for it (struct host.name: a longer one is cut, and the
 * requests go to another host), and parsing the normalized name again must
 * give the same name: normalization is idempotent.
 *
 * Sources: src/oci/ref.c src/util/util.c src/util/digest.c
 * Check-runs: 600000
 * Packages: libcrypto
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "oci.h"

#define DOMAIN_MAX 255	/* struct host.name[256] in registry.c */

static void
fail(const char *what, const char *in, const char *got)
{
	fprintf(stderr, "fuzz_ref: %s\n  input: '%s'\n  got:   '%s'\n", what,
	    in, got ? got : "(null)");
	abort();
}

static void
check_parsed(const char *in, const struct ref *r)
{
	char *want;

	if (r->domain == NULL || r->path == NULL || r->full == NULL)
		fail("a part is NULL after success", in, r->full);
	if (r->tag == NULL && r->digest == NULL)
		fail("neither tag nor digest", in, r->full);
	if (*r->domain == '\0' || *r->path == '\0')
		fail("empty domain or path", in, r->full);
	if (r->digest != NULL && !digest_valid(r->digest))
		fail("digest does not validate", in, r->digest);
	if (strchr(r->path, ':') != NULL || strchr(r->path, '@') != NULL)
		fail("path holds ':' or '@'", in, r->path);
	if (r->tag != NULL && (strchr(r->tag, ':') != NULL ||
	    strchr(r->tag, '/') != NULL || strlen(r->tag) > 128))
		fail("tag is not a tag", in, r->tag);
	if (strlen(r->path) > 255)
		fail("path longer than 255 bytes", in, r->path);
	if (strlen(r->domain) > DOMAIN_MAX)
		fail("domain longer than 255 bytes", in, r->domain);
	if (asprintf(&want, "%s/%s%s%s%s%s", r->domain, r->path,
	    r->tag ? ":" : "", r->tag ? r->tag : "",
	    r->digest ? "@" : "", r->digest ? r->digest : "") < 0)
		abort();
	if (strcmp(want, r->full) != 0)
		fail("full != domain/path[:tag][@digest]", in, r->full);
	free(want);
	if (ref_registry_host(r) == NULL || ref_reference(r) == NULL)
		fail("host or reference is NULL", in, r->full);
	if (strcmp(ref_reference(r), r->digest ? r->digest : r->tag) != 0)
		fail("reference is neither digest nor tag", in, r->full);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ref r, again;
	char *s, *cause = NULL, *cause2 = NULL;
	static const struct ref zero;

	s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (ref_parse(s, &r, &cause) != 0) {
		if (cause == NULL || *cause == '\0')
			fail("failure without a cause", s, NULL);
		if (memcmp(&r, &zero, sizeof r) != 0)
			fail("failure leaves *r set", s, NULL);
		free(cause);
		free(s);
		return 0;
	}
	if (cause != NULL)
		fail("success with a cause", s, cause);
	check_parsed(s, &r);
	if (ref_parse(r.full, &again, &cause2) != 0)
		fail("normalized name does not parse", s, cause2);
	check_parsed(r.full, &again);
	if (strcmp(again.full, r.full) != 0)
		fail("normalization is not idempotent", r.full, again.full);
	if (strcmp(again.domain, r.domain) != 0 ||
	    strcmp(again.path, r.path) != 0)
		fail("re-parse splits domain/path differently", r.full,
		    again.domain);
	ref_free(&again);
	ref_free(&r);
	free(s);
	return 0;
}
