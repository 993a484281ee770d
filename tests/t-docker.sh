#!/usr/bin/env bash
# t-docker.sh - --via docker and --load docker against real engines this
# script starts and stops (by pid): a private dockerd (vfs storage, no
# bridge, no iptables, its data, exec root and socket in a temp folder)
# and a private `podman system service` (vfs, its own root, run root and
# tmp, a registries.conf that marks the test registry and proxy
# insecure). Both pull from the test registry ($REG), directly or through
# tests/faultproxy.py. Run by tests/run.sh with PULLTOP, REG, TMPDIR_TEST.
#
#   D  dockerd (also on tcp:// with TLS and a client certificate): two
#      images as JSON; the dashboard in tmux (Downloading and
#      Extracting rows with bytes, c stops the image, r starts it, the
#      engine stopped mid-pull fails it, r after it is back completes it);
#      X-Registry-Auth; the errors; --load docker and a re-load
#   P  podman's service: two images, and --load docker
set -u
. "$(dirname "$0")/lib.sh"
: "${PULLTOP:?PULLTOP is not set}" "${REG:?REG is not set}"
T=${TMPDIR_TEST:-$(t_tmpdir)}
case $PULLTOP in /*) P=$PULLTOP ;; *) P=$PWD/$PULLTOP ;; esac
IMG1=$REG/test/multi:v1
IMG2=$REG/test/shared:v1
chmod 755 "$T"

missing=
for c in dockerd podman tmux setpriv; do
	command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
done
if [ -n "$missing" ]; then
	t_fail docker-tools "not installed:$missing (make deps installs docker.io and podman)"
	exit 0
fi

# ------------------------------------------------------------- engines

# podman_start DIR: podman's Docker-compatible service on DIR/sock
podman_start() {
	local d=$1 i
	mkdir -p "$d/tmp"
	# one entry for each: printf repeats its format
	printf '[[registry]]\nlocation = "%s"\ninsecure = true\n' \
	    "$REG" "$PROXY" >"$d/registries.conf"
	CONTAINERS_REGISTRIES_CONF=$d/registries.conf TMPDIR=$d/tmp \
	    podman --root "$d/root" --runroot "$d/run" --tmpdir "$d/tmp" \
	    --storage-driver vfs system service --time 0 "unix://$d/sock" \
	    </dev/null >"$d/log" 2>&1 &
	PM_PID=$!
	t_track_pid "$PM_PID"
	_t_watchdog "$PM_PID"
	for ((i = 0; i < 100; i++)); do
		curl -fsS -m 2 --unix-socket "$d/sock" http://d/_ping \
		    >/dev/null 2>&1 && return 0
		t_alive "$PM_PID" || return 1
		sleep 0.2
	done
	return 1
}

# api SOCK PATH: the engine's answer (body), status in API_STATUS
api() {
	local out
	out=$(curl -sS -m 20 --unix-socket "$1" -w '\n%{http_code}' "http://d$2")
	API_STATUS=${out##*$'\n'}
	printf '%s' "${out%$'\n'*}"
}
has_image() { api "$1" "/images/$2/json" >/dev/null; [ "$API_STATUS" = 200 ]; }
rm_image() { curl -sS -m 20 --unix-socket "$1" -X DELETE "http://d/images/$2?force=1" >/dev/null 2>&1; }

# diff_ids_match SOCK STORE REF: the engine's layers are the config's
diff_ids_match() {
	api "$1" "/images/$3/json" >"$T/inspect.json"
	[ "$API_STATUS" = 200 ] || { echo "inspect: HTTP $API_STATUS"; return 1; }
	"$T_PYTHON" - "$2" "$3" "$T/inspect.json" <<'EOF'
import json, sys
store, ref, insp = sys.argv[1:4]
blob = lambda d: open("%s/blobs/sha256/%s" % (store, d[7:]))
idx = json.load(open(store + "/index.json"))
m = [e for e in idx["manifests"]
     if e.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref]
man = json.load(blob(m[0]["digest"]))
want = json.load(blob(man["config"]["digest"]))["rootfs"]["diff_ids"]
got = json.load(open(insp))["RootFS"]["Layers"]
if got != want:
    print("engine %s, config %s" % (got, want))
    sys.exit(1)
EOF
}

proxy_start || { t_fail docker-setup "faultproxy did not start"; exit 0; }
# a TLS listener too, as DOCKER_TLS_VERIFY and DOCKER_CERT_PATH name it
C=$T/pki
mkdir -p "$C"
(
	cd "$C" || exit 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -keyout ca.key -out ca.pem \
	    -days 2 -subj /CN=pulltop-test-ca
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	    -keyout srv.key -out srv.csr \
	    -subj /CN=127.0.0.1
	printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >srv.ext
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
	    -out srv.pem -days 2 -extfile srv.ext
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	    -keyout key.pem -out c.csr \
	    -subj /CN=pulltop-client
	printf 'extendedKeyUsage=clientAuth\n' >c.ext
	openssl x509 -req -in c.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
	    -out cert.pem -days 2 -extfile c.ext
) >"$T/pki.log" 2>&1
TLS_PORT=$(free_port)
DK_EXTRA=(-H "tcp://127.0.0.1:$TLS_PORT" --tlsverify --tlscacert "$C/ca.pem"
    --tlscert "$C/srv.pem" --tlskey "$C/srv.key")
D=$T/dockerd
if ! dockerd_start "$D"; then
	t_fail docker-dockerd-starts "$(tail -n 3 "$D/log" | tr '\n' ' ')"
	exit 0
fi
DS=$D/sock
export DOCKER_HOST=unix://$DS

################################################################ docker
# two images as JSON lines: every line parses, each ends with Status:,
# the engine has both
out=$T/json.out
"$P" --via docker --progress=json "$IMG1" "$IMG2" >"$out" 2>"$T/json.err"
rc=$?
if [ $rc -ne 0 ]; then
	t_fail docker-json "exit $rc: $(tail -n 2 "$T/json.err")"
elif ! bad=$(json_lines_valid "$out"); then
	t_fail docker-json "$bad"
else
	miss=
	for i in "$IMG1" "$IMG2"; do
		grep -q "\"status\":\"Status: [^\"]* for $i\",\"image\":\"$i\"" "$out" ||
		    miss="$miss Status:$i"
		grep -q "\"status\":\"Downloading\".*\"image\":\"$i\"" "$out" ||
		    miss="$miss Downloading:$i"
		has_image "$DS" "$i" || miss="$miss engine:$i"
	done
	[ -z "$miss" ] && t_pass docker-json ||
	    t_fail docker-json "missing:$miss"
fi

# X-Registry-Auth: a registry front that wants Basic credentials
RS=$T/rs
mkdir -p "$RS"
"$T_PYTHON" "$T_LIB_DIR/redirectserver.py" --upstream "$REG" \
    --portfile "$RS/ports" --basic user:pass </dev/null >"$RS/out" 2>"$RS/log" &
t_track_pid $!
if wait_for_file "$RS/ports" 10; then
	read -r FP _ <"$RS/ports"
	A=127.0.0.1:$FP/test/docker:v1
	"$P" --via docker --progress=plain "$A" >"$T/a1.out" 2>"$T/a1.err"
	rc1=$?
	"$P" --via docker --progress=plain --creds user:pass "$A" \
	    >"$T/a2.out" 2>"$T/a2.err"
	rc2=$?
	mkdir -p "$T/cfg"
	printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}\n' "$FP" \
	    "$(printf user:pass | base64)" >"$T/cfg/config.json"
	# (the image is there now: the engine still asks for the manifest)
	DOCKER_CONFIG=$T/cfg "$P" --via docker --progress=plain "$A" \
	    >"$T/a3.out" 2>"$T/a3.err"
	rc3=$?
	if [ $rc1 -eq 1 ] && grep -q "basic auth credentials\|unauthorized" "$T/a1.err" &&
	    [ $rc2 -eq 0 ] && [ $rc3 -eq 0 ] && has_image "$DS" "$A"; then
		t_pass docker-registry-auth
	else
		t_fail docker-registry-auth "none: $rc1 $(cat "$T/a1.err"); --creds: $rc2 $(cat "$T/a2.err"); config.json: $rc3 $(cat "$T/a3.err")"
	fi
else
	t_fail docker-registry-auth "redirectserver did not start: $(tail -n 2 "$RS/log")"
fi

# tcp:// with TLS: verified, with a client certificate; without TLS the
# engine's own words come back
DOCKER_HOST=tcp://127.0.0.1:$TLS_PORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$C \
    "$P" --via docker --progress=plain "$IMG1" >"$T/t1.out" 2>"$T/t1.err"
rc1=$?
DOCKER_HOST=tcp://127.0.0.1:$TLS_PORT "$P" --via docker "$IMG1" \
    >/dev/null 2>"$T/t2.err"
rc2=$?
if [ $rc1 -eq 0 ] && grep -q "^Status: .* for $IMG1" "$T/t1.out" &&
    [ $rc2 -eq 1 ] && grep -q "HTTP request to an HTTPS server" "$T/t2.err"; then
	t_pass docker-tcp-tls
else
	t_fail docker-tcp-tls "TLS: $rc1 $(tail -n 1 "$T/t1.err"); plain: $rc2 $(cat "$T/t2.err")"
fi

# the engine's own error, sanitized, one line; exit 1
"$P" --via docker --progress=plain "$REG/test/nope:v1" >"$T/e.out" 2>"$T/e.err"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$T/e.err")" -eq 1 ] &&
    grep -q "^pulltop: $REG/test/nope:v1: .*manifest unknown" "$T/e.err"; then
	t_pass docker-api-error
else
	t_fail docker-api-error "exit $rc: $(cat "$T/e.err")"
fi

# no engine at the socket; a socket we may not open; usage errors
DOCKER_HOST=unix://$T/nope.sock "$P" --via docker "$IMG1" >/dev/null 2>"$T/n.err"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$T/n.err")" -eq 1 ] &&
    grep -q "unix://$T/nope.sock: no such socket" "$T/n.err"; then
	t_pass docker-no-socket
else
	t_fail docker-no-socket "exit $rc: $(cat "$T/n.err")"
fi
install -m 755 "$P" "$T/pulltop"
chmod 755 "$D"
setpriv --reuid=65534 --regid=65534 --clear-groups \
    env DOCKER_HOST="unix://$DS" HOME=/nonexistent "$T/pulltop" --via docker \
    --progress=plain "$IMG1" >/dev/null 2>"$T/p.err"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$T/p.err")" -eq 1 ] &&
    grep -q "permission denied on unix://$DS: membership of the docker group or root is needed" "$T/p.err"; then
	t_pass docker-permission-denied
else
	t_fail docker-permission-denied "exit $rc: $(cat "$T/p.err")"
fi
bad=
for o in "--store $T/s" "--unpack $T/u" "--load docker"; do
	# shellcheck disable=SC2086 # option and value
	"$P" --via docker $o "$IMG1" >/dev/null 2>"$T/u.err"
	rc=$?
	[ $rc -eq 2 ] && grep -q "does not apply" "$T/u.err" || bad="$bad [$o: $rc $(head -n 1 "$T/u.err")]"
done
[ -z "$bad" ] && t_pass docker-via-usage || t_fail docker-via-usage "$bad"

############################################################# dashboard
tmux_server pulltop-docker-$$
start() {	# NAME ENV... -- ARGS...
	local name=$1 envs=() cmd
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	rm -f "$T/$name.status"
	printf -v cmd '%q ' sh -c '"$@"; echo $? >"$0"' "$T/$name.status" \
	    env "${envs[@]}" "$P" "$@"
	tm new-session -d -s "$name" -x 120 -y 40 "$cmd"
}
cap() { tm capture-pane -p -t "$1"; }
wait_screen() {	# SESSION ERE SECS: LAST holds the screen
	local i
	for ((i = 0; i < ${3:-15} * 10; i++)); do
		LAST=$(cap "$1")
		grep -Eq -- "$2" <<<"$LAST" && return 0
		sleep 0.1
	done
	return 1
}
blob_bytes() { proxy_stats | json_get 'd["blob_bytes"]'; }

B=$PROXY/test/big:v1
proxy_set '{"rate": 200000}'
start V DOCKER_HOST="unix://$DS" LC_ALL="$UTF8" -- --via docker --progress=tty "$B"
if wait_screen V '[0-9a-f]{12} +Downloading .*[0-9.]+ [kM]B / [0-9.]+ MB' 20; then
	t_pass docker-dashboard-downloading
else
	t_fail docker-dashboard-downloading "$(head -n 12 <<<"$LAST")"
fi

# c on the image (the Images pane has the focus): the engine stops
tm send-keys -t V c
if wait_screen V 'test/big:v1 .*Cancelled' 10; then
	sleep 0.5
	b1=$(blob_bytes)
	sleep 1.5
	b2=$(blob_bytes)
	if [ "$b1" != "$b2" ]; then
		t_fail docker-dashboard-cancel "the proxy still sends: $b1 -> $b2 bytes"
	elif has_image "$DS" "$B"; then
		t_fail docker-dashboard-cancel "the engine has the image"
	else
		t_pass docker-dashboard-cancel
	fi
else
	t_fail docker-dashboard-cancel "not Cancelled: $(head -n 8 <<<"$LAST")"
fi

# r starts it again; the engine going away mid-pull fails it
tm send-keys -t V r
if wait_screen V 'test/big:v1 .*Downloading' 10 &&
    wait_screen V '[0-9a-f]{12} +Downloading .*[0-9.]+ [kM]B' 10; then
	dockerd_stop "$D" "$DK_PID"
	if wait_screen V 'test/big:v1 .*Failed' 15; then
		t_pass docker-dashboard-engine-gone
	else
		t_fail docker-dashboard-engine-gone "$(head -n 8 <<<"$LAST")"
	fi
else
	t_fail docker-dashboard-engine-gone "r did not start it again: $(head -n 8 <<<"$LAST")"
fi

# the engine back, full speed: r completes it, with Extracting rows
if dockerd_start "$D"; then
	proxy_set '{}'
	tm send-keys -t V r
	# every screen on the way: an Extracting row with its bytes
	ext=
	for ((i = 0; i < 1000; i++)); do
		LAST=$(cap V)
		[ -n "$ext" ] || ext=$(grep -Em1 '^ *[0-9a-f]{12} +Extracting .*[0-9.]+ [kM]B / [0-9.]+ MB' <<<"$LAST")
		grep -Eq 'test/big:v1 .*Complete sha256:' <<<"$LAST" && break
		sleep 0.02	# a layer extracts in a few frames
	done
	if grep -Eq 'test/big:v1 .*Complete sha256:' <<<"$LAST" && has_image "$DS" "$B"; then
		t_pass docker-dashboard-retry
	else
		t_fail docker-dashboard-retry "$(head -n 8 <<<"$LAST")"
	fi
	if [ -n "$ext" ]; then
		t_pass docker-dashboard-extracting
	else
		t_fail docker-dashboard-extracting "no screen had an Extracting row with bytes"
	fi
else
	t_fail docker-dashboard-retry "dockerd did not come back: $(tail -n 3 "$D/log")"
fi
tm send-keys -t V q

# --load docker: the engine finds the image, its layers are the config's;
# a second load sends nothing and says so
# (big:v1: a load that takes a few frames; the engine has none of it)
S=$T/store
L=$REG/test/big:v1
rm_image "$DS" "$B"
rm_image "$DS" "$L"
"$P" --store "$S" --load docker --progress=plain "$L" >"$T/l1.out" 2>"$T/l1.err"
rc=$?
if [ $rc -ne 0 ]; then
	t_fail docker-load "exit $rc: $(tail -n 2 "$T/l1.err")"
elif ! why=$(diff_ids_match "$DS" "$S" "$L"); then
	t_fail docker-load "$why"
elif ! grep -q "^$L: Sending\|^$L: Loading layer" "$T/l1.out"; then
	t_fail docker-load "no load progress: $(head -n 20 "$T/l1.out")"
else
	t_pass docker-load
fi
# docker's event times are whole seconds: the window starts in the second
# after the first load's, or that load's event can fall inside it
sleep 1.1
t0=$(date +%s)
t1=$(date +%s.%N)
"$P" --store "$S" --load docker --progress=plain "$L" >"$T/l2.out" 2>"$T/l2.err"
rc=$?
t2=$(date +%s.%N)
secs=$(echo "$t2 - $t1" | bc)
t3=$(date +%s)
ev=$(api "$DS" "/events?since=$t0&until=$((t3 + 1))&filters=%7B%22event%22%3A%5B%22load%22%5D%7D")
if [ $rc -eq 0 ] && grep -q "^Status: Image is up to date in docker for $L" "$T/l2.out" &&
    [ -z "$ev" ] && [ "$(echo "$secs < 5" | bc)" = 1 ]; then
	t_pass "docker-reload ($(printf %.1f "$secs") s, no load event)"
else
	t_fail docker-reload "exit $rc in $secs s; events: ${ev:-none}; $(tail -n 3 "$T/l2.out")"
fi


################################################################ podman
M=$T/podman
if ! podman_start "$M"; then
	t_fail podman-starts "$(tail -n 3 "$M/log" | tr '\n' ' ')"
	exit 0
fi
MS=$M/sock
out=$T/pm.out
DOCKER_HOST=unix://$MS "$P" --via docker --progress=json "$IMG1" "$IMG2" \
    >"$out" 2>"$T/pm.err"
rc=$?
miss=
for i in "$IMG1" "$IMG2"; do
	grep -q "\"status\":\"Status: [^\"]* for $i\"" "$out" || miss="$miss Status:$i"
	has_image "$MS" "$i" || miss="$miss engine:$i"
done
if [ $rc -eq 0 ] && [ -z "$miss" ] && json_lines_valid "$out" >/dev/null; then
	t_pass podman-via
else
	t_fail podman-via "exit $rc:$miss $(tail -n 2 "$T/pm.err")"
fi

# --load into podman (the store has the image: only the load runs)
DOCKER_HOST=unix://$MS "$P" --store "$S" --load docker --progress=plain "$L" \
    >"$T/pl.out" 2>"$T/pl.err"
rc=$?
if [ $rc -ne 0 ]; then
	t_fail podman-load "exit $rc: $(tail -n 2 "$T/pl.err")"
elif ! why=$(diff_ids_match "$MS" "$S" "$L"); then
	t_fail podman-load "$why"
else
	DOCKER_HOST=unix://$MS "$P" --store "$S" --load docker --progress=plain "$L" \
	    >"$T/pl2.out" 2>&1
	if grep -q "^Status: Image is up to date in docker for $L" "$T/pl2.out"; then
		t_pass podman-load
	else
		t_fail podman-load "re-load: $(tail -n 2 "$T/pl2.out")"
	fi
fi
exit 0
