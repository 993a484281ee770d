#!/usr/bin/env bash
# t-mirrorconf.sh - the mirror configuration is read before anything is
# pulled: a bad hosts.toml or registries.conf is one line naming the file
# and line, exit 2, and not one request reaches the registry (the fault
# proxy in front of it counts them); a reference that registries.conf
# blocks fails with one line (exit 1) while the others of the run are
# pulled; a good configuration does not stop a pull. The machine's own
# files are kept out: every source points into this test's folder.
set -u
. "$(dirname "$0")/lib.sh"
T=${TMPDIR_TEST:-$(t_tmpdir)}
P=$PULLTOP
proxy_start || { t_fail "the proxy starts" "see its log"; exit 1; }

mkdir -p "$T/hosts" "$T/empty"
: >"$T/none.conf"
export PULLTOP_HOSTS_DIR=$T/empty
export CONTAINERS_REGISTRIES_CONF=$T/none.conf
export PULLTOP_DAEMON_JSON=$T/empty/daemon.json

requests() { proxy_stats | json_get 'd["requests_total"]'; }

pull() {	# NAME ARGS...: pulltop into a store of its own; sets rc
	local name=$1
	shift
	rm -rf "$T/s-$name"
	timeout 60 "$P" --store "$T/s-$name" --progress=plain --retries 1 \
	    "$@" >"$T/$name.out" 2>"$T/$name.err"
	rc=$?
}

# NAME WANT_RC WANT_LINE: rc, stderr exactly WANT_LINE, no request, no store
refused() {
	local name=$1 want_rc=$2 want=$3 got n
	got=$(cat "$T/$name.err")
	n=$(requests)
	if [ "$rc" -eq "$want_rc" ] && [ "$got" = "$want" ] && [ "$n" -eq 0 ] &&
	    [ ! -s "$T/$name.out" ] && [ ! -e "$T/s-$name" ]; then
		t_pass "$name: exit $want_rc, one line, nothing asked of the registry"
	else
		t_fail "$name: exit $want_rc, one line, nothing asked of the registry" \
		    "rc=$rc requests=$n store=$([ -e "$T/s-$name" ] && echo made || echo none)" \
		    "stderr: $got; want: $want"
	fi
}

# A hosts.toml that is not TOML: --hosts-dir names its folder.
mkdir -p "$T/hosts/$PROXY"
printf 'server = "http://%s"\n\n[host."http://127.0.0.1:1"]\ncapabilities ["pull"]\n' \
    "$PROXY" >"$T/hosts/$PROXY/hosts.toml"
proxy_reset
pull badhosts --hosts-dir "$T/hosts" "$PROXY/test/multi:v1"
refused badhosts 2 "pulltop: $T/hosts/$PROXY/hosts.toml:4: expected '=' after key"

# TOML that says something wrong, found through $PULLTOP_HOSTS_DIR and the
# HOST_PORT_ folder containerd looks in first.
rm -rf "$T/hosts/$PROXY"
mkdir -p "$T/hosts/${PROXY%:*}_${PROXY##*:}_"
printf '[host."http://%s"]\n  capabilities = ["pull", "fetch"]\n' "$PROXY" \
    >"$T/hosts/${PROXY%:*}_${PROXY##*:}_/hosts.toml"
proxy_reset
PULLTOP_HOSTS_DIR=$T/hosts pull badcaps "$PROXY/test/multi:v1"
refused badcaps 2 "pulltop: $T/hosts/${PROXY%:*}_${PROXY##*:}_/hosts.toml:2: capabilities: unknown capability 'fetch' (pull, resolve, push)"

# A registries.conf that is not TOML, and one that says something wrong.
printf '# mirrors\n[[registry]\nlocation = "%s"\n' "$PROXY" >"$T/bad1.conf"
proxy_reset
CONTAINERS_REGISTRIES_CONF=$T/bad1.conf pull badconf "$PROXY/test/multi:v1"
refused badconf 2 "pulltop: $T/bad1.conf:2: expected ']]' after the table name"
printf '[[registry]]\nlocation = "http://%s"\n' "$PROXY" >"$T/bad2.conf"
proxy_reset
CONTAINERS_REGISTRIES_CONF=$T/bad2.conf pull badloc "$PROXY/test/shared:v1"
refused badloc 2 "pulltop: $T/bad2.conf:1: invalid location 'http://$PROXY': URI schemes are not supported"

# --mirror that is not REGISTRY=URL is a usage error like any other.
proxy_reset
pull badflag --mirror "$PROXY" "$PROXY/test/multi:v1"
if [ "$rc" -eq 2 ] && grep -qx "pulltop: --mirror: expected REGISTRY=URL" "$T/badflag.err" &&
    [ "$(requests)" -eq 0 ]; then
	t_pass "--mirror without '=': usage error before any request"
else
	t_fail "--mirror without '=': usage error before any request" \
	    "rc=$rc $(head -n 2 "$T/badflag.err")"
fi

# blocked = true for one repository: that image fails with one line and
# is never asked for; the other image of the run is pulled.
printf '[[registry]]\nprefix = "%s/test/multi"\nlocation = "%s/test/multi"\nblocked = true\n' \
    "$PROXY" "$PROXY" >"$T/blocked.conf"
proxy_reset
CONTAINERS_REGISTRIES_CONF=$T/blocked.conf pull blocked \
    "$PROXY/test/multi:v1" "$PROXY/test/shared:v1"
want="pulltop: $PROXY/test/multi:v1: registry $PROXY/test/multi is blocked in $T/blocked.conf:1"
asked=$(proxy_stats | json_get 'sum(1 for r in d["requests"] if "/test/multi/" in r["path"])')
shared=$(proxy_stats | json_get 'sum(1 for r in d["requests"] if "/test/shared/" in r["path"])')
lines=$(grep -c '^pulltop: ' "$T/blocked.err")
if [ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] && grep -qxF "$want" "$T/blocked.err" &&
    [ "$asked" -eq 0 ] && [ "$shared" -gt 0 ]; then
	t_pass "blocked = true: exit 1, one line, never asked for; the other image pulled"
else
	t_fail "blocked = true: exit 1, one line, never asked for; the other image pulled" \
	    "rc=$rc lines=$lines multi requests=$asked shared requests=$shared" \
	    "stderr: $(cat "$T/blocked.err")"
fi
if grep -q "org.opencontainers.image.ref.name\": *\"$PROXY/test/shared:v1\"" "$T/s-blocked/index.json" 2>/dev/null &&
    ! grep -q "test/multi" "$T/s-blocked/index.json" && store_rehash "$T/s-blocked" >/dev/null; then
	t_pass "blocked = true: the store holds the other image only, every blob re-hashes"
else
	t_fail "blocked = true: the store holds the other image only, every blob re-hashes" \
	    "$(head -c 300 "$T/s-blocked/index.json" 2>&1)"
fi
proxy_reset
CONTAINERS_REGISTRIES_CONF=$T/blocked.conf pull allblocked "$PROXY/test/multi:v1"
refused allblocked 1 "$want"

# Good files in every source do not stop a pull.
mkdir -p "$T/good/$PROXY"
printf 'server = "http://%s"\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n  [host."http://%s".header]\n    x-pulltop-test = ["a", "b"]\n' \
    "$PROXY" "$PROXY" "$PROXY" >"$T/good/$PROXY/hosts.toml"
printf '[[registry]]\nprefix = "%s/test"\nlocation = "%s/test"\n[[registry.mirror]]\nlocation = "127.0.0.1:1/test"\npull-from-mirror = "digest-only"\n' \
    "$PROXY" "$PROXY" >"$T/good.conf"
printf '{"registry-mirrors": ["https://mirror.invalid"]}\n' >"$T/daemon.json"
proxy_reset
CONTAINERS_REGISTRIES_CONF=$T/good.conf PULLTOP_DAEMON_JSON=$T/daemon.json \
    pull good --hosts-dir "$T/good" "$PROXY/test/multi:v1"
if [ "$rc" -eq 0 ] && [ ! -s "$T/good.err" ] && store_rehash "$T/s-good" >/dev/null; then
	t_pass "good hosts.toml, registries.conf and daemon.json: the pull completes"
else
	t_fail "good hosts.toml, registries.conf and daemon.json: the pull completes" \
	    "rc=$rc $(tail -n 2 "$T/good.err")"
fi
