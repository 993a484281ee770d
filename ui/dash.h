/*
 * dash.h - the dashboard's state, shared by the files that draw it:
 * dash.c (loop, keys, ui_run), layout.c (where each pane goes), header.c
 * (totals, bar, sparkline, key bar), rows.c (the rows of every pane) and
 * overlay.c (help, details, the quit question). Nothing here is touched
 * by another thread: the engine is only seen through the snapshot.
 */
#ifndef PULLTOP_DASH_H
#define PULLTOP_DASH_H

#include "tui.h"
#include "model.h"
#include "pane.h"
#include "prompt.h"

enum pane_id {
	PANE_IMAGES,
	PANE_ACTIVE,
	PANE_DONE,
	PANE_EXISTS,
	PANE_EVENTS,
	PANE_COUNT
};

enum overlay {
	OVERLAY_NONE,
	OVERLAY_HELP,
	OVERLAY_DETAIL,
	OVERLAY_QUIT,		/* "Quit? Pulls are still running (y/n)" */
	OVERLAY_REMOVE,		/* "Remove REF from the store? (y/n)" */
	OVERLAY_ADD,		/* the "Add image" prompt */
	OVERLAY_FILTER,		/* the "Filter" prompt */
};

#define SPARK_SLOTS 60
#define MIN_COLS 40
#define MIN_LINES 10
#define HEADER_LINES 3

/* Where one region of the screen goes, and its window. */
struct region {
	int y, x, h, w;
	WINDOW *win;
};

struct dash {
	struct source *src;
	const struct options *o;
	struct snapshot snap;		/* what is drawn; the UI's own copy */

	struct pane panes[PANE_COUNT];
	int focus;			/* enum pane_id */
	char filter[256];		/* sanitized; "" shows everything */
	int ref_w, images_w;		/* widest reference, image list */

	enum overlay overlay;
	int detail_pane;		/* what the detail box shows */
	long detail_key;
	int remove_id;			/* the image d asks about */
	struct prompt prompt;

	double spark[SPARK_SLOTS];	/* speed once a second, oldest first */
	int nspark;

	char status[256];		/* a passing notice at the bottom */
	double status_until;

	int jobs;			/* the last limit asked for */
	long last_tick;			/* the second last sampled */
	WINDOW *input;			/* keys are read from this pad */
	int in_fd;			/* the keyboard, -1 once gone */
	int too_small;
	int quit;

	/* what the last frame drew (dash_draw's redraw flags) */
	int redraw_all;
	enum overlay drawn_overlay;
	uint64_t drawn_gen;
	long drawn_sec;
	uint64_t pane_sig[PANE_COUNT];
	unsigned long panes_drawn;	/* pane redraws in all, for tests */

	/* layout.c */
	int lines, cols;
	int single;			/* too short: only the focused pane */
	struct region header, keybar, pane[PANE_COUNT];
	int band_need[4];		/* rows each band needs, sticky */
	double band_less_since[4];	/* since when it needs fewer */
};

/* layout.c: place every region for the terminal size; 1 if it changed. */
int layout_update(struct dash *d);
void layout_free(struct dash *d);

/* header.c */
void header_draw(struct dash *d, WINDOW *w, int width);
void header_sample(struct dash *d, double speed);
int header_spark_idle(const struct dash *d);
void header_keybar_draw(struct dash *d, WINDOW *w, int width,
    double now);

/* rows.c: rebuild every pane's rows from the snapshot and the filter. */
void rows_build(struct dash *d);
/* What pane id's visible rows show, as a number: equal, nothing to
 * draw again. */
uint64_t rows_signature(struct dash *d, int id, int h, int width,
    double now);
/* Draw the pane with its row renderer. */
void rows_draw(struct dash *d, int id, WINDOW *w, int h, int width);
/* Image's state words ("Downloading 2/5 layers"). */
void rows_image_state(const struct model_image *im, char *out, size_t n);
const struct model_image *rows_image(const struct dash *d, long id);
const struct model_blob *rows_blob(const struct dash *d, long id);
const struct model_event *rows_event(const struct dash *d, long seq);
char *rows_blob_images(const struct dash *d, const struct model_blob *b);

/* overlay.c: the boxes drawn over the panes (help, detail, quit). */
void overlay_draw(struct dash *d);
void overlay_too_small(WINDOW *w, int lines, int cols);

#endif
