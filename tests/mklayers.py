#!/usr/bin/env python3
"""Build crafted image layers for tests/t-unpack.sh.

Usage:
    python3 tests/mklayers.py --out DIR --sentinel ABSPATH [CASE...]
    python3 tests/mklayers.py --out DIR --hostile [CASE...]
    python3 tests/mklayers.py --bench DIR [--gnu-tar]

Test mode writes every layer blob to DIR/blobs/<sha256 hex of the blob> and,
per case, DIR/cases/CASE.args: one line of "BLOB MEDIATYPE DIFFID" triples
in layer order, ready for tests/unpack_driver (DIFFID "-" means no check).
ABSPATH is a directory outside any rootfs that the attack layers aim at
(through "../", absolute names, symlinks and hard links); the test checks
it is never touched. zstd layers need the `zstd` command; without it the
cases that use zstd are left out (DIR/cases/zstd-missing says so).

--hostile writes the layers that cost an unpacker time or memory
instead (see hostile_cases()): deep-2500 and deep-10000 (that many nested
directories), many (10,000 dirs, files, 5,000 hard links), whiteouts (5,000
whiteouts over as many directories), rm-big and opq-big (one entry that
removes, or an opaque directory that empties, 5,000 lower files),
zstd-window-128 and zstd-window-16 (160 MiB of zeros whose zstd frame
asks for a window of that many MiB; not without the zstd command);
--scale N multiplies the sizes of many, whiteouts, rm-big and opq-big.

Bench mode builds an OCI image layout in DIR (blobs, index.json, ref
"bench") of six gzip -1 layers of /usr files made with GNU tar, about 280
MB compressed, and writes DIR/layers.args like a case file.

Python standard library only (plus the tar, gzip and zstd commands).
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zlib

MT_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MT_TAR = "application/vnd.oci.image.layer.v1.tar"
MT_DOCKER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

T0 = 1500000000  # mtimes of the crafted entries


# ------------------------------------------------------------- members

def F(name, data=b"", mode=0o644, mtime=None, uid=0, gid=0, xattrs=None):
    return ("file", name, data, mode, mtime, uid, gid, xattrs)


def D(name, mode=0o755, mtime=None, uid=0, gid=0, xattrs=None):
    return ("dir", name, None, mode, mtime, uid, gid, xattrs)


def L(name, target, mtime=None):
    return ("symlink", name, target, 0o777, mtime, 0, 0, None)


def H(name, target):
    return ("hardlink", name, target, 0o644, None, 0, 0, None)


def FIFO(name, mode=0o644):
    return ("fifo", name, None, mode, None, 0, 0, None)


def CHR(name, major, minor, mode=0o666):
    return ("chr", name, (major, minor), mode, None, 0, 0, None)


def BLK(name, major, minor, mode=0o660):
    return ("blk", name, (major, minor), mode, None, 0, 0, None)


def rand(seed, n):
    """Deterministic pseudo-random bytes."""
    out = bytearray()
    h = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        h = hashlib.sha256(h).digest()
        out += h * 32
    return bytes(out[:n])


def tarinfo(m, i):
    kind, name, arg, mode, mtime, uid, gid, xattrs = m
    ti = tarfile.TarInfo(name)
    ti.mode = mode
    ti.mtime = mtime if mtime is not None else T0 + i
    ti.uid, ti.gid = uid, gid
    ti.uname = ti.gname = ""
    data = None
    if kind == "file":
        ti.type = tarfile.REGTYPE
        ti.size = len(arg)
        data = io.BytesIO(arg)
    elif kind == "dir":
        ti.type = tarfile.DIRTYPE
    elif kind == "symlink":
        ti.type = tarfile.SYMTYPE
        ti.linkname = arg
    elif kind == "hardlink":
        ti.type = tarfile.LNKTYPE
        ti.linkname = arg
    elif kind == "fifo":
        ti.type = tarfile.FIFOTYPE
    elif kind in ("chr", "blk"):
        ti.type = tarfile.CHRTYPE if kind == "chr" else tarfile.BLKTYPE
        ti.devmajor, ti.devminor = arg
    if xattrs:
        ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in xattrs.items()}
    return ti, data


# -------------------------------------------------------------- layers

class Out:
    def __init__(self, top):
        self.top = top
        self.blobs = os.path.join(top, "blobs")
        self.cases = os.path.join(top, "cases")
        os.makedirs(self.blobs, exist_ok=True)
        os.makedirs(self.cases, exist_ok=True)
        self.have_zstd = shutil.which("zstd") is not None

    def put(self, blob):
        hexd = hashlib.sha256(blob).hexdigest()
        path = os.path.join(self.blobs, hexd)
        if not os.path.exists(path):
            with open(path + ".tmp", "wb") as f:
                f.write(blob)
            os.replace(path + ".tmp", path)
        return path

    def compress(self, raw, comp):
        if comp == "gzip":
            return gzip.compress(raw, 6, mtime=0), MT_GZIP
        if comp == "docker":
            return gzip.compress(raw, 6, mtime=0), MT_DOCKER
        if comp == "zstd":
            p = subprocess.run(["zstd", "-q", "-3", "-c"], input=raw,
                               stdout=subprocess.PIPE, check=True)
            return p.stdout, MT_ZSTD
        return raw, MT_TAR

    def layer(self, members, fmt="gnu", comp="gzip"):
        """A layer from members; returns (blob path, media type, diff_id)."""
        bio = io.BytesIO()
        f = tarfile.GNU_FORMAT if fmt == "gnu" else tarfile.PAX_FORMAT
        with tarfile.open(fileobj=bio, mode="w", format=f, encoding="utf-8",
                          errors="surrogateescape") as t:
            for i, m in enumerate(members):
                ti, data = tarinfo(m, i)
                t.addfile(ti, data)
        raw = bio.getvalue()
        blob, mt = self.compress(raw, comp)
        return self.put(blob), mt, "sha256:" + hashlib.sha256(raw).hexdigest()

    def raw_layer(self, raw, comp="gzip", diff_id=None):
        blob, mt = self.compress(raw, comp)
        return (self.put(blob), mt,
                diff_id or "sha256:" + hashlib.sha256(raw).hexdigest())

    def case(self, name, layers):
        with open(os.path.join(self.cases, name + ".args"), "w") as f:
            f.write(" ".join("%s %s %s" % l for l in layers) + "\n")


def bomb(out, size):
    """A gzip'd tar of one file of size zero bytes, about 1000:1.

    After a full flush deflate output depends only on the input, so one
    compressed MiB of zeros is written over and over: fast to build."""
    ti = tarfile.TarInfo("zeros.bin")
    ti.size = size
    ti.mtime = T0
    head = ti.tobuf(tarfile.GNU_FORMAT)
    tail = bytes((512 - size % 512) % 512 + 1024)
    mib = bytes(1 << 20)
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    h_raw = hashlib.sha256()
    crc = 0
    path = os.path.join(out.blobs, "bomb.tmp")
    with open(path, "wb") as f:
        f.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")
        f.write(z.compress(head) + z.flush(zlib.Z_FULL_FLUSH))
        h_raw.update(head)
        crc = zlib.crc32(head, crc)
        left, block = size, None
        while left > 0:
            n = min(left, len(mib))
            if n == len(mib) and block is not None:
                c = block
            else:
                c = z.compress(mib[:n]) + z.flush(zlib.Z_FULL_FLUSH)
                if n == len(mib) and left < size:
                    block = c       # the second full MiB on: all the same
            f.write(c)
            h_raw.update(mib[:n])
            crc = zlib.crc32(mib[:n], crc)
            left -= n
        f.write(z.compress(tail) + z.flush(zlib.Z_FINISH))
        h_raw.update(tail)
        crc = zlib.crc32(tail, crc)
        f.write(crc.to_bytes(4, "little") +
                ((len(head) + size + len(tail)) & 0xffffffff).to_bytes(4, "little"))
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    final = os.path.join(out.blobs, h.hexdigest())
    os.replace(path, final)
    return final, MT_GZIP, "sha256:" + h_raw.hexdigest()


# --------------------------------------------------------------- cases

def normal_layers(out):
    """Layers GNU tar extracts the same way (no whiteouts, no escapes)."""
    long_dir = "long/" + "d" * 70
    long_gnu = long_dir + "/" + "f" * 90            # > 100: GNU LongLink
    long_pax = "pax/" + "/".join(["p" * 60] * 5)    # > 255: pax path
    n1 = [
        D("./", 0o755),
        D("etc/"), D("usr/"), D("usr/bin/"), D("usr/lib/"),
        D("data/", 0o750, uid=1234, gid=5678),
        D("tmp/", 0o1777),
        F("etc/hostname", b"pulltop\n"),
        F("etc/shadow", b"root:*:19000:0:99999:7:::\n", 0o640, gid=42),
        F("usr/bin/tool", rand("tool", 200 << 10), 0o4755),
        F("usr/bin/sgid", rand("sgid", 10 << 10), 0o2755),
        F("data/big.bin", rand("big", 3 << 20), 0o600, uid=1234, gid=5678),
        F("data/nomode", b"no mode\n", 0o000),
        F("data/empty", b""),
        D("long/"), D(long_dir + "/"),
        F(long_gnu, b"long gnu name\n"),
        L("long/link", "d" * 70 + "/" + "f" * 90),   # long target
        L("etc/localtime", "../usr/share/zoneinfo/UTC"),  # dangling
        L("lib", "usr/lib"),
        L("symdir", "usr"),
        H("usr/bin/tool-hard", "usr/bin/tool"),
        D("run/"), FIFO("run/fifo"),
        F("implicit/a/b/file", b"parents made by tar\n"),
        F("late/child", b"child before its directory\n"),
        D("late/", 0o711, mtime=T0 - 1000),
        F("exec.sh", b"#!/bin/sh\necho hi\n", 0o755, mtime=T0 - 5),
    ]
    n2 = [
        D(long_pax.rsplit("/", 1)[0] + "/"),
        F(long_pax, b"long pax name\n"),
        F("donn\u00e9es/caf\u00e9.txt", "caf\u00e9\n".encode()),
        F("etc/hostname", b"layer two\n", 0o600),
        L("usr/bin/sgid", "tool"),                    # file -> symlink
        F("etc/localtime", b"TZif\n"),                # symlink -> file
        D("data/", 0o700, uid=1234, gid=5678),        # merge, new mode
        H("data/big-link", "data/big.bin"),           # link to a lower file
        F("lib/extra.so", rand("extra", 4096), 0o755),  # through "lib"
        F("xattr.txt", b"has xattrs\n",
          xattrs={"user.pulltop": "hello", "user.second": "2"}),
        F("mtime-ns", b"ns\n", mtime=T0 + 0.25),
        F("usr/bin/tool", rand("tool2", 100 << 10), 0o755),  # breaks the hard link
    ]
    n3 = [
        F("raw\udce9name", b"latin-1 name\n"),
        D("symdir/", 0o755),                          # symlink -> dir
        F("symdir/inside", b"in the new dir\n"),
        F("many/%03d" % 0, b"0"),
    ] + [F("many/%03d" % i, rand(i, i * 37)) for i in range(1, 200)]
    return [out.layer(n1, "gnu", "gzip"), out.layer(n2, "pax", "docker"),
            out.layer(n3, "gnu", "none")]


def build_cases(out, S):
    assert S.startswith("/")
    rel = "../" * 20 + S.lstrip("/")     # climbs out from any depth
    cases = {}

    normal = normal_layers(out)
    cases["normal"] = normal
    if out.have_zstd:
        cases["zstd"] = [out.layer([
            D("z/"), F("z/a", rand("za", 300 << 10)), L("z/l", "a"),
            F("z/b", b"zstd\n", 0o600)], "pax", "zstd")]

    cases["whiteout"] = [
        out.layer([
            D("a/"), F("a/keep", b"keep\n"), F("a/gone", b"gone\n"),
            D("b/"), F("b/x", b"x\n"), D("b/sub/"), F("b/sub/y", b"y\n"),
            D("opq/", 0o755), F("opq/lower1", b"l1\n"),
            D("opq/sub/"), F("opq/sub/lower2", b"l2\n"),
            D("opq/keep-sub/"), F("opq/keep-sub/lower3", b"l3\n"),
            F("f-gone", b"f\n"), F("both", b"lower\n"),
            L("link-gone", "a"),
        ]),
        out.layer([
            F("a/.wh.gone", b""),
            F(".wh.b", b""),
            F(".wh.f-gone", b""),
            F(".wh.link-gone", b""),
            D("opq/", 0o755),
            F("opq/a-before", b"before\n"),
            F("opq/keep-sub/new", b"new\n"),
            F("opq/.wh..wh..opq", b""),
            F("opq/z-after", b"after\n"),
            F("both", b"upper\n"),
            F(".wh.both", b""),          # same layer: does not apply
            F(".wh.nonexistent", b""),
            F("nodir/.wh..wh..opq", b""),
            D(".wh..wh.plnk/"), F(".wh..wh.plnk/123.456", b"aufs\n"),
        ]),
    ]

    cases["replace"] = [
        out.layer([D("d2f/"), F("d2f/child", b"c\n"), D("d2f/deep/"),
                   F("d2f/deep/er", b"e\n"), F("f2d", b"file\n"),
                   L("s2d", "d2f"), D("merge/"), F("merge/lower", b"l\n")]),
        out.layer([F("d2f", b"now a file\n"), D("f2d/"), F("f2d/x", b"x\n"),
                   D("s2d/", 0o700), D("merge/", 0o750),
                   F("merge/upper", b"u\n")]),
    ]

    # ---- escapes
    cases["esc-dotdot"] = [out.layer([F("ok", b"ok\n"),
                                      F("../escape-dotdot", b"pwned\n")])]
    cases["esc-dotdot-mid"] = [out.layer([D("a/"),
                                          F("a/../../escape-mid", b"pwned\n")])]
    cases["esc-abs"] = [out.layer([F("/abs-top", b"top\n"),
                                   F(S + "/abs-pwned", b"pwned\n")])]
    cases["sym-abs-same"] = [out.layer([L("sl", S), F("sl/pwned", b"pwned\n"),
                                        F("sl/dir/pwned2", b"pwned\n")])]
    cases["sym-rel-same"] = [out.layer([L("rl", rel), F("rl/pwned", b"pwned\n")])]
    cases["sym-abs-cross"] = [out.layer([L("sl", S)]),
                              out.layer([F("sl/pwned", b"pwned\n"),
                                         D("sl/newdir/", 0o777)])]
    cases["sym-rel-cross"] = [
        out.layer([D("deep/"), D("deep/x/"), D("deep/x/y/"),
                   L("deep/x/y/up", rel), L("dotdot", "..")]),
        out.layer([F("deep/x/y/up/pwned", b"pwned\n"),
                   F("dotdot/pwned-dd", b"pwned\n")])]
    cases["sym-chain"] = [out.layer([L("c2", "/"), L("c1", "c2/" + rel),
                                     F("c1/pwned", b"pwned\n")])]
    cases["sym-loop"] = [out.layer([L("loop1", "loop2"), L("loop2", "loop1"),
                                    F("loop1/x", b"x\n")])]
    cases["sym-dot"] = [out.layer([L(".", S), F("pwned-dot", b"pwned\n")])]
    cases["sym-dotslash"] = [out.layer([L("./", rel), F("pwned-dot", b"pwned\n")])]
    cases["hl-passwd"] = [out.layer([H("pw", "/etc/passwd")])]
    cases["hl-dotdot"] = [out.layer([H("out", "../../outside")])]
    cases["hl-sentinel"] = [out.layer([L("sd", S), H("hs", "sd/secret")])]
    cases["hl-rel-sentinel"] = [out.layer([H("hs", rel + "/secret")])]
    cases["hl-inroot"] = [out.layer([D("etc/"), F("etc/passwd", b"root:x:0:0::/:/bin/sh\n"),
                                     L("etcl", "/etc"), H("pw3", "etcl/passwd")])]
    cases["chmod-sym"] = [
        out.layer([L("victim", S + "/secret"), L("vdir", S + "/dir"),
                   L("vrel", rel + "/secret"), L("vreldir", rel + "/dir")]),
        out.layer([F("victim", b"mine\n", 0o777, mtime=1), D("vdir/", 0o777),
                   F("vrel", b"mine\n", 0o4777, uid=1, gid=1),
                   D("vreldir/", 0o777, mtime=1)])]
    cases["chmod-sym-same"] = [out.layer([
        L("v1", S + "/secret"), F("v1", b"mine\n", 0o777),
        L("v2", S + "/dir"), D("v2/", 0o777)])]
    cases["wh-dotdot"] = [out.layer([F("ok", b"ok\n"), F(".wh..", b"")])]
    cases["wh-dotdotdot"] = [out.layer([F("ok", b"ok\n"), F(".wh...", b"")])]
    cases["wh-sym"] = [
        out.layer([D(S.lstrip("/") + "/", 0o755),
                   F(S.lstrip("/") + "/secret", b"in-root copy\n"),
                   D(S.lstrip("/") + "/dir/"),
                   L("wl", S), L("wr", rel)]),
        out.layer([F("wl/.wh.secret", b""), F("wr/.wh.dir", b""),
                   F("wl/.wh..wh..opq", b"")])]
    cases["devices"] = [out.layer([
        D("dev/"), CHR("dev/null", 1, 3), BLK("dev/loop7", 7, 7),
        FIFO("dev/fifo"), F("dev/regular", b"r\n"),
        D("ro/", 0o555), F("ro/file", b"in a read-only dir\n", 0o444)])]

    # ---- broken streams
    good = out.layer([F("a", rand("a", 256 << 10)), F("b", rand("b", 256 << 10))])
    cases["good"] = [good]
    blob = open(good[0], "rb").read()
    cases["trunc-gzip"] = [(out.put(blob[:len(blob) // 2]), MT_GZIP, good[2])]
    bad = bytearray(blob)
    for i in range(len(bad) // 2, len(bad) // 2 + 64):
        bad[i] ^= 0x55
    cases["corrupt-gzip"] = [(out.put(bytes(bad)), MT_GZIP, good[2])]
    cases["bad-diffid"] = [(good[0], good[1], "sha256:" + "0" * 64)]
    raw = gzip.decompress(blob)
    cases["trunc-tar"] = [out.raw_layer(raw[:300 << 10])]
    cases["garbage-tar"] = [out.raw_layer(rand("garbage", 8192))]
    if out.have_zstd:
        z = out.compress(raw, "zstd")[0]
        cases["trunc-zstd"] = [(out.put(z[:len(z) // 2]), MT_ZSTD, good[2])]
    cases["plain"] = [out.layer([D("p/"), F("p/plain", b"plain tar\n"),
                                 L("p/l", "plain")], "pax", "none")]
    cases["layer2-broken"] = [normal[0], cases["trunc-gzip"][0]]
    return cases


# -------------------------------------------------------------- hostile

class FastTar:
    """A tar stream of hand-made headers (GNU long names and links):
    tarfile takes seconds for 100,000 entries. Uncompressed in memory;
    layer() gzips it (-1) into the blob store."""

    def __init__(self):
        self.chunks = []

    def _header(self, name, typ, size, mode, link):
        h = bytearray(512)
        h[0:len(name)] = name
        h[100:108] = b"%07o\0" % mode
        h[108:116] = h[116:124] = b"0000000\0"
        h[124:136] = b"%011o\0" % size
        h[136:148] = b"%011o\0" % T0
        h[148:156] = b"        "
        h[156:157] = typ
        h[157:157 + len(link)] = link
        h[257:265] = b"ustar  \0"
        h[148:156] = b"%06o\0 " % sum(h)
        self.chunks.append(bytes(h))

    def _data(self, data):
        self.chunks.append(data + bytes(-len(data) % 512))

    def add(self, name, typ=b"0", data=b"", mode=0o644, link=""):
        name, link = name.encode(), link.encode()
        if len(name) > 100:
            self._header(b"././@LongLink", b"L", len(name) + 1, 0o644, b"")
            self._data(name + b"\0")
            name = name[:100]
        if len(link) > 100:
            self._header(b"././@LongLink", b"K", len(link) + 1, 0o644, b"")
            self._data(link + b"\0")
            link = link[:100]
        self._header(name, typ, len(data), mode, link)
        if data:
            self._data(data)

    def layer(self, out):
        raw = b"".join(self.chunks) + bytes(1024)
        blob = gzip.compress(raw, 1, mtime=0)
        return out.put(blob), MT_GZIP, "sha256:" + hashlib.sha256(raw).hexdigest()


def deep_layer(out, n, hop=1000):
    """n nested directories d/d/.../d and a file "bottom" in the deepest.
    Every hop levels a symlink at the top (s1, s2, ...) leads down to the
    deepest so far and the names go on through it: no name is longer than
    about 2 * hop bytes, so the layer grows as n, not n * n, yet its
    directories are n deep."""
    t = FastTar()
    base, level, k, p = "", 0, 0, ""
    while level < n:
        p = base
        for _ in range(min(hop, n - level)):
            p += "d/"
            t.add(p, b"5", mode=0o755)
            level += 1
        if level < n:
            k += 1
            t.add("s%d" % k, b"2", mode=0o777, link=p.rstrip("/"))
            base = "s%d/" % k
    t.add(p + "bottom", data=b"bottom\n")
    return t.layer(out)


def zstd_window_layer(out, window_log, mib=160):
    """mib MiB of zeros in one file, through `zstd --long=window_log`
    from a pipe (no size known): the frame asks for a window of
    2**window_log bytes, which a decoder holds whole."""
    ti = tarfile.TarInfo("zeros")
    ti.size, ti.mtime = mib << 20, T0
    parts = [ti.tobuf(tarfile.GNU_FORMAT)] + [bytes(1 << 20)] * mib + [bytes(1024)]
    h = hashlib.sha256()
    z = subprocess.Popen(["zstd", "-q", "-3", "--long=%d" % window_log, "-c"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    for p in parts:     # zeros: the output stays far below a pipe's size
        h.update(p)
        z.stdin.write(p)
    z.stdin.close()
    blob = z.stdout.read()
    if z.wait() != 0:
        sys.exit("zstd failed")
    return out.put(blob), MT_ZSTD, "sha256:" + h.hexdigest()


def hostile_cases(out, scale=1):
    """scale multiplies the sizes of every case but the deep ones (the
    suite uses 1; bigger ones are for measuring by hand)."""
    cases = {"deep-2500": [deep_layer(out, 2500)],
             "deep-10000": [deep_layer(out, 10000)]}
    n = 10000 * scale
    # many: n directories in 100, a file in each and n / 2 hard links,
    # in an order that jumps between directories
    t = FastTar()
    for i in range(100):
        t.add("m%02d/" % i, b"5", mode=0o755)
    for i in range(n):
        t.add("m%02d/d%07d/" % (i % 100, i), b"5", mode=0o755)
        t.add("m%02d/d%07d/f" % (i % 100, i), data=b"%d\n" % i)
    for i in range(n // 2):
        j = (i * 7919) % n
        t.add("links/l%07d" % i, b"1", link="m%02d/d%07d/f" % (j % 100, j))
    cases["many"] = [t.layer(out)]
    n = 5000 * scale
    # whiteouts: n directories with a file, then a whiteout for each
    lo, up = FastTar(), FastTar()
    lo.add("w/", b"5", mode=0o755)
    for i in range(n):
        lo.add("w/d%05d/" % i, b"5", mode=0o755)
        lo.add("w/d%05d/f" % i, data=b"x\n")
        up.add("w/.wh.d%05d" % i)
    up.add("w/kept", data=b"kept\n")
    cases["whiteouts"] = [lo.layer(out), up.layer(out)]
    # one entry that removes n lower files, one opaque directory
    big = FastTar()
    big.add("big/", b"5", mode=0o755)
    for i in range(n):
        big.add("big/f%05d" % i, data=b"x\n")
    big = big.layer(out)
    rm, opq = FastTar(), FastTar()
    rm.add("big", data=b"now a file\n")
    opq.add("big/.wh..wh..opq")
    opq.add("big/kept", data=b"kept\n")
    cases["rm-big"] = [big, rm.layer(out)]
    cases["opq-big"] = [big, opq.layer(out)]
    if out.have_zstd:   # 128 MiB windows are refused, 16 MiB ones not
        cases["zstd-window-128"] = [zstd_window_layer(out, 27)]
        cases["zstd-window-16"] = [zstd_window_layer(out, 24)]
    return cases


def main_test(a):
    out = Out(a.out)
    if a.hostile:
        for name, layers in hostile_cases(out, a.scale).items():
            if not a.cases or name in a.cases:
                out.case(name, layers)
        return
    cases = {}
    if not a.cases or set(a.cases) != {"bomb"}:     # only the bomb: quick
        cases = build_cases(out, os.path.abspath(a.sentinel))
    if a.bomb:
        cases["bomb"] = [bomb(out, a.bomb << 20)]
    for name, layers in cases.items():
        if not a.cases or name in a.cases:
            out.case(name, layers)
    if not out.have_zstd:
        with open(os.path.join(out.cases, "zstd-missing"), "w") as f:
            f.write("install the zstd package\n")


# --------------------------------------------------------------- bench

BENCH_DIRS = ["/usr/bin", "/usr/include", "/usr/lib/python3.11",
              "/usr/lib/gcc", "/usr/lib/postgresql", "/usr/share/perl"]


def main_bench(a):
    top = a.bench
    blobs = os.path.join(top, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    layers, triples = [], []
    for d in BENCH_DIRS:
        if not os.path.isdir(d):
            continue
        tmp = os.path.join(top, "layer.tmp")
        # tar | tee >(sha256) | gzip -1, all streaming
        tar = subprocess.Popen(["tar", "-C", "/", "-cf", "-", "--sort=name",
                                d.lstrip("/")], stdout=subprocess.PIPE)
        gz = subprocess.Popen(["gzip", "-1", "-n"], stdin=subprocess.PIPE,
                              stdout=open(tmp, "wb"))
        h = hashlib.sha256()
        while True:
            b = tar.stdout.read(1 << 20)
            if not b:
                break
            h.update(b)
            gz.stdin.write(b)
        gz.stdin.close()
        if tar.wait() not in (0, 1) or gz.wait() != 0:
            sys.exit("bench: tar/gzip failed for %s" % d)
        bh = hashlib.sha256()
        with open(tmp, "rb") as f:
            for b in iter(lambda: f.read(1 << 20), b""):
                bh.update(b)
        size = os.path.getsize(tmp)
        os.replace(tmp, os.path.join(blobs, bh.hexdigest()))
        layers.append({"mediaType": MT_GZIP, "digest": "sha256:" + bh.hexdigest(),
                       "size": size})
        triples.append("%s %s sha256:%s" % (os.path.join(blobs, bh.hexdigest()),
                                            MT_GZIP, h.hexdigest()))
        print("bench: %s %.1f MB" % (d, size / 1e6), file=sys.stderr)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers",
                   "diff_ids": [t.split()[2] for t in triples]},
        "config": {}}).encode()

    def put(b):
        d = hashlib.sha256(b).hexdigest()
        with open(os.path.join(blobs, d), "wb") as f:
            f.write(b)
        return {"digest": "sha256:" + d, "size": len(b)}
    cd = put(config)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(mediaType="application/vnd.oci.image.config.v1+json", **cd),
        "layers": layers}).encode()
    md = put(manifest)
    with open(os.path.join(top, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(top, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [dict(
            mediaType="application/vnd.oci.image.manifest.v1+json",
            annotations={"org.opencontainers.image.ref.name": "bench"}, **md)]}, f)
    with open(os.path.join(top, "layers.args"), "w") as f:
        f.write(" ".join(triples) + "\n")
    with open(os.path.join(top, "manifest.digest"), "w") as f:
        f.write(md["digest"] + "\n")
    print("bench: %d layers, %.1f MB" % (len(layers),
          sum(l["size"] for l in layers) / 1e6), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="test layers go here")
    ap.add_argument("--sentinel", help="absolute path the attacks aim at")
    ap.add_argument("--bomb", type=int, default=1024,
                    help="MiB of zeros in the gzip bomb (0: none)")
    ap.add_argument("--hostile", action="store_true",
                    help="the layers that cost time or memory instead")
    ap.add_argument("--scale", type=int, default=1,
                    help="with --hostile: sizes times this")
    ap.add_argument("--bench", help="build the bench OCI layout here")
    ap.add_argument("cases", nargs="*")
    a = ap.parse_args()
    if a.bench:
        return main_bench(a)
    if not a.out or not (a.sentinel or a.hostile):
        ap.error("--out and --sentinel (or --hostile) are required")
    return main_test(a)


if __name__ == "__main__":
    sys.exit(main())
