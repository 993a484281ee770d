/*
 * stream.c - a layer blob as the uncompressed byte stream libarchive
 * reads: a helper thread reads and decompresses (zlib, libzstd or nothing)
 * into a ring of buffers; the layer's thread hashes them.
 */
#include "unpack_int.h"

/* ----------------------------------------------------- the byte stream */

static int
refill(struct reader *r)
{
	ssize_t n;

	do
		n = read(r->fd, r->in, IN_SIZE);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		r->err = xasprintf("read: %s", strerror(errno));
		return -1;
	}
	r->in_len = (size_t)n;
	r->in_eof = n == 0;
	r->raw_done += (uint64_t)n;
	return 0;
}

/* Decompress into out; bytes made, 0 at the end, -1 with r->err. */
static ssize_t
gz_produce(struct reader *r, unsigned char *out)
{
	z_stream *z = &r->z;
	int ret;

	z->next_out = out;
	z->avail_out = OUT_SIZE;
	while (z->avail_out > 0) {
		if (z->avail_in == 0 && !r->in_eof) {
			if (refill(r) != 0)
				return -1;
			z->next_in = r->in;
			z->avail_in = (uInt)r->in_len;
			continue;
		}
		if (r->member_end) {
			if (z->avail_in == 0)
				break;		/* the end */
			/* another gzip member follows (as pigz may write) */
			if (z->next_in[0] != 0x1f) {
				r->err = xasprintf("corrupt gzip stream "
				    "(garbage after the end)");
				return -1;
			}
			inflateReset(z);
			r->member_end = 0;
		}
		if (z->avail_in == 0) {
			r->err = xasprintf("truncated gzip stream");
			return -1;
		}
		ret = inflate(z, Z_NO_FLUSH);
		if (ret == Z_STREAM_END)
			r->member_end = 1;
		else if (ret != Z_OK && ret != Z_BUF_ERROR) {
			r->err = xasprintf("corrupt gzip stream (%s)",
			    z->msg ? z->msg : "inflate failed");
			return -1;
		}
	}
	return (ssize_t)(OUT_SIZE - z->avail_out);
}

static ssize_t
zstd_produce(struct reader *r, unsigned char *out)
{
	ZSTD_outBuffer ob = { out, OUT_SIZE, 0 };
	size_t h, before;

	while (ob.pos < ob.size) {
		if (r->zin.pos == r->zin.size && !r->in_eof) {
			if (refill(r) != 0)
				return -1;
			r->zin.src = r->in;
			r->zin.size = r->in_len;
			r->zin.pos = 0;
			continue;
		}
		if (r->zin.pos == r->zin.size && r->in_eof && r->zhint == 0)
			break;		/* every frame ended: the end */
		before = ob.pos;
		h = ZSTD_decompressStream(r->zd, &ob, &r->zin);
		if (ZSTD_isError(h) && ZSTD_getErrorCode(h) ==
		    ZSTD_error_frameParameter_windowTooLarge) {
			r->err = xasprintf("zstd window over %u MiB (made with "
			    "--long or --ultra?): refused, to bound memory",
			    1u << (ZSTD_WINDOW_LOG - 20));
			return -1;
		}
		if (ZSTD_isError(h)) {
			r->err = xasprintf("corrupt zstd stream (%s)",
			    ZSTD_getErrorName(h));
			return -1;
		}
		r->zhint = h;
		if (r->zin.pos == r->zin.size && r->in_eof &&
		    ob.pos == before && h != 0) {
			r->err = xasprintf("truncated zstd stream");
			return -1;
		}
	}
	return (ssize_t)ob.pos;
}

static ssize_t
produce(struct reader *r, unsigned char *out)
{
	ssize_t n;

	switch (r->codec) {
	case CODEC_GZIP:
		return gz_produce(r, out);
	case CODEC_ZSTD:
		return zstd_produce(r, out);
	default:
		do
			n = read(r->fd, out, OUT_SIZE);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			r->err = xasprintf("read: %s", strerror(errno));
		else
			r->raw_done += (uint64_t)n;
		return n;
	}
}

/* The helper thread: fill free buffers until the end, an error or stop. */
static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	ssize_t n;
	int slot;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->stop && r->count + (r->held >= 0) >= NBUF)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->stop)
			break;
		slot = (r->head + r->count) % NBUF;
		pthread_mutex_unlock(&r->mu);
		n = produce(r, r->buf[slot]);
		pthread_mutex_lock(&r->mu);
		r->len[slot] = n;
		r->pub_done = r->raw_done;
		r->count++;
		pthread_cond_broadcast(&r->cv);
		if (n <= 0)
			break;
	}
	r->done = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

int
up_reader_init(struct reader *r, struct unpack *u, const char *path, char **cause)
{
	int i;

	memset(r, 0, sizeof *r);
	r->u = u;
	r->held = -1;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->hash = sha256_new();
	r->in = xmalloc(IN_SIZE);
	for (i = 0; i < NBUF; i++)
		r->buf[i] = xmalloc(OUT_SIZE);
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0)
		return up_fail(cause, "%s: %s", path, strerror(errno));
	(void)posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return 0;
}

void
up_reader_start(struct reader *r, enum codec codec)
{
	r->codec = codec;
	if (r->codec == CODEC_GZIP) {
		if (inflateInit2(&r->z, 15 + 16) != Z_OK)
			abort();
		r->z_init = 1;
	} else if (r->codec == CODEC_ZSTD) {
		/* the window a frame asks for is held whole: cap it */
		if ((r->zd = ZSTD_createDCtx()) == NULL ||
		    ZSTD_isError(ZSTD_DCtx_setParameter(r->zd,
		    ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG)))
			abort();
		r->zhint = 1;
	}
	/* without a thread the reader decompresses itself */
	r->threaded = pthread_create(&r->thread, NULL, reader_main, r) == 0;
}

void
up_reader_free(struct reader *r)
{
	int i;

	if (r->threaded) {
		pthread_mutex_lock(&r->mu);
		r->stop = 1;
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->thread, NULL);
	}
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	if (r->z_init)
		inflateEnd(&r->z);
	ZSTD_freeDCtx(r->zd);
	sha256_free(r->hash);
	free(r->in);
	for (i = 0; i < NBUF; i++)
		free(r->buf[i]);
	free(r->err);
	if (r->fd >= 0)
		close(r->fd);
}

/*
 * The next piece of the uncompressed stream, hashed: its size, 0 at the
 * end, -1 with r->err. The previous piece is given back.
 */
ssize_t
up_next_block(struct reader *r, const unsigned char **p)
{
	ssize_t n;
	int slot;

	if (r->ended)
		return 0;
	if (!r->threaded) {
		n = produce(r, r->buf[0]);
		r->pub_done = r->raw_done;
		slot = 0;
	} else {
		pthread_mutex_lock(&r->mu);
		r->held = -1;
		pthread_cond_broadcast(&r->cv);
		while (r->count == 0 && !r->done)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->count == 0) {	/* cannot happen: the last has n <= 0 */
			pthread_mutex_unlock(&r->mu);
			r->ended = 1;
			return 0;
		}
		slot = r->head;
		r->head = (r->head + 1) % NBUF;
		r->count--;
		r->held = slot;
		n = r->len[slot];
		pthread_mutex_unlock(&r->mu);
	}
	if (n > 0) {
		sha256_update(r->hash, r->buf[slot], (size_t)n);
		*p = r->buf[slot];
	} else if (n == 0)
		r->ended = 1;
	else
		r->why = r->err;	/* the helper has stopped */
	return n;
}

/* compressed bytes read so far */
static uint64_t
reader_done(struct reader *r)
{
	uint64_t d;

	if (!r->threaded)
		return r->pub_done;
	pthread_mutex_lock(&r->mu);
	d = r->pub_done;
	pthread_mutex_unlock(&r->mu);
	return d;
}

void
up_report(struct reader *r, int force)
{
	struct unpack *u = r->u;
	double now;

	if (u->cb.progress == NULL)
		return;
	now = now_mono();
	if (!force && now - r->last_progress < 0.1)
		return;
	r->last_progress = now;
	u->cb.progress(u->cb.ctx, reader_done(r), u->total);
}

la_ssize_t
up_reader_read(struct archive *a, void *ctx, const void **out)
{
	struct reader *r = ctx;
	const unsigned char *p = NULL;
	ssize_t n;

	if (up_cancelled(r->u)) {
		r->why = "cancelled";
		archive_set_error(a, ECANCELED, "cancelled");
		return -1;
	}
	n = up_next_block(r, &p);
	if (n < 0) {
		archive_set_error(a, EIO, "%s", r->why);
		return -1;
	}
	up_report(r, 0);
	*out = p;
	return n;
}

enum codec
up_codec_of(const char *mt)
{
	size_t n = mt ? strlen(mt) : 0;

#define ENDS(s) (n >= sizeof(s) - 1 && strcmp(mt + n - (sizeof(s) - 1), s) == 0)
	if (ENDS("+gzip") || ENDS(".tar.gzip"))
		return CODEC_GZIP;
	if (ENDS("+zstd"))
		return CODEC_ZSTD;
	if (ENDS(".tar"))
		return CODEC_NONE;
#undef ENDS
	return (enum codec)-1;
}
