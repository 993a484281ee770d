#!/bin/bash
# Start/stop a throw-away Docker distribution registry on 127.0.0.1.
#
#   tests/registry.sh start DIR   -> prints 127.0.0.1:PORT
#       storage in DIR/storage, config DIR/config.yml, log DIR/registry.log,
#       DIR/port and DIR/pid written once GET /v2/ answers 200 (timeout 20 s,
#       override with REGISTRY_TIMEOUT).  On any failure the registry is
#       killed and the exit status is non-zero.
#   tests/registry.sh stop DIR    -> kills exactly the pid in DIR/pid and
#       waits for it to exit (SIGTERM, then SIGKILL after 10 s).
#   tests/registry.sh status DIR  -> exit 0 if that registry is running.
#
# The binary is $REGISTRY_BIN (default: docker-registry from PATH).
# REGISTRY_PROXY_URL=http://HOST:PORT makes it a pull-through cache of that
# registry (distribution's proxy: mode), with REGISTRY_PROXY_USER and
# REGISTRY_PROXY_PASSWORD as the credentials it sends there, if set.

set -u

die() { echo "registry.sh: $*" >&2; exit 1; }

usage() { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# alive PID: running and not a zombie (the registry outlives registry.sh
# start, so its parent is whoever reaps orphans -- possibly slowly)
alive() {
    local st
    kill -0 "$1" 2>/dev/null || return 1
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ "$st" != Z ]
}

# is_ours PID DIR: the pid is alive and is the registry started with DIR's config
is_ours() {
    local pid=$1 dir=$2 cmd
    [ -n "$pid" ] && alive "$pid" || return 1
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    case "$cmd" in
        *"$dir/config.yml"*) return 0 ;;
    esac
    return 1
}

kill_wait() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 200); do
        alive "$pid" || return 0
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null
    for i in $(seq 1 100); do
        alive "$pid" || return 0
        sleep 0.05
    done
    return 1
}

write_config() {
    local dir=$1 port=$2
    cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
  formatter: text
  accesslog:
    disabled: true
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: pulltop-test-secret
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
EOF
    if [ -n "${REGISTRY_PROXY_URL:-}" ]; then
        printf 'proxy:\n  remoteurl: %s\n' "$REGISTRY_PROXY_URL" >>"$dir/config.yml"
        if [ -n "${REGISTRY_PROXY_USER:-}" ]; then
            printf '  username: %s\n  password: %s\n' "$REGISTRY_PROXY_USER" \
                "${REGISTRY_PROXY_PASSWORD:-}" >>"$dir/config.yml"
        fi
    fi
}

cmd_start() {
    local dir=$1 bin=${REGISTRY_BIN:-docker-registry} timeout=${REGISTRY_TIMEOUT:-20}
    command -v "$bin" >/dev/null 2>&1 || die "$bin not found"
    mkdir -p "$dir" || die "cannot create $dir"
    dir=$(cd "$dir" && pwd) || die "bad dir $dir"
    if [ -f "$dir/pid" ] && is_ours "$(cat "$dir/pid")" "$dir"; then
        die "a registry is already running for $dir (pid $(cat "$dir/pid"))"
    fi
    rm -f "$dir/pid" "$dir/port"
    mkdir -p "$dir/storage" || die "cannot create $dir/storage"

    local attempt port pid code deadline
    for attempt in 1 2 3; do
        port=$(free_port) || die "cannot find a free port"
        write_config "$dir" "$port"
        # own process group is not needed: docker-registry does not fork.
        "$bin" serve "$dir/config.yml" </dev/null >>"$dir/registry.log" 2>&1 &
        pid=$!
        # make sure we never leave it behind if we die before the handover
        trap 'kill -KILL '"$pid"' 2>/dev/null; wait '"$pid"' 2>/dev/null' EXIT
        trap 'exit 130' INT TERM
        deadline=$(( $(date +%s) + timeout ))
        while :; do
            if ! kill -0 "$pid" 2>/dev/null; then
                wait "$pid" 2>/dev/null
                break       # died (port taken?): retry with another port
            fi
            code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/v2/" 2>/dev/null)
            if [ "$code" = 200 ]; then
                echo "$port" >"$dir/port.tmp" && mv "$dir/port.tmp" "$dir/port"
                echo "$pid" >"$dir/pid.tmp" && mv "$dir/pid.tmp" "$dir/pid"
                trap - EXIT INT TERM
                echo "127.0.0.1:$port"
                return 0
            fi
            if [ "$(date +%s)" -ge "$deadline" ]; then
                kill_wait "$pid"
                wait "$pid" 2>/dev/null
                trap - EXIT
                echo "registry.sh: registry did not answer on 127.0.0.1:$port within ${timeout}s; log:" >&2
                tail -n 20 "$dir/registry.log" >&2
                return 1
            fi
            sleep 0.1
        done
        trap - EXIT
        echo "registry.sh: registry exited during start-up (attempt $attempt)" >&2
    done
    tail -n 20 "$dir/registry.log" >&2
    return 1
}

cmd_stop() {
    local dir=$1 pid
    [ -f "$dir/pid" ] || return 0
    dir=$(cd "$dir" && pwd)
    pid=$(cat "$dir/pid")
    if is_ours "$pid" "$dir"; then
        kill_wait "$pid" || die "pid $pid did not exit"
    fi
    rm -f "$dir/pid"
    return 0
}

cmd_status() {
    local dir=$1
    [ -f "$dir/pid" ] || return 1
    dir=$(cd "$dir" && pwd)
    is_ours "$(cat "$dir/pid")" "$dir"
}

[ $# -eq 2 ] || usage
case "$1" in
    start) cmd_start "$2" ;;
    stop) cmd_stop "$2" ;;
    status) cmd_status "$2" ;;
    *) usage ;;
esac
