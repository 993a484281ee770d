/*
 * fuzz_manifest.c - libFuzzer target for manifest_parse and manifest_pick:
 * OCI and Docker manifests and indexes as a registry sends them. The first
 * byte chooses the Content-Type (one of the four media types, "", or none);
 * the rest is the body, handed over unterminated as curl's buffer would be.
 * On success: every digest validates, every size is positive and sane,
 * every descriptor's media type fits its role (config, layer, entry),
 * counts stay within their caps, strings are terminated within their arrays,
 * and picking a platform from an index gives an entry of that platform or a
 * cause. Every cause is one line without control characters.
 *
 * Sources: src/oci/manifest.c src/util/digest.c src/util/util.c
 * Check-runs: 150000
 * Packages: jansson libcrypto
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "oci.h"

#define SIZE_SANE (1ull << 40)
#define TERMINATED(f) (memchr((f), '\0', sizeof(f)) != NULL)

static const char *const ctypes[] = {
	MT_OCI_MANIFEST, MT_OCI_INDEX, MT_DOCKER_MANIFEST, MT_DOCKER_LIST,
	"", NULL,
};

static const char *const platforms[] = {
	"linux/amd64", "linux/arm64", "linux/arm64/v8", "linux/arm",
	"linux/arm/v6", "windows/amd64", "linux/s390x",
};

static void
fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_manifest: %s%s%s\n", what, detail ? ": " : "",
	    detail ? detail : "");
	abort();
}

/* Causes reach the terminal: one line, no control characters. */
static void
check_cause(const char *cause)
{
	const unsigned char *p;

	for (p = (const unsigned char *)cause; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			fail("cause holds a control character", cause);
}

static void
check_descriptor(const struct descriptor *d)
{
	if (!TERMINATED(d->media_type) || !TERMINATED(d->digest) ||
	    !TERMINATED(d->os) || !TERMINATED(d->arch) ||
	    !TERMINATED(d->variant))
		fail("descriptor string not terminated within its array", NULL);
	if (!digest_valid(d->digest))
		fail("descriptor digest does not validate", d->digest);
	if (d->size == 0 || d->size > SIZE_SANE)
		fail("descriptor size zero or absurd", d->digest);
}

/* On success every descriptor's media type fits its role. */
static void
check_roles(const struct manifest *m)
{
	int i;

	if (m->is_index) {
		for (i = 0; i < m->nmanifests; i++)
			if (!mt_is_manifest(m->manifests[i].media_type) &&
			    !mt_is_index(m->manifests[i].media_type))
				fail("index entry is not a manifest or index",
				    m->manifests[i].media_type);
		return;
	}
	if (strcmp(m->config.media_type, MT_OCI_CONFIG) != 0 &&
	    strcmp(m->config.media_type, MT_DOCKER_CONFIG) != 0)
		fail("config is not an image config", m->config.media_type);
	for (i = 0; i < m->nlayers; i++) {
		const char *t = m->layers[i].media_type;
		if (*t == '\0' || mt_is_manifest(t) || mt_is_index(t) ||
		    strcmp(t, MT_OCI_CONFIG) == 0 ||
		    strcmp(t, MT_DOCKER_CONFIG) == 0)
			fail("layer media type does not fit", t);
	}
}

static int
is_one_of(const char *t, int index)
{
	if (index)
		return strcmp(t, MT_OCI_INDEX) == 0 ||
		    strcmp(t, MT_DOCKER_LIST) == 0;
	return strcmp(t, MT_OCI_MANIFEST) == 0 ||
	    strcmp(t, MT_DOCKER_MANIFEST) == 0;
}

static void
check_pick(const struct manifest *m, const char *want)
{
	char os[32] = "", arch[32] = "", *cause = NULL;
	int i;

	i = manifest_pick(m, want, &cause);
	if (i < 0) {
		if (cause == NULL)
			fail("pick failed without a cause", want);
		check_cause(cause);
		free(cause);
		return;
	}
	if (i >= m->nmanifests)
		fail("pick returned an index out of range", want);
	if (cause != NULL)
		fail("pick succeeded with a cause", cause);
	if (sscanf(want, "%31[^/]/%31[^/]", os, arch) != 2)
		abort();
	if (strcmp(m->manifests[i].os, os) != 0 ||
	    strcmp(m->manifests[i].arch, arch) != 0)
		fail("picked an entry of another platform", want);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest m;
	static const struct manifest zero;
	const char *ctype;
	char *body, *cause = NULL;
	size_t i;

	if (size == 0)
		return 0;
	ctype = ctypes[data[0] % (sizeof ctypes / sizeof ctypes[0])];
	/* exactly sized, unterminated: ASan sees any read past the end */
	body = malloc(size - 1 ? size - 1 : 1);
	if (body == NULL)
		return 0;
	memcpy(body, data + 1, size - 1);
	if (manifest_parse(body, size - 1, ctype, &m, &cause) != 0) {
		if (cause == NULL || *cause == '\0')
			fail("failure without a cause", NULL);
		if (memcmp(&m, &zero, sizeof m) != 0)
			fail("failure leaves *m set", cause);
		check_cause(cause);
		free(cause);
		free(body);
		return 0;
	}
	if (!TERMINATED(m.media_type) || !is_one_of(m.media_type, m.is_index))
		fail("media type does not agree with the shape", m.media_type);
	check_roles(&m);
	if (m.is_index) {
		if (m.nmanifests < 1 || m.nmanifests > MANIFEST_MAX_ENTRIES ||
		    m.manifests == NULL || m.nlayers != 0)
			fail("index entry count out of range", NULL);
		for (i = 0; i < (size_t)m.nmanifests; i++)
			check_descriptor(&m.manifests[i]);
		for (i = 0; i < sizeof platforms / sizeof platforms[0]; i++)
			check_pick(&m, platforms[i]);
	} else {
		if (m.nlayers < 0 || m.nlayers > MANIFEST_MAX_LAYERS ||
		    m.layers == NULL || m.nmanifests != 0)
			fail("layer count out of range", NULL);
		check_descriptor(&m.config);
		for (i = 0; i < (size_t)m.nlayers; i++)
			check_descriptor(&m.layers[i]);
		/* picking from a manifest finds nothing, and says so */
		check_pick(&m, "linux/amd64");
	}
	manifest_free(&m);
	free(body);
	return 0;
}
