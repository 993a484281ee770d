/*
 * ranges.c - a partial download written as byte ranges at once: the range
 * map beside the partial (STORE/ingest/HEX.ranges), in-place writes, and
 * the hash of the contiguous prefix read back from the partial.
 *
 * The map is a small text file of fixed width, rewritten in place by one
 * pwrite (so a kill never leaves half of it), ended by a CRC-32:
 *
 *   pulltop-ranges 1 sha256:HEX SIZE N
 *   START END DONE          (N lines, 20 digits each)
 *   crc XXXXXXXX
 *
 * It is saved only after the bytes it counts are in the partial, so after
 * a kill it undercounts, never overcounts.
 */
#include "store.h"
#include "store_int.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define MAP_HEAD 128
#define MAP_LINE 63		/* "%020llu %020llu %020llu\n" */
#define MAP_MAX (MAP_HEAD + STORE_RANGES_MAX * MAP_LINE + 16)
#define READ_BUF (1u << 20)
#define WRITEBACK (8u << 20)	/* as store.c's SYNC_EVERY */

static char *
map_path(const struct ingest *in)
{
	size_t n = strlen(in->path);

	/* HEX.partial -> HEX.ranges */
	return xasprintf("%.*s.ranges", (int)(n - 8), in->path);
}

/* The map as its file holds it, into buf; its length. */
static size_t
map_format(const struct ingest *in, char *buf)
{
	const struct ingest_map *m = in->map;
	size_t len;
	int i;

	len = (size_t)snprintf(buf, MAP_HEAD, "pulltop-ranges 1 %s %020llu "
	    "%02d\n", in->digest, (unsigned long long)in->size, m->n);
	for (i = 0; i < m->n; i++)
		len += (size_t)snprintf(buf + len, MAP_LINE + 1,
		    "%020llu %020llu %020llu\n",
		    (unsigned long long)m->r[i].start,
		    (unsigned long long)m->r[i].end,
		    (unsigned long long)m->r[i].done);
	len += (size_t)snprintf(buf + len, 16, "crc %08lx\n",
	    crc32(0, (const Bytef *)buf, (uInt)len));
	return len;
}

/* Do the ranges tile [0, size), each counting no byte past fsize? */
static int
map_valid(const struct ingest *in, uint64_t fsize)
{
	const struct ingest_map *m = in->map;
	uint64_t at = 0;
	int i;

	if (m->n < 1 || m->n > STORE_RANGES_MAX)
		return 0;
	for (i = 0; i < m->n; i++) {
		const struct store_range *r = &m->r[i];

		if (r->start != at || r->end <= r->start ||
		    r->done > r->end - r->start ||
		    (r->done > 0 && r->start + r->done > fsize))
			return 0;
		at = r->end;
	}
	return at == in->size;
}

/* Parse the map text in buf (len bytes) into in->map. 0 or -1. */
static int
map_parse(struct ingest *in, char *buf, size_t len)
{
	struct ingest_map *m = in->map;
	unsigned long long size, a, b, d;
	unsigned long crc;
	char digest[80];
	char *p = buf, *nl;
	int i, n;

	buf[len] = '\0';
	if (sscanf(p, "pulltop-ranges 1 %79s %llu %d\n", digest, &size,
	    &n) != 3 || strcmp(digest, in->digest) != 0 || size != in->size ||
	    n < 1 || n > STORE_RANGES_MAX || (nl = strchr(p, '\n')) == NULL)
		return -1;
	p = nl + 1;
	for (i = 0; i < n; i++) {
		if (sscanf(p, "%llu %llu %llu", &a, &b, &d) != 3 ||
		    (nl = strchr(p, '\n')) == NULL)
			return -1;
		m->r[i].start = a;
		m->r[i].end = b;
		m->r[i].done = m->saved[i] = d;
		p = nl + 1;
	}
	if (sscanf(p, "crc %lx", &crc) != 1 ||
	    crc != crc32(0, (const Bytef *)buf, (uInt)(p - buf)))
		return -1;
	m->n = n;
	return 0;
}

void
ranges_free(struct ingest *in)
{
	if (in->map == NULL)
		return;
	if (in->map->fd >= 0)
		close(in->map->fd);
	free(in->map->path);
	free(in->map->rbuf);
	free(in->map);
	in->map = NULL;
}

/*
 * Load the map beside an open partial of fsize bytes. 1 loaded, 0 none,
 * -1 one that does not match (deleted: the caller drops the partial's
 * bytes too).
 */
int
ranges_load(struct ingest *in, uint64_t fsize)
{
	char buf[MAP_MAX + 1];
	char *path = map_path(in);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		free(path);
		return 0;
	}
	in->map = xcalloc(1, sizeof *in->map);
	in->map->fd = fd;
	in->map->path = path;
	n = pread(fd, buf, MAP_MAX, 0);
	if (n <= 0 || map_parse(in, buf, (size_t)n) != 0 ||
	    !map_valid(in, fsize)) {
		unlink(path);
		ranges_free(in);
		return -1;
	}
	return 1;
}

/* Delete the map (the partial was reset, committed or discarded). */
void
ranges_drop(struct ingest *in)
{
	if (in->map != NULL)
		unlink(in->map->path);
	ranges_free(in);
}

int
store_ingest_map_save(struct ingest *in, uint64_t every)
{
	struct ingest_map *m = in->map;
	char buf[MAP_MAX];
	size_t len;
	int i, due = every == 0;

	if (m == NULL)
		return 0;
	for (i = 0; i < m->n && !due; i++)
		due = m->r[i].done - m->saved[i] >= every;
	if (!due)
		return 0;
	len = map_format(in, buf);
	if (pwrite(m->fd, buf, len, 0) != (ssize_t)len)
		return -1;
	for (i = 0; i < m->n; i++)
		m->saved[i] = m->r[i].done;
	return 0;
}

int
store_ingest_split(struct ingest *in, int n, char **cause)
{
	struct ingest_map *m;
	uint64_t left = in->size - in->have, seg;
	int i;

	if (in->map != NULL)
		return 0;
	if (n < 1 || n > STORE_RANGES_MAX || left < (uint64_t)n) {
		*cause = xasprintf("cannot split %llu bytes in %d ranges",
		    (unsigned long long)left, n);
		return -1;
	}
	ingest_hz_stop(in);	/* its bytes are written and hashed */
	m = in->map = xcalloc(1, sizeof *m);
	m->path = map_path(in);
	m->n = n;
	seg = left / (uint64_t)n;
	for (i = 0; i < n; i++) {
		m->r[i].start = i == 0 ? 0 : in->have + (uint64_t)i * seg;
		m->r[i].end = i == n - 1 ? in->size :
		    in->have + (uint64_t)(i + 1) * seg;
	}
	m->r[0].done = in->have;
	m->fd = open(m->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (m->fd < 0 || store_ingest_map_save(in, 0) != 0) {
		*cause = xasprintf("%s: %s", m->path, strerror(errno));
		ranges_drop(in);
		return -1;
	}
	return 0;
}

int
store_ingest_pwrite(struct ingest *in, uint64_t offset, const void *p,
    size_t n)
{
	const char *c = p;
	ssize_t w;

	if (offset + n > in->size) {
		errno = EFBIG;
		return -1;
	}
	while (n > 0) {
		w = pwrite(in->fd, c, n, (off_t)offset);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
		offset += (uint64_t)w;
	}
	return 0;
}

uint64_t
store_ingest_prefix(const struct ingest *in)
{
	const struct ingest_map *m = in->map;
	int i;

	if (m == NULL)
		return in->have;
	for (i = 0; i < m->n; i++)
		if (m->r[i].done < m->r[i].end - m->r[i].start)
			return m->r[i].start + m->r[i].done;
	return in->size;
}

int
store_ingest_hash_to(struct ingest *in, uint64_t upto)
{
	struct ingest_map *m = in->map;
	ssize_t got;
	size_t k;

	if (m != NULL && m->rbuf == NULL)
		m->rbuf = xmalloc(READ_BUF);
	while (m != NULL && in->have < upto) {
		k = upto - in->have < READ_BUF ? (size_t)(upto - in->have) :
		    READ_BUF;
		got = pread(in->fd, m->rbuf, k, (off_t)in->have);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got == 0)
				errno = EIO;
			return -1;
		}
		sha256_update(in->hash, m->rbuf, (size_t)got);
		in->have += (uint64_t)got;
	}
	/* with --fsync, start writeback of what is hashed: the fsync at
	 * commit then has little left to wait for */
	if (m != NULL && in->early && in->have - in->synced >= WRITEBACK) {
		sync_file_range(in->fd, (off64_t)in->synced,
		    (off64_t)(in->have - in->synced), SYNC_FILE_RANGE_WRITE);
		in->synced = in->have;
	}
	return 0;
}

int
store_ingest_unsplit(struct ingest *in)
{
	struct ingest_map *m = in->map;
	int i;

	if (m == NULL)
		return 0;
	/* the map first: a kill below leaves a map true to the file */
	for (i = 0; i < m->n; i++)
		m->r[i].done = in->have <= m->r[i].start ? 0 :
		    in->have >= m->r[i].end ? m->r[i].end - m->r[i].start :
		    in->have - m->r[i].start;
	if (store_ingest_map_save(in, 0) != 0 ||
	    ftruncate(in->fd, (off_t)in->have) != 0 ||
	    lseek(in->fd, (off_t)in->have, SEEK_SET) != (off_t)in->have)
		return -1;
	ranges_drop(in);
	return 0;
}
