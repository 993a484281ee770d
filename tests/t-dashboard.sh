#!/bin/bash
# tests/t-dashboard.sh -- the dashboard driven the way a user drives it: in
# tmux (a private server), keys sent with send-keys, the screen read back
# with capture-pane.  Run by the runner as `bash tests/t-dashboard.sh` with
#   PULLTOP      the binary
#   REG          127.0.0.1:PORT of a registry with the `test` fixtures
#   TMPDIR_TEST  a scratch directory
# Every check prints one line: PASS name / FAIL name: detail.  Waits poll
# the screen (every 0.2 s, bounded) instead of sleeping fixed times.
#
# Sessions:
#   A  UTF-8, colour, 120x40: big:v1 at 500K/s with --jobs 2.  Panes, +,
#      Tab c (one layer), c and r on the image, Active -> Completed, a (add
#      multi:v1), ?, resizing, q (all done: no question) and the summary.
#   C  LANG=C: ASCII only; q asks while pulling, n returns, q y quits.
#   D  NO_COLOR=1: no colour sequences at all.
#   E  TERM=dumb: plain lines instead of the dashboard.

. "$(dirname "$0")/lib.sh"

: "${PULLTOP:?PULLTOP is not set}" "${REG:?REG is not set}"
: "${TMPDIR_TEST:=$(t_tmpdir)}"
case $PULLTOP in /*) ;; *) PULLTOP=$PWD/$PULLTOP ;; esac

if ! command -v tmux >/dev/null 2>&1; then
    for n in panes jobs-plus cancel-layer cancel-image retry-image \
        active-to-completed add-image help resize quit-summary ascii \
        quit-ask no-color dumb-fallback; do
        t_skip "dashboard-$n" "tmux is not installed"
    done
    exit 0
fi

tmux_server pulltop-test-$$

# start NAME COLS LINES ENV... -- ARGS...: pulltop in a new session; a
# wrapper shell records its exit status in $TMPDIR_TEST/NAME.status (tmux
# can be slow to notice a dead pane on a loaded machine)
start() {
    local name=$1 cols=$2 lines=$3 envs=() cmd
    shift 3
    while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    rm -f "$TMPDIR_TEST/$name.status"
    printf -v cmd '%q ' sh -c '"$@"; echo $? >"$0"' \
        "$TMPDIR_TEST/$name.status" env "${envs[@]}" "$PULLTOP" "$@"
    tm new-session -d -s "$name" -x "$cols" -y "$lines" "$cmd"
}

# the screen; with HISTORY=1 the lines scrolled off it too
cap() { tm capture-pane -p ${HISTORY:+-S -} -t "$1"; }
cap_all() { tm capture-pane -p -S - -t "$1"; }
keys() { tm send-keys -t "$@"; }
# dead SESSION: pulltop has exited; dead_status: with what status
dead() { [ -s "$TMPDIR_TEST/$1.status" ]; }
dead_status() { cat "$TMPDIR_TEST/$1.status" 2>/dev/null; }
# wait_dead SESSION [SECS]
wait_dead() {
    local n=$((${2:-10} * 5)) i
    for ((i = 0; i < n; i++)); do
        dead "$1" && return 0
        sleep 0.2
    done
    return 1
}

# wait_screen SESSION ERE [SECS]: until the screen matches; LAST holds it
wait_screen() {
    local s=$1 re=$2 n=$((${3:-15} * 5)) i
    for ((i = 0; i < n; i++)); do
        LAST=$(cap "$s")
        grep -Eq -- "$re" <<<"$LAST" && return 0
        sleep 0.2
    done
    return 1
}

# wait_gone SESSION ERE [SECS]: until the screen no longer matches
wait_gone() {
    local s=$1 re=$2 n=$((${3:-15} * 5)) i
    for ((i = 0; i < n; i++)); do
        LAST=$(cap "$s")
        grep -Eq -- "$re" <<<"$LAST" || return 0
        sleep 0.2
    done
    return 1
}

# section NAME: the rows of one pane from a capture on stdin: the lines
# under its title, up to the next title.  (Completed shares its lines with
# Already exists, on the right: anchor patterns for Completed at ^.)
section() {
    LC_ALL=C awk -v name="$1" '
        /^(\342\224\200|-) (Images|Active|Completed|Events) \(/ {
            if (on)
                exit
            t = $0
            sub(/^(\342\224\200|-) /, "", t)
            if (index(t, name " (") == 1) {
                on = 1
                next
            }
        }
        on { print }'
}

# in_section NAME ERE: does the pane on the last screen have a matching row?
in_section() { section "$1" <<<"$LAST" | grep -Eq -- "$2"; }

# wait_section SESSION NAME ERE [SECS]
wait_section() {
    local s=$1 name=$2 re=$3 n=$((${4:-15} * 5)) i
    for ((i = 0; i < n; i++)); do
        LAST=$(cap "$s")
        in_section "$name" "$re" && return 0
        sleep 0.2
    done
    return 1
}

# partials STORE: "digest:size ..." of the downloads in progress
partials() {
    (cd "$1/ingest" 2>/dev/null && stat -c '%n:%s' -- *.partial 2>/dev/null) |
        sed 's/\.partial:/:/' | sort | tr '\n' ' '
}

# wait_stopped STORE [SECS]: partial files present and unchanged for 1.5 s
wait_stopped() {
    local store=$1 n=$((${2:-15} * 2)) i same=0 prev cur
    prev=$(partials "$store")
    for ((i = 0; i < n; i++)); do
        sleep 0.5
        cur=$(partials "$store")
        if [ -n "$cur" ] && [ "$cur" = "$prev" ]; then
            same=$((same + 1))
            [ $same -ge 3 ] && { STOPPED=$cur; return 0; }
        else
            same=0
        fi
        prev=$cur
    done
    STOPPED=$cur
    return 1
}

# widest: the longest line on stdin, in characters
widest() {
    "$T_PYTHON" -c 'import sys
print(max(len(l) for l in sys.stdin.buffer.read().decode("utf-8", "replace").split("\n")))'
}

screen_tail() { tail -n "${2:-3}" <<<"$1" | tr -s ' '; }

############################################################ session A
SA=$TMPDIR_TEST/dash-a
rm -rf "$SA"
start A 120 40 LC_ALL="$UTF8" LANG="$UTF8" -- --store "$SA" --progress=tty \
    --jobs 2 --limit-rate 500K "$REG/test/big:v1"

# the panes, their titles, the header and the key bar
if wait_section A Images 'test/big:v1 .*Downloading [0-9]+/3 layers' 15 &&
    wait_section A Active 'Downloading' 10; then
    miss=
    for t in 'Images \(' 'Active \(' 'Completed \(' 'Already exists \(' \
        'Events \(' 'pulltop +images' 'layers [0-9]+/[0-9]+' \
        'F1/\? Help +c Cancel +r Retry +R Retry all +a Add +\+/- Jobs +/ Filter +q Quit'; do
        grep -Eq -- "$t" <<<"$LAST" || miss="$miss '$t'"
    done
    if [ -z "$miss" ]; then
        t_pass dashboard-panes
    else
        t_fail dashboard-panes "missing:$miss: $(head -n 8 <<<"$LAST")"
    fi
else
    t_fail dashboard-panes "big:v1 not Downloading: $(head -n 12 <<<"$LAST")"
fi
COLOUR_A=$(tm capture-pane -p -e -t A)

# + raises the concurrency: 2 -> 3, shown in the header
keys A +
if wait_screen A 'jobs 3( |$)' 5; then
    t_pass dashboard-jobs-plus
else
    t_fail dashboard-jobs-plus "header: $(head -n 1 <<<"$LAST")"
fi

# Tab, c: the first Active row (a layer of big:v1) is cancelled, alone
wait_section A Active '^ *[0-9a-f]{12} +Downloading' 10
LAYER=$(section Active <<<"$LAST" | grep -Eo '^ *[0-9a-f]{12} ' | head -n 1 |
    tr -d ' ')
keys A Tab
sleep 0.3
keys A c
if [ -n "$LAYER" ] && wait_section A Active "^ *$LAYER +Cancelled" 8; then
    if in_section Active '^ *[0-9a-f]{12} +(Downloading|Waiting)'; then
        t_pass dashboard-cancel-layer
    else
        t_fail dashboard-cancel-layer "every layer stopped, not just $LAYER: $(section Active <<<"$LAST" | head -n 4)"
    fi
else
    t_fail dashboard-cancel-layer "layer '${LAYER:-none}' not shown Cancelled: $(section Active <<<"$LAST" | head -n 4)"
fi

# Shift-Tab back to Images, c: the image is cancelled and bytes stop
keys A BTab
sleep 0.3
keys A c
if wait_section A Images 'test/big:v1 .*Cancelled' 5; then
    if wait_stopped "$SA" 10; then
        t_pass dashboard-cancel-image
    elif [ -z "$STOPPED" ]; then
        t_fail dashboard-cancel-image "the downloads ran on to completion after the cancel (no partial left in $SA/ingest)"
    else
        t_fail dashboard-cancel-image "partials still growing 10 s after the cancel: $STOPPED"
    fi
else
    t_fail dashboard-cancel-image "Images row not Cancelled: $(section Images <<<"$LAST")"
fi
DIGESTS=$(partials "$SA" | tr ' ' '\n' | sed -n 's/:.*//p')

# r: the image is retried, resumes and completes; its blobs are in the store
keys A r
if wait_section A Images 'test/big:v1 .*Complete sha256:[0-9a-f]{12}' 25; then
    miss=
    for d in $DIGESTS; do
        [ -s "$SA/blobs/sha256/$d" ] || miss="$miss $d"
    done
    left=$(partials "$SA")
    if [ -n "$miss" ]; then
        t_fail dashboard-retry-image "blobs missing from the store:$miss"
    elif [ -n "$left" ]; then
        t_fail dashboard-retry-image "partials left behind: $left"
    elif ! bad=$(store_rehash "$SA"); then
        t_fail dashboard-retry-image "store does not verify: $bad"
    else
        t_pass dashboard-retry-image
    fi
else
    t_fail dashboard-retry-image "big:v1 not Complete: $(section Images <<<"$LAST") / $(section Active <<<"$LAST" | head -n 4)"
fi

# the layer seen in Active is now in Completed (and gone from Active)
if [ -n "$LAYER" ] && wait_section A Completed "^ *$LAYER " 5 &&
    ! in_section Active "^ *$LAYER "; then
    t_pass dashboard-active-to-completed
else
    t_fail dashboard-active-to-completed "layer '${LAYER:-none}' not moved: Completed: $(section Completed <<<"$LAST" | head -n 4)"
fi

# a, a reference, Enter: the image is added, shown, pulled
keys A a
if wait_screen A '^Add image:' 5; then
    keys A -l "$REG/test/multi:v1"
    sleep 0.2
    keys A Enter
    if wait_section A Images 'test/multi:v1' 10 &&
        wait_section A Images 'test/multi:v1 .*Complete sha256:' 20; then
        t_pass dashboard-add-image
    else
        t_fail dashboard-add-image "multi:v1 not pulled: $(section Images <<<"$LAST") $(section Events <<<"$LAST" | tail -n 3)"
    fi
else
    t_fail dashboard-add-image "no prompt: $(screen_tail "$LAST" 1)"
fi

# ?: the help lists every key; Escape closes it
keys A '?'
if wait_screen A 'Esc or q closes' 5; then
    miss=
    for k in 'Up/Down j/k' 'PgUp/PgDn' 'Home/End' 'Tab/S-Tab' 'Enter ' \
        ' c +cancel' ' r +retry' ' R +retry everything' ' a +add an image' \
        '\+ / - ' ' / +filter' 'F1 / \?' ' q +quit'; do
        grep -Eq -- "$k" <<<"$LAST" || miss="$miss '$k'"
    done
    keys A Escape
    sleep 0.3
    if [ -n "$miss" ]; then
        t_fail dashboard-help "keys not listed:$miss"
    elif ! wait_gone A 'Esc or q closes' 5; then
        t_fail dashboard-help "Escape did not close the help"
    else
        t_pass dashboard-help
    fi
else
    t_fail dashboard-help "no help box: $(head -n 20 <<<"$LAST" | tail -n 10)"
fi

# resizing: smaller, too small, back; alive and redrawn each time
r_detail=
tm resize-window -t A -x 60 -y 15
if ! wait_screen A 'Images \(' 5 || ! grep -q 'pulltop' <<<"$LAST" ||
    [ "$(wc -l <<<"$LAST")" -gt 15 ] ||
    [ "$(widest <<<"$LAST")" -gt 60 ]; then
    r_detail="60x15: $(head -n 5 <<<"$LAST")"
fi
tm resize-window -t A -x 20 -y 5
if [ -z "$r_detail" ] && ! wait_screen A 'too small' 5; then
    r_detail="20x5: $LAST"
fi
tm resize-window -t A -x 120 -y 40
if [ -z "$r_detail" ] && ! { wait_screen A 'Already exists \(' 5 &&
    grep -q 'Events (' <<<"$LAST" && ! grep -q 'too small' <<<"$LAST"; }; then
    r_detail="back to 120x40: $(head -n 5 <<<"$LAST")"
fi
if [ -z "$r_detail" ] && dead A; then
    r_detail="pulltop exited"
fi
if [ -z "$r_detail" ]; then
    t_pass dashboard-resize
else
    t_fail dashboard-resize "$r_detail"
fi

# q with everything final quits at once; the summary is on the normal screen
line_re="^$REG/test/big:v1 +Complete +sha256:[0-9a-f]{12} +[0-9.]+ [kMG]?B +[0-9][0-9.hms]*"
line_re2="^$REG/test/multi:v1 +Complete +sha256:[0-9a-f]{12} +[0-9.]+ [kMG]?B +[0-9][0-9.hms]*"
keys A q
if ! wait_dead A 10; then
    t_fail dashboard-quit-summary "still running 10 s after q: $(screen_tail "$(cap_all A)")"
elif [ "$(dead_status A)" != 0 ]; then
    t_fail dashboard-quit-summary "exit status $(dead_status A), want 0: $(screen_tail "$(cap_all A)")"
elif ! HISTORY=1 wait_screen A "$line_re" 5 || ! grep -Eq -- "$line_re2" <<<"$LAST"; then
    t_fail dashboard-quit-summary "no summary lines: $(grep -v '^ *$' <<<"$LAST" | tail -n 4)"
elif grep -q 'Images (' <<<"$LAST"; then
    t_fail dashboard-quit-summary "dashboard left on the normal screen"
else
    t_pass dashboard-quit-summary
fi

############################################################ session C
SC=$TMPDIR_TEST/dash-c
rm -rf "$SC"
start C 120 40 LANG=C LC_ALL=C -- --store "$SC" --progress=tty \
    --limit-rate 1M "$REG/test/big:v1"
if wait_section C Active 'Downloading +big:v1 +#' 15; then
    high=$(LC_ALL=C tr -d '\000-\177' <<<"$LAST" | wc -c)
    if [ "$high" -ne 0 ]; then
        t_fail dashboard-ascii "$high bytes >= 0x80 on a LANG=C screen"
    elif ! grep -q '^- Images (' <<<"$LAST" || ! grep -q '#' <<<"$LAST"; then
        t_fail dashboard-ascii "no ASCII rules or bars: $(head -n 8 <<<"$LAST")"
    else
        t_pass dashboard-ascii
    fi
else
    t_fail dashboard-ascii "no dashboard: $(head -n 8 <<<"$LAST")"
fi

# q asks while pulling; n returns; q, y quits and cancels
q_detail=
keys C q
if ! wait_screen C 'Quit\? Pulls are still running \(y/n\)' 5; then
    q_detail="no question after q: $(head -n 22 <<<"$LAST" | tail -n 5)"
else
    keys C n
    if ! wait_gone C 'Quit\?' 5 || dead C; then
        q_detail="n did not return to the dashboard"
    else
        keys C q
        if ! wait_screen C 'Quit\? Pulls' 5; then
            q_detail="no question the second time"
        else
            keys C y
            HISTORY=1 wait_screen C "^$REG/test/big:v1 +Cancelled" 10 ||
                q_detail="no Cancelled summary line after y: $(grep -v '^ *$' <<<"$LAST" | tail -n 3)"
            if [ -z "$q_detail" ] && ! wait_dead C 10; then
                q_detail="still running 10 s after y"
            elif [ -z "$q_detail" ] && [ "$(dead_status C)" != 1 ]; then
                q_detail="exit status $(dead_status C), want 1"
            fi
        fi
    fi
fi
if [ -z "$q_detail" ]; then
    t_pass dashboard-quit-ask
else
    t_fail dashboard-quit-ask "$q_detail"
fi

############################################################ session D
SD=$TMPDIR_TEST/dash-d
rm -rf "$SD"
start D 120 40 LC_ALL="$UTF8" LANG="$UTF8" NO_COLOR=1 -- --store "$SD" \
    --progress=tty --limit-rate 1M "$REG/test/big:v1"
if wait_section D Active 'Downloading' 15; then
    tm send-keys -t D Tab        # a focused title and a selected row too
    sleep 0.5
    # SGR parameters that set a colour: 30-38, 40-48, 90-97, 100-107
    colour_re=$'\e\\[([0-9;]*;)?(3[0-8]|4[0-8]|9[0-7]|10[0-7])(;[0-9;]*)?m'
    E_D=$(tm capture-pane -p -e -t D)
    if ! grep -Eq -- "$colour_re" <<<"$COLOUR_A"; then
        t_fail dashboard-no-color "control: the colour session shows no colour either"
    elif grep -Eq -- "$colour_re" <<<"$E_D"; then
        t_fail dashboard-no-color "colour with NO_COLOR=1: $(grep -Eo -- "$colour_re" <<<"$E_D" | sort -u | head -n 3 | cat -v | tr '\n' ' ')"
    elif ! grep -q $'\e\\[[0-9;]*7m' <<<"$E_D"; then
        t_fail dashboard-no-color "no reverse video either: selection invisible"
    else
        t_pass dashboard-no-color
    fi
else
    t_fail dashboard-no-color "no dashboard: $(head -n 8 <<<"$LAST")"
fi
tm kill-session -t D

############################################################ session E
SE=$TMPDIR_TEST/dash-e
rm -rf "$SE"
start E 120 40 TERM=dumb -- --store "$SE" "$REG/test/multi:v1"
if HISTORY=1 wait_screen E 'Pulling from' 15 && ! grep -q 'Images (' <<<"$LAST"; then
    t_pass dashboard-dumb-fallback
else
    t_fail dashboard-dumb-fallback "$(head -n 5 <<<"$LAST")"
fi

t_summary
