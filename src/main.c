/*
 * main.c - pulltop's command line: options and environment into struct
 * options, references checked up front (a bad one is a usage error), then
 * the jobs queue started and watched by the dashboard or a headless sink.
 */
#include "engine.h"
#include "oci.h"
#include "config.h"
#include "view.h"
#include "util.h"
#include "theme.h"
#include "ui.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_text[] =
"Usage: pulltop [OPTION]... IMAGE...\n"
"Pull container images from OCI/Docker registries into an OCI image layout,\n"
"showing every layer live.\n"
"\n"
"  -s, --store DIR              OCI image layout to pull into\n"
"                               (default $PULLTOP_STORE, else\n"
"                               $XDG_DATA_HOME/pulltop/store)\n"
"      --unpack DIR             also extract each image into its own folder\n"
"                               DIR/NAME (NAME: the reference, / and : as _)\n"
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
"      --insecure-registry HOST[:PORT]  allow plain HTTP or an unverified\n"
"                               certificate for HOST (repeatable)\n"
"      --creds USER:PASSWORD    credentials for the registries of this run\n"
"                               (default: docker's config.json and helpers)\n"
"      --cacert FILE            also trust the CA certificates in FILE\n"
"      --exit-when-done         leave the dashboard when every image is done\n"
"      --theme NAME|FILE        dashboard colours (default $PULLTOP_THEME,\n"
"                               else default); see pulltop-theme(5)\n"
"  -h, --help                   show this help and exit\n"
"  -V, --version                show the version and exit\n"
"\n"
"Exit status: 0 all images pulled, 1 some failed, 2 usage error,\n"
"130/143 interrupted by SIGINT/SIGTERM.\n";

enum {
	OPT_PLATFORM = 256,
	OPT_PROGRESS,
	OPT_RETRIES,
	OPT_RETRY_DELAY,
	OPT_STALL,
	OPT_LIMIT_RATE,
	OPT_INSECURE,
	OPT_CREDS,
	OPT_CACERT,
	OPT_EXIT_WHEN_DONE,
	OPT_UNPACK,
	OPT_THEME,
};

static const struct option long_opts[] = {
	{ "store", required_argument, NULL, 's' },
	{ "platform", required_argument, NULL, OPT_PLATFORM },
	{ "jobs", required_argument, NULL, 'j' },
	{ "progress", required_argument, NULL, OPT_PROGRESS },
	{ "quiet", no_argument, NULL, 'q' },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "retry-delay", required_argument, NULL, OPT_RETRY_DELAY },
	{ "stall-timeout", required_argument, NULL, OPT_STALL },
	{ "limit-rate", required_argument, NULL, OPT_LIMIT_RATE },
	{ "insecure-registry", required_argument, NULL, OPT_INSECURE },
	{ "creds", required_argument, NULL, OPT_CREDS },
	{ "cacert", required_argument, NULL, OPT_CACERT },
	{ "exit-when-done", no_argument, NULL, OPT_EXIT_WHEN_DONE },
	{ "unpack", required_argument, NULL, OPT_UNPACK },
	{ "theme", required_argument, NULL, OPT_THEME },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

void
options_defaults(struct options *o)
{
	memset(o, 0, sizeof *o);
	o->progress = PROGRESS_AUTO;
	o->jobs = 3;
	o->retries = 5;
	o->retry_delay = 5;
	o->stall_timeout = 30;
}

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;
	char raw[1024], clean[1024];

	/* arguments are the user's text: no escape sequences reach stderr */
	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	sanitize(clean, sizeof clean, raw);
	fprintf(stderr, "pulltop: %s\nTry 'pulltop --help' for more "
	    "information.\n", clean);
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

int
main(int argc, char **argv)
{
	struct options o;
	struct jobq *q;
	char *store = NULL, *creds = NULL, *cause = NULL, why[128];
	int c, i, e, status;
	struct stat st;

	options_defaults(&o);
	while ((c = getopt_long(argc, argv, "s:j:qhV", long_opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (*optarg == '\0')
				usage_error("--store: empty path");
			o.store = optarg;
			break;
		case OPT_PLATFORM:
			if (!platform_valid(optarg))
				usage_error("--platform: '%s' is not OS/ARCH[/VARIANT]",
				    optarg);
			o.platform = optarg;
			break;
		case 'j':
			o.jobs = (int)parse_int("--jobs", optarg, 1, 32);
			break;
		case OPT_PROGRESS:
			if (strcmp(optarg, "auto") == 0)
				o.progress = PROGRESS_AUTO;
			else if (strcmp(optarg, "tty") == 0)
				o.progress = PROGRESS_TTY;
			else if (strcmp(optarg, "plain") == 0)
				o.progress = PROGRESS_PLAIN;
			else if (strcmp(optarg, "json") == 0)
				o.progress = PROGRESS_JSON;
			else if (strcmp(optarg, "quiet") == 0)
				o.progress = PROGRESS_QUIET;
			else
				usage_error("--progress: '%s' is not auto, tty, "
				    "plain, json or quiet", optarg);
			break;
		case 'q':
			o.progress = PROGRESS_QUIET;
			break;
		case OPT_RETRIES:
			o.retries = (int)parse_int("--retries", optarg, 1, 100);
			break;
		case OPT_RETRY_DELAY:
			o.retry_delay = parse_seconds("--retry-delay", optarg, 0,
			    3600);
			break;
		case OPT_STALL:
			o.stall_timeout = parse_seconds("--stall-timeout", optarg,
			    0.5, 86400);
			break;
		case OPT_LIMIT_RATE:
			if (parse_size(optarg, &o.limit_rate) != 0 ||
			    o.limit_rate == 0)
				usage_error("--limit-rate: '%s' is not a rate like "
				    "500K or 2M", optarg);
			break;
		case OPT_INSECURE:
			if (o.ninsecure == MAX_INSECURE)
				usage_error("--insecure-registry: at most %d",
				    MAX_INSECURE);
			if (*optarg == '\0' || strchr(optarg, '/') != NULL)
				usage_error("--insecure-registry: '%s' is not "
				    "HOST[:PORT]", optarg);
			o.insecure[o.ninsecure++] = optarg;
			break;
		case OPT_CREDS:
			if (optarg[0] == ':' || strchr(optarg, ':') == NULL)
				usage_error("--creds: expected USER:PASSWORD");
			free(creds);
			o.creds = creds = xstrdup(optarg);
			/* keep the password out of ps: blank it in argv */
			memset(strchr(optarg, ':') + 1, 'x',
			    strlen(strchr(optarg, ':') + 1));
			break;
		case OPT_CACERT:
			if (access(optarg, R_OK) != 0)
				usage_error("--cacert: %s: %s", optarg,
				    strerror(errno));
			o.cacert = optarg;
			break;
		case OPT_EXIT_WHEN_DONE:
			o.exit_when_done = 1;
			break;
		case OPT_UNPACK:
			if (*optarg == '\0')
				usage_error("--unpack: empty path");
			/* say so now, not after the layers came */
			e = stat(optarg, &st) != 0 ? errno :
			    S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
			if (e != 0 && e != ENOENT)
				usage_error("--unpack: %s: %s", optarg,
				    strerror(e));
			o.unpack = optarg;
			break;
		case OPT_THEME:
			o.theme = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("pulltop %s\n", PULLTOP_VERSION);
			return 0;
		default:
			fputs("Try 'pulltop --help' for more information.\n",
			    stderr);
			return 2;
		}
	}
	if (o.theme != NULL || (getenv("PULLTOP_THEME") != NULL &&
	    *getenv("PULLTOP_THEME") != '\0')) {
		/* found before anything starts; the dashboard parses it */
		char tpath[THEME_PATH_MAX], tname[THEME_NAME_MAX], twhy[1024];
		const char *from = o.theme != NULL ? "--theme" : "PULLTOP_THEME";

		if (o.theme == NULL)
			o.theme = getenv("PULLTOP_THEME");
		if (theme_find(o.theme, tpath, sizeof tpath, tname,
		    sizeof tname, twhy, sizeof twhy) != 0) {
			fprintf(stderr, "pulltop: %s: %s\n", from, twhy);
			return 2;
		}
	}
	if (optind == argc)
		usage_error("no image given");
	for (i = optind; i < argc; i++) {
		struct ref r;
		char clean[256];
		if (ref_parse(argv[i], &r, &cause) != 0) {
			sanitize(clean, sizeof clean, argv[i]);
			usage_error("invalid reference '%s': %s", clean, cause);
		}
		ref_free(&r);
	}
	if (o.store == NULL)
		o.store = store = default_store();

	if (o.progress == PROGRESS_AUTO)
		o.progress = isatty(STDOUT_FILENO) && ui_available(why,
		    sizeof why) == 0 ? PROGRESS_TTY : PROGRESS_PLAIN;
	else if (o.progress == PROGRESS_TTY && ui_available(why, sizeof why)) {
		char clean[sizeof why];
		sanitize(clean, sizeof clean, why);	/* it quotes $TERM */
		fprintf(stderr, "pulltop: no dashboard (%s): plain output\n",
		    clean);
		o.progress = PROGRESS_PLAIN;
	}
	if (o.progress != PROGRESS_TTY)
		setvbuf(stdout, NULL, _IOLBF, 0);

	q = jobq_new(&o);
	if (q == NULL) {
		free(store);
		free(creds);
		return 1;
	}
	sig_install(jobq_wakeup_fd(q));
	for (i = optind; i < argc; i++) {
		if (jobq_add_image(q, argv[i], &cause) < 0) {
			char clean[256];
			sanitize(clean, sizeof clean, argv[i]);
			fprintf(stderr, "pulltop: %s: %s\n", clean, cause);
			free(cause);
			cause = NULL;
		}
	}
	if (o.progress == PROGRESS_TTY)
		status = ui_run(q, &o);
	else
		status = progress_run(q, &o);
	jobq_free(q);
	free(store);
	if (creds != NULL)
		explicit_bzero(creds, strlen(creds));
	free(creds);
	return status;
}
