/*
 * jsonmsg.c - the Docker Engine's JSONMessage lines (a pull's or a load's
 * progress stream), parsed with jansson into a struct dk_msg with every
 * string made safe to print, and a layer's status words read as a step.
 */
#include "dk_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD_MAX 4096		/* longer text is cut: it is for people */

void
dk_msg_free(struct dk_msg *m)
{
	free(m->status);
	free(m->id);
	free(m->error);
	free(m->stream);
	memset(m, 0, sizeof *m);
}

/* A sanitized copy of o's string member name, or NULL. */
static char *
str_field(json_t *o, const char *name)
{
	const char *s = json_string_value(json_object_get(o, name));
	size_t n;
	char *out;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	if (n > FIELD_MAX)
		n = FIELD_MAX;
	out = xmalloc(n);
	sanitize(out, n, s);
	/* "Loaded image: x\n": the newline became a space */
	n = strlen(out);
	while (n > 0 && out[n - 1] == ' ')
		out[--n] = '\0';
	return out;
}

/* A count of progressDetail: a non-negative integer, else 0. */
static int64_t
count_field(json_t *o, const char *name, int *present)
{
	json_t *v = json_object_get(o, name);

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		if (present != NULL)
			*present = 1;
		return (int64_t)json_integer_value(v);
	}
	if (json_is_real(v) && json_real_value(v) >= 0 &&
	    json_real_value(v) < 9e18) {
		if (present != NULL)
			*present = 1;
		return (int64_t)json_real_value(v);
	}
	return 0;
}

int
dk_msg_parse(const char *line, size_t n, struct dk_msg *m, char **cause)
{
	json_error_t je;
	json_t *root, *pd, *ed;
	size_t i;

	memset(m, 0, sizeof *m);
	for (i = 0; i < n && strchr(" \t\r\n", line[i]) != NULL; i++)
		;
	if (i == n)
		return 1;
	root = json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL || !json_is_object(root)) {
		*cause = root == NULL ? xasprintf("a line of the engine's "
		    "answer is not JSON (column %d: %s)", je.column, je.text) :
		    xstrdup("a line of the engine's answer is not a JSON object");
		json_decref(root);
		return -1;
	}
	m->status = str_field(root, "status");
	m->id = str_field(root, "id");
	m->stream = str_field(root, "stream");
	ed = json_object_get(root, "errorDetail");
	m->error = str_field(ed, "message");
	if (m->error == NULL || *m->error == '\0') {
		free(m->error);
		m->error = str_field(root, "error");
	}
	if (m->error != NULL && *m->error == '\0') {
		free(m->error);
		m->error = xstrdup("the engine reported an error without "
		    "a message");
	}
	pd = json_object_get(root, "progressDetail");
	if (json_is_object(pd)) {
		m->current = count_field(pd, "current", &m->has_progress);
		m->total = count_field(pd, "total", NULL);
		if (json_is_string(json_object_get(pd, "units")))
			sanitize(m->units, sizeof m->units, json_string_value(
			    json_object_get(pd, "units")));
	}
	json_decref(root);
	return 0;
}

enum dk_step
dk_step_of(const char *status, int *secs)
{
	static const struct {
		const char *words;
		enum dk_step step;
	} steps[] = {
		{ "Pulling fs layer", DK_QUEUED },
		{ "Waiting", DK_QUEUED },
		{ "Downloading", DK_DOWNLOADING },
		{ "Verifying Checksum", DK_VERIFYING },
		{ "Download complete", DK_DOWNLOADED },
		{ "Extracting", DK_EXTRACTING },
		{ "Pull complete", DK_PULLED },
		{ "Already exists", DK_EXISTS },
	};
	size_t i;
	int n, used = 0;

	if (status == NULL)
		return DK_NOT_LAYER;
	for (i = 0; i < sizeof steps / sizeof steps[0]; i++)
		if (strcmp(status, steps[i].words) == 0)
			return steps[i].step;
	/* "Retrying in 5 seconds", "Retrying in 1 second" */
	if (sscanf(status, "Retrying in %d second%n", &n, &used) == 1 &&
	    used > 0 && n >= 0) {
		if (secs != NULL)
			*secs = n;
		return DK_RETRYING;
	}
	return DK_NOT_LAYER;
}
