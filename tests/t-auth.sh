#!/usr/bin/env bash
# t-auth.sh - registry auth and TLS the way docker does them, against
# registries of this script's own:
#   A  docker-registry with TLS (a CA made here) and htpasswd Basic auth
#   B  docker-registry with `auth: token`, tokens from tests/tokenserver.py
#      (3 s expiry; anonymous may pull test/pub, user test/priv, nobody
#      test/secret)
#   C  docker-registry with TLS that wants a client certificate
#   R  tests/redirectserver.py: a front that wants credentials and sends
#      blobs to a storage listener on another port
# Credentials come from --creds and from a docker config.json (auths,
# credHelpers, credsStore with helper scripts of our own on PATH).
# PULLTOP_CERTS_D points pulltop's certs.d at a directory made here.
set -u
. "$(dirname "$0")/lib.sh"
T=${TMPDIR_TEST:-$(t_tmpdir)}
P=$PULLTOP
IMG=test/multi:v1
SECRET_PW=wrong-Pa55-zq7x	# a wrong password that must never be printed

# --- certificates: a CA, a server cert for 127.0.0.1, a client cert
C=$T/pki
mkdir -p "$C"
(
	cd "$C" || exit 1
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt \
	    -days 2 -subj /CN=pulltop-test-ca
	openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr \
	    -subj /CN=127.0.0.1
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >srv.ext
	openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
	    -out srv.crt -days 2 -extfile srv.ext
	openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr \
	    -subj /CN=pulltop-client
	printf 'extendedKeyUsage=clientAuth\n' >client.ext
	openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
	    -out client.cert -days 2 -extfile client.ext
	openssl req -x509 -newkey rsa:2048 -nodes -keyout tok.key -out tok.crt \
	    -days 2 -subj /CN=pulltop-token-signer
	htpasswd -Bbn user pass >htpasswd
) >"$T/pki.log" 2>&1 || { t_fail "test certificates" "$(tail -3 "$T/pki.log")"; exit 1; }

# reg_start NAME HTTP-YAML TOP-YAML: a docker-registry on a free port with
# these extra config lines (under http:, at top level); sets PORT.
reg_start() {
	local name=$1 httpx=$2 topx=$3 dir=$T/reg-$1 pid i
	mkdir -p "$dir/storage"
	PORT=$(free_port)
	cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$PORT
  secret: pulltop-auth-test
$httpx
$topx
EOF
	docker-registry serve "$dir/config.yml" </dev/null >"$dir/log" 2>&1 &
	pid=$!
	t_track_pid "$pid"
	for i in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "registry $name did not start: $(tail -n 3 "$dir/log")" >&2
	return 1
}

# pull NAME ARGS...: a fresh store; output in $T/NAME.out; sets rc
pull() {
	local name=$1
	shift
	rm -rf "$T/s-$name"
	timeout 60 "$P" --store "$T/s-$name" --progress=plain --retries 2 \
	    --retry-delay 0.2 "$@" >"$T/$name.out" 2>&1
	rc=$?
}

# ok NAME DESC: the pull NAME ended 0 with a valid store
ok() {
	if [ "$rc" -eq 0 ] && store_rehash "$T/s-$1" >/dev/null; then
		t_pass "$2"
	else
		t_fail "$2" "rc=$rc $(tail -n 2 "$T/$1.out")"
	fi
}

# fails NAME DESC PATTERN...: the pull NAME ended 1 saying each PATTERN
fails() {
	local name=$1 desc=$2 p
	shift 2
	if [ "$rc" -ne 1 ]; then
		t_fail "$desc" "rc=$rc $(tail -n 2 "$T/$name.out")"
		return
	fi
	for p in "$@"; do
		if ! grep -qF -- "$p" "$T/$name.out"; then
			t_fail "$desc" "no '$p' in: $(grep pulltop: "$T/$name.out" | head -n 2)"
			return
		fi
	done
	t_pass "$desc"
}

# ------------------------------------------------ A: TLS + Basic auth
reg_start a "  tls:
    certificate: $C/srv.crt
    key: $C/srv.key" "auth:
  htpasswd:
    realm: pulltop-basic
    path: $C/htpasswd" || { t_fail "registry A starts" "see log"; exit 1; }
A=127.0.0.1:$PORT
ALOG=$T/reg-a/log
mkdir -p "$T/skopeo-a"
cp "$C/ca.crt" "$T/skopeo-a/"
skopeo copy -q --src-tls-verify=false --dest-cert-dir "$T/skopeo-a" \
    --dest-creds user:pass "docker://$REG/$IMG" "docker://$A/$IMG" \
    >"$T/push-a.log" 2>&1 || t_fail "push to registry A" "$(tail -n 2 "$T/push-a.log")"

export PULLTOP_CERTS_D=$T/certs.d
mkdir -p "$PULLTOP_CERTS_D"
EMPTY_HOME=$T/home-empty
mkdir -p "$EMPTY_HOME"
export HOME=$EMPTY_HOME DOCKER_CONFIG=$T/no-docker-config

(unset PULLTOP_CERTS_D; pull unknown-ca --creds user:pass "$A/$IMG"; exit $rc); rc=$?
fails unknown-ca "unknown CA: fails saying the certificate could not be verified and how to trust it" \
    "TLS certificate of $A could not be verified" "--cacert FILE" "/etc/docker/certs.d/$A/ca.crt"

pull anon --cacert "$C/ca.crt" "$A/$IMG"
fails anon "no credentials: unauthorized (401)" "unauthorized (401)" "needs credentials"

pull cacert --cacert "$C/ca.crt" --creds user:pass "$A/$IMG"
ok cacert "--cacert with --creds pulls over TLS + Basic"

# https_proxy: through a CONNECT tunnel (the fault proxy as a forward proxy)
proxy_start || t_fail "https_proxy: the proxy starts" "see its log"
(export https_proxy=http://$PROXY; unset no_proxy NO_PROXY
    pull tunnel --cacert "$C/ca.crt" --creds user:pass "$A/$IMG"; exit $rc); rc=$?
ok tunnel "https_proxy: pulls over TLS + Basic through a CONNECT tunnel"
proxy_stats | python3 -c "import json, sys; sys.exit('$A' not in json.load(sys.stdin)['tunnels'])" &&
	t_pass "https_proxy: the proxy tunnelled to the registry" ||
	t_fail "https_proxy: the proxy tunnelled to the registry" "$(proxy_stats | head -c 300)"
proxy_stop

mkdir -p "$PULLTOP_CERTS_D/$A"
cp "$C/ca.crt" "$PULLTOP_CERTS_D/$A/ca.crt"
pull certsd --creds user:pass "$A/$IMG"
ok certsd "certs.d/HOST:PORT/ca.crt (PULLTOP_CERTS_D) is trusted"
rm -rf "${PULLTOP_CERTS_D:?}/$A"

pull insecure --insecure-registry "$A" --creds user:pass "$A/$IMG"
ok insecure "--insecure-registry HOST:PORT accepts an unverified certificate"
pull insecure-other --insecure-registry 127.0.0.1:1 --creds user:pass "$A/$IMG"
fails insecure-other "--insecure-registry for another port does not skip verification" \
    "could not be verified"

# wrong password: one attempt, said once, the password printed nowhere
before=$(grep -c 'error authenticating user' "$ALOG")
pull wrongpw --cacert "$C/ca.crt" --creds "user:$SECRET_PW" "$A/$IMG"
after=$(grep -c 'error authenticating user' "$ALOG")
fails wrongpw "wrong password: unauthorized (401) naming where the credentials came from" \
    "unauthorized (401): $A rejected the credentials from --creds"
[ $((after - before)) -eq 1 ] && t_pass "wrong password: the registry saw exactly one attempt" ||
	t_fail "wrong password: the registry saw exactly one attempt" "$((after - before)) attempts"
rm -rf "$T/s-wrongjson"
"$P" --store "$T/s-wrongjson" --progress=json --cacert "$C/ca.crt" \
    --creds "user:$SECRET_PW" "$A/$IMG" >"$T/wrongjson.out" 2>"$T/wrongjson.err"
"$P" --store "$T/s-wrongjson" -q --cacert "$C/ca.crt" \
    --creds "user:$SECRET_PW" "$A/$IMG" >"$T/wrongq.out" 2>&1
if grep -qF -- "$SECRET_PW" "$T/wrongpw.out" "$T/wrongjson.out" "$T/wrongjson.err" "$T/wrongq.out"; then
	t_fail "wrong password: it appears in no output (plain, json, quiet)" "$(grep -lF -- "$SECRET_PW" "$T"/wrong*.out "$T/wrongjson.err")"
elif ! grep -q 'errorDetail' "$T/wrongjson.out"; then
	t_fail "wrong password: it appears in no output (plain, json, quiet)" "no errorDetail in json"
else
	t_pass "wrong password: it appears in no output (plain, json, quiet)"
fi

# --- docker config.json
b64() { printf '%s' "$1" | base64 -w0; }
dconf() {	# DIR JSON: a docker config dir holding that config.json
	mkdir -p "$1"
	printf '%s\n' "$2" >"$1/config.json"
}
mkdir -p "$T/bin"
helper() {	# NAME USER PASSWORD: docker-credential-NAME answers for $A
	cat >"$T/bin/docker-credential-$1" <<EOF
#!/bin/sh
[ "\$1" = get ] || exit 2
server=\$(cat)
printf '%s\n' "\$server" >>"$T/helper-$1.log"
case "\$server" in
$A) printf '{"ServerURL":"%s","Username":"$2","Secret":"$3"}\n' "\$server" ;;
*) echo "credentials not found in native keychain"; exit 1 ;;
esac
EOF
	chmod +x "$T/bin/docker-credential-$1"
}
helper pt user pass
helper bad user "$SECRET_PW"
cat >"$T/bin/docker-credential-none" <<'EOF'
#!/bin/sh
cat >/dev/null
echo "credentials not found in native keychain"
exit 1
EOF
chmod +x "$T/bin/docker-credential-none"
export PATH="$T/bin:$PATH"

dconf "$T/dc-auths" '{"auths": {"'"$A"'": {"auth": "'"$(b64 user:pass)"'"}}}'
DOCKER_CONFIG=$T/dc-auths pull auths --cacert "$C/ca.crt" "$A/$IMG"
ok auths "config.json auths (base64 user:password) pulls"

dconf "$T/dc-url" '{"auths": {"https://'"$A"'/v1/": {"auth": "'"$(b64 user:pass)"'"}}}'
DOCKER_CONFIG=$T/dc-url pull auths-url --cacert "$C/ca.crt" "$A/$IMG"
ok auths-url "config.json auths key with https:// and a path pulls"

mkdir -p "$T/home/.docker"
cp "$T/dc-auths/config.json" "$T/home/.docker/config.json"
(unset DOCKER_CONFIG; HOME=$T/home pull home --cacert "$C/ca.crt" "$A/$IMG"; exit $rc); rc=$?
ok home "~/.docker/config.json is read without DOCKER_CONFIG"

dconf "$T/dc-helpers" '{"credHelpers": {"'"$A"'": "pt"}}'
DOCKER_CONFIG=$T/dc-helpers pull helpers --cacert "$C/ca.crt" "$A/$IMG"
ok helpers "credHelpers: docker-credential-pt get pulls"
[ "$(cat "$T/helper-pt.log" 2>/dev/null)" = "$A" ] &&
	t_pass "credHelpers: the helper got HOST:PORT on stdin, once" ||
	t_fail "credHelpers: the helper got HOST:PORT on stdin, once" "$(cat "$T/helper-pt.log" 2>/dev/null)"

dconf "$T/dc-store" '{"credsStore": "pt"}'
DOCKER_CONFIG=$T/dc-store pull store --cacert "$C/ca.crt" "$A/$IMG"
ok store "credsStore: the default helper pulls"

dconf "$T/dc-order" '{"auths": {"'"$A"'": {"auth": "'"$(b64 "user:$SECRET_PW")"'"}},
  "credsStore": "bad", "credHelpers": {"'"$A"'": "pt"}}'
DOCKER_CONFIG=$T/dc-order pull order --cacert "$C/ca.crt" "$A/$IMG"
ok order "credHelpers[host] wins over credsStore and auths"
dconf "$T/dc-order2" '{"auths": {"'"$A"'": {"auth": "'"$(b64 "user:$SECRET_PW")"'"}}, "credsStore": "pt"}'
DOCKER_CONFIG=$T/dc-order2 pull order2 --cacert "$C/ca.crt" "$A/$IMG"
ok order2 "credsStore wins over auths"
dconf "$T/dc-fall" '{"auths": {"'"$A"'": {"auth": "'"$(b64 user:pass)"'"}}, "credsStore": "none"}'
DOCKER_CONFIG=$T/dc-fall pull fall --cacert "$C/ca.crt" "$A/$IMG"
ok fall "a helper that has no credentials falls through to auths"

DOCKER_CONFIG=$T/dc-store pull override --cacert "$C/ca.crt" --creds "user:$SECRET_PW" "$A/$IMG"
fails override "--creds overrides the docker config" "rejected the credentials from --creds"
dconf "$T/dc-wrong" '{"auths": {"'"$A"'": {"auth": "'"$(b64 "user:$SECRET_PW")"'"}}}'
DOCKER_CONFIG=$T/dc-wrong pull override2 --cacert "$C/ca.crt" --creds user:pass "$A/$IMG"
ok override2 "--creds overrides wrong credentials in the docker config"

dconf "$T/dc-missing" '{"credsStore": "nope"}'
DOCKER_CONFIG=$T/dc-missing pull missing --cacert "$C/ca.crt" "$A/$IMG"
fails missing "a credential helper not on PATH is a clear error" \
    "credential helper docker-credential-nope not found on PATH"
printf '{"auths": {"%s": {"auth": "%s"}\n' "$A" "$SECRET_PW" >"$T/dc-broken.json"
mkdir -p "$T/dc-broken" && mv "$T/dc-broken.json" "$T/dc-broken/config.json"
DOCKER_CONFIG=$T/dc-broken pull broken --cacert "$C/ca.crt" "$A/$IMG"
fails broken "a config.json that is not JSON is a clear error" "config.json is not valid JSON"
grep -qF -- "$SECRET_PW" "$T/broken.out" && t_fail "a broken config.json is not quoted" "secret printed" ||
	t_pass "a broken config.json is not quoted"

# ------------------------------------------------ B: token auth
TS=$T/tokenserver
mkdir -p "$TS"
python3 "$T_LIB_DIR/tokenserver.py" --portfile "$TS/port" --key "$C/tok.key" \
    --cert "$C/tok.crt" --expires 3 --user user:pass --user admin:adminpw \
    --refresh-token rt-Zq81-secret=user --grant 'admin:*:pull,push' \
    --grant '*:test/pub:pull' --grant 'user:test/priv:pull' \
    </dev/null >"$TS/out" 2>"$TS/log" &
TS_PID=$!
t_track_pid "$TS_PID"
wait_for_file "$TS/port" 10 || { t_fail "token server starts" "$(tail -n 3 "$TS/log")"; exit 1; }
TP=$(cat "$TS/port")
TSU=http://127.0.0.1:$TP
reg_start b "" "auth:
  token:
    realm: $TSU/token
    service: pulltop-test
    issuer: pulltop-tokenserver
    rootcertbundle: $C/tok.crt" || { t_fail "registry B starts" "see log"; exit 1; }
B=127.0.0.1:$PORT
for repo in pub priv secret; do
	skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
	    --dest-creds admin:adminpw "docker://$REG/$IMG" "docker://$B/test/$repo:v1" \
	    >>"$T/push-b.log" 2>&1 || t_fail "push test/$repo to registry B" "$(tail -n 2 "$T/push-b.log")"
done
ntok() {	# tokens issued so far [for scope repository:$1:pull]
	curl -fsS "$TSU/__stats" | json_get "len([t for t in d['tokens'] if '${1:-}' == '' or 'repository:${1:-}:pull' in t['scope']])"
}
nrej() { curl -fsS "$TSU/__stats" | json_get 'd["rejected"]'; }

pull pub "$B/test/pub:v1"
ok pub "token: anonymous pull of a public repository"

n0=$(ntok test/priv)
pull priv-anon "$B/test/priv:v1"
n1=$(ntok test/priv)
fails priv-anon "token: private repository without credentials: unauthorized (401)" \
    "unauthorized (401)" "needs credentials"
[ $((n1 - n0)) -eq 1 ] && t_pass "token: ... asked for one token, no retry loop" ||
	t_fail "token: ... asked for one token, no retry loop" "$((n1 - n0)) tokens"

n0=$(ntok test/priv)
t0=$(date +%s.%N)
pull priv -j 1 --limit-rate 300K --creds user:pass "$B/test/priv:v1"
secs=$(echo "$(date +%s.%N) - $t0" | bc)
n1=$(ntok test/priv)
ok priv "token: --creds pulls a private repository"
if [ $((n1 - n0)) -ge 2 ] && awk "BEGIN{exit !($secs > 3)}"; then
	t_pass "token: a pull that outlives its 3 s token renews it ($((n1 - n0)) tokens in ${secs%.*}s)"
else
	t_fail "token: a pull that outlives its 3 s token renews it" "$((n1 - n0)) tokens in ${secs}s"
fi

n0=$(ntok test/secret)
pull secret --creds user:pass "$B/test/secret:v1"
n1=$(ntok test/secret)
fails secret "token: a repository the user may not pull is refused" \
    "unauthorized (401): no pull access to test/secret with the credentials from --creds"
[ $((n1 - n0)) -eq 1 ] && [ "$(grep -c 'pulltop:' "$T/secret.out")" -eq 1 ] &&
	t_pass "token: ... one token asked for, one error line, no retry loop" ||
	t_fail "token: ... one token asked for, one error line, no retry loop" "$((n1 - n0)) tokens; $(grep -c 'pulltop:' "$T/secret.out") lines"

r0=$(nrej)
pull tok-wrong --creds "user:$SECRET_PW" "$B/test/priv:v1"
r1=$(nrej)
fails tok-wrong "token: wrong password: the token server's 401 is reported" \
    "unauthorized (401): token server 127.0.0.1:$TP rejected the credentials from --creds"
[ $((r1 - r0)) -eq 1 ] && ! grep -qF -- "$SECRET_PW" "$T/tok-wrong.out" &&
	t_pass "token: wrong password: one attempt, password not printed" ||
	t_fail "token: wrong password: one attempt, password not printed" "$((r1 - r0)) rejections"

dconf "$T/dc-idtok" '{"auths": {"'"$B"'": {"auth": "'"$(b64 "<token>:")"'", "identitytoken": "rt-Zq81-secret"}}}'
DOCKER_CONFIG=$T/dc-idtok pull idtok "$B/test/priv:v1"
ok idtok "token: an identitytoken pulls (OAuth2 refresh_token POST)"
m=$(curl -fsS "$TSU/__stats" | json_get "[t['method'] for t in d['tokens'] if t['who'] == 'user'][-1]")
[ "$m" = POST ] && ! grep -qF rt-Zq81-secret "$T/idtok.out" && t_pass "token: ... sent by POST, never printed" ||
	t_fail "token: ... sent by POST, never printed" "method $m"

curl -fsS -X POST --data-binary garbage "$TSU/__mode" >/dev/null
pull garbage "$B/test/pub:v1"
fails garbage "token: a token server answering garbage is a clear error" \
    "token server 127.0.0.1:$TP answered something that is not a token"
curl -fsS -X POST --data-binary normal "$TSU/__mode" >/dev/null
t_kill_pid "$TS_PID"
pull ts-down "$B/test/pub:v1"
fails ts-down "token: a token server that is down is a clear error" \
    "cannot connect to token server 127.0.0.1:$TP"

# ------------------------------------------------ R: redirects
RS=$T/redirect
mkdir -p "$RS"
python3 "$T_LIB_DIR/redirectserver.py" --upstream "$REG" --portfile "$RS/ports" \
    --basic user:pass </dev/null >"$RS/out" 2>"$RS/log" &
t_track_pid $!
python3 "$T_LIB_DIR/redirectserver.py" --upstream "$REG" --portfile "$RS/ports2" \
    --bearer-valid 1 </dev/null >"$RS/out2" 2>"$RS/log2" &
t_track_pid $!
wait_for_file "$RS/ports" 10 && wait_for_file "$RS/ports2" 10 ||
	{ t_fail "redirect servers start" "$(tail -n 3 "$RS/log" "$RS/log2")"; exit 1; }
read -r FP SP <"$RS/ports"
read -r FP2 SP2 <"$RS/ports2"

pull redir --creds user:pass "127.0.0.1:$FP/$IMG"
ok redir "redirect: a pull through a Basic front whose blobs live elsewhere"
curl -fsS "http://127.0.0.1:$FP/__stats" >"$RS/stats.json"
nb=$(json_get "len([r for r in d['front'] if '/blobs/' in r['path'] and r['auth'] and r['status'] == 307])" "$RS/stats.json")
ns=$(json_get "len(d['storage'])" "$RS/stats.json")
na=$(json_get "len([r for r in d['storage'] if any(k.lower() == 'authorization' for k in r['headers'])])" "$RS/stats.json")
[ "$nb" -ge 1 ] && t_pass "redirect: the registry's blob requests carried Authorization ($nb)" ||
	t_fail "redirect: the registry's blob requests carried Authorization" "$nb"
[ "$ns" -ge 1 ] && [ "$na" -eq 0 ] && t_pass "redirect: the other port got $ns requests, none with Authorization" ||
	t_fail "redirect: the other port got no Authorization" "$na of $ns had it"

# the password is blanked in the command line others see in ps
"$P" --store "$T/s-ps" -q -j 1 --limit-rate 100K --creds user:pass \
    "127.0.0.1:$FP/$IMG" >/dev/null 2>&1 &
PS_PID=$!
t_track_pid "$PS_PID"
sleep 1
cmdline=$(tr '\0' ' ' <"/proc/$PS_PID/cmdline" 2>/dev/null)
t_kill_pid "$PS_PID"
case "$cmdline" in
*"--creds user:xxxx "*) t_pass "--creds: the password is blanked in ps" ;;
*) t_fail "--creds: the password is blanked in ps" "cmdline: $cmdline" ;;
esac

pull redir-bearer -j 1 --limit-rate 300K "127.0.0.1:$FP2/$IMG"
curl -fsS "http://127.0.0.1:$FP2/__stats" >"$RS/stats2.json"
nt=$(json_get 'd["tokens"]' "$RS/stats2.json")
nr=$(json_get 'd["rejected"]' "$RS/stats2.json")
ok redir-bearer "bearer: a pull whose token is refused mid-pull completes"
[ "$nr" -ge 1 ] && [ "$nt" -eq $((nr + 1)) ] &&
	t_pass "bearer: each 401 mid-pull fetched one new token ($nr refused, $nt issued)" ||
	t_fail "bearer: each 401 mid-pull fetched one new token" "$nr refused, $nt issued"

# ------------------------------------------------ C: client certificates
reg_start c "  tls:
    certificate: $C/srv.crt
    key: $C/srv.key
    clientcas:
      - $C/ca.crt" "" || { t_fail "registry C starts" "see log"; exit 1; }
CC=127.0.0.1:$PORT
mkdir -p "$T/skopeo-c"
cp "$C/ca.crt" "$C/client.cert" "$C/client.key" "$T/skopeo-c/"
skopeo copy -q --src-tls-verify=false --dest-cert-dir "$T/skopeo-c" \
    "docker://$REG/$IMG" "docker://$CC/$IMG" >"$T/push-c.log" 2>&1 ||
	t_fail "push to registry C" "$(tail -n 2 "$T/push-c.log")"
mkdir -p "$PULLTOP_CERTS_D/$CC"
cp "$C/ca.crt" "$PULLTOP_CERTS_D/$CC/ca.crt"
pull nocert "$CC/$IMG"
fails nocert "client cert: without one the registry refuses, and the error says where to put it" \
    "refused the TLS client certificate" "$PULLTOP_CERTS_D/$CC/client.cert"
[ "$(grep -c '^pulltop:.*(gave up after' "$T/nocert.out")" -eq 0 ] &&
	t_pass "client cert: ... not retried" || t_fail "client cert: ... not retried" "$(tail -n 1 "$T/nocert.out")"
cp "$C/client.key" "$PULLTOP_CERTS_D/$CC/client.key"
pull halfcert "$CC/$IMG"
fails halfcert "client cert: client.key without client.cert is a clear error" \
    "missing certificate $PULLTOP_CERTS_D/$CC/client.cert"
cp "$C/client.cert" "$PULLTOP_CERTS_D/$CC/client.cert"
pull clientcert "$CC/$IMG"
ok clientcert "client cert: certs.d client.cert and client.key pull"
