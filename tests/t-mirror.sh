#!/usr/bin/env bash
# t-mirror.sh - pulls through a real pull-through cache: a second
# docker-registry in proxy: mode (its remote the test registry, behind a
# fault proxy "UP" that counts the upstream's bytes), with a fault proxy
# "MF" in front of it (the mirror as pulltop sees it: it counts what the
# mirror served, and can fail one blob). The mirror is configured through
# each source in turn - --mirror, hosts.toml (--hosts-dir), registries.conf
# ($CONTAINERS_REGISTRIES_CONF) and daemon.json ($PULLTOP_DAEMON_JSON, for
# docker.io only: a docker.io/library/ image the mirror can serve, so
# Docker Hub itself is never asked) - and checked for: the first pull
# fills the cache; the same images into another store cost the upstream
# 0 bytes, and work with the upstream stopped; a mirror that is down, or
# that answers 404 for one blob, falls back with an event for just that;
# a mirror behind Basic auth gets its own credentials and never --creds;
# ratelimit-* headers show in the dashboard header; a 429
# toomanyrequests is one line and one request.
set -u
. "$(dirname "$0")/lib.sh"
# the interpreter itself, not a version manager's shim: this test asks the
# proxies for their counts often, and a shim costs a second a call on a
# busy machine
T_PYTHON=$("$T_PYTHON" -c 'import sys; print(sys.executable)' 2>/dev/null || echo "$T_PYTHON")
T=${TMPDIR_TEST:-$(t_tmpdir)}
P=$PULLTOP
: "${FIXTURES:?FIXTURES is not set (run through tests/run.sh)}"

mkdir -p "$T/empty"
: >"$T/none.conf"
export PULLTOP_HOSTS_DIR=$T/empty
export CONTAINERS_REGISTRIES_CONF=$T/none.conf
export PULLTOP_DAEMON_JSON=$T/empty/daemon.json

# fault proxies by address: FP_stats ADDR, FP_set ADDR JSON, FP_reset ADDR
fp_stats() { curl -fsS -m 10 "http://$1/__stats"; }
fp_set() { curl -fsS -m 10 -X POST --data-binary "$2" "http://$1/__fault" >/dev/null; }
fp_reset() { curl -fsS -m 10 -X POST "http://$1/__reset" >/dev/null; }
ubytes() { fp_stats "$UP" | json_get 'd["blob_bytes"]'; }

proxy_start || { t_fail "upstream proxy starts" "see its log"; exit 1; }
UP=$PROXY UP_PID=$PROXY_PID UP_PORT=$PROXY_PORT

# the cache: docker-registry in proxy mode, its remote the upstream proxy
MDIR=$(t_tmpdir)/mirror
t_cleanup_push "$T_LIB_DIR/registry.sh" stop "$MDIR"
if ! MIRROR=$(REGISTRY_PROXY_URL=http://$UP "$T_LIB_DIR/registry.sh" start "$MDIR"); then
	t_fail "pull-through cache starts" "$(tail -n 5 "$MDIR/registry.log" 2>/dev/null)"
	exit 1
fi
proxy_start --upstream "$MIRROR" || { t_fail "mirror proxy starts" "see its log"; exit 1; }
MF=$PROXY

# layer digests of test/multi:v1, from the fixtures' description
LAYERS=$(json_get '" ".join(l["digest"] for i in d["images"] if i["name"] == "test/multi" for l in i["layers"])' "$FIXTURES")
ONE=$(echo "$LAYERS" | awk '{print $2}')
ONE_SHORT=${ONE#sha256:}
ONE_SHORT=${ONE_SHORT:0:12}

pull() {	# NAME ARGS...: pulltop into a store of its own; sets rc
	local name=$1
	shift
	rm -rf "$T/s-$name"
	timeout 60 "$P" --store "$T/s-$name" --progress=plain --retries 2 \
	    --retry-delay 0.2 "$@" >"$T/$name.out" 2>"$T/$name.err"
	rc=$?
}

# from_mirror NAME: pulled, verified, every layer byte from MF and the
# summary line says so, nothing from the registry itself, no fallback
from_mirror() {
	local name=$1 why=""
	[ "$rc" -eq 0 ] || why="rc=$rc $(tail -n 2 "$T/$name.err")"
	[ -z "$why" ] && ! store_rehash "$T/s-$name" >/dev/null && why="store does not verify"
	[ -z "$why" ] && ! grep -Eq "^Bytes from $MF \(mirror\): .* \([1-9][0-9]*\)$" "$T/$name.out" &&
	    why="no 'Bytes from $MF (mirror)' line"
	[ -z "$why" ] && grep -q "^Bytes from $UP" "$T/$name.out" && why="bytes from the registry too"
	[ -z "$why" ] && grep -q "failed (" "$T/$name.out" && why="a fallback: $(grep 'failed (' "$T/$name.out" | head -1)"
	echo "$why"
}

# ---------------------------------------------------------------- --mirror
fp_reset "$UP"
fp_reset "$MF"
pull first --mirror "$UP=http://$MF" "$UP/test/multi:v1"
why=$(from_mirror first)
ub=$(ubytes)
if [ -z "$why" ] && [ "$ub" -gt 0 ]; then
	t_pass "--mirror: first pull through the cache fills it ($ub upstream bytes)"
else
	t_fail "--mirror: first pull through the cache fills it" "$why; upstream bytes $ub"
fi
# containerd's encoding: url.QueryEscape, so the colon is %3A
ns=$(fp_stats "$MF" | json_get 'sum(1 for r in d["requests"] if r["path"].endswith("?ns='"${UP/:/%3A}"'"))')
other=$(fp_stats "$MF" | json_get 'sum(1 for r in d["requests"] if "?ns=" not in r["path"])')
if [ "$ns" -gt 0 ] && [ "$other" -eq 0 ]; then
	t_pass "--mirror: every request to the mirror carries ?ns=${UP/:/%3A} ($ns)"
else
	t_fail "--mirror: every request to the mirror carries ?ns=$UP" "with: $ns, without: $other"
fi

fp_reset "$UP"
pull second --mirror "$UP=http://$MF" "$UP/test/multi:v1"
why=$(from_mirror second)
ub=$(ubytes)
if [ -z "$why" ] && [ "$ub" -eq 0 ]; then
	t_pass "--mirror: the same image into another store: 0 upstream bytes"
else
	t_fail "--mirror: the same image into another store: 0 upstream bytes" "$why; upstream bytes $ub"
fi

# the upstream stopped: the cache alone serves tag and blobs
t_kill_pid "$UP_PID"
pull stopped --mirror "$UP=http://$MF" "$UP/test/multi:v1"
why=$(from_mirror stopped)
if [ -z "$why" ]; then
	t_pass "--mirror: upstream stopped, the pull succeeds from the cache"
else
	t_fail "--mirror: upstream stopped, the pull succeeds from the cache" "$why"
fi
proxy_start --upstream "$REGISTRY" --port "$UP_PORT" ||
    { t_fail "upstream proxy restarts on $UP_PORT" "see its log"; exit 1; }
UP_PID=$PROXY_PID

# JSON: each layer line names its endpoint; the end, the bytes of each
fp_reset "$MF"
rm -rf "$T/s-json"
timeout 60 "$P" --store "$T/s-json" --progress=json --mirror "$UP=http://$MF" \
    "$UP/test/multi:v1" >"$T/json.out" 2>"$T/json.err"
rc=$?
got=$("$T_PYTHON" - "$T/json.out" "$MF" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
dl = [l for l in lines if l.get("status") == "Downloading"]
ends = [l for l in lines if l.get("status", "").startswith("Bytes from")]
ok = dl and all(l.get("endpoint") == sys.argv[2] for l in dl) and \
    len(ends) == 1 and ends[0]["endpoint"] == sys.argv[2] and ends[0]["mirror"] \
    and ends[0]["bytes"] > 0
print("ok" if ok else "downloading %d, endpoints %s, ends %s" % (
    len(dl), sorted(set(str(l.get("endpoint")) for l in dl)), ends))
EOF
)
mfb=$(fp_stats "$MF" | json_get 'd["blob_bytes"]')
if [ "$rc" -eq 0 ] && [ "$got" = ok ] && grep -q "\"bytes\":$mfb," "$T/json.out"; then
	t_pass "JSON: an endpoint field on each layer line, and the bytes it served ($mfb)"
else
	t_fail "JSON: an endpoint field on each layer line, and the bytes it served" "rc=$rc $got; mirror proxy counted $mfb"
fi

# ---------------------------------------------------------- hosts.toml
mkdir -p "$T/hosts/$UP"
cat >"$T/hosts/$UP/hosts.toml" <<EOF
server = "http://$UP"

[host."http://$MF"]
  capabilities = ["pull", "resolve"]
EOF
fp_reset "$UP"
pull hosts --hosts-dir "$T/hosts" "$UP/test/multi:v1"
why=$(from_mirror hosts)
ub=$(ubytes)
if [ -z "$why" ] && [ "$ub" -eq 0 ]; then
	t_pass "hosts.toml (--hosts-dir): served by the cache, 0 upstream bytes"
else
	t_fail "hosts.toml (--hosts-dir): served by the cache, 0 upstream bytes" "$why; upstream bytes $ub"
fi

# ----------------------------------------------------- registries.conf
cat >"$T/mirror.conf" <<EOF
[[registry]]
prefix = "$UP"
location = "$UP"

[[registry.mirror]]
location = "$MF"
EOF
fp_reset "$UP"
CONTAINERS_REGISTRIES_CONF=$T/mirror.conf pull regconf "$UP/test/multi:v1"
why=$(from_mirror regconf)
ub=$(ubytes)
if [ -z "$why" ] && [ "$ub" -eq 0 ]; then
	t_pass "registries.conf: served by the cache, 0 upstream bytes"
else
	t_fail "registries.conf: served by the cache, 0 upstream bytes" "$why; upstream bytes $ub"
fi

# ---------------------------------------------------------- daemon.json
# docker.io only: give the upstream a library/ repository (blobs mounted
# from test/docker) that the cache fetches for docker.io/library/...
"$T_PYTHON" - "$REGISTRY" <<'EOF' || t_fail "daemon.json: library/pulltop-mirror made" "see stderr"
import http.client, json, sys
c = http.client.HTTPConnection(sys.argv[1], timeout=20)
mt = "application/vnd.docker.distribution.manifest.v2+json"
c.request("GET", "/v2/test/docker/manifests/v1", headers={"Accept": mt})
r = c.getresponse(); body = r.read()
m = json.loads(body)
for b in [m["config"]] + m["layers"]:
    c.request("POST", "/v2/library/pulltop-mirror/blobs/uploads/?mount=%s&from=test/docker" % b["digest"])
    r = c.getresponse(); r.read()
    assert r.status == 201, r.status
c.request("PUT", "/v2/library/pulltop-mirror/manifests/v1", body=body,
          headers={"Content-Type": r.getheader("Content-Type") or m["mediaType"]})
r = c.getresponse(); r.read()
assert r.status == 201, r.status
EOF
printf '{"registry-mirrors": ["http://%s"]}\n' "$MF" >"$T/daemon.json"
fp_reset "$MF"
PULLTOP_DAEMON_JSON=$T/daemon.json pull daemon pulltop-mirror:v1
why=$(from_mirror daemon)
noreg=$(fp_stats "$MF" | json_get 'sum(1 for r in d["requests"] if "library/pulltop-mirror" in r["path"] and "?ns=" not in r["path"])')
if [ -z "$why" ] && [ "$noreg" -gt 0 ]; then
	t_pass "daemon.json: docker.io/library/pulltop-mirror:v1 served by the cache alone (no ns, as docker)"
else
	t_fail "daemon.json: docker.io/library/pulltop-mirror:v1 served by the cache alone" "$why; requests to the mirror without ns: $noreg"
fi

# ------------------------------------------------------------ fallbacks
dead=$(free_port)
pull down --mirror "$UP=http://127.0.0.1:$dead" "$UP/test/multi:v1"
if [ "$rc" -eq 0 ] && store_rehash "$T/s-down" >/dev/null &&
    grep -q "mirror 127.0.0.1:$dead failed (.*); trying $UP" "$T/down.out" &&
    grep -Eq "^Bytes from $UP: .* \([1-9][0-9]*\)$" "$T/down.out" &&
    ! grep -q "^Bytes from 127.0.0.1:$dead.*([1-9]" "$T/down.out"; then
	t_pass "mirror down: falls back to the registry, with an event"
else
	t_fail "mirror down: falls back to the registry, with an event" "rc=$rc $(grep -E 'failed|Bytes' "$T/down.out" | head -3 | tr '\n' ' ') $(tail -n 2 "$T/down.err")"
fi
# the manifest found it down: the config and every layer skip it (one
# event for the image, not one per blob)
nfb=$(grep -c "mirror 127.0.0.1:$dead failed" "$T/down.out")
if [ "$nfb" -eq 1 ] &&
    grep -q "mirror 127.0.0.1:$dead failed (.*; not asked again for 30 s); trying $UP" "$T/down.out"; then
	t_pass "mirror down: asked once, then left alone for 30 s"
else
	t_fail "mirror down: asked once, then left alone for 30 s" "$nfb fallback events: $(grep "127.0.0.1:$dead failed" "$T/down.out" | head -2 | tr '\n' ' ')"
fi

fp_set "$MF" "{\"status\": 404, \"only\": \"${ONE#sha256:}\"}"
fp_reset "$MF"
fp_reset "$UP"
pull one404 --mirror "$UP=http://$MF" "$UP/test/multi:v1"
fp_set "$MF" '{}'
upd=$(fp_stats "$UP" | json_get '" ".join(sorted(d["blob_bytes_by_digest"]))')
mfd=$(fp_stats "$MF" | json_get 'len(d["blob_bytes_by_digest"])')
nev=$(grep -c "failed (" "$T/one404.out")
if [ "$rc" -eq 0 ] && store_rehash "$T/s-one404" >/dev/null && [ "$upd" = "$ONE" ] &&
    [ "$mfd" -ge 3 ] && [ "$nev" -eq 1 ] &&
    grep -q "^$ONE_SHORT: mirror $MF failed (.*404.*); trying $UP" "$T/one404.out"; then
	t_pass "mirror 404 for one blob: that blob from the registry (one event), the rest from the mirror"
else
	t_fail "mirror 404 for one blob: that blob falls back, the rest stay" "rc=$rc upstream digests: '$upd' want '$ONE'; mirror digests $mfd; events $nev: $(grep 'failed (' "$T/one404.out" | head -2 | tr '\n' ' ')"
fi

# ---------------------------------------------------------- credentials
# the mirror behind Basic auth (its own front); --creds are the registry's
proxy_start --upstream "$MIRROR" --basic-auth mir:mirpw ||
    { t_fail "auth front starts" "see its log"; exit 1; }
MA=$PROXY
mkdir -p "$T/dockercfg"
printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$MA" "$(printf 'mir:mirpw' | base64)" \
    >"$T/dockercfg/config.json"
DOCKER_CONFIG=$T/dockercfg pull creds --creds up:uppw --mirror "$UP=http://$MA" "$UP/test/multi:v1"
users=$(fp_stats "$MA" | json_get '" ".join(sorted(set(str(a.get("user")) for a in d["auth_requests"])))')
if [ "$rc" -eq 0 ] && [ "$users" = mir ] && grep -Eq "^Bytes from $MA \(mirror\): .* \([1-9][0-9]*\)$" "$T/creds.out" &&
    ! grep -q "failed (" "$T/creds.out"; then
	t_pass "credentials: the mirror gets its own (config.json), never --creds"
else
	t_fail "credentials: the mirror gets its own, never --creds" "rc=$rc users at the mirror: '$users'; $(grep -E 'failed|Bytes' "$T/creds.out" | head -3 | tr '\n' ' ') $(tail -n 2 "$T/creds.err")"
fi

# ---------------------------------------------------------- rate limits
# limited NAME FAULT REGEX PASS-TEXT FAIL-TEXT: a manifest 429 from the
# upstream: exit 1, one stderr line matching REGEX, and one request
limited() {
	local nreq
	fp_set "$UP" "$2"
	fp_reset "$UP"
	pull "$1" --retries 5 "$UP/test/docker:v1"
	fp_set "$UP" '{}'
	nreq=$(fp_stats "$UP" | json_get 'd["manifest_requests"]')
	if [ "$rc" -eq 1 ] && [ "$(wc -l <"$T/$1.err")" -eq 1 ] && [ "$nreq" -eq 1 ] &&
	    grep -q "$3" "$T/$1.err"; then
		t_pass "$4"
	else
		t_fail "$5" "rc=$rc manifest requests $nreq; stderr: $(head -c 400 "$T/$1.err")"
	fi
}

# 429 toomanyrequests for the manifest: one line, when, and one request
limited limited '{"manifest_status": 429, "ratelimit": "100;w=21600"}' \
    "toomanyrequests: $UP's pull rate limit (100 per 6h) is used up; the window allows this pull again in at most 6h (by [0-2][0-9]:[0-5][0-9] UTC)$" \
    "429 toomanyrequests: one line saying when, one request (no retry storm)" \
    "429 toomanyrequests: one line saying when, one request"

# with Retry-After (and no ratelimit headers): that is when
limited limited2 '{"manifest_status": 429, "retry_after": "90"}' \
    "toomanyrequests: $UP's pull rate limit is used up; the window allows this pull again in 2m (by [0-2][0-9]:[0-5][0-9] UTC)$" \
    "429 toomanyrequests with Retry-After: 90: 'again in 2m', one request" \
    "429 toomanyrequests with Retry-After"

# the header shows ratelimit-* when the registry sends them, else nothing
if command -v tmux >/dev/null 2>&1; then
	tmux_server pulltop-mirror-$$
	cap() { tm capture-pane -p -t "$1"; }
	dash() {	# NAME: pull test/docker:v1 in a dashboard; LAST: the screen once done
		local i cmd
		printf -v cmd '%q ' env PULLTOP_HOSTS_DIR="$PULLTOP_HOSTS_DIR" \
		    CONTAINERS_REGISTRIES_CONF="$CONTAINERS_REGISTRIES_CONF" \
		    PULLTOP_DAEMON_JSON="$PULLTOP_DAEMON_JSON" \
		    "$P" --store "$T/s-$1" "$UP/test/docker:v1"
		rm -rf "$T/s-$1"
		tm new-session -d -s "$1" -x 120 -y 30 "$cmd"
		for ((i = 0; i < 100; i++)); do
			LAST=$(cap "$1")
			grep -q "ETA done" <<<"$LAST" && return 0
			sleep 0.2
		done
		return 1
	}
	# the Active row and the detail view name the mirror serving a blob
	fp_set "$MF" '{"rate": 150000}'
	printf -v cmd '%q ' env PULLTOP_HOSTS_DIR="$PULLTOP_HOSTS_DIR" \
	    CONTAINERS_REGISTRIES_CONF="$CONTAINERS_REGISTRIES_CONF" \
	    PULLTOP_DAEMON_JSON="$PULLTOP_DAEMON_JSON" \
	    "$P" --store "$T/s-act" --jobs 1 --mirror "$UP=http://$MF" "$UP/test/multi:v1"
	tm new-session -d -s act -x 120 -y 30 "$cmd"
	row="" det=""
	for ((i = 0; i < 50; i++)); do
		LAST=$(cap act)
		row=$(grep -E "Downloading +$MF" <<<"$LAST") && break
		sleep 0.2
	done
	if [ -n "$row" ]; then
		tm send-keys -t act Tab
		tm send-keys -t act Enter
		for ((i = 0; i < 25; i++)); do
			det=$(cap act | grep -E "Endpoint +$MF \(mirror\)") && break
			sleep 0.2
		done
	fi
	fp_set "$MF" '{}'
	if [ -n "$row" ] && [ -n "$det" ]; then
		t_pass "dashboard: the Active row and the detail view name the mirror serving the blob"
	else
		t_fail "dashboard: the Active row and the detail view name the mirror" "row: '$row' detail: '$det' screen: $(head -n 12 <<<"$LAST" | tr '\n' '|')"
	fi
	tm send-keys -t act q
	fp_set "$UP" '{"ratelimit": "100;w=21600"}'
	fp_reset "$UP"
	dash rl
	fp_set "$UP" '{}'
	if grep -Eq "$UP 9[0-9]/100 per 6h" <<<"$LAST"; then
		t_pass "dashboard header: $(grep -Eo "$UP [0-9]+/100 per 6h" <<<"$LAST")"
	else
		t_fail "dashboard header shows the rate limit" "screen: $(head -n 4 <<<"$LAST" | tr '\n' '|')"
	fi
	tm send-keys -t rl q
	dash norl
	if grep -q "ETA done" <<<"$LAST" && ! grep -q "/100 per" <<<"$LAST" &&
	    ! grep -Eq "$UP [0-9]+/[0-9]+" <<<"$LAST"; then
		t_pass "dashboard header: no ratelimit headers, no limit shown"
	else
		t_fail "dashboard header: no ratelimit headers, no limit shown" "screen: $(head -n 4 <<<"$LAST" | tr '\n' '|')"
	fi
	tm send-keys -t norl q
else
	t_skip "dashboard header shows the rate limit" "tmux is not installed"
fi

t_summary
