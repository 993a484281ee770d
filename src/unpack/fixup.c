/*
 * fixup.c - when not root, directories keep u+rwx while the layers go in
 * (later entries must be written into them). The modes to give back are
 * kept here by inode, 16 bytes each, at most FIX_MAX of them, and set at
 * commit by one depth-first pass over the rootfs, each directory after
 * everything below it.
 */
#include "unpack_int.h"

static size_t
fix_home(const struct fixmap *f, uint64_t ino)
{
	return up_ph_final(ino) & (f->cap - 1);
}

static struct fixent *
fix_find(const struct fixmap *f, uint64_t ino)
{
	size_t i;

	if (f->cap == 0)
		return NULL;
	for (i = fix_home(f, ino); f->e[i].ino != 0; i = (i + 1) & (f->cap - 1))
		if (f->e[i].ino == ino)
			return &f->e[i];
	return NULL;
}

static void
fix_put(struct fixmap *f, uint64_t ino, mode_t mode)
{
	size_t i;

	for (i = fix_home(f, ino); f->e[i].ino != 0; i = (i + 1) & (f->cap - 1))
		;
	f->e[i].ino = ino;
	f->e[i].mode = mode;
	f->n++;
}

static void
fix_grow(struct fixmap *f)
{
	struct fixmap g = { NULL, f->cap ? f->cap * 2 : 256, 0, f->overflow };
	size_t i;

	g.e = xcalloc(g.cap, sizeof *g.e);
	for (i = 0; i < f->cap; i++)
		if (f->e[i].ino != 0)
			fix_put(&g, f->e[i].ino, (mode_t)f->e[i].mode);
	free(f->e);
	*f = g;
}

/* Directory ino is to have mode in the end (noted only without u+rwx). */
void
up_fix_note(struct unpack *u, uint64_t ino, mode_t mode)
{
	struct fixmap *f = &u->fix;
	struct fixent *e;

	if ((mode & 0700) == 0700) {
		up_fix_forget(u, ino);
		return;
	}
	if ((e = fix_find(f, ino)) != NULL) {
		e->mode = mode;
		return;
	}
	if (f->n >= FIX_MAX) {
		f->overflow = 1;
		return;
	}
	if ((f->n + 1) * 2 > f->cap)
		fix_grow(f);
	fix_put(f, ino, mode);
}

/* Directory ino is gone (its inode may come back as another one). */
void
up_fix_forget(struct unpack *u, uint64_t ino)
{
	struct fixmap *f = &u->fix;
	struct fixent *e = fix_find(f, ino);
	size_t i, j, h;

	if (e == NULL)
		return;
	/* backward shift: no tombstones */
	i = (size_t)(e - f->e);
	f->e[i].ino = 0;
	f->n--;
	for (j = (i + 1) & (f->cap - 1); f->e[j].ino != 0;
	    j = (j + 1) & (f->cap - 1)) {
		h = fix_home(f, f->e[j].ino);
		/* can the entry at j move to the hole at i? */
		if ((j > i && (h <= i || h > j)) || (j < i && h <= i && h > j)) {
			f->e[i] = f->e[j];
			f->e[j].ino = 0;
			i = j;
		}
	}
}

void
up_fix_free(struct unpack *u)
{
	free(u->fix.e);
	memset(&u->fix, 0, sizeof u->fix);
}

struct fxlevel {
	dev_t dev;
	ino_t ino;
	long cookie;		/* where reading it goes on, 0: start */
};

/* The next subdirectory of fd from l->cookie on, into name; 0: none. */
static int
fix_next(int fd, struct fxlevel *l, char *name)
{
	struct dirent *de;
	struct stat sb;
	DIR *d;
	int dfd, found = 0;

	if ((dfd = dup(fd)) < 0 || (d = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	if (l->cookie != 0)
		seekdir(d, l->cookie);
	else
		rewinddir(d);
	while (!found && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_UNKNOWN)
			found = fstatat(fd, de->d_name, &sb,
			    AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode);
		else
			found = de->d_type == DT_DIR;
		if (found) {
			snprintf(name, NAME_MAX + 1, "%s", de->d_name);
			l->cookie = telldir(d);
		}
	}
	closedir(d);
	return found;
}

/* Down into name under *fd: 1 with the new level in l, 0 if it is not
 * a directory of this rootfs after all. */
static int
fix_down(struct unpack *u, int *fd, const char *name, struct fxlevel *l)
{
	struct stat sb;
	int sub = openat(*fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);

	if (sub < 0 || fstat(sub, &sb) != 0 || sb.st_dev != u->root_dev) {
		if (sub >= 0)
			close(sub);
		return 0;
	}
	l->dev = sb.st_dev;
	l->ino = sb.st_ino;
	l->cookie = 0;
	close(*fd);
	*fd = sub;
	return 1;
}

/* Set fd's kept mode, if it has one. */
static void
fix_set(struct unpack *u, int fd, const struct fxlevel *l)
{
	struct fixent *e = fix_find(&u->fix, l->ino);

	if (e != NULL)
		(void)fchmod(fd, (mode_t)e->mode);
}

/*
 * Give every kept directory its mode: depth first over the rootfs, one
 * fd open at a time, a directory after its subdirectories and after ".."
 * was opened from it (a mode without u+x would shut us out). Nothing is
 * added or removed meanwhile, so where each read stopped stays valid.
 */
void
up_fix_apply(struct unpack *u)
{
	struct fxlevel *st;
	size_t depth = 1, cap = 64;
	char name[NAME_MAX + 1];
	struct stat sb;
	int fd, up;

	if (u->fix.n == 0 ||
	    (fd = openat(u->root, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0)
		return;
	if (fstat(fd, &sb) != 0) {
		close(fd);
		return;
	}
	st = xmalloc(cap * sizeof *st);
	st[0].dev = sb.st_dev;
	st[0].ino = sb.st_ino;
	st[0].cookie = 0;
	for (;;) {
		if (fix_next(fd, &st[depth - 1], name)) {
			if (depth == cap)
				st = xrealloc(st, (cap *= 2) * sizeof *st);
			if (fix_down(u, &fd, name, &st[depth]))
				depth++;
			continue;
		}
		if (depth == 1)
			break;
		up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (up < 0 || fstat(up, &sb) != 0 ||
		    sb.st_dev != st[depth - 2].dev ||
		    sb.st_ino != st[depth - 2].ino) {
			if (up >= 0)	/* moved under us: stop here */
				close(up);
			break;
		}
		fix_set(u, fd, &st[depth - 1]);
		close(fd);
		fd = up;
		depth--;
	}
	if (depth == 1)
		fix_set(u, fd, &st[0]);
	close(fd);
	free(st);
}
