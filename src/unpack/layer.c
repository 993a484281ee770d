/*
 * layer.c - one layer applied: its tar entries read with libarchive
 * and handed to the writers, the diff_id checked, warnings reported.
 */
#include "unpack_int.h"

/* ------------------------------------------------------------- layers */

/*
 * Has the caller cancelled? Asked between entries and inside every loop
 * (see unpack.h); once yes, the answer stays yes for the layer.
 */
int
up_cancelled(struct unpack *u)
{
	if (!u->cancel && u->cb.cancelled != NULL &&
	    u->cb.cancelled(u->cb.ctx))
		u->cancel = 1;
	return u->cancel;
}

/* The same, asked from inner loops: every 64th call asks the caller. */
int
up_tick(struct unpack *u)
{
	if (u->cancel)
		return 1;
	if ((++u->ticks & 63) != 0)
		return 0;
	return up_cancelled(u);
}

/* One warning line for the layer: "layer <id>: ..." to the callback. */
static void
layer_warn(struct unpack *u, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
layer_warn(struct unpack *u, const char *fmt, ...)
{
	va_list ap;
	char *what, *m;

	va_start(ap, fmt);
	what = xvasprintf(fmt, ap);
	va_end(ap);
	m = xasprintf("layer %s: %s", u->sid, what);
	u->cb.warn(u->cb.ctx, m);
	free(m);
	free(what);
}

static void
layer_warnings(struct unpack *u)
{
	if (u->cb.warn == NULL)
		return;
	if (u->skipped_dev > 0)
		layer_warn(u, "skipped %u device node%s (not root), e.g. %s",
		    u->skipped_dev, u->skipped_dev == 1 ? "" : "s",
		    u->first_skip);
	if (u->skipped_type > 0)
		layer_warn(u, "skipped %u entr%s of unknown type, e.g. %s",
		    u->skipped_type, u->skipped_type == 1 ? "y" : "ies",
		    u->first_skip);
	if (u->xattr_fail > 0)
		layer_warn(u, "could not set %u extended attribute%s, e.g. %s",
		    u->xattr_fail, u->xattr_fail == 1 ? "" : "s",
		    u->first_xattr);
	if (u->chown_fail > 0)
		layer_warn(u, "could not set the owner of %u entr%s",
		    u->chown_fail, u->chown_fail == 1 ? "y" : "ies");
}

/* The layer's short id: from the blob's file name, else the diff_id. */
static void
layer_sid(struct unpack *u, const char *blob_path, const char *diff_id)
{
	const char *b = strrchr(blob_path, '/');
	size_t i;

	b = b ? b + 1 : blob_path;
	for (i = 0; i < 64 && ((b[i] >= '0' && b[i] <= '9') ||
	    (b[i] >= 'a' && b[i] <= 'f')); i++)
		;
	if (i != 64 || b[64] != '\0') {
		b = diff_id && strncmp(diff_id, "sha256:", 7) == 0 ?
		    diff_id + 7 : "";
		if (b[0] == '\0')
			b = "unknown";
	}
	snprintf(u->sid, sizeof u->sid, "%.12s", b);
}

/* Write entry e (its name cleaned, split into parent and leaf). */
static int
write_entry(struct unpack *u, struct archive *a, struct archive_entry *e,
    const char *parent, const char *leaf, char **cause)
{
	const char *hard = archive_entry_hardlink(e);
	uint32_t pnode;
	int pfd;

	if (up_walk(u, parent, 1, &pfd, &pnode, cause) != 0)
		return -1;
	up_dt_record(u, pnode);
	up_set_add(&u->set, up_dt_key(u, pnode, leaf));
	if (hard != NULL)
		return up_do_hardlink(u, hard, pfd, pnode, leaf, cause);
	switch (archive_entry_filetype(e)) {
	case AE_IFREG:
		return up_do_file(u, a, e, pfd, pnode, leaf, cause);
	case AE_IFDIR:
		return up_do_dir(u, e, pfd, pnode, leaf, cause);
	case AE_IFLNK:
		return up_do_symlink(u, e, pfd, pnode, leaf, cause);
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		return up_do_node(u, e, pfd, pnode, leaf, cause);
	default:
		if (u->skipped_type++ == 0)
			up_where(u, pnode, leaf, u->first_skip,
			    sizeof u->first_skip);
		return 0;
	}
}

/* One entry: cleaned, AUFS bookkeeping skipped, whiteouts applied. */
static int
apply_entry(struct unpack *u, struct archive *a, struct archive_entry *e,
    char **cause)
{
	const char *raw = archive_entry_pathname(e), *leaf;
	char *slash, sh[160];

	if (raw == NULL && (raw = archive_entry_pathname_utf8(e)) == NULL)
		return up_fail(cause, "entry without a name");
	if (up_clean_name("entry ", raw, &u->path, cause) != 0)
		return -1;
	if (u->path.len == 0) {
		/* "./": the rootfs itself; nothing else may take its place */
		if (archive_entry_hardlink(e) != NULL ||
		    archive_entry_filetype(e) != AE_IFDIR)
			return up_fail(cause, "entry %s would replace the "
			    "rootfs", up_show(raw, sh, sizeof sh));
		return up_do_dir(u, e, u->root, 0, NULL, cause);
	}
	slash = strrchr(u->path.data, '/');
	leaf = slash ? slash + 1 : u->path.data;
	/* AUFS bookkeeping (".wh..wh.plnk/..." etc.) is not content */
	if ((strncmp(u->path.data, ".wh..wh.", 8) == 0 ||
	    strstr(u->path.data, "/.wh..wh.") != NULL) &&
	    strcmp(leaf, ".wh..wh..opq") != 0)
		return 0;
	if (slash != NULL)
		*slash = '\0';
	if (strncmp(leaf, ".wh.", 4) == 0)
		return up_whiteout(u, slash ? u->path.data : "", leaf, raw,
		    cause);
	return write_entry(u, a, e, slash ? u->path.data : "", leaf, cause);
}

static int
run_layer(struct unpack *u, struct reader *r, const char *diff_id,
    char **cause)
{
	struct archive *a;
	struct archive_entry *e;
	const unsigned char *p;
	char got[72];
	int ret, rc = -1;
	ssize_t n;

	a = archive_read_new();
	if (a == NULL)
		return up_fail(cause, "out of memory");
	archive_read_support_format_tar(a);
	if (archive_read_open(a, r, NULL, up_reader_read, NULL) != ARCHIVE_OK) {
		up_fail(cause, "%s", r->why ? r->why : archive_error_string(a));
		goto out;
	}
	for (;;) {
		ret = archive_read_next_header(a, &e);
		if (ret == ARCHIVE_EOF)
			break;
		if (ret < ARCHIVE_WARN) {	/* warnings: charset only */
			up_fail(cause, "%s", r->why ? r->why :
			    archive_error_string(a));
			goto out;
		}
		if (up_cancelled(u)) {
			up_fail(cause, "cancelled");
			goto out;
		}
		if (up_dt_full(u) && up_dt_flush(u, cause) != 0)
			goto out;
		if (apply_entry(u, a, e, cause) != 0) {
			if (r->why != NULL) {	/* the stream broke mid-file */
				free(*cause);
				*cause = xstrdup(r->why);
			}
			goto out;
		}
	}
	/* the diff_id covers the whole stream, padding after the tar too */
	while ((n = up_next_block(r, &p)) > 0)
		if (up_cancelled(u)) {
			up_fail(cause, "cancelled");
			goto out;
		}
	if (n < 0) {
		up_fail(cause, "%s", r->why);
		goto out;
	}
	if (up_dt_flush(u, cause) != 0)	/* the directories' modes */
		goto out;
	sha256_final(r->hash, got);
	if (diff_id != NULL && strcmp(got, diff_id) != 0) {
		up_fail(cause, "uncompressed content is %s, not the diff_id %s",
		    got, diff_id);
		goto out;
	}
	rc = 0;
out:
	archive_read_free(a);
	return rc;
}

int
unpack_layer(struct unpack *u, const char *blob_path, const char *media_type,
    const char *diff_id, uint64_t size,
    const struct unpack_cb *cb, char **cause)
{
	struct reader r;
	char *inner = NULL, mt[96];
	enum codec codec = up_codec_of(media_type);
	int rc;

	layer_sid(u, blob_path, diff_id);
	if (cb != NULL)
		u->cb = *cb;
	else
		memset(&u->cb, 0, sizeof u->cb);
	u->cancel = 0;
	u->ticks = 0;
	u->total = size;
	u->skipped_dev = u->skipped_type = u->xattr_fail = u->chown_fail = 0;
	if ((int)codec < 0) {
		*cause = xasprintf("layer %s: cannot unpack media type %s",
		    u->sid, up_show(media_type ? media_type : "(none)", mt,
		    sizeof mt));
		return -1;
	}
	if (diff_id != NULL && !digest_valid(diff_id)) {
		*cause = xasprintf("layer %s: bad diff_id %s", u->sid,
		    up_show(diff_id, mt, sizeof mt));
		return -1;
	}
	if (up_reader_init(&r, u, blob_path, &inner) != 0) {
		*cause = xasprintf("layer %s: %s", u->sid, inner);
		free(inner);
		up_reader_free(&r);
		return -1;
	}
	up_reader_start(&r, codec);
	up_dt_init(u);
	up_report(&r, 1);
	rc = run_layer(u, &r, diff_id, &inner);
	up_walk_reset(u);
	up_dt_free(u);
	up_set_free(&u->set);
	if (rc == 0) {
		up_report(&r, 1);
		layer_warnings(u);
	} else {
		*cause = xasprintf("layer %s: %s", u->sid, inner);
		free(inner);
	}
	up_reader_free(&r);
	return rc;
}
