#!/bin/bash
# tests/t-scale.sh - many images in one run: 200 images from -f, long
# references printed whole, -f's rules and errors, and the dashboard
# scrolled to the 200th image. Pushes the `wide` fixture set (200 images
# of 20 tiny layers, mostly shared) into the test registry first.
. "$(dirname "$0")/lib.sh"
: "${PULLTOP:?}" "${REG:?}"
P=$PULLTOP
T=$(t_tmpdir)

if ! "$T_PYTHON" "$T_LIB_DIR/fixtures.py" --registry "$REG" -q wide \
    >"$T/wide.list" 2>"$T/wide.err"; then
	t_fail "wide fixtures pushed" "$(tail -2 "$T/wide.err")"
	t_summary
	exit 1
fi
{
	echo "# the wide set: 200 images"
	echo
	for i in $(seq 0 199); do printf '%s/wide/app:t%03d   # image %d\n' "$REG" "$i" "$i"; done
} >"$T/list"

# --- 200 images from a file: all pulled, all named, store valid
/usr/bin/time -f '%M %e' -o "$T/time" timeout 300 "$P" --store "$T/s1" -q \
    -f "$T/list" >"$T/q.out" 2>"$T/q.err"
rc=$?
n=$(json_get 'len(d["manifests"])' "$T/s1/index.json" 2>/dev/null)
[ $rc -eq 0 ] && [ "$n" = 200 ] && [ "$(grep -c . "$T/q.out")" = 200 ] &&
	t_pass "200 images: exit 0, 200 lines, 200 index.json entries" ||
	t_fail "200 images: exit 0, 200 lines, 200 index.json entries" \
	    "rc=$rc entries=$n lines=$(grep -c . "$T/q.out") $(head -2 "$T/q.err")"
store_rehash "$T/s1" >"$T/rehash" && t_pass "200 images: every blob re-hashes" ||
	t_fail "200 images: every blob re-hashes" "$(head -2 "$T/rehash")"
rss=$(cut -d' ' -f1 "$T/time")
[ -n "$rss" ] && [ "$rss" -le 65536 ] && t_pass "200 images: peak RSS <= 64 MiB (${rss} KiB)" ||
	t_fail "200 images: peak RSS <= 64 MiB" "${rss} KiB"

# --- the same from stdin, plain: each image once
timeout 300 "$P" --store "$T/s2" --progress=plain -f - <"$T/list" >"$T/p.out" 2>"$T/p.err"
rc=$?
[ $rc -eq 0 ] && [ "$(grep -c '^Status: ' "$T/p.out")" = 200 ] &&
	t_pass "-f -: 200 images from stdin" ||
	t_fail "-f -: 200 images from stdin" "rc=$rc $(grep -c '^Status: ' "$T/p.out") Status lines"

# --- -f and arguments together, duplicates pulled once
printf '%s/test/multi:v1\n\n  # a comment\n%s/test/multi:v1\n' "$REG" "$REG" >"$T/two"
timeout 60 "$P" --store "$T/s3" -q -f "$T/two" "$REG/test/many:v1" >"$T/d.out" 2>&1
rc=$?
[ $rc -eq 0 ] && [ "$(grep -c . "$T/d.out")" = 2 ] &&
	t_pass "-f with arguments: each reference once" ||
	t_fail "-f with arguments: each reference once" "rc=$rc $(cat "$T/d.out")"

# --- -f errors: one line, exit 2, nothing pulled
timeout 10 "$P" --store "$T/s4" -q -f "$T/missing" >"$T/e1" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "^pulltop: --file: $T/missing: No such file or directory$" "$T/e1" &&
	[ ! -e "$T/s4" ] && t_pass "-f missing file: one line, exit 2" ||
	t_fail "-f missing file: one line, exit 2" "rc=$rc $(head -1 "$T/e1")"
printf '%s/test/multi:v1\n# ok\nUPPER/Case:x\n' "$REG" >"$T/bad"
timeout 10 "$P" --store "$T/s5" -q -f "$T/bad" >"$T/e2" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "^pulltop: $T/bad:3: invalid reference 'UPPER/Case:x'" "$T/e2" &&
	[ ! -e "$T/s5" ] && t_pass "-f bad reference: names file and line 3, exit 2" ||
	t_fail "-f bad reference: names file and line 3, exit 2" "rc=$rc $(head -1 "$T/e2")"
printf '# nothing\n\n' >"$T/empty"
timeout 10 "$P" --store "$T/s6" -q -f "$T/empty" >"$T/e3" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q 'no image given' "$T/e3" &&
	t_pass "-f with no references: usage error" ||
	t_fail "-f with no references: usage error" "rc=$rc $(head -1 "$T/e3")"

# --- a long reference (255-character path + domain + tag) printed whole
path=$(printf 'long/%0250d' 0)
ref="$REG/$path:tag-for-a-long-name"
timeout 60 "$P" --store "$T/s7" --progress=plain --retries 1 "$ref" >"$T/l.out" 2>"$T/l.err"
rc=$?
[ $rc -eq 1 ] && grep -qF "$ref: Pulling from $path" "$T/l.out" &&
	grep -qF "pulltop: $ref: " "$T/l.err" &&
	t_pass "long reference: whole in plain output and the error line" ||
	t_fail "long reference: whole in plain output and the error line" \
	    "rc=$rc ${#ref} chars; $(head -c 300 "$T/l.err")"
timeout 60 "$P" --store "$T/s7" --progress=json --retries 1 "$ref" >"$T/l.json" 2>/dev/null
json_lines_valid "$T/l.json" >/dev/null &&
	"$T_PYTHON" -c '
import json, sys
ref = sys.argv[2]
lines = [json.loads(l) for l in open(sys.argv[1])]
assert lines and all(o["image"] == ref for o in lines)
assert any(o.get("id") == ref for o in lines)
assert any(o.get("errorDetail") for o in lines)
' "$T/l.json" "$ref" && t_pass "long reference: whole in every JSON image and id" ||
	t_fail "long reference: whole in every JSON image and id" "$(head -c 300 "$T/l.json")"

# --- the dashboard with 200 images: End in Images shows the 200th
if command -v tmux >/dev/null 2>&1; then
	tmux_server pulltop-scale-$$
	tm new-session -d -s S -x 120 -y 40 \
	    "$(printf '%q ' "$P" --store "$T/s1" -f "$T/list")"
	ok=0
	for _ in $(seq 1 100); do
		tm capture-pane -p -t S | grep -q 'wide/app:t000' && { ok=1; break; }
		sleep 0.2
	done
	tm send-keys -t S End
	for _ in $(seq 1 50); do
		scr=$(tm capture-pane -p -t S)
		grep -q 'wide/app:t199' <<<"$scr" && { ok=2; break; }
		sleep 0.2
	done
	[ $ok = 2 ] && ! grep -q 'wide/app:t000 ' <<<"$scr" &&
		t_pass "dashboard: 200 images, End scrolls Images to the 200th" ||
		t_fail "dashboard: 200 images, End scrolls Images to the 200th" \
		    "$(head -12 <<<"${scr:-}")"
	tm send-keys -t S q
	sleep 0.5
	tm send-keys -t S y 2>/dev/null
else
	t_fail "dashboard: 200 images, End scrolls Images to the 200th" "tmux missing"
fi
t_summary
