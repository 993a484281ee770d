#!/bin/bash
# tests/t-themes.sh -- colour themes (pulltop-theme(5)): the shipped themes
# drawn in tmux and told apart by their colour sequences, the t key,
# NO_COLOR, broken and unknown themes, PULLTOP_THEME, $XDG_CONFIG_HOME,
# and `make install` / `make uninstall` into a temporary prefix.  Run by
# the runner as `bash tests/t-themes.sh` with PULLTOP, REG and TMPDIR_TEST.
# Every check prints one line: PASS name / FAIL name: detail.  Waits poll
# the screen (every 0.2 s, bounded).
#
# A screen's colour "signature" is the sorted set of SGR sequences on its
# first line (the header: normal, label, header roles) and its last (the
# key bar), as `tmux capture-pane -e` gives them, resets aside: stable
# while a pull moves, different from theme to theme.

. "$(dirname "$0")/lib.sh"

: "${PULLTOP:?PULLTOP is not set}" "${REG:?REG is not set}"
: "${TMPDIR_TEST:=$(t_tmpdir)}"
case $PULLTOP in /*) ;; *) PULLTOP=$PWD/$PULLTOP ;; esac
THEMES="default light high-contrast mono solarized-dark"

if ! command -v tmux >/dev/null 2>&1; then
    for n in draw distinct mono default-is-builtin 8-colours t-key no-color \
        broken unknown-name unknown-env pulltop-theme-env xdg install \
        uninstall; do
        t_skip "theme-$n" "tmux is not installed"
    done
    exit 0
fi

T=$TMPDIR_TEST/themes
rm -rf "$T"
mkdir -p "$T/xdg-empty" "$T/xdg/pulltop/themes"
IMAGE=$REG/test/multi:v1
tmux_server pulltop-themes-$$

# start NAME DIR ENV... -- BINARY ARGS...: run in DIR in a 120x40 session;
# the exit status lands in $T/NAME.status.  Colour is xterm-256 unless
# an ENV says otherwise; $XDG_CONFIG_HOME is empty unless one says so.
start() {
    local name=$1 dir=$2 envs=() cmd
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    rm -f "$T/$name.status"
    printf -v cmd '%q ' sh -c '"$@"; echo $? >"$0"' "$T/$name.status" \
        env -u NO_COLOR -u PULLTOP_THEME TERM=xterm-256color \
        XDG_CONFIG_HOME="$T/xdg-empty" LC_ALL="$UTF8" LANG="$UTF8" \
        "${envs[@]}" "$@"
    tm new-session -d -s "$name" -c "$dir" -x 120 -y 40 "$cmd"
}
# run NAME [DIR] [ENV...] -- ARGS: pulltop pulling $IMAGE into its own store
run() {
    local name=$1 dir=$T_ROOT envs=()
    shift
    case ${1:-} in /*) dir=$1; shift ;; esac
    while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    start "$name" "$dir" "${envs[@]}" -- "$PULLTOP" --store "$T/store-$name" \
        --progress=tty "$@" "$IMAGE"
}

cap() { tm capture-pane -p -t "$1"; }
cap_e() { tm capture-pane -p -e -t "$1"; }
cap_all() { tm capture-pane -p -S - -t "$1"; }
dead() { [ -s "$T/$1.status" ]; }
wait_dead() {
    local i
    for ((i = 0; i < ${2:-10} * 5; i++)); do
        dead "$1" && return 0
        sleep 0.2
    done
    return 1
}
# wait_screen SESSION ERE [SECS] (HISTORY=1: with the scrollback)
wait_screen() {
    local i
    for ((i = 0; i < ${3:-15} * 5; i++)); do
        if [ -n "${HISTORY:-}" ]; then LAST=$(cap_all "$1"); else LAST=$(cap "$1"); fi
        grep -Eq -- "$2" <<<"$LAST" && return 0
        sleep 0.2
    done
    return 1
}
# drawn SESSION: the dashboard is up, the pull complete, the key bar shown
drawn() {
    wait_screen "$1" 'test/multi:v1 .*Complete' 20 &&
        wait_screen "$1" 'q Quit.*t Theme' 5
}
# (resets left out: where tmux shows one depends on how curses cleared)
sgr() {
    grep -Eo $'\e\\[[0-9;:]*m' | grep -Ev $'^\e\\[(0|39|49)?m$' | sort -u |
        tr '\n' ' ' | cat -v
}
# signature SESSION: SGR sequences of the header and key bar lines
signature() {
    local s
    s=$(cap_e "$1")
    { head -n 1 <<<"$s"; tail -n 1 <<<"$s"; } | sgr
}
header_sig() { cap_e "$1" | head -n 1 | sgr; }
# SGR parameters that set a colour: 30-38, 40-48, 90-97, 100-107
colour_re=$'\e\\[([0-9;]*;)?(3[0-8]|4[0-8]|9[0-7]|10[0-7])([;:][0-9;:]*)?m'
has_colour() { grep -Eq -- "$colour_re"; }

# the five themes, a file path for default, the built-in default (from /,
# where no themes folder is found), and solarized on an 8-colour terminal
for th in $THEMES; do
    run "th-$th" -- --theme "$th"
done
run th-builtin / -- --theme default
run th-file -- --theme themes/default.theme
run th-8 TERM=screen -- --theme solarized-dark
run th-nocolor NO_COLOR=1 -- --theme solarized-dark
run th-env PULLTOP_THEME=light --
printf '# mine\nheader = colour201 default bold\nkeybar = colour16 colour214\n' \
    >"$T/xdg/pulltop/themes/mine.theme"
run th-xdg XDG_CONFIG_HOME="$T/xdg" -- --theme mine
cat >"$T/broken.theme" <<'EOF'
# a broken theme: lines 3, 4 and 5 are wrong, 6 unreadable, 7 is fine
header = colour46 default bold
nosuchrole = red default
label = notacolour default
this line is junk
selected = red red
keybar = colour16 colour226
EOF
run th-broken -- --theme "$T/broken.theme"

declare -A SIG
bad=
for th in $THEMES; do
    if drawn "th-$th"; then
        SIG[$th]=$(signature "th-$th")
        E=$(cap_e "th-$th")
        if [ "$th" = mono ]; then
            has_colour <<<"$E" && bad="$bad mono:colour"
        elif ! has_colour <<<"$E"; then
            bad="$bad $th:no-colour"
        fi
    else
        bad="$bad $th:not-drawn($(head -n 3 <<<"$LAST" | tr -s ' '))"
    fi
done
[ -z "$bad" ] && t_pass theme-draw || t_fail theme-draw "$bad"

# all five signatures differ
dup=
for a in $THEMES; do
    for b in $THEMES; do
        [[ $a < $b ]] || continue
        [ -n "${SIG[$a]:-}" ] && [ "${SIG[$a]}" = "${SIG[$b]:-}" ] &&
            dup="$dup $a=$b"
    done
done
[ -z "$dup" ] && [ ${#SIG[@]} -eq 5 ] && t_pass theme-distinct ||
    t_fail theme-distinct "same colours:$dup (${#SIG[@]} drawn)"

# mono: attributes only (reverse for the selection), no colour at all
E=$(cap_e th-mono)
if has_colour <<<"$E"; then
    t_fail theme-mono "colour sequences: $(grep -Eo -- "$colour_re" <<<"$E" | sort -u | head -n 3 | cat -v | tr '\n' ' ')"
elif ! grep -q $'\e\\[[0-9;]*7m' <<<"$E"; then
    t_fail theme-mono "no reverse video"
else
    t_pass theme-mono
fi

# default.theme draws exactly as the built-in default
if drawn th-builtin && drawn th-file; then
    b=$(signature th-builtin) f=$(signature th-file)
    if [ "$b" = "$f" ] && [ "$b" = "${SIG[default]:-}" ]; then
        t_pass theme-default-is-builtin
    else
        t_fail theme-default-is-builtin "built-in: $b / file: $f / by name: ${SIG[default]:-}"
    fi
else
    t_fail theme-default-is-builtin "not drawn: $(head -n 3 <<<"$LAST")"
fi

# 8 colours: solarized maps down to the basic colours, no 256 indexes
if drawn th-8; then
    E=$(cap_e th-8)
    if grep -q $'\e\\[[0-9;]*[34]8;5;' <<<"$E"; then
        t_fail theme-8-colours "256-colour sequences on TERM=screen"
    elif ! has_colour <<<"$E"; then
        t_fail theme-8-colours "no colour"
    else
        t_pass theme-8-colours
    fi
else
    t_fail theme-8-colours "not drawn: $(head -n 3 <<<"$LAST")"
fi

# NO_COLOR wins over --theme
if drawn th-nocolor; then
    E=$(cap_e th-nocolor)
    if has_colour <<<"$E"; then
        t_fail theme-no-color "colour with NO_COLOR=1: $(grep -Eo -- "$colour_re" <<<"$E" | sort -u | head -n 3 | cat -v | tr '\n' ' ')"
    elif ! grep -q $'\e\\[[0-9;]*7m' <<<"$E"; then
        t_fail theme-no-color "no reverse video: selection invisible"
    else
        t_pass theme-no-color
    fi
else
    t_fail theme-no-color "not drawn: $(head -n 3 <<<"$LAST")"
fi

# PULLTOP_THEME=light draws as --theme light
if drawn th-env && [ "$(signature th-env)" = "${SIG[light]:-}" ]; then
    t_pass theme-pulltop-theme-env
else
    t_fail theme-pulltop-theme-env "$(signature th-env) vs light ${SIG[light]:-}"
fi

# $XDG_CONFIG_HOME/pulltop/themes/mine.theme is found by name
if drawn th-xdg && header_sig th-xdg | grep -q '38;5;201'; then
    t_pass theme-xdg
else
    t_fail theme-xdg "header not in colour201: $(header_sig th-xdg)"
fi

# a broken theme: one warning per bad line naming file:line, in Events;
# the good lines still apply; on stderr once the dashboard is left
b_detail=
if ! drawn th-broken; then
    b_detail="not drawn: $(head -n 3 <<<"$LAST")"
else
    for re in 'broken\.theme:3: unknown role .nosuchrole.' \
        'broken\.theme:4: bad colour .notacolour.' \
        'broken\.theme:5: expected' 'broken\.theme:6: selected'; do
        grep -Eq -- "$re" <<<"$LAST" || b_detail="$b_detail no '$re' in Events;"
    done
    header_sig th-broken | grep -q '38;5;46' ||
        b_detail="$b_detail line 2 not applied: $(header_sig th-broken);"
    tm send-keys -t th-broken q
    if ! wait_dead th-broken 10; then
        b_detail="$b_detail still running after q;"
    elif ! HISTORY=1 wait_screen th-broken '^pulltop: theme: .*broken\.theme:3: unknown role' 5; then
        b_detail="$b_detail no warning on stderr after quitting: $(cap_all th-broken | grep -v '^ *$' | tail -n 3)"
    fi
fi
[ -z "$b_detail" ] && t_pass theme-broken || t_fail theme-broken "$b_detail"

# t cycles: default -> high-contrast -> light -> mono -> solarized-dark ->
# default, each named on the bottom line, the colours changing
t_detail=
before=$(header_sig th-default)
prev=$before
for next in high-contrast light mono solarized-dark default; do
    tm send-keys -t th-default t
    if ! wait_screen th-default "Theme: $next( |$)" 5; then
        t_detail="$t_detail no 'Theme: $next' after t: $(tail -n 1 <<<"$LAST");"
        break
    fi
    sleep 0.3
    now=$(header_sig th-default)
    [ "$now" = "$prev" ] && t_detail="$t_detail colours unchanged going to $next;"
    prev=$now
done
[ -z "$t_detail" ] && [ "$prev" != "$before" ] &&
    t_detail="back at default but colours differ: $prev vs $before"
grep -q 'theme high-contrast' <<<"$(cap th-default)" ||
    t_detail="$t_detail no event;"
[ -z "$t_detail" ] && t_pass theme-t-key || t_fail theme-t-key "$t_detail"

# an unknown name: one line naming it and the folders, exit 2, on the
# terminal before the dashboard (the screen stays usable)
start th-unknown "$T_ROOT" -- "$PULLTOP" --store "$T/store-u" --progress=tty \
    --theme nosuch "$IMAGE"
out=$("$PULLTOP" --store "$T/store-u" --theme nosuch "$IMAGE" 2>&1 >/dev/null)
rc=$?
u_detail=
[ $rc -eq 2 ] || u_detail="exit $rc, want 2;"
[ "$(wc -l <<<"$out")" -eq 1 ] || u_detail="$u_detail not one line: $out;"
grep -q "unknown theme 'nosuch'.*pulltop/themes" <<<"$out" ||
    u_detail="$u_detail unclear: $out;"
if ! wait_dead th-unknown 10 || [ "$(cat "$T/th-unknown.status")" != 2 ]; then
    u_detail="$u_detail under tmux: status $(cat "$T/th-unknown.status" 2>/dev/null);"
else
    # the line may wrap; with the scrollback, joined
    scr=$(cap_all th-unknown | tr -d '\n')
    if ! grep -q "unknown theme 'nosuch'" <<<"$scr" ||
        grep -q 'Images (' <<<"$scr"; then
        u_detail="$u_detail screen: $scr"
    fi
fi
[ -z "$u_detail" ] && t_pass theme-unknown-name || t_fail theme-unknown-name "$u_detail"
PULLTOP_THEME=nosuch2 "$PULLTOP" --store "$T/store-u" "$IMAGE" >/dev/null 2>"$T/env.err"
rc=$?
if [ $rc -eq 2 ] && grep -q "PULLTOP_THEME: unknown theme 'nosuch2'" "$T/env.err"; then
    t_pass theme-unknown-env
else
    t_fail theme-unknown-env "exit $rc: $(cat "$T/env.err")"
fi
for s in $(tm list-sessions -F '#{session_name}' | grep '^th-'); do
    tm kill-session -t "$s"
done

# make install into a temporary prefix; the installed binary, run from /,
# finds its themes; make uninstall removes every file.  -o pulltop: install
# the binary under test as it is, never rebuild the tree from a test (the
# objects would bake this temporary PREFIX in as their PULLTOP_DATADIR)
P=$T/prefix
if ! make -s -C "$T_ROOT" -o pulltop install PREFIX="$P" >"$T/install.out" 2>&1; then
    t_fail theme-install "make install: $(tail -n 3 "$T/install.out")"
    t_skip theme-uninstall "nothing installed"
else
    miss=
    for f in bin/pulltop share/man/man1/pulltop.1 share/man/man5/pulltop-theme.5; do
        [ -s "$P/$f" ] || miss="$miss $f"
    done
    for th in $THEMES; do
        [ -s "$P/share/pulltop/themes/$th.theme" ] || miss="$miss $th.theme"
    done
    start th-inst / -- "$P/bin/pulltop" --store "$T/store-inst" \
        --progress=tty --theme light "$IMAGE"
    if [ -n "$miss" ]; then
        t_fail theme-install "not installed:$miss"
    elif ! drawn th-inst; then
        t_fail theme-install "installed binary not drawn from /: $(cap_all th-inst | grep -v '^ *$' | head -n 3)"
    elif [ "$(signature th-inst)" != "${SIG[light]:-}" ]; then
        t_fail theme-install "not light's colours: $(signature th-inst) vs ${SIG[light]:-}"
    else
        t_pass theme-install
    fi
    tm kill-session -t th-inst
    if ! make -s -C "$T_ROOT" uninstall PREFIX="$P" >"$T/uninstall.out" 2>&1; then
        t_fail theme-uninstall "make uninstall: $(tail -n 3 "$T/uninstall.out")"
    elif left=$(find "$P" -type f 2>/dev/null) && [ -n "$left" ]; then
        t_fail theme-uninstall "left behind: $left"
    else
        t_pass theme-uninstall
    fi
fi

t_summary
