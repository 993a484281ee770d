/*
 * manifest.c - reads OCI image manifests and indexes and their Docker
 * schema 2 equivalents. Every field that later becomes a path or a size is
 * checked here: digests must be sha256 with 64 lowercase hex digits, sizes
 * positive and sane, counts bounded.
 */
#include "oci.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#define SIZE_SANE (1ull << 40)	/* 1 TiB: larger is a lie */

static int
is_index_type(const char *t)
{
	return strcmp(t, MT_OCI_INDEX) == 0 || strcmp(t, MT_DOCKER_LIST) == 0;
}

static int
is_manifest_type(const char *t)
{
	return strcmp(t, MT_OCI_MANIFEST) == 0 ||
	    strcmp(t, MT_DOCKER_MANIFEST) == 0;
}

int
mt_is_manifest(const char *t)
{
	return t != NULL && is_manifest_type(t);
}

int
mt_is_index(const char *t)
{
	return t != NULL && is_index_type(t);
}

static int
is_config_type(const char *t)
{
	return strcmp(t, MT_OCI_CONFIG) == 0 || strcmp(t, MT_DOCKER_CONFIG) == 0;
}

/* OCI layers (plain, gzip, zstd; distributable or not) and Docker's. */
static int
is_layer_type(const char *t)
{
	static const char *const types[] = {
		"application/vnd.oci.image.layer.v1.tar",
		"application/vnd.oci.image.layer.v1.tar+gzip",
		"application/vnd.oci.image.layer.v1.tar+zstd",
		"application/vnd.oci.image.layer.nondistributable.v1.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
		"application/vnd.docker.image.rootfs.diff.tar",
		"application/vnd.docker.image.rootfs.diff.tar.gzip",
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
	};
	size_t i;

	for (i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strcmp(t, types[i]) == 0)
			return 1;
	return 0;
}

enum role { ROLE_CONFIG, ROLE_LAYER, ROLE_ENTRY };

/*
 * A descriptor's mediaType says what the blob is; one that does not fit
 * the place it is in (an index given as a config, a manifest given as a
 * layer) is refused, never followed (CVE-2021-41190).
 */
static int
check_role(const struct descriptor *d, enum role role, const char *what,
    char **cause)
{
	static const char *const want[] = {
		"an image config", "a layer", "a manifest or an index",
	};
	char sane[128];
	int ok;

	if (d->media_type[0] == '\0') {
		*cause = xasprintf("%s %s has no mediaType", what, d->digest);
		return -1;
	}
	ok = role == ROLE_CONFIG ? is_config_type(d->media_type) :
	    role == ROLE_LAYER ? is_layer_type(d->media_type) :
	    is_manifest_type(d->media_type) || is_index_type(d->media_type);
	if (ok)
		return 0;
	sanitize(sane, sizeof sane, d->media_type);
	*cause = xasprintf("%s %s: media type '%s' is not %s", what, d->digest,
	    sane, want[role]);
	return -1;
}

/*
 * The registry's Content-Type and the document's mediaType must not
 * disagree on what it is: a manifest served as an index, or the reverse,
 * is the ambiguity CVE-2021-41190 is about.
 */
static int
check_ctype(const char *type, const char *ctype, char **cause)
{
	char sane[96];

	if (ctype == NULL || !(is_index_type(ctype) || is_manifest_type(ctype)) ||
	    is_index_type(ctype) == is_index_type(type))
		return 0;
	sanitize(sane, sizeof sane, type);
	*cause = xasprintf("document says mediaType '%s' but was served as %s",
	    sane, ctype);
	return -1;
}

static int
copy_str(json_t *o, const char *key, char *dst, size_t n, int required,
    const char *what, char **cause)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL && !required) {
		dst[0] = '\0';
		return 0;
	}
	if (!json_is_string(v)) {
		*cause = xasprintf("%s: '%s' missing or not a string", what, key);
		return -1;
	}
	if (json_string_length(v) >= n || strlen(json_string_value(v)) !=
	    json_string_length(v)) {
		*cause = xasprintf("%s: '%s' is too long", what, key);
		return -1;
	}
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/* Platform words are short names: anything else is not a platform. */
static int
platform_word_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
		    *s == '-'))
			return 0;
	return 1;
}

static int
parse_descriptor(json_t *o, struct descriptor *d, const char *what,
    char **cause)
{
	json_t *size, *plat;
	char sane[128];

	memset(d, 0, sizeof *d);
	if (!json_is_object(o)) {
		*cause = xasprintf("%s is not an object", what);
		return -1;
	}
	if (copy_str(o, "mediaType", d->media_type, sizeof d->media_type, 0,
	    what, cause) != 0 ||
	    copy_str(o, "digest", d->digest, sizeof d->digest, 1, what,
	    cause) != 0)
		return -1;
	if (!digest_valid(d->digest)) {
		sanitize(sane, sizeof sane, d->digest);
		*cause = xasprintf("%s: invalid digest '%s'", what, sane);
		return -1;
	}
	size = json_object_get(o, "size");
	if (!json_is_integer(size) || json_integer_value(size) <= 0 ||
	    (uint64_t)json_integer_value(size) > SIZE_SANE) {
		*cause = xasprintf("%s: size missing, not positive or absurd",
		    what);
		return -1;
	}
	d->size = (uint64_t)json_integer_value(size);
	plat = json_object_get(o, "platform");
	if (json_is_object(plat) &&
	    (copy_str(plat, "os", d->os, sizeof d->os, 0, what, cause) != 0 ||
	    copy_str(plat, "architecture", d->arch, sizeof d->arch, 0, what,
	    cause) != 0 ||
	    copy_str(plat, "variant", d->variant, sizeof d->variant, 0, what,
	    cause) != 0))
		return -1;
	if (!platform_word_ok(d->os) || !platform_word_ok(d->arch) ||
	    !platform_word_ok(d->variant))
		d->os[0] = d->arch[0] = d->variant[0] = '\0';	/* never matches */
	return 0;
}

int
manifest_parse(const char *data, size_t len, const char *ctype,
    struct manifest *m, char **cause)
{
	json_t *root, *mt, *layers, *manifests, *config, *sv;
	json_error_t je;
	const char *type = NULL;
	char what[64];
	size_t i;

	memset(m, 0, sizeof *m);
	if (len > (4u << 20)) {
		*cause = xasprintf("manifest is larger than 4 MiB");
		return -1;
	}
	root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL || !json_is_object(root)) {
		*cause = xasprintf("manifest is not valid JSON");
		json_decref(root);
		return -1;
	}
	sv = json_object_get(root, "schemaVersion");
	if (json_is_integer(sv) && json_integer_value(sv) == 1) {
		*cause = xasprintf("Docker schema 1 manifests are not supported");
		goto fail;
	}
	mt = json_object_get(root, "mediaType");
	layers = json_object_get(root, "layers");
	manifests = json_object_get(root, "manifests");
	config = json_object_get(root, "config");
	if (json_is_string(mt))
		type = json_string_value(mt);
	else if (mt != NULL) {
		*cause = xasprintf("manifest mediaType is not a string");
		goto fail;
	} else if (ctype != NULL && (is_index_type(ctype) ||
	    is_manifest_type(ctype)))
		type = ctype;
	else if (manifests != NULL && layers == NULL)
		type = MT_OCI_INDEX;
	else
		type = MT_OCI_MANIFEST;
	if (!is_index_type(type) && !is_manifest_type(type)) {
		char sane[96];
		sanitize(sane, sizeof sane, type);
		*cause = xasprintf("unsupported manifest media type '%s'", sane);
		goto fail;
	}
	if (check_ctype(type, ctype, cause) != 0)
		goto fail;
	snprintf(m->media_type, sizeof m->media_type, "%s", type);
	m->is_index = is_index_type(type);
	if (m->is_index && (layers != NULL || config != NULL)) {
		*cause = xasprintf("index (%s) has layers or config", type);
		goto fail;
	}
	if (!m->is_index && manifests != NULL) {
		*cause = xasprintf("manifest (%s) has 'manifests'", type);
		goto fail;
	}
	if (m->is_index) {
		if (!json_is_array(manifests) || json_array_size(manifests) == 0 ||
		    json_array_size(manifests) > MANIFEST_MAX_ENTRIES) {
			*cause = xasprintf("index has no usable 'manifests' list");
			goto fail;
		}
		m->nmanifests = (int)json_array_size(manifests);
		m->manifests = xcalloc(m->nmanifests, sizeof *m->manifests);
		for (i = 0; i < json_array_size(manifests); i++) {
			snprintf(what, sizeof what, "index entry %zu", i);
			if (parse_descriptor(json_array_get(manifests, i),
			    &m->manifests[i], what, cause) != 0 ||
			    check_role(&m->manifests[i], ROLE_ENTRY, what,
			    cause) != 0)
				goto fail;
		}
	} else {
		if (parse_descriptor(config, &m->config, "config", cause) != 0 ||
		    check_role(&m->config, ROLE_CONFIG, "config", cause) != 0)
			goto fail;
		if (!json_is_array(layers) ||
		    json_array_size(layers) > MANIFEST_MAX_LAYERS) {
			*cause = xasprintf("manifest has no usable 'layers' list");
			goto fail;
		}
		m->nlayers = (int)json_array_size(layers);
		m->layers = xcalloc(m->nlayers ? m->nlayers : 1, sizeof *m->layers);
		for (i = 0; i < json_array_size(layers); i++) {
			snprintf(what, sizeof what, "layer %zu", i);
			if (parse_descriptor(json_array_get(layers, i),
			    &m->layers[i], what, cause) != 0 ||
			    check_role(&m->layers[i], ROLE_LAYER, what,
			    cause) != 0)
				goto fail;
		}
	}
	json_decref(root);
	return 0;
fail:
	json_decref(root);
	manifest_free(m);
	return -1;
}

void
manifest_free(struct manifest *m)
{
	free(m->layers);
	free(m->manifests);
	memset(m, 0, sizeof *m);
}

void
platform_host(char *out, size_t n)
{
	struct utsname u;
	const char *arch = "amd64", *variant = "";

	if (uname(&u) == 0) {
		if (strcmp(u.machine, "x86_64") == 0)
			arch = "amd64";
		else if (strcmp(u.machine, "aarch64") == 0 ||
		    strcmp(u.machine, "arm64") == 0)
			arch = "arm64";
		else if (strncmp(u.machine, "armv7", 5) == 0) {
			arch = "arm";
			variant = "v7";
		} else if (strncmp(u.machine, "armv6", 5) == 0) {
			arch = "arm";
			variant = "v6";
		} else if (u.machine[0] == 'i' && strcmp(u.machine + 2, "86") == 0)
			arch = "386";
		else
			arch = u.machine;	/* ppc64le, s390x, riscv64 */
	}
	snprintf(out, n, "linux/%s%s%s", arch, *variant ? "/" : "", variant);
}

int
platform_valid(const char *p)
{
	int slashes = 0;
	const char *s;

	if (p == NULL || *p == '\0' || *p == '/')
		return 0;
	for (s = p; *s != '\0'; s++) {
		if (*s == '/') {
			if (s[1] == '/' || s[1] == '\0')
				return 0;
			slashes++;
		} else if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		    *s == '_' || *s == '-' || *s == '.'))
			return 0;
	}
	return slashes == 1 || slashes == 2;
}

/* Docker's defaults: arm64 means v8, arm means v7. */
static const char *
norm_variant(const char *arch, const char *v)
{
	if (*v == '\0' && strcmp(arch, "arm64") == 0)
		return "v8";
	if (*v == '\0' && strcmp(arch, "arm") == 0)
		return "v7";
	return v;
}

int
platform_match(const char *want, const char *have)
{
	char wo[32] = "", wa[32] = "", wv[32] = "", ho[32] = "", ha[32] = "",
	    hv[32] = "";

	if (sscanf(want, "%31[^/]/%31[^/]/%31s", wo, wa, wv) < 2 ||
	    sscanf(have, "%31[^/]/%31[^/]/%31s", ho, ha, hv) < 2)
		return 0;
	if (strcmp(wo, ho) != 0 || strcmp(wa, ha) != 0)
		return 0;
	return wv[0] == '\0' ||
	    strcmp(norm_variant(wa, wv), norm_variant(ha, hv)) == 0;
}

int
config_platform(const char *data, size_t len, char *out, size_t n,
    char **cause)
{
	json_t *root;
	json_error_t je;
	const char *os, *arch, *variant;

	out[0] = '\0';
	root = json_loadb(data, len, 0, &je);
	if (!json_is_object(root)) {
		*cause = xasprintf("config is not a JSON object");
		json_decref(root);
		return -1;
	}
	os = json_string_value(json_object_get(root, "os"));
	arch = json_string_value(json_object_get(root, "architecture"));
	variant = json_string_value(json_object_get(root, "variant"));
	if (os != NULL && arch != NULL && strlen(os) < 32 && strlen(arch) < 32 &&
	    platform_word_ok(os) && platform_word_ok(arch) &&
	    (variant == NULL || (strlen(variant) < 32 &&
	    platform_word_ok(variant))))
		snprintf(out, n, "%s/%s%s%s", os, arch, variant ? "/" : "",
		    variant ? variant : "");
	json_decref(root);
	return 0;
}

int
config_diff_ids(const char *data, size_t len, char (*ids)[72], int max,
    char **cause)
{
	json_t *root, *list, *v;
	json_error_t je;
	size_t i;
	int n = -1;

	root = json_loadb(data, len, 0, &je);
	list = json_object_get(json_object_get(root, "rootfs"), "diff_ids");
	if (!json_is_array(list)) {
		*cause = xasprintf("config has no rootfs.diff_ids");
		goto out;
	}
	if (json_array_size(list) > (size_t)max) {
		*cause = xasprintf("config has %zu diff_ids for %d layers",
		    json_array_size(list), max);
		goto out;
	}
	json_array_foreach(list, i, v) {
		if (!digest_valid(json_string_value(v))) {
			*cause = xasprintf("config diff_id %zu is not a sha256 "
			    "digest", i);
			goto out;
		}
		memcpy(ids[i], json_string_value(v), 72);
	}
	n = (int)json_array_size(list);
out:
	json_decref(root);
	return n;
}

int
manifest_pick(const struct manifest *m, const char *want, char **cause)
{
	char os[32] = "", arch[32] = "", variant[32] = "";
	char avail[512] = "";
	size_t alen = 0;
	int i, best = -1;

	if (sscanf(want, "%31[^/]/%31[^/]/%31s", os, arch, variant) < 2) {
		*cause = xasprintf("invalid platform '%s'", want);
		return -1;
	}
	for (i = 0; i < m->nmanifests; i++) {
		const struct descriptor *d = &m->manifests[i];
		if (strcmp(d->os, os) != 0 || strcmp(d->arch, arch) != 0)
			continue;
		if (variant[0] == '\0' && best < 0) {
			/* no variant asked: prefer the default one */
			if (strcmp(norm_variant(arch, d->variant),
			    norm_variant(arch, "")) == 0)
				return i;
			best = i;
			continue;
		}
		if (strcmp(norm_variant(arch, d->variant),
		    norm_variant(arch, variant)) == 0)
			return i;
	}
	if (best >= 0)
		return best;
	for (i = 0; i < m->nmanifests && alen + 64 < sizeof avail; i++) {
		const struct descriptor *d = &m->manifests[i];
		char one[100];
		if (d->os[0] == '\0' || strcmp(d->os, "unknown") == 0)
			continue;	/* attestations */
		snprintf(one, sizeof one, "%s%s/%s%s%s", alen ? ", " : "",
		    d->os, d->arch, d->variant[0] ? "/" : "", d->variant);
		sanitize(avail + alen, sizeof avail - alen, one);
		alen = strlen(avail);
	}
	*cause = xasprintf("no manifest for platform %s (available: %s)", want,
	    alen ? avail : "none");
	return -1;
}
