#!/usr/bin/env bash
# tests/t-unpack.sh - the unpack engine (src/unpack/), driven through
# tests/unpack_driver.c on layers crafted by tests/mklayers.py:
#
#   - rootfs equal to GNU tar extracting the same layers in order (gzip,
#     docker gzip, plain tar, zstd; GNU and pax long names, hard links,
#     xattrs, modes with setuid bits, mtimes, symlinks, fifos)
#   - OCI whiteouts, docker replacement rules
#   - every escape: "../", absolute names, symlinks (same and earlier
#     layer, absolute and relative targets, chains, loops, one named
#     "."), hard links out, chmod through a symlink (CVE-2021-32760),
#     ".wh.." and whiteouts under symlinks. A sentinel directory outside
#     the rootfs (and /etc/passwd) must stay exactly as it was.
#   - broken streams fail naming the layer; a failed or cancelled unpack
#     leaves the previous rootfs as it was; a gzip bomb costs no memory
#   - device nodes as root, and skipped with a warning when not root
#   - hostile layers (mklayers.py --hostile): 10,000 nested directories
#     unpack in time linear in depth (2,500 levels against 10,000, CPU
#     time), peak RSS stays under 64 MiB on the deep, many-entries,
#     hard-link, whiteout and zstd layers (a zstd frame asking for a
#     window over 16 MiB is refused), one entry that removes (or empties)
#     thousands of files still asks whether to cancel as it goes
#   - SIGTERM during a long unpack (10,000 nested directories, the
#     bomb): the layer cancelled within 0.3 s, exit 143 within 1 s, the
#     staging folder moved whole into DIR/.pulltop-trash (not deleted on
#     the way out), which the next unpack in the folder empties; a
#     SIGKILLed unpack's staging folder is swept by the next unpack in the
#     same folder
#
#   bash tests/t-unpack.sh            the checks (about a minute; with
#                                     SANITIZER=asan the driver is built
#                                     with ASan and UBSan, and peak RSS is
#                                     not checked: it is the sanitizer's)
#   bash tests/t-unpack.sh --bench    unpack vs GNU tar vs umoci
#       (BENCH_DIR: where the bench image is kept, built if missing;
#        BENCH_OUT: where the rootfs are written, default a temp dir)
set -u
. "$(dirname "$0")/lib.sh"
cd "$T_ROOT" || exit 1

T=$(t_tmpdir)
chmod 755 "$T"
DRV=$T/unpack_driver
PY=$T_PYTHON
MD1=sha256:$(printf '1%.0s' $(seq 64))
MD2=sha256:$(printf '2%.0s' $(seq 64))

SAN=(-O2)
if [ "${SANITIZER:-}" = asan ]; then
	SAN=(-O1 -fsanitize=address,undefined -fno-omit-frame-pointer)
fi
# rss_checked NAME: peak RSS means something in this build (else a SKIP)
rss_checked() {
	[ -z "${SANITIZER:-}" ] && return 0
	t_skip "$1" "peak RSS under $SANITIZER is the sanitizer's"
	return 1
}

# shellcheck disable=SC2046
if ! ${CC:-cc} -std=c11 -D_GNU_SOURCE "${SAN[@]}" -g -Wall -Wextra -Isrc/unpack -Isrc/util \
	tests/unpack_driver.c src/unpack/*.c src/util/util.c src/util/digest.c \
	$(pkg-config --cflags --libs libarchive libzstd zlib libcrypto) \
	-pthread -o "$DRV" 2>"$T/cc.err"; then
	t_fail build "$(tail -n 5 "$T/cc.err")"
	t_summary
	exit 1
fi
t_pass build

# ---------------------------------------------------------------- bench

if [ "${1:-}" = --bench ]; then
	B=${BENCH_DIR:-$T/bench}
	[ -f "$B/layers.args" ] || "$PY" tests/mklayers.py --bench "$B" || exit 1
	read -r -a L <"$B/layers.args"
	MD=$(cat "$B/manifest.digest")
	O=$(mktemp -d "${BENCH_OUT:-$T}/bench-out.XXXXXX")
	t_cleanup_push rm -rf "$O"
	med() { sort -n | sed -n 2p; }
	one() {	# label command... ; prints seconds and peak KB
		local s e
		sync
		cat "$B"/blobs/sha256/* >/dev/null	# blobs warm, as after a pull
		s=$(date +%s.%N)
		/usr/bin/time -f %M -o "$T/rss" "$@" >/dev/null 2>"$T/bench.err" ||
			{ echo "bench: $1 failed: $(tail -n 2 "$T/bench.err")" >&2; }
		e=$(date +%s.%N)
		echo "$(echo "$e - $s" | bc) $(tail -n 1 "$T/rss")"
	}
	tarx() {
		local i
		mkdir -p "$1"
		for ((i = 0; i < ${#L[@]}; i += 3)); do
			tar -xzf "${L[i]}" -C "$1" || return 1
		done
	}
	ROOTLESS=()
	[ "$(id -u)" = 0 ] || ROOTLESS=(--rootless)
	for tool in pulltop tar umoci; do
		: >"$T/times"
		for _ in 1 2 3; do
			rm -rf "$O/bout"
			mkdir -p "$O/bout"
			case $tool in
			pulltop) one "$DRV" "$O/bout" img "$MD" "${L[@]}" ;;
			tar) one bash -c "$(declare -p L); $(declare -f tarx); tarx $O/bout/img" ;;
			umoci) one umoci unpack "${ROOTLESS[@]}" \
				--image "$B:bench" "$O/bout/img" ;;
			esac >>"$T/times"
		done
		printf '%-8s median %6.2f s   peak RSS %6d KB   runs: %s\n' "$tool" \
		    "$(cut -d' ' -f1 "$T/times" | med)" \
		    "$(cut -d' ' -f2 "$T/times" | sort -n | tail -n 1)" \
		    "$(cut -d' ' -f1 "$T/times" | tr '\n' ' ')"
	done
	exit 0
fi

# ------------------------------------------------------------- fixtures

S=$T/sentinel
mkdir -p "$S/dir"
echo "top secret" >"$S/secret"
echo inner >"$S/dir/inner"
chmod 600 "$S/secret"
chmod 700 "$S/dir"
touch -d '2001-01-01' "$S/secret" "$S/dir/inner" "$S/dir"
if ! "$PY" tests/mklayers.py --out "$T/layers" --sentinel "$S" --bomb 0 \
	>"$T/mk.out" 2>&1; then
	t_fail layers "$(tail -n 3 "$T/mk.out")"
	t_summary
	exit 1
fi
C=$T/layers/cases

cat >"$T/tree.py" <<'EOF'
# tree.py snap DIR | same A B | check DIR EXPR
import hashlib, json, os, stat, sys

def entries(top):
    out = {}
    top = os.fsencode(top)
    for d, dirs, files in os.walk(top):
        for n in dirs + files + ([b"."] if d == top else []):
            p = os.path.normpath(os.path.join(d, n))
            rel = os.path.relpath(p, top).decode("utf-8", "surrogateescape")
            st = os.lstat(p)
            e = {"type": stat.S_IFMT(st.st_mode), "mode": stat.S_IMODE(st.st_mode),
                 "uid": st.st_uid, "gid": st.st_gid, "nlink": st.st_nlink,
                 "ino": st.st_ino}
            if stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                try:
                    with open(p, "rb") as f:
                        for b in iter(lambda: f.read(1 << 20), b""):
                            h.update(b)
                except PermissionError:     # mode 0 when not root
                    h.update(b"unreadable")
                e["size"], e["sha"] = st.st_size, h.hexdigest()
            if stat.S_ISLNK(st.st_mode):
                e["target"] = os.readlink(p).decode("utf-8", "surrogateescape")
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                e["rdev"] = [os.major(st.st_rdev), os.minor(st.st_rdev)]
            if not stat.S_ISDIR(st.st_mode):
                e["mtime"] = st.st_mtime_ns
            try:
                e["xattrs"] = {x: os.getxattr(p, x, follow_symlinks=False).hex()
                               for x in os.listxattr(p, follow_symlinks=False)
                               if x.startswith("user.")}
            except OSError:
                e["xattrs"] = {}
            out[rel] = e
    return out

def links(e):
    g = {}
    for p, v in e.items():
        if v["type"] != stat.S_IFDIR and v["nlink"] > 1:
            g.setdefault(v["ino"], []).append(p)
    return sorted(sorted(x) for x in g.values() if len(x) > 1)

def strip(e):
    return {p: {k: x for k, x in v.items() if k not in ("ino", "nlink")}
            for p, v in e.items()}

cmd = sys.argv[1]
if cmd == "snap":
    top = sys.argv[2]
    e = entries(top)
    # outside trees: directory mtimes count too
    for p, v in e.items():
        v["mtime"] = os.lstat(os.path.join(top, p)).st_mtime_ns
    json.dump(e, sys.stdout, sort_keys=True, indent=0)
elif cmd == "same":
    a, b = entries(sys.argv[2]), entries(sys.argv[3])
    bad = []
    for p in sorted(set(a) | set(b)):
        if p not in a or p not in b:
            bad.append("%s only in %s" % (p, "first" if p in a else "second"))
        elif strip(a)[p] != strip(b)[p]:
            d = {k: (strip(a)[p].get(k), strip(b)[p].get(k)) for k in
                 set(strip(a)[p]) | set(strip(b)[p]) if strip(a)[p].get(k) != strip(b)[p].get(k)}
            bad.append("%s differs %s" % (p, d))
    if links(a) != links(b):
        bad.append("hard links differ: %s vs %s" % (links(a), links(b)))
    print("%d entries, %d hard link groups" % (len(a), len(links(a))))
    for x in bad[:5]:
        print(x)
    sys.exit(1 if bad else 0)
elif cmd == "check":
    top = sys.argv[2]
    e = entries(top)
    P = lambda p: os.path.join(top, p)
    env = {
        "files": set(p for p in e if p != "."),
        "exists": lambda p: os.path.lexists(P(p)),
        "read": lambda p: open(P(p), "rb").read(),
        "mode": lambda p: stat.S_IMODE(os.lstat(P(p)).st_mode),
        "kind": lambda p: stat.S_IFMT(os.lstat(P(p)).st_mode),
        "isdir": lambda p: stat.S_ISDIR(os.lstat(P(p)).st_mode),
        "isreg": lambda p: stat.S_ISREG(os.lstat(P(p)).st_mode),
        "islink": lambda p: os.path.islink(P(p)),
        "target": lambda p: os.readlink(P(p)),
        "same": lambda p, q: os.lstat(P(p)).st_ino == os.lstat(P(q)).st_ino,
        "xattr": lambda p, n: os.getxattr(P(p), n, follow_symlinks=False),
        "mtime_ns": lambda p: os.lstat(P(p)).st_mtime_ns,
        "rdev": lambda p: (os.major(os.lstat(P(p)).st_rdev), os.minor(os.lstat(P(p)).st_rdev)),
        "S": sys.argv[4] if len(sys.argv) > 4 else "",
        "os": os, "stat": stat,
    }
    try:
        ok = eval(sys.argv[3], env)
    except Exception as x:
        print("%s: %s" % (type(x).__name__, x))
        sys.exit(1)
    if not ok:
        print("false: %s; files: %s" % (sys.argv[3], sorted(env["files"])[:30]))
    sys.exit(0 if ok else 1)
EOF

tree() { "$PY" "$T/tree.py" "$@"; }

# run CASE DIR NAME DIGEST: the driver on a case's layers; output in $T/out
run() {
	local c=$1
	shift
	# shellcheck disable=SC2046
	"$DRV" "$@" $(cat "$C/$c.args") >"$T/out" 2>"$T/err"
}

# GNU tar extracting a case's layers in order into DIR
gnutar() {
	local c=$1 dir=$2 blob mt
	mkdir -p "$dir"
	# shellcheck disable=SC2046
	set -- $(cat "$C/$c.args")
	while [ $# -ge 3 ]; do
		blob=$1 mt=$2
		shift 3
		case $mt in
		*zstd) zstd -dc "$blob" ;;
		*gzip) gzip -dc "$blob" ;;
		*) cat "$blob" ;;
		esac | tar --xattrs --xattrs-include='user.*' --numeric-owner \
			-xpf - -C "$dir" || return 1
	done
}

check() {	# name dir expr
	if tree check "$2" "$3" "$S" >"$T/chk" 2>&1; then
		t_pass "$1"
	else
		t_fail "$1" "$(tail -n 2 "$T/chk")"
	fi
}

umask 022

# ------------------------------------------------------------ correctness

same_as_tar() {	# name case
	local d=$T/eq-$2
	if ! run "$2" "$d/u" img "$MD1"; then
		t_fail "$1" "unpack: $(cat "$T/out" "$T/err")"
	elif ! gnutar "$2" "$d/tar" 2>"$T/tar.err"; then
		t_fail "$1" "GNU tar: $(tail -n 2 "$T/tar.err")"
	elif tree same "$d/tar" "$d/u/img" >"$T/same" 2>&1; then
		t_pass "$1"
		echo "# $1: $(head -n 1 "$T/same")" >&2
	else
		t_fail "$1" "$(tail -n +2 "$T/same" | head -n 3)"
	fi
}

same_as_tar same-as-gnu-tar normal
N=$T/eq-normal/u/img
check hardlink-kept-by-lower "$N" \
	'not same("usr/bin/tool", "usr/bin/tool-hard") and same("data/big.bin", "data/big-link") and len(read("usr/bin/tool-hard")) == 200 << 10'
check modes "$N" \
	'mode("usr/bin/tool-hard") == 0o4755 and mode("usr/bin/sgid") == 0o777 and mode("tmp") == 0o1777 and mode("data/nomode") == 0 and mode("late") == 0o711 and mode("data") == 0o700'
check long-names "$N" \
	'read("long/" + "d" * 70 + "/" + "f" * 90) == b"long gnu name\n" and read("pax/" + "/".join(["p" * 60] * 5)) == b"long pax name\n" and target("long/link") == "d" * 70 + "/" + "f" * 90'
if "$PY" -c 'import os, sys; os.setxattr(sys.argv[1], "user.t", b"1")' "$T" 2>/dev/null; then
	check xattrs "$N" 'xattr("xattr.txt", "user.pulltop") == b"hello" and xattr("xattr.txt", "user.second") == b"2"'
else
	t_skip xattrs "no user xattrs on this file system"
fi
check mtimes "$N" 'mtime_ns("mtime-ns") == 1500000000250000000 and mtime_ns("exec.sh") == 1499999995000000000 and os.lstat(os.path.join("'"$N"'", "late")).st_mtime == 1499999000'
check through-relative-symlink "$N" 'isreg("usr/lib/extra.so") and islink("lib") and isdir("symdir") and isreg("symdir/inside")'
check non-ascii-names "$N" 'exists("donn\u00e9es/caf\u00e9.txt") and os.path.exists(os.path.join(os.fsencode("'"$N"'"), b"raw\xe9name"))'
if [ -f "$C/zstd-missing" ]; then
	t_skip same-as-gnu-tar-zstd "no zstd command (package zstd)"
else
	same_as_tar same-as-gnu-tar-zstd zstd
fi
same_as_tar same-as-gnu-tar-plain plain

run whiteout "$T/wh" img "$MD1"
check whiteouts "$T/wh/img" \
	'files == {"a", "a/keep", "both", "opq", "opq/a-before", "opq/keep-sub", "opq/keep-sub/new", "opq/z-after"} and read("both") == b"upper\n"'
run replace "$T/rp" img "$MD1"
check replace-rules "$T/rp/img" \
	'isreg("d2f") and read("d2f") == b"now a file\n" and isdir("f2d") and isreg("f2d/x") and isdir("s2d") and not islink("s2d") and mode("s2d") == 0o700 and files >= {"merge/lower", "merge/upper"} and mode("merge") == 0o750'

if UNPACK_PROGRESS=1 run good "$T/pg" img "$MD1" &&
	tail -n 1 "$T/err" | grep -Eq '^progress ([0-9]+)/\1$'; then
	t_pass progress
else
	t_fail progress "$(tail -n 2 "$T/err")"
fi

# ------------------------------------------------------------- escapes

# snapshot of what an attack could touch outside the rootfs (the names
# it could create are looked for by attack() itself)
outside() {
	{
		tree snap "$S"
		stat -c '%n %h %s %Y %a %i' /etc/passwd /etc
		sha256sum /etc/passwd
		find "$T" -mindepth 1 -maxdepth 1 ! -name 'outside.*' | sort
	} 2>&1
}

# attack CASE ok|fail [PATTERN|EXPR]: nothing outside changes; a failure
# names the layer and matches PATTERN; on success EXPR holds in the rootfs
attack() {
	local c=$1 want=$2 arg=${3:-} d=$T/atk-$1 rc detail=
	mkdir -p "$d"
	outside >"$T/outside.0"
	run "$c" "$d" img "$MD1"
	rc=$?
	outside >"$T/outside.1"
	if ! cmp -s "$T/outside.0" "$T/outside.1"; then
		detail="outside changed: $(diff "$T/outside.0" "$T/outside.1" | head -n 4)"
	elif [ "$want" = fail ]; then
		if [ $rc -ne 1 ]; then
			detail="should have failed (rc $rc: $(cat "$T/out"))"
		elif ! grep -Eq "^error: layer [0-9a-f]{12}: .*$arg" "$T/out"; then
			detail="wrong error: $(cat "$T/out")"
		elif [ -n "$(ls -A "$d")" ]; then
			detail="left behind: $(ls -A "$d")"
		fi
	elif [ $rc -ne 0 ]; then
		detail="failed: $(cat "$T/out")"
	elif [ -n "$arg" ] && ! tree check "$d/img" "$arg" "$S" >"$T/chk" 2>&1; then
		detail="rootfs: $(tail -n 1 "$T/chk")"
	fi
	for n in escape-dotdot escape-mid pwned pwned2 pwned-dot pwned-dd abs-pwned outside newdir; do
		for p in "$S" "$T" "$(dirname "$T")" / "$d"; do
			[ -e "$p/$n" ] && detail="$detail $p/$n exists"
		done
	done
	if [ -z "$detail" ]; then
		t_pass "attack-$c"
	else
		t_fail "attack-$c" "$detail"
	fi
}

attack esc-dotdot fail '\.\.'
attack esc-dotdot-mid fail '\.\.'
attack esc-abs ok 'read("abs-top") == b"top\n" and isreg(S[1:] + "/abs-pwned")'
attack sym-abs-same ok 'isreg(S[1:] + "/pwned") and isreg(S[1:] + "/dir/pwned2") and islink("sl")'
attack sym-rel-same ok 'isreg(S[1:] + "/pwned")'
attack sym-abs-cross ok 'isreg(S[1:] + "/pwned") and mode(S[1:] + "/newdir") == 0o777'
attack sym-rel-cross ok 'isreg(S[1:] + "/pwned") and isreg("pwned-dd")'
attack sym-chain ok 'isreg(S[1:] + "/pwned")'
attack sym-loop fail 'too many levels'
attack sym-dot fail 'replace the rootfs'
attack sym-dotslash fail 'replace the rootfs'
attack hl-passwd fail 'not found'
attack hl-dotdot fail '\.\.'
attack hl-sentinel fail 'not found'
attack hl-rel-sentinel fail '\.\.'
attack hl-inroot ok 'same("pw3", "etc/passwd") and islink("etcl")'
attack chmod-sym ok 'isreg("victim") and mode("victim") == 0o777 and isdir("vdir") and mode("vdir") == 0o777 and mode("vrel") == 0o4777 and isdir("vreldir")'
attack chmod-sym-same ok 'isreg("v1") and mode("v1") == 0o777 and isdir("v2")'
attack wh-dotdot fail 'invalid whiteout'
attack wh-dotdotdot fail 'invalid whiteout'
attack wh-sym ok 'isdir(S[1:]) and not exists(S[1:] + "/secret") and not exists(S[1:] + "/dir") and islink("wl")'

# ----------------------------------------------------- broken streams

broken() {	# case pattern
	local d=$T/bad-$1
	mkdir -p "$d"
	if run "$1" "$d" img "$MD1"; then
		t_fail "broken-$1" "unpacked"
	elif ! grep -Eq "^error: layer [0-9a-f]{12}: .*$2" "$T/out"; then
		t_fail "broken-$1" "wrong error: $(cat "$T/out")"
	elif [ -n "$(ls -A "$d")" ]; then
		t_fail "broken-$1" "left behind: $(ls -A "$d")"
	else
		t_pass "broken-$1"
		echo "# broken-$1: $(cat "$T/out")" >&2
	fi
}
broken trunc-gzip 'truncated gzip'
broken corrupt-gzip 'corrupt gzip'
broken bad-diffid 'not the diff_id'
broken trunc-tar 'runcated tar'
broken garbage-tar 'nrecognized archive'
if [ -f "$C/zstd-missing" ]; then
	t_skip broken-trunc-zstd "no zstd command"
else
	broken trunc-zstd 'truncated zstd'
fi
if "$DRV" "$T/bad-mt" img "$MD1" "$(cut -d' ' -f1 "$C/good.args")" \
	application/vnd.example.layer.v1.tar+lz4 - >"$T/out" 2>&1; then
	t_fail broken-media-type "unpacked"
else
	grep -q 'cannot unpack media type' "$T/out" &&
		t_pass broken-media-type || t_fail broken-media-type "$(cat "$T/out")"
fi

# --------------------------------------------------- the previous rootfs

P=$T/prev
run normal "$P" img "$MD1"
tree snap "$P/img" >"$T/prev.0"
intact() {	# name [TRASH]: the previous rootfs, its marker, nothing left
	# over (but the trash, with TRASH: what a cancel moved aside)
	tree snap "$P/img" >"$T/prev.1"
	if ! cmp -s "$T/prev.0" "$T/prev.1"; then
		t_fail "$1" "previous rootfs changed"
	elif ! grep -q "$MD1" "$P/.img.pulltop"; then
		t_fail "$1" "marker: $(cat "$P/.img.pulltop")"
	elif [ "$(ls -A "$P" | tr '\n' ' ')" != ".img.pulltop ${2:+.pulltop-trash }img " ]; then
		t_fail "$1" "left behind: $(ls -A "$P" | tr '\n' ' ')"
	else
		t_pass "$1"
	fi
}
if run layer2-broken "$P" img "$MD2"; then
	t_fail prev-intact-on-failure "the broken image unpacked"
else
	intact prev-intact-on-failure
fi
if UNPACK_CANCEL_AFTER=4 run normal "$P" img "$MD2"; then
	t_fail prev-intact-on-cancel "not cancelled"
elif ! grep -q 'cancelled' "$T/out"; then
	t_fail prev-intact-on-cancel "$(cat "$T/out")"
else
	intact prev-intact-on-cancel trash
fi
if run normal "$P" img "$MD1" && grep -q '^up to date' "$T/out"; then
	t_pass up-to-date
else
	t_fail up-to-date "$(cat "$T/out")"
fi
mkdir -p "$P/.img.staging-4194000/x" "$P/.img.old-4194001"
if ! run replace "$P" img "$MD2"; then
	t_fail replace-previous "$(cat "$T/out")"
elif ! tree check "$P/img" '"merge/upper" in files and "usr" not in files' >"$T/chk"; then
	t_fail replace-previous "$(cat "$T/chk")"
elif [ "$(ls -A "$P" | tr '\n' ' ')" != ".img.pulltop img " ] ||
	! grep -q "$MD2" "$P/.img.pulltop"; then
	t_fail replace-previous "left: $(ls -A "$P" | tr '\n' ' ') marker $(cat "$P/.img.pulltop")"
else
	t_pass replace-previous-and-stale-staging
fi

# ------------------------------------------------------ devices, non-root

if [ "$(id -u)" = 0 ] && run devices "$T/dev" img "$MD1" &&
	grep -q 'skipped 2 device nodes' "$T/err"; then
	t_skip devices-root "mknod not permitted here (a user namespace?)"
	NR=
elif [ "$(id -u)" = 0 ]; then
	check devices-root "$T/dev/img" \
		'kind("dev/null") == stat.S_IFCHR and rdev("dev/null") == (1, 3) and kind("dev/loop7") == stat.S_IFBLK and rdev("dev/loop7") == (7, 7) and kind("dev/fifo") == stat.S_IFIFO and mode("ro") == 0o555'
	NR="runuser -u nobody --"
	if ! $NR test -x "$T/layers/blobs" 2>/dev/null; then
		NR=
	fi
else
	t_skip devices-root "not root"
	NR="env"
fi
if [ -n "$NR" ]; then
	mkdir -p "$T/nr"
	chmod 777 "$T/nr"
	# shellcheck disable=SC2046
	if ! $NR "$DRV" "$T/nr" img "$MD1" $(cat "$C/devices.args") >"$T/out" 2>"$T/err"; then
		t_fail devices-nonroot "$(cat "$T/out")"
	elif ! grep -q 'skipped 2 device nodes (not root)' "$T/err"; then
		t_fail devices-nonroot "no warning: $(cat "$T/err")"
	else
		check devices-nonroot "$T/nr/img" \
			'files == {"dev", "dev/fifo", "dev/regular", "ro", "ro/file"} and mode("ro") == 0o555 and mode("ro/file") == 0o444'
	fi
	# shellcheck disable=SC2046
	if $NR "$DRV" "$T/nr" img "$MD2" $(cat "$C/whiteout.args") >"$T/out" 2>&1 &&
		[ "$(ls -A "$T/nr" | tr '\n' ' ')" = ".img.pulltop img " ]; then
		t_pass "nonroot-replaces-readonly-dirs"
	else
		t_fail "nonroot-replaces-readonly-dirs" "$(cat "$T/out") $(ls -A "$T/nr")"
	fi
else
	t_skip devices-nonroot "no way to run as another user here"
fi

# ------------------------------------------------------------- hostile

rm -rf "$T"/eq-* "$T"/atk-* "$T/prev"
H=$T/hostile
if ! "$PY" tests/mklayers.py --out "$H" --hostile >"$T/mk.out" 2>&1; then
	t_fail hostile-layers "$(tail -n 3 "$T/mk.out")"
fi
HC=$H/cases

# measure CASE DIR: the driver on the case into DIR (emptied first), at
# most 120 s; sets rc, cpu (user + system seconds), wall (seconds), kb
# (peak RSS)
measure() {
	local s e
	rm -rf "$2"
	s=$(date +%s.%N)
	# shellcheck disable=SC2046
	/usr/bin/time -f '%U %S %M' -o "$T/time" timeout -k 5 120 "$DRV" "$2" \
		img "$MD1" $(cat "$HC/$1.args") >"$T/out" 2>"$T/err"
	rc=$?
	e=$(date +%s.%N)
	read -r cpu kb < <(awk '{ printf "%.2f %d\n", $1 + $2, $3 }' \
		"$T/time" | tail -n 1)
	wall=$(awk -v a="$s" -v b="$e" 'BEGIN { printf "%.2f", b - a }')
}

# the depth of DIR/img/.../bottom as find counts it (nested + 1)
bottom_depth() { find "$1/img" -name bottom -printf '%d\n' 2>/dev/null | head -n 1; }

# deep: 2,500 and 10,000 nested directories (each case its best of two)
declare -A best
for c in deep-2500 deep-10000; do
	best[$c]=
	for _ in 1 2; do
		measure "$c" "$H/out"
		if [ "$rc" -ne 0 ]; then
			best[$c]="rc $rc after ${wall}s: $(head -c 300 "$T/out")"
			break
		fi
		if [ -z "${best[$c]}" ] ||
			awk -v a="$cpu" -v b="${best[$c]%% *}" 'BEGIN { exit !(a < b) }'; then
			best[$c]="$cpu $wall $kb $(bottom_depth "$H/out")"
		fi
	done
done
read -r c1 w1 k1 d1 <<<"${best[deep-2500]}"
read -r c4 w4 k4 d4 <<<"${best[deep-10000]}"
ratio=$(awk -v a="$c1" -v b="$c4" 'BEGIN { printf "%.1f", (a > 0 ? b / a : 99) }')
if [ "$d1" != 2501 ] || [ "$d4" != 10001 ]; then
	t_fail deep-10000-linear "2,500: ${best[deep-2500]}; 10,000: ${best[deep-10000]}"
elif awk -v r="$ratio" -v c="$c4" -v w="$w4" 'BEGIN { exit !(r > 8 || c > 20 || w > 60) }'; then
	t_fail deep-10000-linear "CPU ${c1}s for 2,500 levels, ${c4}s (wall ${w4}s) for 10,000: ${ratio}x"
else
	t_pass deep-10000-linear
fi
echo "# deep: 2,500 levels ${c1}s CPU (${w1}s wall), 10,000 levels ${c4}s CPU (${w4}s wall): ${ratio}x" >&2
if ! rss_checked rss-deep-10000-under-64MiB; then
	:
elif [ -n "$k4" ] && [ "$k4" -le 65536 ] && [ "$d4" = 10001 ]; then
	t_pass rss-deep-10000-under-64MiB
else
	t_fail rss-deep-10000-under-64MiB "peak RSS ${k4:-?} KB, bottom at ${d4:-?}"
fi
echo "# deep-10000: peak RSS $k4 KB (2,500: $k1 KB)" >&2

# rss CASE EXPR...: unpacks, its peak RSS under 64 MiB, the rootfs as EXPR
# (a shell test run in DIR/img) says
rss() {
	local c=$1 d=$H/out
	shift
	measure "$c" "$d"
	if [ "$rc" -ne 0 ]; then
		t_fail "rss-$c" "rc $rc: $(head -c 300 "$T/out")"
	elif ! (cd "$d/img" && eval "$*") >"$T/chk" 2>&1; then
		t_fail "rss-$c" "rootfs: $* $(head -c 200 "$T/chk")"
	elif ! rss_checked "rss-$c-under-64MiB"; then
		t_pass "hostile-$c-unpacks"
	elif [ "$kb" -gt 65536 ]; then
		t_fail "rss-$c" "peak RSS $kb KB"
	else
		t_pass "rss-$c-under-64MiB"
	fi
	echo "# $c: peak RSS $kb KB, ${cpu}s CPU, ${wall}s wall" >&2
}
rss many '[ "$(find m?? -mindepth 1 -type d | wc -l)" = 10000 ] && [ "$(find . -type f | wc -l)" = 15000 ] && [ "$(find links -type f -links 2 | wc -l)" = 5000 ]'
rss whiteouts '[ "$(ls -A w)" = kept ]'
rss rm-big '[ -f big ] && [ "$(cat big)" = "now a file" ]'
rss opq-big '[ "$(ls -A big)" = kept ]'

# zstd: a decoder holds the window a frame asks for; over 16 MiB (zstd
# --long=27: 128 MiB) is refused, naming why, 16 MiB unpacks
if [ ! -f "$HC/zstd-window-16.args" ]; then
	t_skip rss-zstd-window-16 "no zstd command (package zstd)"
	t_skip zstd-window-128-refused "no zstd command (package zstd)"
else
	rss zstd-window-16 '[ "$(stat -c %s zeros)" = $((160 << 20)) ]'
	measure zstd-window-128 "$H/out"
	if [ "$rc" -ne 1 ] || ! grep -q '^error: layer [0-9a-f]\{12\}: zstd window over 16 MiB' "$T/out"; then
		t_fail zstd-window-128-refused "rc $rc: $(head -c 300 "$T/out")"
	elif [ -n "$(ls -A "$H/out")" ] ||
		{ [ -z "${SANITIZER:-}" ] && [ "$kb" -gt 65536 ]; }; then
		t_fail zstd-window-128-refused "peak RSS $kb KB, left: $(ls -A "$H/out")"
	else
		t_pass zstd-window-128-refused
	fi
	echo "# zstd-window-128: $(cat "$T/out"); peak RSS $kb KB" >&2
fi

# one entry that removes 5,000 lower files, an opaque directory that
# empties them: the layer asks whether to cancel as it goes, not once
for c in rm-big opq-big; do
	rm -rf "$H/out"
	# shellcheck disable=SC2046
	UNPACK_CHECKS=1 "$DRV" "$H/out" img "$MD1" $(cat "$HC/$c.args") \
		>"$T/out" 2>"$T/err"
	n=$(grep '^checks ' "$T/err" | tail -n 1 | cut -d' ' -f2)
	if [ "${n:-0}" -ge 40 ]; then
		t_pass "cancel-asked-inside-$c"
	else
		t_fail "cancel-asked-inside-$c" "asked ${n:-?} times: $(cat "$T/out" "$T/err")"
	fi
	echo "# $c: the layer that removes 5,000 files asked $n times" >&2
done

# start_bg ARGS DIR: the driver on the layers of case file ARGS in the
# background (pid in bg), once its staging folder has something in it
# and it ran half a second more
start_bg() {
	local i
	rm -rf "$2"
	mkdir -p "$2"
	# shellcheck disable=SC2046
	"$DRV" "$2" img "$MD1" $(cat "$1") >"$T/bg.out" 2>&1 &
	bg=$!
	t_track_pid "$bg"
	for ((i = 0; i < 200; i++)); do
		[ -n "$(ls -A "$2"/.img.staging-* 2>/dev/null)" ] && break
		sleep 0.05
	done
	sleep 0.5
}

# sigterm NAME ARGS DIR [SECS]: SIGTERM during the unpack of ARGS: exit
# 143, the layer cancelled within 0.3 s of the signal (the driver says
# when), nothing left but DIR/.pulltop-trash holding one entry, the
# staging folder moved there whole (the process did not wait for its
# deletion: it holds at least as many directories as the staging had when
# signalled, in $ndirs), and when SECS is given the whole exit within SECS
sigterm() {
	local s e left ms clean trash
	start_bg "$2" "$3"
	if ! t_alive "$bg"; then
		wait "$bg"
		t_fail "$1" "done before the signal (rc $?): make the layer bigger"
		return
	fi
	ndirs=$(find "$3" -type d | wc -l)
	s=$(date +%s.%N)
	kill -TERM "$bg"
	wait "$bg"
	rc=$?
	e=$(awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
	left=$(ls -A "$3" | tr '\n' ' ')
	trash=$(ls -A "$3/.pulltop-trash" 2>/dev/null | tr '\n' ' ')
	tdirs=$(find "$3/.pulltop-trash" -mindepth 1 -type d 2>/dev/null | wc -l)
	ms=$(sed -n 's/^cancelled \([0-9]*\) ms after the signal$/\1/p' "$T/bg.out")
	clean=$(sed -n 's/^cleaned up \([0-9]*\) ms after the signal$/\1/p' "$T/bg.out")
	if [ "$rc" -ne 143 ]; then
		t_fail "$1" "rc $rc: $(cat "$T/bg.out")"
	elif [ "$left" != ".pulltop-trash " ] ||
		! [[ $trash =~ ^[1-9][0-9]*\.[0-9]+\.img\ $ ]]; then
		t_fail "$1" "left behind: $left; in the trash: $trash"
	elif [ "$tdirs" -lt $((ndirs - 1)) ]; then
		t_fail "$1" "the trash holds $tdirs directories, the staging had $ndirs"
	elif [ -z "$ms" ] || [ "$ms" -gt 300 ]; then
		t_fail "$1" "cancelled ${ms:-?} ms after SIGTERM"
	elif [ -n "${4:-}" ] && awk -v e="$e" -v l="$4" 'BEGIN { exit !(e > l) }'; then
		t_fail "$1" "exited ${e}s after SIGTERM"
	else
		t_pass "$1-143-staging-moved-to-trash-whole${4:+-exit-within-${4}s}"
	fi
	echo "# $1: cancelled $ms ms after SIGTERM, staging moved aside after $clean ms ($tdirs directories), exit after ${e}s (rc $rc)" >&2
}
# 10,000 nested directories: deleting what the layer made takes seconds,
# exiting must not (issue 18: within 1 s)
sigterm sigterm-deep "$HC/deep-10000.args" "$H/term" 1
# the next unpack in the folder (of another image) deletes the trash
# before it exits, as it ended without a signal
if [ ! -d "$H/term/.pulltop-trash" ]; then
	t_fail next-run-empties-trash "no trash to empty"
elif ! run plain "$H/term" other "$MD1"; then
	t_fail next-run-empties-trash "the next unpack: $(cat "$T/out")"
elif [ "$(ls -A "$H/term" | tr '\n' ' ')" != ".other.pulltop other " ]; then
	t_fail next-run-empties-trash "left: $(ls -A "$H/term" | tr '\n' ' ')"
else
	t_pass next-run-empties-trash
fi

# SIGKILL: the staging folder stays; the next unpack in the folder (of
# another image) sweeps it, as its process is gone and its lock free
start_bg "$HC/deep-10000.args" "$H/kill"
kill -KILL "$bg" 2>/dev/null
wait "$bg" 2>/dev/null
left=$(cd "$H/kill" && ls -d .img.staging-* 2>/dev/null)
if [ -z "$left" ]; then
	t_fail sigkill-staging-swept "no staging folder after SIGKILL: $(ls -A "$H/kill")"
elif ! run plain "$H/kill" other "$MD1"; then
	t_fail sigkill-staging-swept "the next unpack: $(cat "$T/out")"
elif [ "$(ls -A "$H/kill" | tr '\n' ' ')" != ".other.pulltop other " ]; then
	t_fail sigkill-staging-swept "left: $(ls -A "$H/kill" | tr '\n' ' ')"
else
	t_pass sigkill-staging-swept-by-next-run
fi
rm -rf "$H"

# ---------------------------------------------------------------- bomb

# The memory check unpacks a bomb of 256 MiB of zeros whole (about 1000:1,
# eight times the 32 MiB it may use: what grows with the output shows; 1
# GiB cost minutes of disk here and proved no more); SIGTERM is tried on
# one of 1 GiB, long enough to be caught midway, and cut short.
"$PY" tests/mklayers.py --out "$T/layers" --sentinel "$S" --bomb 256 bomb \
	>"$T/mk.out" 2>&1
"$PY" tests/mklayers.py --out "$T/layers-1g" --sentinel "$S" --bomb 1024 bomb \
	>>"$T/mk.out" 2>&1
if [ ! -f "$C/bomb.args" ] || [ ! -f "$T/layers-1g/cases/bomb.args" ]; then
	t_fail gzip-bomb "could not build it: $(tail -n 2 "$T/mk.out")"
else
	# shellcheck disable=SC2046
	if ! /usr/bin/time -f %M -o "$T/rss" "$DRV" "$T/bomb" img "$MD1" \
		$(cat "$C/bomb.args") >"$T/out" 2>&1; then
		t_fail gzip-bomb "$(cat "$T/out")"
	else
		kb=$(tail -n 1 "$T/rss")
		sz=$(stat -c %s "$T/bomb/img/zeros.bin")
		blob=$(stat -c %s "$(cut -d' ' -f1 "$C/bomb.args")")
		if [ "$sz" -ne $((256 << 20)) ]; then
			t_fail gzip-bomb "zeros.bin is $sz bytes"
		elif ! rss_checked gzip-bomb-bounded-memory; then
			t_pass gzip-bomb-unpacks
		elif [ "$kb" -gt 32768 ]; then
			t_fail gzip-bomb "peak RSS $kb KB"
		else
			t_pass gzip-bomb-bounded-memory
			echo "# gzip-bomb: 256 MiB from $((blob / 1024)) KiB, peak RSS $kb KB" >&2
		fi
	fi
	rm -rf "$T/bomb"
	sigterm sigterm-bomb "$T/layers-1g/cases/bomb.args" "$T/bomb" 1
	rm -rf "$T/bomb" "$T/layers-1g" "$(cut -d' ' -f1 "$C/bomb.args")"
fi

t_summary
