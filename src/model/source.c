/*
 * source.c - the source interface's calls: each checks the capability
 * bit, so a view's key for an operation the source does not offer gets
 * a cause to show instead of doing something else.
 */
#include "model.h"
#include "util.h"

#include <stdarg.h>
#include <stdlib.h>

int
source_has(const struct source *s, unsigned cap)
{
	return (s->caps & cap) == cap;
}

static int
refuse(const struct source *s, char **cause)
{
	*cause = s->read_only != NULL ? xasprintf("%s", s->read_only) :
	    xasprintf("%s does not offer that", s->name);
	return -1;
}

int
source_cancel_blob(struct source *s, int id, char **cause)
{
	if (!source_has(s, SRC_CANCEL_BLOB))
		return refuse(s, cause);
	return s->ops->cancel_blob(s->impl, id, cause);
}

int
source_retry_blob(struct source *s, int id, char **cause)
{
	if (!source_has(s, SRC_RETRY_BLOB))
		return refuse(s, cause);
	return s->ops->retry_blob(s->impl, id, cause);
}

int
source_cancel_image(struct source *s, int id, char **cause)
{
	if (!source_has(s, SRC_CANCEL_IMAGE))
		return refuse(s, cause);
	return s->ops->cancel_image(s->impl, id, cause);
}

int
source_retry_image(struct source *s, int id, char **cause)
{
	if (!source_has(s, SRC_RETRY_IMAGE))
		return refuse(s, cause);
	return s->ops->retry_image(s->impl, id, cause);
}

int
source_retry_all(struct source *s)
{
	if (!source_has(s, SRC_RETRY_ALL))
		return 0;
	return s->ops->retry_all(s->impl);
}

int
source_add_image(struct source *s, const char *ref, char **cause)
{
	if (!source_has(s, SRC_ADD_IMAGE))
		return refuse(s, cause);
	return s->ops->add_image(s->impl, ref, cause);
}

int
source_set_jobs(struct source *s, int n)
{
	if (!source_has(s, SRC_SET_JOBS))
		return -1;
	return s->ops->set_jobs(s->impl, n);
}

int
source_remove_image(struct source *s, int id, char **cause)
{
	if (!source_has(s, SRC_REMOVE_IMAGE))
		return refuse(s, cause);
	return s->ops->remove_image(s->impl, id, cause);
}

void
source_cancel_all(struct source *s)
{
	if (s->ops->cancel_all != NULL)
		s->ops->cancel_all(s->impl);
}

void
source_note(struct source *s, int level, const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	model_lock(s->model);
	model_event(s->model, level, EV_NOTE, -1, -1, "%s", text);
	model_unlock(s->model);
	free(text);
}

void
source_free(struct source *s)
{
	if (s == NULL)
		return;
	source_cancel_all(s);
	if (s->ops->free != NULL)
		s->ops->free(s->impl);
	model_free(s->model);
	free(s);
}
