/*
 * main.c - pulltop's command line: options and environment into struct
 * options, references (from the command line and -f files) checked up
 * front (a bad one is a usage error), then a source started and shown by
 * the dashboard or a headless view.
 */
#include "config.h"
#include "docker.h"
#include "engine.h"
#include "model.h"
#include "oci.h"
#include "store.h"
#include "theme.h"
#include "ui.h"
#include "util.h"
#include "view.h"
#include "watch.h"

#include <errno.h>
#include <getopt.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_text[] =
"Usage: pulltop [OPTION]... IMAGE...\n"
"  or:  pulltop --watch containerd [OPTION]...\n"
"  or:  pulltop [-s DIR] --list | --rm REF... | --prune [-n] [--prune-age D]\n"
"Pull container images from OCI/Docker registries into an OCI image layout,\n"
"showing every layer live; or watch what containerd is pulling.\n"
"\n"
"  -s, --store DIR              OCI image layout to pull into\n"
"                               (default $PULLTOP_STORE, else\n"
"                               $XDG_DATA_HOME/pulltop/store)\n"
"      --unpack DIR             also extract each image into its own folder\n"
"                               DIR/NAME (NAME: the reference, / and : as _)\n"
"  -f, --file FILE              also pull the references in FILE, one per\n"
"                               line (- is stdin; # comments)\n"
"      --platform OS/ARCH[/VARIANT]  platform to pull from an index\n"
"                               (default: this machine's)\n"
"  -j, --jobs N                 concurrent layer downloads (default 3)\n"
"      --progress MODE          auto, tty, plain, json or quiet (default auto)\n"
"  -q, --quiet                  same as --progress=quiet\n"
"      --retries N              attempts per download in all (default 5)\n"
"      --retry-delay SECONDS    wait attempt x SECONDS between attempts\n"
"                               (default 5)\n"
"      --stall-timeout SECONDS  abort and retry a request that received\n"
"                               nothing for this long (default 30)\n"
"      --limit-rate RATE        cap each download, e.g. 500K, 2M (bytes/s)\n"
"      --chunks N               fetch a big blob as N ranges at once, 1-16\n"
"                               (default 4; 1: one stream per blob)\n"
"      --chunk-min SIZE         split blobs of at least SIZE, e.g. 64M\n"
"                               (default 64M)\n"
"      --fsync                  wait for the disk before counting each blob\n"
"                               stored (default: do not; after a restart the\n"
"                               next run hashes again what it wrote)\n"
"      --insecure-registry HOST[:PORT]  allow plain HTTP or an unverified\n"
"                               certificate for HOST (repeatable)\n"
"      --creds USER:PASSWORD    credentials for the registries of this run\n"
"                               (default: docker's config.json and helpers)\n"
"      --cacert FILE            also trust the CA certificates in FILE\n"
"      --mirror REGISTRY=URL    a mirror to try for REGISTRY's pulls before\n"
"                               it (repeatable, tried in the order given)\n"
"      --hosts-dir DIR          containerd's hosts.toml folders (default\n"
"                               $PULLTOP_HOSTS_DIR, else /etc/containerd/certs.d)\n"
"      --exit-when-done         leave the dashboard when every image is done\n"
"      --theme NAME|FILE        dashboard colours (default $PULLTOP_THEME,\n"
"                               else default); see pulltop-theme(5)\n"
"      --via docker             the Docker Engine at $DOCKER_HOST (or podman's\n"
"                               service) pulls the images; pulltop shows it\n"
"      --load docker            after each pull, load the image into the\n"
"                               Docker Engine at $DOCKER_HOST\n"
"      --watch containerd       show what containerd is pulling on this\n"
"                               machine, read only (no IMAGE; needs root)\n"
"      --containerd-root DIR    containerd's root, as in its config.toml\n"
"                               (default /var/lib/containerd)\n"
"\n"
"Store commands (instead of a pull; --progress json or quiet apply):\n"
"      --list                   list each reference in the store: digest,\n"
"                               platform, size on disk, when it was pulled\n"
"      --rm REF...              remove these references from the store\n"
"                               (their blobs stay until --prune)\n"
"      --prune                  delete blobs no reference reaches, and\n"
"                               partial downloads older than --prune-age;\n"
"                               never what a running pulltop holds\n"
"  -n, --dry-run                with --prune: say what would go, delete\n"
"                               nothing\n"
"      --prune-age DURATION     e.g. 30m, 24h, 7d (default 24h; 0: all)\n"
"\n"
"  -h, --help                   show this help and exit\n"
"  -V, --version                show the version and exit\n"
"\n"
"Exit status: 0 all images pulled, 1 some failed, 2 usage error (or\n"
"nothing to watch: no content store, no permission),\n"
"130/143 interrupted by SIGINT/SIGTERM.\n";

enum {
	OPT_PLATFORM = 256,
	OPT_PROGRESS,
	OPT_RETRIES,
	OPT_RETRY_DELAY,
	OPT_STALL,
	OPT_LIMIT_RATE,
	OPT_CHUNKS,
	OPT_CHUNK_MIN,
	OPT_FSYNC,
	OPT_INSECURE,
	OPT_CREDS,
	OPT_CACERT,
	OPT_EXIT_WHEN_DONE,
	OPT_UNPACK,
	OPT_THEME,
	OPT_VIA,
	OPT_LOAD,
	OPT_WATCH,
	OPT_CONTAINERD_ROOT,
	OPT_MIRROR,
	OPT_HOSTS_DIR,
	OPT_LIST,
	OPT_RM,
	OPT_PRUNE,
	OPT_PRUNE_AGE,
};

static const struct option long_opts[] = {
	{ "store", required_argument, NULL, 's' },
	{ "file", required_argument, NULL, 'f' },
	{ "platform", required_argument, NULL, OPT_PLATFORM },
	{ "jobs", required_argument, NULL, 'j' },
	{ "progress", required_argument, NULL, OPT_PROGRESS },
	{ "quiet", no_argument, NULL, 'q' },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "retry-delay", required_argument, NULL, OPT_RETRY_DELAY },
	{ "stall-timeout", required_argument, NULL, OPT_STALL },
	{ "limit-rate", required_argument, NULL, OPT_LIMIT_RATE },
	{ "chunks", required_argument, NULL, OPT_CHUNKS },
	{ "chunk-min", required_argument, NULL, OPT_CHUNK_MIN },
	{ "fsync", no_argument, NULL, OPT_FSYNC },
	{ "insecure-registry", required_argument, NULL, OPT_INSECURE },
	{ "creds", required_argument, NULL, OPT_CREDS },
	{ "cacert", required_argument, NULL, OPT_CACERT },
	{ "exit-when-done", no_argument, NULL, OPT_EXIT_WHEN_DONE },
	{ "unpack", required_argument, NULL, OPT_UNPACK },
	{ "theme", required_argument, NULL, OPT_THEME },
	{ "via", required_argument, NULL, OPT_VIA },
	{ "load", required_argument, NULL, OPT_LOAD },
	{ "watch", required_argument, NULL, OPT_WATCH },
	{ "containerd-root", required_argument, NULL, OPT_CONTAINERD_ROOT },
	{ "mirror", required_argument, NULL, OPT_MIRROR },
	{ "hosts-dir", required_argument, NULL, OPT_HOSTS_DIR },
	{ "list", no_argument, NULL, OPT_LIST },
	{ "rm", no_argument, NULL, OPT_RM },
	{ "prune", no_argument, NULL, OPT_PRUNE },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "prune-age", required_argument, NULL, OPT_PRUNE_AGE },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;
	char *raw, *clean;

	/* arguments are the user's text: no escape sequences reach stderr */
	va_start(ap, fmt);
	raw = xvasprintf(fmt, ap);
	va_end(ap);
	clean = xmalloc(strlen(raw) + 1);
	sanitize(clean, strlen(raw) + 1, raw);
	fprintf(stderr, "pulltop: %s\nTry 'pulltop --help' for more "
	    "information.\n", clean);
	free(raw);	/* LeakSanitizer reads these at exit */
	free(clean);
	exit(2);
}

static long
parse_int(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi)
		usage_error("%s: '%s' is not a whole number from %ld to %ld",
		    opt, s, lo, hi);
	return v;
}

static double
parse_seconds(const char *opt, const char *s, double lo, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !(v >= lo && v <= hi))
		usage_error("%s: '%s' is not a number of seconds from %g to %g",
		    opt, s, lo, hi);
	return v;
}

static void
store_action(struct store_cmd *sc, enum store_action a)
{
	static const char *const name[] = { "", "--list", "--rm", "--prune" };

	if (sc->action != 0 && sc->action != a)
		usage_error("%s and %s: one store command at a time",
		    name[sc->action], name[a]);
	sc->action = a;
}

/* $PULLTOP_STORE, else $XDG_DATA_HOME/pulltop/store, else ~/.local/... */
static char *
default_store(void)
{
	const char *e = getenv("PULLTOP_STORE"), *home;

	if (e != NULL && *e != '\0')
		return xstrdup(e);
	e = getenv("XDG_DATA_HOME");
	if (e != NULL && *e == '/')
		return xasprintf("%s/pulltop/store", e);
	home = getenv("HOME");
	if (home == NULL || *home == '\0')
		usage_error("no store: set --store, $PULLTOP_STORE or $HOME");
	return xasprintf("%s/.local/share/pulltop/store", home);
}

/* The references to pull, in order, each once. */
struct refs {
	char **v;
	int n, cap;
};

static void
refs_add(struct refs *r, const char *text, const char *where)
{
	struct ref parsed;
	char *cause = NULL;
	int i;

	if (ref_parse(text, &parsed, &cause) != 0)
		usage_error("%sinvalid reference '%s': %s", where, text, cause);
	for (i = 0; i < r->n; i++)
		if (strcmp(r->v[i], parsed.full) == 0)
			break;
	if (i == r->n) {
		if (r->n == r->cap) {
			r->cap = r->cap ? r->cap * 2 : 16;
			r->v = xrealloc(r->v, (size_t)r->cap * sizeof *r->v);
		}
		r->v[r->n++] = xstrdup(parsed.full);
	}
	ref_free(&parsed);
}

/* -f FILE: one reference a line; blank lines and # comments skipped. */
static void
refs_from_file(struct refs *r, const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *line = NULL, *s, *e, *where;
	size_t cap = 0;
	long n = 0;

	if (f == NULL)
		usage_error("--file: %s: %s", path, strerror(errno));
	while (getline(&line, &cap, f) != -1) {
		n++;
		if ((s = strchr(line, '#')) != NULL)
			*s = '\0';
		for (s = line; *s == ' ' || *s == '\t'; s++)
			;
		e = s + strlen(s);
		while (e > s && (e[-1] == '\n' || e[-1] == '\r' ||
		    e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (*s == '\0')
			continue;
		where = xasprintf("%s:%ld: ", strcmp(path, "-") == 0 ?
		    "stdin" : path, n);
		refs_add(r, s, where);
		free(where);
	}
	if (ferror(f))
		usage_error("--file: %s: %s", path, strerror(errno));
	free(line);
	if (f != stdin)
		fclose(f);
}

static void
refs_free(struct refs *r)
{
	int i;

	for (i = 0; i < r->n; i++)
		free(r->v[i]);
	free(r->v);
}

/* What parse_args leaves for main to free. */
struct owned {
	char *store, *creds;
	const char *files[64];
	int nfiles;
	const char *watch;		/* --watch SOURCE, or NULL */
	const char *containerd_root;
	struct store_cmd sc;		/* --list, --rm, --prune */
};

static void
parse_progress(struct options *o, const char *arg)
{
	static const struct {
		const char *name;
		enum progress_mode mode;
	} modes[] = {
		{ "auto", PROGRESS_AUTO }, { "tty", PROGRESS_TTY },
		{ "plain", PROGRESS_PLAIN }, { "json", PROGRESS_JSON },
		{ "quiet", PROGRESS_QUIET },
	};
	size_t i;

	for (i = 0; i < sizeof modes / sizeof modes[0]; i++)
		if (strcmp(arg, modes[i].name) == 0) {
			o->progress = modes[i].mode;
			return;
		}
	usage_error("--progress: '%s' is not auto, tty, plain, json or quiet",
	    arg);
}

static void
parse_unpack(struct options *o, const char *arg)
{
	struct stat st;
	int e;

	if (*arg == '\0')
		usage_error("--unpack: empty path");
	/* say so now, not after the layers came */
	e = stat(arg, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
	if (e != 0 && e != ENOENT)
		usage_error("--unpack: %s: %s", arg, strerror(e));
	o->unpack = arg;
}

/* --mirror REGISTRY=URL (kept in order) and --hosts-dir DIR. */
static void
parse_mirror_opt(struct options *o, int c, const char *arg)
{
	struct stat st;
	char *cause = NULL;

	if (c == OPT_HOSTS_DIR) {
		if (*arg == '\0')
			usage_error("--hosts-dir: empty path");
		if (stat(arg, &st) != 0)
			usage_error("--hosts-dir: %s: %s", arg, strerror(errno));
		if (!S_ISDIR(st.st_mode))
			usage_error("--hosts-dir: %s: not a directory", arg);
		o->hosts_dir = arg;
		return;
	}
	if (o->nmirror == MAX_MIRROR_FLAGS)
		usage_error("--mirror: at most %d", MAX_MIRROR_FLAGS);
	if (mirror_flag_check(arg, &cause) != 0)
		usage_error("%s", cause);
	o->mirror[o->nmirror++] = arg;
}

static void
parse_creds(struct options *o, struct owned *w, char *arg)
{
	if (arg[0] == ':' || strchr(arg, ':') == NULL)
		usage_error("--creds: expected USER:PASSWORD");
	free(w->creds);
	o->creds = w->creds = xstrdup(arg);
	/* keep the password out of ps: blank it in argv */
	memset(strchr(arg, ':') + 1, 'x', strlen(strchr(arg, ':') + 1));
}

/* --list, --rm, --prune, -n, --prune-age. */
static void
parse_store_opt(struct store_cmd *sc, int c, const char *arg)
{
	if (c == 'n')
		sc->dry_run = 1;
	else if (c == OPT_PRUNE_AGE) {
		if (store_parse_age(arg, &sc->age) != 0)
			usage_error("--prune-age: '%s' is not a duration like "
			    "30m, 24h, 7d or 0", arg);
	} else
		store_action(sc, c == OPT_LIST ? STORE_LIST : c == OPT_RM ?
		    STORE_RM : STORE_PRUNE);
}

/* One option; returns -1 for an unknown one (getopt said why). */
static int
parse_one(struct options *o, struct owned *w, int c, char *arg)
{
	switch (c) {
	case 's':
		if (*arg == '\0')
			usage_error("--store: empty path");
		o->store = arg;
		break;
	case 'f':
		if (w->nfiles == (int)(sizeof w->files / sizeof w->files[0]))
			usage_error("--file: at most %d files",
			    (int)(sizeof w->files / sizeof w->files[0]));
		w->files[w->nfiles++] = arg;
		break;
	case OPT_PLATFORM:
		if (!platform_valid(arg))
			usage_error("--platform: '%s' is not OS/ARCH[/VARIANT]",
			    arg);
		o->platform = arg;
		break;
	case 'j':
		o->jobs = (int)parse_int("--jobs", arg, 1, 32);
		break;
	case OPT_PROGRESS:
		parse_progress(o, arg);
		break;
	case 'q':
		o->progress = PROGRESS_QUIET;
		break;
	case OPT_RETRIES:
		o->retries = (int)parse_int("--retries", arg, 1, 100);
		break;
	case OPT_RETRY_DELAY:
		o->retry_delay = parse_seconds("--retry-delay", arg, 0, 3600);
		break;
	case OPT_STALL:
		o->stall_timeout = parse_seconds("--stall-timeout", arg, 0.5,
		    86400);
		break;
	case OPT_LIMIT_RATE:
		if (parse_size(arg, &o->limit_rate) != 0 || o->limit_rate == 0)
			usage_error("--limit-rate: '%s' is not a rate like "
			    "500K or 2M", arg);
		break;
	case OPT_CHUNKS:
		o->chunks = (int)parse_int("--chunks", arg, 1, 16);
		break;
	case OPT_CHUNK_MIN:
		if (parse_size(arg, &o->chunk_min) != 0 || o->chunk_min < 1024)
			usage_error("--chunk-min: '%s' is not a size like 64M "
			    "(at least 1K)", arg);
		break;
	case OPT_INSECURE:
		if (o->ninsecure == MAX_INSECURE)
			usage_error("--insecure-registry: at most %d",
			    MAX_INSECURE);
		if (*arg == '\0' || strchr(arg, '/') != NULL)
			usage_error("--insecure-registry: '%s' is not "
			    "HOST[:PORT]", arg);
		o->insecure[o->ninsecure++] = arg;
		break;
	case OPT_CREDS:
		parse_creds(o, w, arg);
		break;
	case OPT_CACERT:
		if (access(arg, R_OK) != 0)
			usage_error("--cacert: %s: %s", arg, strerror(errno));
		o->cacert = arg;
		break;
	case OPT_FSYNC:
		o->fsync_each = 1;
		break;
	case OPT_EXIT_WHEN_DONE:
		o->exit_when_done = 1;
		break;
	case OPT_UNPACK:
		parse_unpack(o, arg);
		break;
	case OPT_THEME:
		o->theme = arg;
		break;
	case OPT_VIA:
	case OPT_LOAD:
		if (strcmp(arg, "docker") != 0)
			usage_error("%s: '%s' is not an engine pulltop knows "
			    "(docker)", c == OPT_VIA ? "--via" : "--load", arg);
		*(c == OPT_VIA ? &o->via : &o->load) = arg;
		break;
	case OPT_WATCH:
		if (strcmp(arg, "containerd") != 0)
			usage_error("--watch: '%s' is not containerd", arg);
		w->watch = arg;
		break;
	case OPT_CONTAINERD_ROOT:
		if (*arg == '\0')
			usage_error("--containerd-root: empty path");
		w->containerd_root = arg;
		break;
	case OPT_MIRROR:
	case OPT_HOSTS_DIR:
		parse_mirror_opt(o, c, arg);
		break;
	case OPT_LIST:
	case OPT_RM:
	case OPT_PRUNE:
	case 'n':
	case OPT_PRUNE_AGE:
		parse_store_opt(&w->sc, c, arg);
		break;
	default:
		return -1;
	}
	return 0;
}

/* --theme or PULLTOP_THEME, found before anything starts. */
static void
check_theme(struct options *o)
{
	char tpath[THEME_PATH_MAX], tname[THEME_NAME_MAX], twhy[1024];
	const char *env = getenv("PULLTOP_THEME");
	const char *from = o->theme != NULL ? "--theme" : "PULLTOP_THEME";

	if (o->theme == NULL && (env == NULL || *env == '\0'))
		return;
	if (o->theme == NULL)
		o->theme = env;
	if (theme_find(o->theme, tpath, sizeof tpath, tname, sizeof tname,
	    twhy, sizeof twhy) != 0) {
		fprintf(stderr, "pulltop: %s: %s\n", from, twhy);
		exit(2);
	}
}

/*
 * Every reference's mirror plan, before anything starts (config.h says
 * where it comes from): a configuration file that cannot be read is one
 * line naming it and exit 2; a reference that registries.conf blocks is
 * one line and is left out, counted as failed (exit 1) while the others
 * are pulled. Returns how many were left out.
 */
static int
check_mirrors(const struct options *o, struct refs *refs)
{
	struct mirror_plan *p;
	struct ref r;
	char *cause = NULL, clean[1024];
	int i, n = 0, blocked = 0;

	for (i = 0; i < refs->n; i++) {
		if (ref_parse(refs->v[i], &r, &cause) != 0) {
			free(cause);	/* parsed once already: cannot be */
			cause = NULL;
			refs->v[n++] = refs->v[i];
			continue;
		}
		if (mirror_plan_get(o, r.domain, r.path, &p, &cause) != 0) {
			sanitize(clean, sizeof clean, cause);
			fprintf(stderr, "pulltop: %s\n", clean);
			exit(2);
		}
		if (p->blocked) {
			sanitize(clean, sizeof clean, p->blocked_cause);
			fprintf(stderr, "pulltop: %s: %s\n", refs->v[i], clean);
			free(refs->v[i]);
			blocked++;
		} else {
			refs->v[n++] = refs->v[i];
		}
		mirror_plan_free(p);
		ref_free(&r);
	}
	refs->n = n;
	return blocked;
}

/* Dashboard on a terminal that can have one, else plain lines. */
static void
pick_progress(struct options *o)
{
	char why[128], clean[128];

	if (o->progress == PROGRESS_AUTO)
		o->progress = isatty(STDOUT_FILENO) && ui_available(why,
		    sizeof why) == 0 ? PROGRESS_TTY : PROGRESS_PLAIN;
	else if (o->progress == PROGRESS_TTY && ui_available(why, sizeof why)) {
		sanitize(clean, sizeof clean, why);	/* it quotes $TERM */
		fprintf(stderr, "pulltop: no dashboard (%s): plain output\n",
		    clean);
		o->progress = PROGRESS_PLAIN;
	}
	if (o->progress != PROGRESS_TTY)
		setvbuf(stdout, NULL, _IOLBF, 0);
}

static void
parse_args(int argc, char **argv, struct options *o, struct owned *w,
    struct refs *refs)
{
	int c, i;

	while ((c = getopt_long(argc, argv, "s:f:j:qhVn", long_opts,
	    NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (c == 'V') {
			printf("pulltop %s\n", PULLTOP_VERSION);
			exit(0);
		}
		if (parse_one(o, w, c, optarg) != 0) {
			fputs("Try 'pulltop --help' for more information.\n",
			    stderr);
			exit(2);
		}
	}
	check_theme(o);
	if (w->sc.action != 0 || w->sc.dry_run)
		return;		/* a store command: its arguments are its own */
	/* the engine keeps what it pulls: nothing of ours to put it in */
	if (o->via != NULL && (o->store != NULL || o->unpack != NULL ||
	    o->load != NULL))
		usage_error("--via %s: the engine keeps the images; --%s does "
		    "not apply", o->via, o->store != NULL ? "store" :
		    o->unpack != NULL ? "unpack" : "load");
	for (i = optind; i < argc; i++)
		refs_add(refs, argv[i], "");
	for (i = 0; i < w->nfiles; i++)
		refs_from_file(refs, w->files[i]);
	if (w->containerd_root != NULL && w->watch == NULL)
		usage_error("--containerd-root: only with --watch containerd");
	if (w->watch != NULL && refs->n > 0)
		usage_error("--watch: no IMAGE is pulled while watching");
	if (w->watch != NULL && (o->via != NULL || o->load != NULL))
		usage_error("--watch: --%s does not apply while watching",
		    o->via != NULL ? "via" : "load");
	if (refs->n == 0 && w->watch == NULL)
		usage_error(w->nfiles > 0 ? "no image given (the files name "
		    "none)" : "no image given");
}

/* --list, --rm REF..., --prune: the store's commands, instead of a pull. */
static int
store_command(const struct options *o, struct store_cmd *sc, int nargs,
    char **args)
{
	char *store = NULL;
	int status;

	if (sc->dry_run && sc->action != STORE_PRUNE)
		usage_error("-n: only with --prune");
	if (sc->action == STORE_RM && nargs == 0)
		usage_error("--rm: no reference given");
	if (sc->action != STORE_RM && nargs > 0)
		usage_error("%s takes no reference ('%s')", sc->action ==
		    STORE_LIST ? "--list" : "--prune", args[0]);
	sc->refs = args;
	sc->nrefs = nargs;
	sc->format = o->progress == PROGRESS_JSON ? STORE_JSON :
	    o->progress == PROGRESS_QUIET ? STORE_QUIET : STORE_PLAIN;
	sc->dir = o->store != NULL ? o->store : (store = default_store());
	setvbuf(stdout, NULL, _IOLBF, 0);
	status = store_cmd_run(sc);
	free(store);
	return status;
}

/*
 * The source: containerd watched, the Docker Engine pulling (--via), or
 * pulltop's engine.
 */
static struct source *
start_source(const struct options *o, const struct owned *w, char **cause)
{
	if (w->watch != NULL)
		return watch_containerd_new(w->containerd_root, o, cause);
	if (o->via != NULL)
		return docker_source_new(o, cause);
	/* --load: an engine that is not there is said before any pull */
	if (o->load != NULL && docker_ping(cause) != 0)
		return NULL;
	return engine_new(o, cause);
}

int
main(int argc, char **argv)
{
	struct options o;
	struct owned w;
	struct refs refs;
	struct source *src;
	char *cause = NULL;
	int i, status, blocked = 0;

#if defined(__GLIBC__)
	/* Buffers of 256 KiB and more (curl's receive buffers) are mapped
	 * and unmapped, so a finished blob's memory leaves the process.
	 * glibc's default raises this threshold to the largest block freed,
	 * after which such buffers stay in the worker threads' arenas: a
	 * 6-layer pull peaked at 40 MiB instead of 27. The hash ring's
	 * 192 KiB buffers (store.c) stay below it, and are reused. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
	options_defaults(&o);
	memset(&w, 0, sizeof w);
	memset(&refs, 0, sizeof refs);
	w.sc.age = STORE_PRUNE_AGE;
	parse_args(argc, argv, &o, &w, &refs);
	if (w.sc.action != 0 || w.sc.dry_run)
		return store_command(&o, &w.sc, argc - optind, argv + optind);
	/* mirrors are pulltop's to use: a watch or an engine that pulls
	 * (--via) has its own */
	if (w.watch == NULL && o.via == NULL &&
	    (blocked = check_mirrors(&o, &refs)) > 0 &&
	    refs.n == 0) {
		refs_free(&refs);
		if (w.creds != NULL)
			explicit_bzero(w.creds, strlen(w.creds));
		free(w.creds);
		return 1;	/* every image blocked: nothing to start */
	}
	if (o.store == NULL && o.via == NULL && w.watch == NULL)
		o.store = w.store = default_store();
	pick_progress(&o);

	src = start_source(&o, &w, &cause);
	if (src == NULL) {
		char clean[1024];
		sanitize(clean, sizeof clean, cause);
		fprintf(stderr, "pulltop: %s\n", clean);
		free(cause);
		refs_free(&refs);
		free(w.store);
		free(w.creds);
		return w.watch != NULL ? 2 : 1;
	}
	sig_install(model_wakeup_fd(src->model));
	src->add_failures += blocked;
	for (i = 0; i < refs.n; i++) {
		if (source_add_image(src, refs.v[i], &cause) < 0) {
			src->add_failures++;
			fprintf(stderr, "pulltop: %s: %s\n", refs.v[i], cause);
			free(cause);
			cause = NULL;
		}
	}
	if (o.progress == PROGRESS_TTY)
		status = ui_run(src, &o);
	else
		status = view_headless(src, &o);
	source_free(src);
	refs_free(&refs);
	free(w.store);
	if (w.creds != NULL)
		explicit_bzero(w.creds, strlen(w.creds));
	free(w.creds);
	return status;
}
