# tests/lib.sh -- helpers for pulltop's shell tests.  Source it from bash:
#
#     . "$(dirname "$0")/lib.sh"
#
# Reporting (each prints exactly one line on stdout):
#   t_pass NAME                 "PASS NAME"
#   t_fail NAME DETAIL...       "FAIL NAME: DETAIL" (newlines in DETAIL folded)
#   t_check NAME CMD [ARG...]   run CMD (output captured to a temp file);
#                               PASS if it exits 0, else FAIL with the exit
#                               status and the last lines of its output.
#   t_skip NAME REASON          "SKIP NAME: REASON"
#   t_pass/t_fail/t_skip return 0 (safe under `set -e`); t_check returns
#   its verdict (0/1) so `if t_check ...` works -- under `set -e` write
#   `t_check ... || true` if later checks must still run.
#   t_summary                   prints "# N passed, M failed" on stderr,
#                               returns 1 if anything failed.
#   Counters: T_PASSED, T_FAILED, T_SKIPPED.
#
# Cleanup: lib.sh owns the EXIT trap (INT/TERM exit through it).  Do not set
# your own EXIT trap; push commands instead:
#   t_cleanup_push CMD [ARG...] run at exit, last pushed first
#   t_track_pid PID             at exit: SIGTERM PID, SIGKILL after 5 s
#   t_kill_pid PID              do that now
#   t_alive PID                 PID is running (and not a zombie)
#   t_tmpdir                    prints a fresh temp dir removed at exit
#                               (call as d=$(t_tmpdir); it is registered
#                               in the parent shell via a marker file)
# Nothing is ever killed by name, only by the PIDs recorded here.
#
# Services (call these directly, NOT inside $(...): they set variables):
#   registry_start              start a registry (tests/registry.sh) in a temp
#                               dir; sets REGISTRY=127.0.0.1:PORT, REGISTRY_PORT,
#                               REGISTRY_DIR.  Stopped at exit.
#   registry_stop [DIR]         stop it now (default $REGISTRY_DIR).
#   proxy_start [ARGS...]       start tests/faultproxy.py (adds --upstream
#                               $REGISTRY unless ARGS has --upstream); sets
#                               PROXY=127.0.0.1:PORT, PROXY_PORT, PROXY_PID.
#   proxy_stop                  stop it (by pid).
#   proxy_set JSON              POST /__fault (replace the fault config)
#   proxy_reset                 POST /__reset (zero the stats)
#   proxy_stats                 GET /__stats (JSON on stdout)
#   json_get EXPR [FILE]        evaluate python EXPR on the JSON document in
#                               FILE or stdin, bound to `d`: e.g.
#                               proxy_stats | json_get 'd["blob_bytes"]'
#   fixtures_push SET [OUT]     python3 tests/fixtures.py --registry $REGISTRY
#                               --out OUT SET (stdout: NAME:TAG DIGEST lines)
#
# Checks:
#   store_rehash DIR...         every file in DIR/blobs/sha256/ hashes to its
#                               name; prints offenders; status 0 if all good.
#   json_lines_valid FILE       every line of FILE parses as JSON.
#   free_port                   prints a free TCP port on 127.0.0.1.
#   wait_for_file FILE [SECS]   wait until FILE exists and is non-empty.

T_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
T_ROOT=$(cd "$T_LIB_DIR/.." && pwd)
T_PASSED=${T_PASSED:-0}
T_FAILED=${T_FAILED:-0}
T_SKIPPED=${T_SKIPPED:-0}
T_CLEANUP=()
# pyenv's python3 is a shim that runs bash scripts to pick a version at
# every start (about a second of CPU): resolve it once, and put the real
# interpreter's folder first so that every test's python3 starts directly
if [ -z "${T_PYTHON_DIR+x}" ]; then
    T_PYTHON_DIR=$(python3 -c 'import os, sys; print(os.path.dirname(sys.executable))' 2>/dev/null) || T_PYTHON_DIR=
    if [ -n "$T_PYTHON_DIR" ] && [ -x "$T_PYTHON_DIR/python3" ] &&
        [ "$(command -v python3)" != "$T_PYTHON_DIR/python3" ]; then
        PATH=$T_PYTHON_DIR:$PATH
    fi
    export PATH T_PYTHON_DIR
fi
T_PYTHON=${T_PYTHON:-python3}
# directory for lib.sh's own bookkeeping (temp dirs made in subshells)
T_STATE=$(mktemp -d "${TMPDIR:-/tmp}/pulltop-t.XXXXXX")

# ---------------------------------------------------------------- reporting

_t_oneline() {
    # fold newlines/tabs, trim, cap the length
    local s
    s=$(printf '%s' "$*" | tr '\n\t\r' '   ' | sed 's/  */ /g; s/^ //; s/ $//')
    if [ ${#s} -gt 400 ]; then s="${s:0:397}..."; fi
    printf '%s' "$s"
}

t_pass() {
    T_PASSED=$((T_PASSED + 1))
    printf 'PASS %s\n' "$(_t_oneline "$1")"
    return 0
}

t_fail() {
    local name=$1
    shift
    T_FAILED=$((T_FAILED + 1))
    printf 'FAIL %s: %s\n' "$(_t_oneline "$name")" "$(_t_oneline "${*:-failed}")"
    return 0
}

t_skip() {
    local name=$1
    shift
    T_SKIPPED=$((T_SKIPPED + 1))
    printf 'SKIP %s: %s\n' "$(_t_oneline "$name")" "$(_t_oneline "${*:-skipped}")"
    return 0
}

t_check() {
    local name=$1 out rc
    shift
    out=$(mktemp "$T_STATE/check.XXXXXX")
    if "$@" >"$out" 2>&1; then
        rm -f "$out"
        t_pass "$name"
        return 0
    else
        rc=$?
        if [ -s "$out" ]; then
            t_fail "$name" "exit $rc: $(tail -n 3 "$out")"
        else
            t_fail "$name" "exit $rc (no output)"
        fi
        rm -f "$out"
        return 1
    fi
}

t_summary() {
    echo "# $T_PASSED passed, $T_FAILED failed, $T_SKIPPED skipped" >&2
    [ "$T_FAILED" -eq 0 ]
}

# ----------------------------------------------------------------- cleanup

t_cleanup_push() {
    local q
    printf -v q '%q ' "$@"
    T_CLEANUP+=("$q")
}

# t_alive PID: running and not a zombie
t_alive() {
    local st
    kill -0 "$1" 2>/dev/null || return 1
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ "$st" != Z ]
}

t_kill_pid() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    for ((i = 0; i < 100; i++)); do
        t_alive "$pid" || break
        sleep 0.05
    done
    if t_alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    return 0
}

t_track_pid() {
    t_cleanup_push t_kill_pid "$1"
}

# _t_watchdog PID: a tiny background loop that SIGTERMs PID if this test
# shell disappears without running its EXIT trap (e.g. SIGKILL); it ends by
# itself as soon as PID is gone, and is itself stopped at cleanup.
_t_watchdog() {
    local target=$1 parent=$$
    (
        trap '' INT
        while kill -0 "$parent" 2>/dev/null && kill -0 "$target" 2>/dev/null; do
            sleep 1
        done
        kill -0 "$parent" 2>/dev/null || kill -TERM "$target" 2>/dev/null
    ) </dev/null >/dev/null 2>&1 &
    t_track_pid $!
}

t_tmpdir() {
    local d
    d=$(mktemp -d "${TMPDIR:-/tmp}/pulltop-test.XXXXXX") || return 1
    # may run in a $(...) subshell: record it in a file the parent reads at exit
    echo "$d" >>"$T_STATE/tmpdirs"
    echo "$d"
}

_t_cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    for ((i = ${#T_CLEANUP[@]} - 1; i >= 0; i--)); do
        eval "${T_CLEANUP[$i]}" >/dev/null 2>&1 || true
    done
    T_CLEANUP=()
    if [ -f "$T_STATE/tmpdirs" ] && [ -z "${T_KEEP:-}" ]; then
        while IFS= read -r d; do
            case "$d" in
                "${TMPDIR:-/tmp}"/pulltop-test.*) rm -rf -- "$d" ;;
            esac
        done <"$T_STATE/tmpdirs"
    fi
    rm -rf -- "$T_STATE"
    exit "$rc"
}

t_cleanup_now() {
    # run the cleanup stack without exiting (e.g. between test groups)
    local i
    for ((i = ${#T_CLEANUP[@]} - 1; i >= 0; i--)); do
        eval "${T_CLEANUP[$i]}" >/dev/null 2>&1 || true
    done
    T_CLEANUP=()
}

trap _t_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------- utils

free_port() {
    "$T_PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

wait_for_file() {
    local f=$1 secs=${2:-10} i
    for ((i = 0; i < secs * 20; i++)); do
        [ -s "$f" ] && return 0
        sleep 0.05
    done
    return 1
}

json_get() {
    local expr=$1 file=${2:--}
    "$T_PYTHON" -c '
import json, sys
src = sys.argv[2]
d = json.load(sys.stdin if src == "-" else open(src))
v = eval(sys.argv[1], {"d": d, "len": len, "sum": sum, "sorted": sorted})
print(v if isinstance(v, str) else json.dumps(v))
' "$expr" "$file"
}

json_lines_valid() {
    "$T_PYTHON" - "$1" <<'EOF'
import json, sys
path = sys.argv[1]
bad = 0
n = 0
try:
    f = open(path, "rb")
except OSError as e:
    print("%s: %s" % (path, e))
    sys.exit(1)
with f:
    for n, line in enumerate(f, 1):
        try:
            json.loads(line.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            bad += 1
            if bad <= 5:
                print("%s:%d: %s: %r" % (path, n, e, line[:120]))
if bad:
    print("%s: %d of %d lines are not valid JSON" % (path, bad, n))
sys.exit(1 if bad else 0)
EOF
}

store_rehash() {
    "$T_PYTHON" - "$@" <<'EOF'
import hashlib, os, re, sys
bad = 0
for top in [os.path.join(d, "blobs", "sha256") for d in sys.argv[1:]]:
    if not os.path.isdir(top):
        print("%s: not a directory" % top)
        bad += 1
        continue
    for name in sorted(os.listdir(top)):
        p = os.path.join(top, name)
        if not os.path.isfile(p) or os.path.islink(p):
            print("%s: not a regular file" % p)
            bad += 1
            continue
        if not re.fullmatch(r"[0-9a-f]{64}", name):
            print("%s: name is not a sha256 hex digest" % p)
            bad += 1
            continue
        h = hashlib.sha256()
        with open(p, "rb") as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                h.update(b)
        if h.hexdigest() != name:
            print("%s: content hashes to %s" % (p, h.hexdigest()))
            bad += 1
sys.exit(1 if bad else 0)
EOF
}

# ---------------------------------------------------------------- registry

registry_start() {
    local dir addr
    dir=$(mktemp -d "${TMPDIR:-/tmp}/pulltop-registry.XXXXXX") || return 1
    # push the cleanup first: registry.sh kills its own process on failure
    t_cleanup_push rm -rf -- "$dir"
    t_cleanup_push "$T_LIB_DIR/registry.sh" stop "$dir"
    if ! addr=$("$T_LIB_DIR/registry.sh" start "$dir"); then
        echo "registry_start: failed" >&2
        return 1
    fi
    _t_watchdog "$(cat "$dir/pid")"
    REGISTRY=$addr
    REGISTRY_PORT=${addr##*:}
    REGISTRY_DIR=$dir
    export REGISTRY REGISTRY_PORT REGISTRY_DIR
}

registry_stop() {
    local dir=${1:-${REGISTRY_DIR:-}}
    [ -n "$dir" ] || return 0
    "$T_LIB_DIR/registry.sh" stop "$dir"
}

fixtures_push() {
    local set=$1 out=${2:-}
    "$T_PYTHON" "$T_LIB_DIR/fixtures.py" --registry "$REGISTRY" -q \
        ${out:+--out "$out"} "$set"
}

# ------------------------------------------------------------------- proxy

proxy_start() {
    local dir args=("$@") a have_up=
    for a in "${args[@]}"; do
        if [ "$a" = --upstream ]; then have_up=1; fi
    done
    if [ -z "$have_up" ]; then
        [ -n "${REGISTRY:-}" ] || { echo "proxy_start: no REGISTRY" >&2; return 1; }
        args+=(--upstream "$REGISTRY")
    fi
    dir=$(mktemp -d "$T_STATE/proxy.XXXXXX")
    "$T_PYTHON" "$T_LIB_DIR/faultproxy.py" --port 0 --portfile "$dir/port" \
        --pidfile "$dir/pid" "${args[@]}" </dev/null >"$dir/out" 2>"$dir/log" &
    PROXY_PID=$!
    t_track_pid "$PROXY_PID"
    if ! wait_for_file "$dir/port" 10; then
        echo "proxy_start: proxy did not come up: $(tail -n 5 "$dir/log")" >&2
        t_kill_pid "$PROXY_PID"
        PROXY_PID=
        return 1
    fi
    _t_watchdog "$PROXY_PID"
    PROXY_PORT=$(cat "$dir/port")
    PROXY=127.0.0.1:$PROXY_PORT
    PROXY_LOG=$dir/log
    export PROXY PROXY_PORT PROXY_PID PROXY_LOG
}

proxy_stop() {
    [ -n "${PROXY_PID:-}" ] || return 0
    t_kill_pid "$PROXY_PID"
    PROXY_PID=
}

proxy_set() {
    local body=${1:-}
    [ -n "$body" ] || body='{}'
    curl -fsS -m 10 -X POST -H 'Content-Type: application/json' \
        --data-binary "$body" "http://$PROXY/__fault" >/dev/null
}

proxy_reset() {
    curl -fsS -m 10 -X POST "http://$PROXY/__reset" >/dev/null
}

proxy_stats() {
    curl -fsS -m 10 "http://$PROXY/__stats"
}

# ------------------------------------------------------------------- tmux

# tmux_server SOCK: a private tmux server for the terminal tests, stopped at
# exit, with a session that keeps it up, panes that stay after their
# command ends, and UTF8 set to a UTF-8 locale this machine has.
# tm ARGS...: tmux on that server.
tmux_server() {
    local l
    TM_SOCK=$1
    UTF8=C.UTF-8
    for l in C.UTF-8 C.utf8 en_US.UTF-8 en_US.utf8; do
        if locale -a 2>/dev/null | grep -qix "$l"; then UTF8=$l; break; fi
    done
    t_cleanup_push tmux -L "$TM_SOCK" kill-server
    tm new-session -d -s keep -x 80 -y 24 "sleep 600"
    tm set-option -g remain-on-exit on
    tm set-option -g history-limit 5000
}

tm() { LC_ALL=$UTF8 tmux -L "$TM_SOCK" -f /dev/null "$@"; }

# ----------------------------------------------------------------- dockerd

# dockerd_start DIR: a private dockerd on DIR/sock (and DK_EXTRA's
# listeners); DK_PID. 0 once it answers /_ping.
dockerd_start() {
	local d=$1 i
	mkdir -p "$d"
	[ -f "$d/daemon.json" ] || echo '{}' >"$d/daemon.json"
	dockerd --config-file "$d/daemon.json" --data-root "$d/data" \
	    --exec-root "$d/exec" --pidfile "$d/pid" -H "unix://$d/sock" \
	    --iptables=false --bridge=none --storage-driver vfs \
	    ${DK_EXTRA[@]+"${DK_EXTRA[@]}"} </dev/null >>"$d/log" 2>&1 &
	DK_PID=$!
	t_cleanup_push dockerd_stop "$d" "$DK_PID"
	_t_watchdog "$DK_PID"
	for ((i = 0; i < 150; i++)); do
		curl -fsS -m 2 --unix-socket "$d/sock" http://d/_ping \
		    >/dev/null 2>&1 && return 0
		t_alive "$DK_PID" || return 1
		sleep 0.2
	done
	return 1
}

# dockerd_stop DIR PID: TERM; then its containerd, if left, by its pid
dockerd_stop() {
	local d=$1 pid=$2 c i
	c=$(cat "$d/exec/containerd/containerd.pid" 2>/dev/null)
	rm -f "$d/exec/containerd/containerd.pid"
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 150; i++)); do
		t_alive "$pid" || break
		sleep 0.1
	done
	t_alive "$pid" && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	# only the containerd it started, still running
	[ -n "$c" ] && [ "$(cat "/proc/$c/comm" 2>/dev/null)" = containerd ] &&
	    t_kill_pid "$c"
	mountpoint -q "$d/data" 2>/dev/null && umount "$d/data"
	return 0
}

