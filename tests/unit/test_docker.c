/*
 * test_docker.c - unit tests for src/docker without an engine: the
 * JSONMessage parser and status words, and the docker-archive stream read
 * back with libarchive (entries, bytes, manifest.json, the size known up
 * front, read in odd-sized pieces).
 */
#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dk_int.h"
#include "oci.h"
#include "store.h"
#include "unit.h"
#include "util.h"

static void
test_msg(void)
{
	struct dk_msg m;
	char *cause = NULL;
	const char *l;
	int secs = -1;

	l = "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":3646,"
	    "\"total\":51628},\"progress\":\"[=>  ]\",\"id\":\"df5d4a57ec4f\"}";
	CHECK(dk_msg_parse(l, strlen(l), &m, &cause) == 0, "parse downloading");
	CHECK_STR(m.status, "Downloading", "status");
	CHECK_STR(m.id, "df5d4a57ec4f", "id");
	CHECK(m.has_progress && m.current == 3646 && m.total == 51628,
	    "progressDetail %lld/%lld", (long long)m.current,
	    (long long)m.total);
	dk_msg_free(&m);

	l = "{\"errorDetail\":{\"message\":\"bad \\u001b[31mred\\nline\"},"
	    "\"error\":\"other\"}";
	CHECK(dk_msg_parse(l, strlen(l), &m, &cause) == 0, "parse error");
	CHECK_STR(m.error, "bad red line", "errorDetail wins, sanitized");
	dk_msg_free(&m);

	l = "{\"status\":\"Extracting\",\"progressDetail\":{\"current\":4,"
	    "\"units\":\"s\"},\"id\":\"a\"}";
	CHECK(dk_msg_parse(l, strlen(l), &m, &cause) == 0 &&
	    strcmp(m.units, "s") == 0 && m.current == 4, "units seconds");
	dk_msg_free(&m);

	l = "{\"stream\":\"Loaded image: a:1\\n\"}";
	CHECK(dk_msg_parse(l, strlen(l), &m, &cause) == 0, "parse stream");
	CHECK_STR(m.stream, "Loaded image: a:1", "stream, newline trimmed");
	dk_msg_free(&m);

	CHECK(dk_msg_parse("  \r", 3, &m, &cause) == 1, "blank line");
	CHECK(dk_msg_parse("{\"a\":", 5, &m, &cause) == -1 && cause != NULL &&
	    strchr(cause, '\n') == NULL, "broken JSON: one-line cause");
	free(cause);
	cause = NULL;
	CHECK(dk_msg_parse("[1]", 3, &m, &cause) == -1, "not an object");
	free(cause);

	CHECK(dk_step_of("Pulling fs layer", NULL) == DK_QUEUED, "queued");
	CHECK(dk_step_of("Pull complete", NULL) == DK_PULLED, "pulled");
	CHECK(dk_step_of("Already exists", NULL) == DK_EXISTS, "exists");
	CHECK(dk_step_of("Retrying in 5 seconds", &secs) == DK_RETRYING &&
	    secs == 5, "retrying 5");
	CHECK(dk_step_of("Retrying in 1 second", &secs) == DK_RETRYING &&
	    secs == 1, "retrying 1");
	CHECK(dk_step_of("Retrying in x", NULL) == DK_NOT_LAYER,
	    "not a retry");
	CHECK(dk_step_of("Digest: sha256:00", NULL) == DK_NOT_LAYER,
	    "digest is not a layer's");
}

/* Put text as a blob; its descriptor into d. */
static void
put(struct store *st, const char *text, size_t n, struct descriptor *d)
{
	char *cause = NULL;

	memset(d, 0, sizeof *d);
	sha256_buf(text, n, d->digest);
	d->size = n;
	if (store_put_small(st, d->digest, text, n, &cause) != 0) {
		printf("FAIL store_put_small: %s\n", cause);
		exit(1);
	}
}

static void
test_archive(void)
{
	char dir[] = "/tmp/test_docker.XXXXXX", *cause = NULL, *big;
	struct descriptor cfg, layers[3];
	struct docker_load_req r;
	struct dk_archive *x;
	struct store *st;
	struct buf out;
	struct archive *a;
	struct archive_entry *e;
	char piece[777];
	long k;
	int n = 0, ok = 1, i;
	size_t bigsz = 200000;

	if (mkdtemp(dir) == NULL || store_open(dir, &st, &cause) != 0) {
		printf("FAIL store: %s\n", cause ? cause : "mkdtemp");
		exit(1);
	}
	big = xmalloc(bigsz);
	for (i = 0; i < (int)bigsz; i++)
		big[i] = (char)(i * 7 + i / 300);
	put(st, "{\"rootfs\":{}}", 13, &cfg);
	put(st, big, bigsz, &layers[0]);
	put(st, "x", 1, &layers[1]);
	layers[2] = layers[0];	/* the same layer twice: one entry */
	memset(&r, 0, sizeof r);
	r.store = st;
	r.ref = "127.0.0.1:5000/team/app:v1@sha256:"
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	r.config = &cfg;
	r.layers = layers;
	r.nlayers = 3;
	x = dk_archive_new(&r, &cause);
	CHECK(x != NULL, "archive made: %s", cause ? cause : "");
	if (x == NULL)
		return;
	buf_init(&out, 1 << 24);
	while ((k = dk_archive_read(x, piece, sizeof piece)) > 0)
		if (buf_append(&out, piece, (size_t)k) != 0)
			break;
	CHECK(k == 0, "read to the end: %s", dk_archive_error(x));
	CHECK(out.len == dk_archive_size(x), "size known up front: %zu vs "
	    "%llu", out.len, (unsigned long long)dk_archive_size(x));

	a = archive_read_new();
	archive_read_support_format_tar(a);
	archive_read_open_memory(a, out.data, out.len);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		size_t sz = (size_t)archive_entry_size(e);
		char *data = xmalloc(sz + 1);

		if (archive_read_data(a, data, sz) != (la_ssize_t)sz)
			ok = 0;
		data[sz] = '\0';
		if (n == 0) {
			json_t *m = json_loads(data, 0, NULL);
			json_t *img = json_array_get(m, 0);

			CHECK_STR(name, "manifest.json", "manifest first");
			CHECK_STR(json_string_value(json_array_get(json_object_get(
			    img, "RepoTags"), 0)), "127.0.0.1:5000/team/app:v1",
			    "RepoTags: the tag, no digest");
			CHECK(json_array_size(json_object_get(img, "Layers")) == 3,
			    "three layers listed");
			CHECK(strncmp(json_string_value(json_object_get(img,
			    "Config")), "blobs/sha256/", 13) == 0, "config path");
			json_decref(m);
		} else if (n == 2)
			ok &= sz == bigsz && memcmp(data, big, bigsz) == 0;
		else if (n == 3)
			ok &= sz == 1 && data[0] == 'x';
		free(data);
		n++;
	}
	CHECK(n == 4, "entries: manifest, config, 2 layers (%d)", n);
	CHECK(ok, "blob bytes come back whole");
	archive_read_free(a);
	dk_archive_free(x);
	buf_free(&out);

	/* a blob gone from the store is said before anything is sent */
	layers[1].digest[10] = layers[1].digest[10] == '0' ? '1' : '0';
	x = dk_archive_new(&r, &cause);
	CHECK(x == NULL && cause != NULL && strstr(cause, "not in the store"),
	    "missing blob: %s", cause ? cause : "(made)");
	free(cause);
	store_close(st);
	free(big);
	snprintf(piece, sizeof piece, "rm -rf '%s'", dir);
	(void)!system(piece);
}

int
main(void)
{
	test_msg();
	test_archive();
	return unit_summary();
}
