#!/bin/bash
# tests/t-layout.sh - pane heights: with one layer downloading and twenty
# completed, Active keeps no empty rows while Completed has rows hidden
# (80x24), Completed shows all twenty where there is room (160x45), and
# the heights hold still from one second to the next. The dashboard runs in tmux on a private server.
. "$(dirname "$0")/lib.sh"
: "${PULLTOP:?}" "${REG:?}"
T=$(t_tmpdir)
command -v tmux >/dev/null 2>&1 || { t_fail "layout: tmux" "tmux is not installed"; t_summary; exit 1; }

# check_panes SCREEN: "ok" or why not
check_panes() {
	"$T_PYTHON" - "$1" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().split("\n")
titles = [i for i, l in enumerate(lines) if re.match(r"^─ \S", l)]
def band(name):
    for k, i in enumerate(titles):
        if lines[i].startswith("─ " + name + " ("):
            end = titles[k + 1] if k + 1 < len(titles) else len(lines) - 1
            return i, end
    return None
a, d = band("Active"), band("Completed")
if not a or not d:
    print("no Active or Completed pane"); sys.exit()
rows = lines[a[0] + 1:a[1]]
empty = sum(1 for r in rows if not r.strip())
m = re.search(r"Completed \((\d+)\)", lines[d[0]])
shown = d[1] - d[0] - 1
hidden = int(m.group(1)) > shown
if not hidden:
    print("ok all %d shown, Active %d/%d empty" % (shown, empty, len(rows)))
elif empty:
    print("Active has %d empty rows of %d while Completed hides rows" % (empty, len(rows)))
else:
    print("ok %d/%d" % (len(rows), shown))
PY
}

for size in 160x45 80x24; do
	sock=$T/tmux-$size.sock
	t_cleanup_push tmux -S "$sock" kill-server
	# many:v1's twenty layers first, then big:v1 added with a (so the
	# order does not hang on which image resolves first)
	tmux -S "$sock" -f /dev/null new-session -d -x "${size%x*}" -y "${size#*x}" \
	    "$(printf '%q ' "$PULLTOP" --store "$T/s-$size" -j 1 --limit-rate 200K \
	    "$REG/test/many:v1")"
	got=
	for _ in $(seq 1 300); do
		tmux -S "$sock" capture-pane -p >"$T/cap" 2>/dev/null
		grep -q 'Completed (20)' "$T/cap" && { got=1; break; }
		sleep 0.2
	done
	if [ -n "$got" ]; then
		tmux -S "$sock" send-keys a
		sleep 0.3
		tmux -S "$sock" send-keys -l "$REG/test/big:v1"
		tmux -S "$sock" send-keys Enter
		got=
		for _ in $(seq 1 150); do
			tmux -S "$sock" capture-pane -p >"$T/cap" 2>/dev/null
			grep -q 'Completed (20)' "$T/cap" && grep -q 'Downloading' "$T/cap" &&
				{ got=1; break; }
			sleep 0.2
		done
	fi
	if [ -z "$got" ]; then
		t_fail "layout $size: Active has no empty rows while Completed hides rows" \
		    "never saw 20 completed and one downloading"
	else
		sleep 2	# past the hysteresis
		tmux -S "$sock" capture-pane -p >"$T/cap1"
		r1=$(check_panes "$T/cap1")
		sleep 1.2
		tmux -S "$sock" capture-pane -p >"$T/cap2"
		r2=$(check_panes "$T/cap2")
		# at 160x45 there is room for all twenty: Completed must show them
		# (a fixed quarter of the screen hid half of them, by Active's
		# empty rows)
		if [ "$size" = 160x45 ] && [ "${r1#ok all 20 shown}" = "$r1" ]; then
			r1="Completed should show all 20 at $size: $r1"
		fi
		case $r1 in ok*) t_pass "layout $size: Active has no empty rows while Completed hides rows ($r1)" ;;
		*) t_fail "layout $size: Active has no empty rows while Completed hides rows" "$r1" ;; esac
		[ "$r1" = "$r2" ] && t_pass "layout $size: heights steady a second later" ||
			t_fail "layout $size: heights steady a second later" "$r1 then $r2"
	fi
	tmux -S "$sock" kill-server 2>/dev/null
done
t_summary
