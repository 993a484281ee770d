/*
 * fuzz_json.c - libFuzzer target for the JSON lines of --progress=json:
 * text from a registry is sanitize()d into the record's buffer and dumped
 * with jansson as progress.c's json_line() does. The line must load back to
 * an equal object and hold no raw control character or newline, so one
 * record is always one line. Raw (unsanitized) valid UTF-8 text goes through
 * the same escaping as a second check of jansson's side.
 *
 * Sources: src/util/util.c
 * Check-runs: 100000
 * Packages: jansson
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util.h"

static void
fail(const char *what, const char *line)
{
	fprintf(stderr, "fuzz_json: %s\n  line: %s\n", what,
	    line ? line : "(none)");
	abort();
}

/* Dump o as progress.c does, check the line, load it back, compare. */
static void
round_trip(json_t *o)
{
	json_error_t je;
	json_t *back;
	char *text;
	size_t i;

	text = json_dumps(o, JSON_COMPACT);
	if (text == NULL)
		fail("json_dumps failed", NULL);
	for (i = 0; text[i] != '\0'; i++)
		if ((unsigned char)text[i] < 0x20)
			fail("raw control character or newline in the line",
			    text);
	back = json_loads(text, JSON_ALLOW_NUL, &je);
	if (back == NULL)
		fail("the line does not load back", text);
	if (!json_equal(o, back))
		fail("the line loads back as something else", text);
	json_decref(back);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in, clean[256];	/* as snap_blob.error and snap_image.ref */
	json_t *o, *s, *raw;

	if (size > 65536)
		return 0;
	in = malloc(size + 1);
	memcpy(in, data, size);
	in[size] = '\0';
	sanitize(clean, sizeof clean, in);

	/* the shape of json_line() for a failed layer */
	s = json_string(clean);
	if (s == NULL)
		fail("json_string refused sanitized text (not UTF-8?)", clean);
	o = json_object();
	json_object_set_new(o, "status", json_string(clean));
	json_object_set_new(o, "progressDetail", json_object());
	json_object_set_new(o, "id", json_string("0123456789ab"));
	json_object_set_new(o, "errorDetail", json_pack("{s:s}", "message",
	    clean));
	json_object_set_new(o, "error", s);
	json_object_set_new(o, "image", json_string(clean));
	if (json_object_size(o) != 6 ||
	    json_object_get(o, "errorDetail") == NULL)
		fail("a member was dropped (json_pack/json_string failed)",
		    clean);
	round_trip(o);
	json_decref(o);

	/* jansson's own escaping of raw text, NULs included (if UTF-8) */
	raw = json_stringn(in, size);
	if (raw != NULL) {
		o = json_object();
		json_object_set_new(o, "error", raw);
		round_trip(o);
		json_decref(o);
	}
	free(in);
	return 0;
}
