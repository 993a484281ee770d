#!/usr/bin/env bash
# t-proxy.sh - pulling through a proxy, as libcurl reads http_proxy and
# no_proxy: the fault proxy, used as a forward proxy, sees every request of
# a pull made with http_proxy (in absolute form), none when no_proxy names
# the registry, and a proxy that is down is a clear error. (https_proxy, a
# CONNECT tunnel to a TLS registry, is checked in t-auth.)
set -u
. "$(dirname "$0")/lib.sh"
T=${TMPDIR_TEST:-$(t_tmpdir)}
P=$PULLTOP
IMG=test/multi:v1
unset http_proxy https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
proxy_start || { t_fail "the proxy starts" "see its log"; exit 1; }

stat_of() { proxy_stats | json_get "d['$1']"; }
# blobs of IMG in the fixtures: its layers and its config
nblobs=$(python3 -c "import json
for i in json.load(open('$FIXTURES'))['images']:
    if i['name'] + ':' + i['tag'] == '$IMG':
        print(len(i['layers']) + 1)")

pull() {	# NAME ENV...: a pull of IMG into a store of its own
	local name=$1
	shift
	rm -rf "$T/s-$name"
	env "$@" timeout 60 "$P" --store "$T/s-$name" --progress=plain \
	    --retries 2 --retry-delay 0.2 "$REG/$IMG" >"$T/$name.out" 2>&1
	rc=$?
}

proxy_reset
pull via "http_proxy=http://$PROXY"
abs=$(stat_of absolute_requests)
all=$(stat_of requests_total)
blobs=$(stat_of blob_requests)
if [ "$rc" -eq 0 ] && store_rehash "$T/s-via" >/dev/null; then
	t_pass "http_proxy: the pull completes and every blob re-hashes"
else
	t_fail "http_proxy: the pull completes and every blob re-hashes" \
	    "rc=$rc $(tail -n 2 "$T/via.out")"
fi
[ "$abs" -gt 0 ] && [ "$abs" -eq "$all" ] && [ "$blobs" -eq "$nblobs" ] &&
	t_pass "http_proxy: every request went through the proxy ($abs, $blobs blobs)" ||
	t_fail "http_proxy: every request went through the proxy" \
	    "absolute $abs of $all, blobs $blobs of $nblobs"

proxy_reset
pull bypass "http_proxy=http://$PROXY" "no_proxy=127.0.0.1"
abs=$(stat_of requests_total)
[ "$rc" -eq 0 ] && [ "$abs" -eq 0 ] &&
	t_pass "no_proxy naming the registry: the pull goes around the proxy" ||
	t_fail "no_proxy naming the registry: the pull goes around the proxy" \
	    "rc=$rc, the proxy saw $abs request(s)"

dead=$(free_port)
pull dead "http_proxy=http://127.0.0.1:$dead"
if [ "$rc" -eq 1 ] && [ "$(grep -c '^pulltop: ' "$T/dead.out")" -ge 1 ] &&
    grep -q "^pulltop: .*$REG/$IMG.*127.0.0.1:$dead" "$T/dead.out"; then
	t_pass "a proxy that is down: exit 1, one line naming the image and the proxy"
else
	t_fail "a proxy that is down: exit 1, one line naming the image and the proxy" \
	    "rc=$rc $(grep '^pulltop: ' "$T/dead.out" | head -n 2)"
fi
[ ! -d "$T/s-dead/blobs/sha256" ] || [ -z "$(ls -A "$T/s-dead/blobs/sha256")" ] &&
	t_pass "a proxy that is down: nothing in blobs/" ||
	t_fail "a proxy that is down: nothing in blobs/" "$(ls "$T/s-dead/blobs/sha256")"
t_summary
