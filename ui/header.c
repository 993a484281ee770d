/*
 * header.c - the top three lines and the bottom one. The header shows the
 * totals (images, layers, bytes, throughput, jobs, elapsed, ETA), the
 * overall bar, and the throughput of the last minute as a sparkline fed
 * once a second; the key bar lists the keys, htop style, unless a prompt
 * or a passing notice has the bottom line.
 */
#include "dash.h"
#include "colors.h"
#include "draw.h"
#include "keys.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

/* Draw "label value" at *x if it fits in width; advances *x. */
static int
header_field(WINDOW *w, int y, int *x, int width, const char *label,
    const char *value)
{
	int need = (label[0] ? draw_width(label) + 1 : 0) + draw_width(value);

	if (*x + need > width)
		return 0;
	if (label[0]) {
		*x += draw_text(w, y, *x, width - *x, label,
		    colors_attr(ROLE_LABEL));
		*x += 1;
	}
	*x += draw_text(w, y, *x, width - *x, value, colors_attr(ROLE_HEADER));
	*x += 2;
	return 1;
}

/* Seconds since the run started: frozen at the last finish once final. */
static double
header_elapsed(const struct snapshot *s)
{
	double end = s->now;
	int i;

	if (s->all_final && s->nimages > 0) {
		end = s->started;
		for (i = 0; i < s->nimages; i++)
			if (s->images[i].finished > end)
				end = s->images[i].finished;
	}
	return end - s->started;
}

/*
 * The rate limits registries announced, after the sparkline's label:
 * "  docker.io 87/100 per 6h". None announced: nothing.
 */
static void
header_limits(const struct snapshot *s, char *v, size_t n)
{
	size_t len;
	char per[40];
	int i;

	for (i = 0; i < s->tally.nlim; i++) {
		const struct model_limit *l = &s->tally.lim[i];

		per[0] = '\0';
		if (l->window > 0 && l->window % 3600 == 0)
			snprintf(per, sizeof per, " per %ldh", l->window / 3600);
		else if (l->window > 0 && l->window % 60 == 0)
			snprintf(per, sizeof per, " per %ldm", l->window / 60);
		else if (l->window > 0)
			snprintf(per, sizeof per, " per %lds", l->window);
		len = strlen(v);
		snprintf(v + len, n - len, "  %s %ld/%ld%s", l->name,
		    l->remaining, l->limit, per);
	}
}

void
header_draw(struct dash *d, WINDOW *w, int width)
{
	const struct snapshot *s = &d->snap;
	char v[320], a[32], b[32], pct[16];
	int i, x, lt = 0, ld = 0, id = 0, bw, sw;
	double frac, peak = 0;

	for (i = 0; i < s->nblobs; i++) {
		if (!s->blobs[i].is_layer)
			continue;
		lt++;
		if (s->blobs[i].state == BLOB_DONE ||
		    s->blobs[i].state == BLOB_EXISTS)
			ld++;
	}
	for (i = 0; i < s->nimages; i++)
		if (s->images[i].state == IMAGE_COMPLETE)
			id++;

	/* line 0: totals */
	x = 1;
	x += draw_text(w, 0, x, width - x, "pulltop",
	    colors_attr(ROLE_HEADER)) + 2;
	snprintf(v, sizeof v, "%d/%d", id, s->nimages);
	header_field(w, 0, &x, width, "images", v);
	snprintf(v, sizeof v, "%d/%d", ld, lt);
	header_field(w, 0, &x, width, "layers", v);
	fmt_bytes(a, sizeof a, s->bytes_done);
	fmt_bytes(b, sizeof b, s->bytes_total);
	snprintf(v, sizeof v, "%s / %s", a, b);
	header_field(w, 0, &x, width, "", v);
	draw_speed(v, sizeof v, s->speed);
	header_field(w, 0, &x, width, "", v);
	if (source_has(d->src, SRC_SET_JOBS)) {
		/* a source that decides its own concurrency shows none */
		snprintf(v, sizeof v, "%d", d->jobs);
		header_field(w, 0, &x, width, "jobs", v);
	}
	fmt_duration(v, sizeof v, header_elapsed(s));
	header_field(w, 0, &x, width, "elapsed", v);
	if (s->all_final)
		snprintf(v, sizeof v, "done");
	else
		draw_eta_at(v, sizeof v, s->eta, now_mono() - s->now);
	header_field(w, 0, &x, width, "ETA", v);
	if (s->space_free >= 0) {
		/* free space; loud when the pulls left need more */
		uint64_t need = s->bytes_total - s->bytes_done;
		int low = !s->all_final && (uint64_t)s->space_free < need;

		fmt_bytes(a, sizeof a, (uint64_t)s->space_free);
		snprintf(v, sizeof v, "%s%s", a, low ? " (LOW)" : "");
		if (x + 5 + draw_width(v) <= width) {
			x += draw_text(w, 0, x, width - x, "free",
			    colors_attr(ROLE_LABEL)) + 1;
			x += draw_text(w, 0, x, width - x, v, colors_attr(low ?
			    ROLE_STATE_FAILED : ROLE_HEADER)) + 2;
		}
	}
	if (d->filter[0] != '\0') {
		char f[300];
		snprintf(f, sizeof f, "\"%s\"", d->filter);
		header_field(w, 0, &x, width, "filter", f);
	}

	/* line 1: the overall bar */
	frac = s->bytes_total ? (double)s->bytes_done / s->bytes_total : 0;
	if (s->all_final && s->nimages > 0 && id == s->nimages)
		frac = 1;
	snprintf(pct, sizeof pct, "%3d%%", (int)(frac * 100));
	x = 1 + draw_text(w, 1, 1, width - 1, "total", colors_attr(ROLE_LABEL));
	bw = width - x - 1 - 6;
	if (bw >= 4) {
		draw_bar(w, 1, x + 1, bw, frac, colors_attr(ROLE_BAR_DONE),
		    colors_attr(ROLE_BAR_TODO));
		draw_text(w, 1, x + 2 + bw, width - x - 2 - bw, pct,
		    colors_attr(ROLE_HEADER));
	}

	/* line 2: throughput over the last minute */
	for (i = 0; i < d->nspark; i++)
		if (d->spark[i] > peak)
			peak = d->spark[i];
	x = 1 + draw_text(w, 2, 1, width - 1, "speed", colors_attr(ROLE_LABEL));
	draw_speed(a, sizeof a, peak);
	snprintf(v, sizeof v, "peak %s  last 60s", a);
	header_limits(s, v, sizeof v);
	sw = width - x - 2 - draw_width(v) - 2;
	if (sw > SPARK_SLOTS)
		sw = SPARK_SLOTS;
	if (sw >= 8) {
		draw_sparkline(w, 2, x + 1, sw, d->spark, d->nspark, peak,
		    colors_attr(ROLE_SPARKLINE));
		draw_text(w, 2, x + 1 + sw + 2, width - x - sw - 3, v,
		    colors_attr(ROLE_LABEL));
	}
}

void
header_sample(struct dash *d, double speed)
{
	if (d->nspark == SPARK_SLOTS) {
		memmove(d->spark, d->spark + 1,
		    (SPARK_SLOTS - 1) * sizeof d->spark[0]);
		d->nspark--;
	}
	d->spark[d->nspark++] = speed > 0 ? speed : 0;
}

int
header_spark_idle(const struct dash *d)
{
	int i;

	for (i = 0; i < d->nspark; i++)
		if (d->spark[i] > 0)
			return 0;
	return 1;
}

void
header_keybar_draw(struct dash *d, WINDOW *w, int width, double now)
{
	attr_t bar = colors_attr(ROLE_KEYBAR);
	attr_t key = colors_attr(ROLE_KEYBAR_KEY);
	size_t i;
	int x = 0, need;

	if (d->overlay == OVERLAY_ADD || d->overlay == OVERLAY_FILTER) {
		prompt_draw(&d->prompt, w, 0, width);
		return;
	}
	draw_blank(w, 0, 0, width, bar);
	if (d->status[0] != '\0' && now < d->status_until) {
		draw_text(w, 0, 1, width - 1, d->status, bar | A_BOLD);
		return;
	}
	if (d->src->read_only != NULL) {
		x += draw_text(w, 0, x, width - x, "READ ONLY", key);
		x += 2;
	}
	for (i = 0; i < key_table_len; i++) {
		const struct key_action *k = &key_table[i];
		int on = keys_offered(k, d->src);

		/* what the source does not offer stays off the bar */
		if (k->bar_key == NULL || !on)
			continue;
		need = draw_width(k->bar_key) + 1 + draw_width(k->bar);
		if (x + need > width)
			break;
		x += draw_text(w, 0, x, width - x, k->bar_key, key);
		x += 1;
		x += draw_text(w, 0, x, width - x, k->bar, bar);
		x += 2;
	}
}
