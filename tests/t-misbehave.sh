#!/usr/bin/env bash
# t-misbehave.sh - registries that stop, flood and overflow (issues 18, 16
# and 11), from tests/misbehave.py, plus a dead address, a dead proxy and a
# registry that goes away. For every case: one line naming the image (and
# the layer or config) and the real cause, exit 1 without a signal (or 0
# where the right answer is to finish the pull), no longer than the stall
# timeout times the attempts plus a little, peak RSS <= 64 MiB, nothing
# written outside the store, and a store whose blobs re-hash.
set -u
. "$(dirname "$0")/lib.sh"
T=${TMPDIR_TEST:-$(t_tmpdir)}
P=$PULLTOP
STALL=2		# --stall-timeout of the stall cases
SLACK=4		# seconds allowed over the bound: start-up, a loaded machine
FAST=1		# ... for the first-contact cases, which must end within 2 s
if [ -n "${SANITIZER:-}" ]; then	# a sanitizer build starts slower
	SLACK=8
	FAST=2
fi
RSS_MAX=65536	# KiB
PAR=10		# cases at once (most of them wait on a stall)
shopt -s nullglob

python3 "$T_LIB_DIR/misbehave.py" --portfile "$T/ports" >"$T/mb.log" 2>&1 &
t_track_pid $!
if ! wait_for_file "$T/ports" 20; then
	t_fail "misbehave.py starts" "$(tail -n 3 "$T/mb.log")"
	exit 1
fi
eval "$(python3 -c 'import json, sys
for k, v in json.load(open(sys.argv[1])).items():
    print("PORT_%s=%d" % (k.replace("-", "_"), v))' "$T/ports")"
OK=127.0.0.1:$PORT_ok
AU=127.0.0.1:$PORT_auth
mkdir -p "$T/certs/127.0.0.1:$PORT_tls_garbage" "$T/certs/127.0.0.1:$PORT_tls_close"

# One run, in the background: a store, a home, a cwd and a TMPDIR of its
# own; GNU time records the peak RSS. Results go to $T/r/NAME.*. BOUND is
# in seconds; timeout kills a run that overstays it by 9 s (a hang).
#   start NAME BOUND REF [ENV=VALUE...] [-- PULLTOP-ARGS...]
# This machine may be loaded: start and verdict fork as little as they can.
start() {
	local name=$1 bound=$2 ref=$3 d=$T/r/$1 envs=() args=()
	shift 3
	while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	args=("$@")
	mkdir -p "$d.cwd" "$d.home" "$d.tmp"
	case ${ref##*/} in	# as pulltop names it
	*:*) echo "$ref" >"$d.ref" ;;
	*) echo "$ref:latest" >"$d.ref" ;;
	esac
	echo "$bound" >"$d.bound"
	(
		cd "$d.cwd" || exit 1
		t0=${EPOCHREALTIME/./}
		env -u XDG_DATA_HOME -u PULLTOP_STORE HOME="$d.home" \
		    TMPDIR="$d.tmp" "${envs[@]}" \
		    timeout -k 2 "$((${bound%.*} + 9))" \
		    /usr/bin/time -f %M -o "$d.rss" \
		    "$P" -q --store "$d.store" "${args[@]}" "$ref" \
		    >"$d.out" 2>&1
		echo "$? $(( (${EPOCHREALTIME/./} - t0) / 1000 ))" >"$d.rc"
	) &
	RUNNING+=($!)
	if [ ${#RUNNING[@]} -ge $PAR ]; then
		wait "${RUNNING[0]}"
		RUNNING=("${RUNNING[@]:1}")
	fi
}
RUNNING=()
# wait for every run started, then re-hash every store at once (one
# python, not one per case: its start-up is what costs here)
wait_all() {
	local p
	for p in "${RUNNING[@]}"; do wait "$p"; done
	RUNNING=()
	store_rehash "$T"/r/*.store >"$T/rehash" 2>&1
}

# ms SECONDS: whole milliseconds of a decimal number of seconds
ms() {
	local i=${1%.*} f=${1#*.}000
	[ "$i" = "$1" ] && f=000
	echo $((10#$i * 1000 + 10#${f:0:3}))
}

# verdict NAME TITLE RC REGEX [SLACK]: REGEX (ERE) is what follows
# "pulltop: REF: " on the one line (or, for RC 0, the line must be REF
# alone). Every store is made (pulltop makes it before anything else) and
# re-hashed by wait_all.
verdict() {
	local name=$1 title=$2 want=$3 re=$4 slack=${5:-$SLACK} d=$T/r/$1
	local rc=none msec=999999
	local rss= ref bound line junk=() bad=() out=() l
	[ -f "$d.rc" ] && read -r rc msec <"$d.rc"
	[ -f "$d.rss" ] && while read -r l; do rss=$l; done <"$d.rss"
	read -r ref <"$d.ref"
	read -r bound <"$d.bound"
	mapfile -t out <"$d.out"
	line=${out[0]-}
	[ "$rc" = "$want" ] || bad+=("exit $rc, not $want")
	[[ $(<"$d.rss") == *signal* ]] && bad+=("killed by a signal")
	if [ "$want" = 0 ]; then
		[ ${#out[@]} = 1 ] && [ "$line" = "$ref" ] ||
			bad+=("${#out[@]} lines: ${line:0:300}")
	else
		re_quote "$ref"
		[ ${#out[@]} = 1 ] && [[ $line =~ ^pulltop:\ $REPLY:\ $re ]] ||
			bad+=("${#out[@]} lines: ${line:0:300}")
	fi
	[ "$msec" -le $(( $(ms "$bound") + $(ms "$slack") )) ] ||
		bad+=("took ${msec} ms, bound ${bound}s + ${slack}s")
	case $rss in
	'' | *[!0-9]*) bad+=("no RSS figure") ;;
	*) [ "$rss" -le $RSS_MAX ] || bad+=("peak RSS ${rss} KiB") ;;
	esac
	shopt -s dotglob
	junk=("$d".cwd/* "$d".home/* "$d".tmp/*)
	shopt -u dotglob
	[ ${#junk[@]} = 0 ] || bad+=("wrote outside the store: ${junk[*]}")
	while read -r l; do
		[[ $l == "$d.store/"* ]] && bad+=("store: $l")
	done <"$T/rehash"
	if [ ${#bad[@]} -eq 0 ]; then
		t_pass "$title ($((msec / 1000)).$((msec % 1000 / 100))s, ${rss} KiB)"
	else
		t_fail "$title" "$(printf '%s; ' "${bad[@]}")"
	fi
}
# re_quote S: REPLY is S with every ERE metacharacter escaped (no fork)
re_quote() {
	local s=$1 c i
	REPLY=
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[].[\*^\$+?\(\){}\|/]) REPLY+="\\$c" ;;
		*) REPLY+=$c ;;
		esac
	done
}

re_quote "$OK"; H=$REPLY
re_quote "$AU"; HA=$REPLY
CFG='config sha256:[0-9a-f]{64}: '
LAYER='layer [0-9a-f]{12}: '
S="--retries 1 --stall-timeout $STALL"

# --- 3. first contact: nobody there fails at once, whatever --retries says
dead=$(free_port)
PAR=1	# one at a time: each must end within 2 s, even on a busy machine
start dead 2 "127.0.0.1:$dead/x/y"
start dns 2 "nonexistent.invalid/x/y"
start tlsgarbage 2 "127.0.0.1:$PORT_tls_garbage/x/y" PULLTOP_CERTS_D="$T/certs"
start tlsclose 2 "127.0.0.1:$PORT_tls_close/x/y" PULLTOP_CERTS_D="$T/certs"
start deadproxy 2 "$OK/good/x" http_proxy="http://127.0.0.1:$dead"
wait_all
PAR=10
verdict dead "first contact: connection refused fails at once" 1 \
    "cannot connect to 127\.0\.0\.1:$dead: connection refused$" $FAST
verdict dns "first contact: an unknown host fails at once" 1 \
    "cannot resolve host nonexistent\.invalid$" $FAST
verdict tlsgarbage "first contact: a TLS handshake answered in plain HTTP fails at once" 1 \
    "TLS handshake with 127\.0\.0\.1:$PORT_tls_garbage failed: .*wrong version number" $FAST
verdict tlsclose "first contact: a TLS handshake cut off fails at once" 1 \
    "TLS handshake with 127\.0\.0\.1:$PORT_tls_close failed: " $FAST
verdict deadproxy "first contact: a dead proxy fails at once" 1 \
    "cannot connect to proxy 127\.0\.0\.1:$dead \(for $H\): connection refused$" $FAST

# --- 1. stalls: every request is under --stall-timeout, not only blobs
for l in silent midbody hdrstall; do
	start "ping-$l" $STALL "127.0.0.1:$(eval echo "\$PORT_ping_$l")/a/b" -- $S
done
for m in silent midbody hdrstall 404stall; do start "m-$m" $STALL "$OK/m/$m" -- $S; done
for c in silent midbody redirstall redirsilent; do start "c-$c" $STALL "$OK/c/$c" -- $S; done
start l-midbody $STALL "$OK/l/midbody" -- $S
start tok-silent $STALL "$AU/tok/silent" -- $S
start tok-midbody $STALL "$AU/tok/midbody" -- $S
start backlog $STALL "127.0.0.1:$PORT_backlog/a/b" -- $S
wait_all
# --- 1. bodies and headers that never end, token servers that refuse
PAR=4	# these work rather than wait: fewer at once
start ping-401flood 0 "127.0.0.1:$PORT_ping_401flood/a/b" -- $S
start ping-hdrflood 0 "127.0.0.1:$PORT_ping_hdrflood/a/b" -- $S
for m in 404flood redirflood hdrflood; do start "m-$m" 0 "$OK/m/$m" -- $S; done
start c-redirflood 0 "$OK/c/redirflood" -- $S
start l-redirflood 0 "$OK/l/redirflood" -- $S
for t in 401flood 401 loop huge; do start "tok-$t" 0 "$AU/tok/$t" -- $S; done
# --- 2. causes that name the fault, not the cap that caught it
start ping-hugeauth 0 "127.0.0.1:$PORT_ping_hugeauth/a/b" -- $S
for m in hugeauth hugehdr longauth longrealm; do start "m-$m" 0 "$OK/m/$m" -- $S; done
start l-long 0 "$OK/l/long" -- $S
start l-flood 0 "$OK/l/flood" -- $S
start c-long 0 "$OK/c/long" -- $S
start c-flood 0 "$OK/c/flood" -- $S
wait_all

stalled="stalled: no data for ${STALL}s from"
for l in silent midbody hdrstall; do
	p=$(eval echo "\$PORT_ping_$l")
	verdict "ping-$l" "stall: /v2/ ping ($l)" 1 "$stalled 127\.0\.0\.1:$p \(GET /v2/\)$"
done
for m in silent midbody hdrstall; do
	verdict "m-$m" "stall: manifest ($m)" 1 "$stalled $H \(manifest\)$"
done
verdict m-404stall "stall: a 404 whose body stops" 1 "$stalled $H \(manifest\)$"
for c in silent midbody; do
	verdict "c-$c" "stall: config ($c)" 1 "$CFG$stalled $H$"
done
verdict c-redirstall "stall: a redirect whose body stops" 1 "$CFG$stalled $H$"
verdict c-redirsilent "stall: a redirect's target that never answers" 1 "$CFG$stalled $H$"
verdict l-midbody "stall: layer mid-body" 1 "${LAYER}stalled: no data for ${STALL}s"
verdict tok-silent "stall: token server never answers" 1 "$stalled token server $HA$"
verdict tok-midbody "stall: token answer stops half way" 1 "$stalled token server $HA$"
verdict backlog "stall: a connect that never completes" 1 \
    "cannot connect to 127\.0\.0\.1:$PORT_backlog: no connection after ${STALL}s$"

verdict ping-401flood "endless: a 401 ping body that never ends is cut, the pull goes on" 0 ""
verdict ping-hdrflood "endless: ping headers that never end" 1 \
    "127\.0\.0\.1:$PORT_ping_hdrflood sent more than 256 KiB of response headers$"
verdict m-hdrflood "endless: manifest headers that never end" 1 \
    "$H sent more than 256 KiB of response headers$"
verdict m-404flood "endless: a 404 body that never ends" 1 "not found \(404\)$"
verdict m-redirflood "endless: a manifest redirect's body is cut, the redirect followed" 0 ""
verdict c-redirflood "endless: a config redirect's body is cut, the redirect followed" 0 ""
verdict l-redirflood "endless: a layer redirect's body is cut, the redirect followed" 0 ""
verdict tok-401flood "endless: a token server's 401 body that never ends" 1 \
    "unauthorized \(401\): token server $HA refused anonymous access"
verdict tok-401 "token server answering 401 every time" 1 \
    "unauthorized \(401\): token server $HA refused anonymous access"
verdict tok-loop "registry refusing every token" 1 \
    "unauthorized \(401\): $HA needs credentials"

verdict ping-hugeauth "cause: a 200 KiB WWW-Authenticate on the ping" 1 \
    "127\.0\.0\.1:$PORT_ping_hugeauth sent a response header larger than curl's limit of 100 KiB$"
verdict m-hugeauth "cause: a 200 KiB WWW-Authenticate on the manifest" 1 \
    "$H sent a response header larger than curl's limit of 100 KiB$"
verdict m-hugehdr "cause: a 200 KiB header of another name" 1 \
    "$H sent a response header larger than curl's limit of 100 KiB$"
verdict m-longauth "cause: a WWW-Authenticate over pulltop's 4 KiB" 1 \
    "$H sent a WWW-Authenticate header longer than 4095 bytes$"
verdict m-longrealm "cause: a realm over 1 KiB" 1 \
    "$H: the realm of its WWW-Authenticate challenge is longer than 1023 bytes$"
verdict l-long "cause: a layer longer than its descriptor" 1 \
    "${LAYER}$H sent more bytes than the descriptor's size \([0-9]+ bytes\)$"
verdict l-flood "cause: a layer body that never ends" 1 \
    "${LAYER}$H sent more bytes than the descriptor's size \([0-9]+ bytes\)$"
verdict c-long "cause: a config longer than its descriptor" 1 \
    "$CFG$H sent more bytes than the descriptor's size \([0-9]+ bytes\)$"
verdict c-flood "cause: a config body that never ends" 1 \
    "$CFG$H sent more bytes than the descriptor's size \([0-9]+ bytes\)$"
verdict tok-huge "cause: a token answer over 64 KiB" 1 \
    "token server $HA answered with more than 64 KiB$"

# --- the retry budget covers the ping, tokens and redirects too; a
# registry that answered before is retried when it goes away
R="--retries 2 --retry-delay 0.2 --stall-timeout $STALL"
curl -fsS "http://$OK/__stats" >"$T/stats0.json"
start r-ping "$(echo "2 * $STALL + 0.2" | bc)" "127.0.0.1:$PORT_ping_midbody/a/b" -- $R
start r-tok "$(echo "2 * $STALL + 0.2" | bc)" "$AU/tok/midbody" -- $R
start r-redir "$(echo "2 * $STALL + 0.2" | bc)" "$OK/c/redirsilent" -- $R
start r-gone 0.2 "127.0.0.1:$PORT_gone/a/b" -- --retries 2 --retry-delay 0.2
wait_all
curl -fsS "http://$OK/__stats" >"$T/stats1.json"
verdict r-ping "retries: a stalled ping is tried --retries times" 1 \
    "$stalled 127\.0\.0\.1:$PORT_ping_midbody \(GET /v2/\) \(gave up after 2 attempts\)$"
verdict r-tok "retries: a stalled token request is tried --retries times" 1 \
    "$stalled token server $HA \(gave up after 2 attempts\)$"
verdict r-redir "retries: a stalled redirect target is tried --retries times" 1 \
    "$CFG$stalled $H( \(gave up after 2 attempts\))?$"
verdict r-gone "retries: a registry that answered, then went away, is retried" 1 \
    "cannot connect to 127\.0\.0\.1:$PORT_gone: connection refused \(gave up after 2 attempts\)$"
python3 - "$T/stats0.json" "$T/stats1.json" >"$T/counts" <<'EOF'
import json, sys
a = json.load(open(sys.argv[1]))["requests"]
b = json.load(open(sys.argv[2]))["requests"][len(a):]
def n(listener, pred):
    return sum(1 for l, p in b if l == listener and pred(p))
print(n("ping-midbody", lambda p: p == "/v2/"),
      n("auth", lambda p: p.startswith("/token") and "tok%2Fmidbody" in p),
      n("ok", lambda p: p.startswith("/storage/c/redirsilent/")))
EOF
read -r np nt ns <"$T/counts"
[ "$np" = 2 ] && [ "$nt" = 2 ] && [ "$ns" = 2 ] &&
	t_pass "retries: the server saw 2 pings, 2 token requests, 2 redirect targets" ||
	t_fail "retries: the server saw 2 pings, 2 token requests, 2 redirect targets" \
	    "pings $np, token requests $nt, targets $ns"

# --- a transfer that had started is retried and resumed, as before
IMG=test/multi:v1
big=$(python3 -c "import json
d={i['name']+':'+i['tag']: i for i in json.load(open('$FIXTURES'))['images']}
l=max(d['$IMG']['layers'], key=lambda l: l['size'])
print(l['digest'][7:], l['size'])")
read -r bighex bigsize <<<"$big"
proxy_start
proxy_set '{"reset_after": '$((bigsize / 3))', "times": 1, "only": "'"$bighex"'"}'
start resume 1 "$PROXY/$IMG" -- --retries 2 --retry-delay 0.2 --stall-timeout $STALL
wait_all
n=$(proxy_stats | json_get "sum(1 for r in d['requests'] if r['path'].endswith('$bighex') and r['range'])")
verdict resume "retries: a blob cut mid-body is retried" 0 ""
[ "${n:-0}" -ge 1 ] && t_pass "retries: ... and resumed with a Range request" ||
	t_fail "retries: ... and resumed with a Range request" "no Range request for $bighex"
