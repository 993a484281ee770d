/*
 * theme_find.c - where themes are found: a name looked up as NAME.theme in
 * $XDG_CONFIG_HOME/pulltop/themes, the installed share/pulltop/themes and
 * ./themes (or a path taken as it is), a theme loaded from there, and the
 * list of every theme name for the t key. The parsing is theme.c's.
 */
#include "theme.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PULLTOP_DATADIR
#define PULLTOP_DATADIR "/usr/local/share/pulltop"
#endif

/* ---------------------------------------------------------- lookup */

int
theme_is_path(const char *spec)
{
	size_t n = strlen(spec);

	return strchr(spec, '/') != NULL ||
	    (n >= 6 && strcmp(spec + n - 6, ".theme") == 0);
}

static int
theme_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int
theme_add_dir(char dirs[][THEME_PATH_MAX], int n, int max, const char *d)
{
	int i;

	if (n >= max || strlen(d) >= THEME_PATH_MAX)
		return n;
	for (i = 0; i < n; i++)
		if (strcmp(dirs[i], d) == 0)
			return n;
	memcpy(dirs[n], d, strlen(d) + 1);
	return n + 1;
}

int
theme_dirs(char dirs[][THEME_PATH_MAX], int max)
{
	char p[THEME_PATH_MAX + 64], exe[THEME_PATH_MAX], *slash;
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	ssize_t len;
	int n = 0, i;

	if (xdg != NULL && xdg[0] == '/') {
		snprintf(p, sizeof p, "%s/pulltop/themes", xdg);
		n = theme_add_dir(dirs, n, max, p);
	} else if (home != NULL && home[0] != '\0') {
		snprintf(p, sizeof p, "%s/.config/pulltop/themes", home);
		n = theme_add_dir(dirs, n, max, p);
	}
	/* installed next to the binary: BIN/../share/pulltop/themes */
	len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (len > 0) {
		exe[len] = '\0';
		for (i = 0; i < 2 && (slash = strrchr(exe, '/')) != NULL; i++)
			*slash = '\0';
		if (i == 2) {
			snprintf(p, sizeof p, "%s/share/pulltop/themes", exe);
			if (theme_is_dir(p))
				n = theme_add_dir(dirs, n, max, p);
		}
	}
	n = theme_add_dir(dirs, n, max, PULLTOP_DATADIR "/themes");
	n = theme_add_dir(dirs, n, max, "./themes");
	return n;
}

static int
theme_readable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    access(path, R_OK) == 0;
}

/* The name of a theme file: its last component without ".theme". */
static void
theme_name_of(const char *path, char *name, size_t namen)
{
	const char *b = strrchr(path, '/');
	size_t n;

	b = b != NULL ? b + 1 : path;
	n = strlen(b);
	if (n >= 6 && strcmp(b + n - 6, ".theme") == 0)
		n -= 6;
	theme_clean(name, namen, b, n, THEME_NAME_MAX - 8);
}

int
theme_find(const char *spec, char *path, size_t pathn, char *name,
    size_t namen, char *why, size_t whyn)
{
	char dirs[THEME_DIRS_MAX][THEME_PATH_MAX], clean[80], where[600];
	char p[THEME_PATH_MAX + THEME_NAME_MAX + 16];
	struct stat st;
	size_t used = 0;
	int n, i;

	if (spec == NULL || spec[0] == '\0') {
		snprintf(why, whyn, "empty theme name");
		return -1;
	}
	if (theme_is_path(spec)) {
		theme_clean(clean, sizeof clean, spec, (size_t)-1, 72);
		if (stat(spec, &st) != 0) {
			snprintf(why, whyn, "theme file '%s': %s", clean,
			    strerror(errno));
			return -1;
		}
		if (!S_ISREG(st.st_mode)) {
			snprintf(why, whyn, "theme file '%s': not a regular "
			    "file", clean);
			return -1;
		}
		if (access(spec, R_OK) != 0) {
			snprintf(why, whyn, "theme file '%s': %s", clean,
			    strerror(errno));
			return -1;
		}
		if (strlen(spec) >= pathn) {
			snprintf(why, whyn, "theme file '%s': path too long",
			    clean);
			return -1;
		}
		memcpy(path, spec, strlen(spec) + 1);
		theme_name_of(spec, name, namen);
		return 0;
	}
	theme_clean(clean, sizeof clean, spec, (size_t)-1, THEME_NAME_MAX - 8);
	n = theme_dirs(dirs, THEME_DIRS_MAX);
	where[0] = '\0';
	for (i = 0; i < n; i++) {
		snprintf(p, sizeof p, "%.4095s/%.63s.theme", dirs[i], spec);
		if (strlen(spec) < THEME_NAME_MAX && theme_readable_file(p) &&
		    strlen(p) < pathn) {
			memcpy(path, p, strlen(p) + 1);
			snprintf(name, namen, "%s", clean);
			return 0;
		}
		if (used < sizeof where) {
			char d[200];

			theme_clean(d, sizeof d, dirs[i], (size_t)-1, 160);
			used += (size_t)snprintf(where + used, sizeof where -
			    used, "%s%s", i > 0 ? ", " : "", d);
		}
	}
	if (strcmp(spec, "default") == 0) {
		path[0] = '\0';
		snprintf(name, namen, "default");
		return 0;
	}
	snprintf(why, whyn, "unknown theme '%s': no %s.theme in %s", clean,
	    clean, where);
	return -1;
}

int
theme_load(const char *spec, struct theme *out, char *name, size_t namen,
    theme_warn_fn *warn, void *ctx)
{
	char path[THEME_PATH_MAX], why[1024], clean[200];
	struct stat st;
	char *buf;
	size_t len = 0;
	ssize_t r = 0;
	int fd, rc;

	theme_builtin(out);
	if (theme_find(spec ? spec : "default", path, sizeof path, name,
	    namen, why, sizeof why) != 0) {
		snprintf(name, namen, "default");
		if (warn != NULL)
			warn(ctx, why);
		return -1;
	}
	if (path[0] == '\0')
		return 0;		/* the built-in default */
	theme_clean(clean, sizeof clean, path, (size_t)-1, 160);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, sizeof why, "%s: %s", clean, fd < 0 ?
		    strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		if (warn != NULL)
			warn(ctx, why);
		return -1;
	}
	buf = malloc(THEME_FILE_MAX + 1);
	if (buf == NULL) {
		close(fd);
		return -1;
	}
	while (len < THEME_FILE_MAX + 1) {
		r = read(fd, buf + len, THEME_FILE_MAX + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	if (r < 0) {
		snprintf(why, sizeof why, "%s: %s", clean, strerror(errno));
		free(buf);
		close(fd);
		if (warn != NULL)
			warn(ctx, why);
		return -1;
	}
	close(fd);
	rc = theme_parse(buf, len, path, out, warn, ctx);
	free(buf);
	return rc;
}

static int
theme_name_cmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* A file name worth offering: NAME.theme, NAME of [A-Za-z0-9._+-]. */
static int
theme_list_name(const char *f, char *name)
{
	size_t n = strlen(f), i;

	if (n <= 6 || n - 6 >= THEME_NAME_MAX ||
	    strcmp(f + n - 6, ".theme") != 0 || f[0] == '.')
		return 0;
	for (i = 0; i < n - 6; i++)
		if (!isalnum((unsigned char)f[i]) && strchr("._+-", f[i]) ==
		    NULL)
			return 0;
	memcpy(name, f, n - 6);
	name[n - 6] = '\0';
	return 1;
}

int
theme_list(char names[][THEME_NAME_MAX], int max)
{
	char dirs[THEME_DIRS_MAX][THEME_PATH_MAX];
	char p[THEME_PATH_MAX + 300];
	struct dirent *e;
	DIR *dir;
	int nd, n = 0, i, k;

	if (max <= 0)
		return 0;
	memcpy(names[n++], "default", sizeof "default");
	nd = theme_dirs(dirs, THEME_DIRS_MAX);
	for (i = 0; i < nd; i++) {
		if ((dir = opendir(dirs[i])) == NULL)
			continue;
		while (n < max && (e = readdir(dir)) != NULL) {
			if (!theme_list_name(e->d_name, names[n]))
				continue;
			snprintf(p, sizeof p, "%.4095s/%.255s", dirs[i], e->d_name);
			if (theme_readable_file(p))
				n++;
		}
		closedir(dir);
	}
	qsort(names, (size_t)n, THEME_NAME_MAX, theme_name_cmp);
	for (i = 1, k = 1; i < n; i++)
		if (strcmp(names[i], names[k - 1]) != 0) {
			if (k != i)
				memcpy(names[k], names[i], THEME_NAME_MAX);
			k++;
		}
	return k;
}
