/*
 * keys.c - the dashboard's one key table, as htop's Action table: every
 * key with what it does, its line in the help and its label in the key
 * bar, and the source operation it needs. dash_key looks keys up here,
 * the help box and the key bar are drawn from here, so the three cannot
 * disagree. A key whose operation the source does not offer is shown as
 * such in both places, and pressing it only says why.
 */
#include "dash.h"
#include "keys.h"

#include <stddef.h>

#define K(c) { (wint_t)(c), 0 }
#define FK(c) { (wint_t)(c), 1 }
#define UI_CTRL(c) ((c) & 0x1f)

const struct key_action key_table[] = {
	{ "F1 / ?", "F1/?", "Help", "this help", 0, KEYS_HELP,
	  { FK(KEY_F(1)), K('?'), K('h') } },
	{ "c", "c", "Cancel", "cancel the selected image or layer",
	  SRC_CANCEL_IMAGE | SRC_CANCEL_BLOB, KEYS_CANCEL, { K('c') } },
	{ "r", "r", "Retry", "retry the selected failed or cancelled image "
	  "or layer", SRC_RETRY_IMAGE | SRC_RETRY_BLOB, KEYS_RETRY,
	  { K('r') } },
	{ "R", "R", "Retry all", "retry everything that failed or was "
	  "cancelled", SRC_RETRY_ALL, KEYS_RETRY_ALL, { K('R') } },
	{ "a", "a", "Add", "add an image: type a reference, Enter (Esc "
	  "cancels)", SRC_ADD_IMAGE, KEYS_ADD, { K('a') } },
	{ "+ / -", "+/-", "Jobs", "one more / one fewer concurrent download",
	  SRC_SET_JOBS, KEYS_JOBS, { K('+'), K('='), K('-'), K('_') } },
	{ "d", NULL, NULL, "remove the selected complete image from the store "
	  "(asks first; its blobs go when nothing else uses them)",
	  SRC_REMOVE_IMAGE, KEYS_REMOVE, { K('d') } },
	{ "/", "/", "Filter", "filter rows by text (Esc clears)", 0,
	  KEYS_FILTER, { K('/') } },
	{ "q", "q", "Quit", "quit (asks first while pulls are running)", 0,
	  KEYS_QUIT, { K('q'), K('Q') } },
	{ "Tab/S-Tab", "Tab", "Pane", "next/previous pane: Images, Active, "
	  "Completed, Already exists, Events", 0, KEYS_PANE,
	  { K('\t'), FK(KEY_BTAB) } },
	{ "Enter", "Enter", "Details", "details of the selected image, layer "
	  "or event", 0, KEYS_DETAIL, { K('\r'), K('\n'), FK(KEY_ENTER) } },
	{ "t", "t", "Theme", "next colour theme", 0, KEYS_THEME, { K('t') } },
	{ "Up/Down j/k", NULL, NULL, "move the selection", 0, KEYS_MOVE,
	  { FK(KEY_UP), FK(KEY_DOWN), K('j'), K('k') } },
	{ "PgUp/PgDn", NULL, NULL, "a page up or down", 0, KEYS_MOVE,
	  { FK(KEY_PPAGE), FK(KEY_NPAGE) } },
	{ "Home/End", NULL, NULL, "first or last row", 0, KEYS_MOVE,
	  { FK(KEY_HOME), FK(KEY_END), K('g'), K('G') } },
	{ "Esc", NULL, NULL, "clear the filter, close a box", 0, KEYS_ESCAPE,
	  { K(27) } },
	{ "Ctrl-L", NULL, NULL, "redraw the screen", 0, KEYS_REDRAW,
	  { K(UI_CTRL('L')) } },
};

const size_t key_table_len = sizeof key_table / sizeof key_table[0];

const struct key_action *
keys_find(wint_t c, int is_key)
{
	size_t i, j;

	for (i = 0; i < key_table_len; i++)
		for (j = 0; j < KEYS_PER_ACTION; j++) {
			const struct key_bind *b = &key_table[i].keys[j];

			if (b->code == 0 && !b->fn)
				break;
			if (b->code == c && b->fn == is_key)
				return &key_table[i];
		}
	return NULL;
}

int
keys_offered(const struct key_action *a, const struct source *src)
{
	return a->needs == 0 || (src->caps & a->needs) != 0;
}
