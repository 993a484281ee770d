#!/usr/bin/env python3
"""Build fixture images and push them to a registry through the HTTP API.

Usage:
    python3 tests/fixtures.py --registry 127.0.0.1:PORT [--out FILE]
                              [--cache DIR] [--jobs N] [--build-only] [-q] SET

SET is one of: test, bench, demo, wide, scale, chunks (see SETS below).

Layers are deterministic gzip'd tar streams (mtime 0, uid/gid 0, sorted names,
gzip mtime 0, no gzip file name) made from files of this machine and from
seeded pseudo-random bytes.  Built layer blobs are cached under --cache
(default $TMPDIR/pulltop-fixtures-cache), keyed by a hash of the layer
description (including path/size/mtime of every machine file used), so a
rebuild is just a push.

Blobs are pushed with POST /v2/NAME/blobs/uploads/ + monolithic PUT LOCATION
?digest=... streamed from the cache file (or a cross-repo mount when the blob
was already pushed to another repo in this run); manifests with
PUT /v2/NAME/manifests/REF.  One line per pushed image is printed on stdout:
    NAME:TAG sha256:MANIFESTDIGEST
--out FILE writes a JSON description of everything pushed:
    {"registry": "127.0.0.1:PORT", "set": SET, "images": [IMAGE...]}
  IMAGE (single platform): name, tag, digest (manifest), mediaType, size
    (manifest bytes), platform {os, architecture[, variant]}, config {digest,
    size, mediaType}, layers [{digest, size, diff_id, uncompressed_size,
    mediaType, label}], total_size (manifest + config + layers).
  IMAGE (index / manifest list): name, tag, digest, mediaType, size,
    total_size, manifests [per-platform IMAGE with tag null].

Sets (sizes are compressed):
  test   test/multi:v1 (OCI, 4 layers 50-600 KB), test/shared:v1 (first 2
         layers of test/multi + 1), test/multiarch:v1 (OCI index:
         linux/amd64, linux/arm64/v8, linux/arm/v7), test/docker:v1 (Docker
         schema 2, 2 layers), test/dockerlist:v1 (Docker manifest list:
         amd64, arm64), test/big:v1 (3 x 4 MB random), test/many:v1
         (20 layers of 10-30 KB).
  bench  bench/big:v1 (6 layers, ~223 MB, this machine's /usr files, gzip -1),
         bench/onelayer:v1 (1 layer, ~232 MB: 40 MB of /usr/share + 200 MB
         random), bench/small60:v1 (60 layers of 20-100 KB).
  chunks bench/huge:v1 (1 layer, ~272 MiB random: make bench's --chunks
         case).
  wide   wide/app:t000..t199: 200 images of 20 tiny layers, 19 of them
         from a pool of 40 shared by all (the 200-image test).
  scale  scale/app:t000..t199: 200 images of 20 tiny layers of their own,
         4,000 blobs (make bench's scale case).
  demo   demo/tools:latest (5 layers ~70 MB), demo/docs:latest (shares
         demo/tools' first layer, ~28 MB), demo/big:latest (4 layers
         ~158 MB), demo/multiarch:latest (OCI index, 3 platforms),
         demo/tiny:latest (one tiny layer).

Python standard library only.
"""

import argparse
import concurrent.futures
import gzip
import hashlib
import http.client
import io
import json
import os
import platform
import random
import stat
import sys
import tarfile
import tempfile
import threading
import time
import urllib.parse

FIXTURES_VERSION = 1  # bump to invalidate every cached layer

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

KB = 1024
MB = 1024 * 1024

QUIET = False


def log(msg):
    if not QUIET:
        print("fixtures: " + msg, file=sys.stderr, flush=True)


def host_arch():
    m = platform.machine().lower()
    return {
        "x86_64": "amd64", "amd64": "amd64",
        "aarch64": "arm64", "arm64": "arm64",
        "armv7l": "arm", "armv6l": "arm", "i686": "386", "i386": "386",
        "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
    }.get(m, m)


def host_platform():
    a = host_arch()
    p = {"architecture": a, "os": "linux"}
    if a == "arm64":
        p["variant"] = "v8"
    elif a == "arm":
        p["variant"] = "v7"
    return p


# --------------------------------------------------------------------------
# Layer descriptions
# --------------------------------------------------------------------------
#
# A layer is a list of entries; every entry is a tuple:
#   ("file", arcname, srcpath, size, mode, mtime_ns)   regular file of this machine
#   ("rand", arcname, size, seed)                      seeded pseudo-random bytes
#   ("data", arcname, bytes)                           literal content
#   ("symlink", arcname, target)
# Parent directories are added automatically.  Entries are sorted by name.

class Layer:
    """A layer: explicit entries (sorted by name) optionally followed by a
    "fill": files of a shared Pool (those whose path hashes to `idx` modulo
    `mod`, in walk order) added until the gzip output reaches `target` bytes
    (padded with seeded random data if the pool runs out).  Fill layers are
    independent of each other, so they build in parallel, and their sizes
    are exact in compressed bytes whatever the machine's files compress to."""

    def __init__(self, label, entries, level=6, fill=None):
        self.label = label
        self.entries = sorted(entries, key=lambda e: e[1])
        self.level = level
        self.fill = fill            # (pool, mod, idx, target_gz_bytes)
        names = [e[1] for e in self.entries]
        if len(set(names)) != len(names):
            raise ValueError("duplicate names in layer " + label)
        h = hashlib.sha256()
        desc = [FIXTURES_VERSION, level]
        for e in self.entries:
            if e[0] == "data":
                desc.append(["data", e[1], hashlib.sha256(e[2]).hexdigest()])
            else:
                desc.append(list(e))
        if fill:
            pool, mod, idx, target = fill
            desc.append(["fill", pool.desc, mod, idx, target])
        h.update(json.dumps(desc, separators=(",", ":")).encode())
        self.key = h.hexdigest()
        self.uncompressed_estimate = sum(
            e[3] if e[0] in ("file", "rand") else
            (len(e[2]) if e[0] == "data" else 0) for e in self.entries)
        if fill:
            self.uncompressed_estimate += fill[3] * 3
        # filled by build()
        self.digest = None
        self.size = None
        self.diff_id = None
        self.tar_size = None
        self.path = None


class RandReader:
    """File-like object yielding `size` seeded pseudo-random bytes."""

    def __init__(self, size, seed):
        self.left = size
        self.rng = random.Random(seed)

    def read(self, n=-1):
        if n is None or n < 0 or n > self.left:
            n = self.left
        n = min(n, 4 * MB)
        if n <= 0:
            return b""
        self.left -= n
        return self.rng.randbytes(n)


class HashWriter:
    """Write-through wrapper computing sha256 and byte count."""

    def __init__(self, f):
        self.f = f
        self.h = hashlib.sha256()
        self.n = 0

    def write(self, b):
        self.h.update(b)
        self.n += len(b)
        self.f.write(b)
        return len(b)

    def tell(self):
        return self.n

    def flush(self):
        self.f.flush()


def _tarinfo(name, typ, mode, size=0, linkname=""):
    ti = tarfile.TarInfo(name)
    ti.type = typ
    ti.mode = mode
    ti.size = size
    ti.linkname = linkname
    ti.mtime = 0
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    return ti


def build_layer(layer, cache_dir):
    """Build (or load from cache) the gzip'd tar blob for `layer`."""
    blob = os.path.join(cache_dir, layer.key + ".tar.gz")
    meta = os.path.join(cache_dir, layer.key + ".json")
    if os.path.exists(blob) and os.path.exists(meta):
        try:
            with open(meta) as f:
                m = json.load(f)
            if os.path.getsize(blob) == m["size"]:
                layer.digest, layer.size = m["digest"], m["size"]
                layer.diff_id, layer.tar_size = m["diff_id"], m["tar_size"]
                layer.path = blob
                return False
        except (OSError, ValueError, KeyError):
            pass
    t0 = time.time()
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-", suffix=".tar.gz")
    try:
        with os.fdopen(fd, "wb", buffering=1 * MB) as raw:
            outer = HashWriter(raw)
            gz = gzip.GzipFile(filename="", mode="wb", fileobj=outer,
                               compresslevel=layer.level, mtime=0)
            inner = HashWriter(gz)
            tf = tarfile.open(fileobj=inner, mode="w|", format=tarfile.PAX_FORMAT,
                              bufsize=256 * KB)
            tf.copybufsize = 1 * MB
            dirs_done = set()

            def add_parents(name):
                parts = name.split("/")[:-1]
                for i in range(1, len(parts) + 1):
                    d = "/".join(parts[:i])
                    if d not in dirs_done:
                        dirs_done.add(d)
                        tf.addfile(_tarinfo(d, tarfile.DIRTYPE, 0o755))

            for e in layer.entries:
                name = e[1]
                add_parents(name)
                kind = e[0]
                if kind == "file":
                    _, _, src, size, mode, _ = e
                    with open(src, "rb") as sf:
                        tf.addfile(_tarinfo(name, tarfile.REGTYPE, mode & 0o7777, size), sf)
                elif kind == "rand":
                    _, _, size, seed = e
                    tf.addfile(_tarinfo(name, tarfile.REGTYPE, 0o644, size),
                               RandReader(size, seed))
                elif kind == "data":
                    data = e[2]
                    tf.addfile(_tarinfo(name, tarfile.REGTYPE, 0o644, len(data)),
                               io.BytesIO(data))
                elif kind == "symlink":
                    tf.addfile(_tarinfo(name, tarfile.SYMTYPE, 0o777, 0, e[2]))
                else:
                    raise ValueError(kind)
            if layer.fill:
                pool, mod, idx, target = layer.fill
                i = 0
                while outer.n < target:
                    item = pool.get(i)
                    i += 1
                    if item is None:
                        need = target - outer.n
                        log("warning: %s: machine files exhausted, padding %d bytes "
                            "with random data" % (layer.label, need))
                        name = "fill/pad-%s.bin" % layer.key[:12]
                        add_parents(name)
                        tf.addfile(_tarinfo(name, tarfile.REGTYPE, 0o644, need),
                                   RandReader(need, seed_of(layer.key)))
                        break
                    path, size, mode = item
                    if pool.bucket(path, mod) != idx:
                        continue
                    try:
                        sf = open(path, "rb")
                    except OSError:
                        continue
                    with sf:
                        name = path.lstrip("/")
                        add_parents(name)
                        tf.addfile(_tarinfo(name, tarfile.REGTYPE, mode & 0o7777, size), sf)
            tf.close()
            gz.close()
        layer.digest = "sha256:" + outer.h.hexdigest()
        layer.size = outer.n
        layer.diff_id = "sha256:" + inner.h.hexdigest()
        layer.tar_size = inner.n
        with open(meta + ".tmp", "w") as f:
            json.dump({"digest": layer.digest, "size": layer.size,
                       "diff_id": layer.diff_id, "tar_size": layer.tar_size,
                       "label": layer.label}, f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, blob)
        os.replace(meta + ".tmp", meta)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    layer.path = blob
    if layer.size >= 1 * MB:
        log("built layer %-20s %7.1f MB gz (%7.1f MB tar) in %.1fs" % (
            layer.label, layer.size / MB, layer.tar_size / MB, time.time() - t0))
    return True


# --------------------------------------------------------------------------
# Picking files of this machine
# --------------------------------------------------------------------------

class Picker:
    """Deterministically walks directory trees (sorted) and hands out
    regular files; successive take() calls never return the same file."""

    def __init__(self, roots, max_file=8 * MB, min_file=1):
        self.roots = roots
        self.max_file = max_file
        self.min_file = min_file
        self.gen = self._walk()
        self.exhausted = False

    def _walk(self):
        for root in self.roots:
            if not os.path.isdir(root):
                continue
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames.sort()
                if "__pycache__" in dirnames:
                    dirnames.remove("__pycache__")
                for fn in sorted(filenames):
                    p = os.path.join(dirpath, fn)
                    try:
                        st = os.lstat(p)
                    except OSError:
                        continue
                    if not stat.S_ISREG(st.st_mode):
                        continue
                    if st.st_size < self.min_file or st.st_size > self.max_file:
                        continue
                    if not os.access(p, os.R_OK):
                        continue
                    yield p, st

    def take(self, target_bytes, prefix=""):
        """Files totalling at least target_bytes (uncompressed)."""
        out, total = [], 0
        while total < target_bytes:
            try:
                p, st = next(self.gen)
            except StopIteration:
                self.exhausted = True
                break
            arc = prefix + p.lstrip("/")
            out.append(("file", arc, p, st.st_size, stat.S_IMODE(st.st_mode),
                        st.st_mtime_ns))
            total += st.st_size
        if total < target_bytes:
            log("warning: ran out of machine files (%d of %d bytes)" % (total, target_bytes))
        return out


class Pool:
    """Machine files shared by fill layers: a lazily extended, deterministic
    (sorted walk) list of (path, size, mode); thread-safe."""

    def __init__(self, roots, max_file=16 * MB, min_file=1):
        self.desc = [roots, max_file, min_file]
        self.lock = threading.Lock()
        self.items = []
        self.gen = Picker(roots, max_file, min_file)._walk()
        self.done = False

    def get(self, i):
        with self.lock:
            while len(self.items) <= i and not self.done:
                try:
                    p, st = next(self.gen)
                    self.items.append((p, st.st_size, stat.S_IMODE(st.st_mode)))
                except StopIteration:
                    self.done = True
            return self.items[i] if i < len(self.items) else None

    @staticmethod
    def bucket(path, mod):
        return int.from_bytes(hashlib.sha256(path.encode()).digest()[:4], "big") % mod


def seed_of(*parts):
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "big")


def rand_entry(name, size, *seed):
    return ("rand", name, int(size), seed_of(name, size, *seed))


def text_entry(name, text):
    return ("data", name, text.encode() if isinstance(text, str) else text)


# --------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------

class Image:
    """A single-platform image (OCI or Docker schema2)."""

    def __init__(self, name, tag, layers, kind="oci", plat=None, cmd=None):
        self.name, self.tag, self.layers, self.kind = name, tag, layers, kind
        self.platform = plat or host_platform()
        self.cmd = cmd or ["/bin/sh"]


class Index:
    """An OCI image index or Docker manifest list over Images."""

    def __init__(self, name, tag, images, kind="oci"):
        self.name, self.tag, self.images, self.kind = name, tag, images, kind


def arch_marker(plat, label):
    arch = plat["architecture"] + ("/" + plat["variant"] if plat.get("variant") else "")
    return text_entry("etc/pulltop-fixture-arch", "%s %s\n" % (arch, label))


PLAT_AMD64 = {"architecture": "amd64", "os": "linux"}
PLAT_ARM64 = {"architecture": "arm64", "os": "linux", "variant": "v8"}
PLAT_ARMV7 = {"architecture": "arm", "os": "linux", "variant": "v7"}


def set_test():
    lvl = 6
    pk = Picker(["/usr/share/doc", "/usr/share/common-licenses", "/usr/share/man",
                 "/usr/share"], max_file=64 * KB)
    bins = Picker(["/usr/bin", "/usr/sbin"], max_file=256 * KB)
    multi = [
        Layer("test/multi#1", [rand_entry("base/rand-50k.bin", 50 * KB, "t1"),
                               text_entry("etc/pulltop-fixture", "test/multi layer 1\n"),
                               ("symlink", "base/link", "rand-50k.bin")], lvl),
        Layer("test/multi#2", pk.take(500 * KB) + [rand_entry("l2/rand.bin", 100 * KB, "t2")], lvl),
        Layer("test/multi#3", [rand_entry("l3/rand-600k.bin", 600 * KB, "t3")], lvl),
        Layer("test/multi#4", bins.take(400 * KB), lvl),
    ]
    shared = multi[:2] + [Layer("test/shared#3", [rand_entry("shared/own.bin", 200 * KB, "s3"),
                                                  text_entry("etc/pulltop-shared", "shared\n")], lvl)]
    ma = []
    for i, plat in enumerate((PLAT_AMD64, PLAT_ARM64, PLAT_ARMV7)):
        ma.append(Image("test/multiarch", None, [Layer(
            "test/multiarch#%s" % plat["architecture"],
            [arch_marker(plat, "test/multiarch"),
             rand_entry("data/rand.bin", (20 + 10 * i) * KB, "ma", i)], lvl)], plat=plat))
    docker = [
        Layer("test/docker#1", pk.take(300 * KB, prefix="") + [rand_entry("d/rand1.bin", 80 * KB, "d1")], lvl),
        Layer("test/docker#2", [rand_entry("d/rand2.bin", 150 * KB, "d2")], lvl),
    ]
    dl = []
    for i, plat in enumerate((PLAT_AMD64, PLAT_ARM64)):
        dl.append(Image("test/dockerlist", None, [Layer(
            "test/dockerlist#%s" % plat["architecture"],
            [arch_marker(plat, "test/dockerlist"),
             rand_entry("data/rand.bin", (30 + 10 * i) * KB, "dl", i)], lvl)],
            kind="docker", plat=plat))
    big = [Layer("test/big#%d" % i, [rand_entry("big/rand%d.bin" % i, 4 * MB, "big", i)], 1)
           for i in range(1, 4)]
    many = []
    for i in range(20):
        size = 10 * KB + (seed_of("many", i) % (20 * KB))
        many.append(Layer("test/many#%02d" % (i + 1),
                          [rand_entry("many/%02d.bin" % (i + 1), size, "many", i)], lvl))
    return [
        Image("test/multi", "v1", multi),
        Image("test/shared", "v1", shared),
        Index("test/multiarch", "v1", ma),
        Image("test/docker", "v1", docker, kind="docker"),
        Index("test/dockerlist", "v1", dl, kind="docker"),
        Image("test/big", "v1", big),
        Image("test/many", "v1", many),
    ]


MACHINE_ROOTS = ["/usr/lib", "/usr/libexec", "/usr/bin", "/usr/sbin", "/usr/share",
                 "/usr/include"]


def layer_marker(label):
    # makes every layer's blob unique even if its file selection were not
    return text_entry("etc/pulltop-fixture-layer", label + "\n")


def fill_layers(prefix, pool, targets_mb, level, first=1):
    mod = len(targets_mb)
    return [Layer("%s#%d" % (prefix, i + first), [layer_marker("%s#%d" % (prefix, i + first))],
                  level, fill=(pool, mod, i, int(t * MB)))
            for i, t in enumerate(targets_mb)]


def set_bench():
    lvl = 1
    pool = Pool(MACHINE_ROOTS, max_file=8 * MB)
    # 6 layers, 210 MB of gzip in total (sizes are exact in compressed bytes)
    big = fill_layers("bench/big", pool, [60, 45, 35, 30, 25, 15], lvl)
    share = Picker(["/usr/share", "/usr/include"], max_file=16 * MB)
    one = [Layer("bench/onelayer#1", share.take(40 * MB, prefix="files/")
                 + [rand_entry("data/random-200m.bin", 200 * MB, "onelayer")], lvl)]
    small = []
    for i in range(60):
        size = 20 * KB + (seed_of("small60", i) % (80 * KB))
        small.append(Layer("bench/small60#%02d" % (i + 1),
                           [rand_entry("small/%02d.bin" % (i + 1), size, "small60", i)], lvl))
    return [
        Image("bench/big", "v1", big),
        Image("bench/onelayer", "v1", one),
        Image("bench/small60", "v1", small),
    ]


def set_chunks():
    # one layer over 256 MiB (random: gzip keeps its size), for the
    # --chunks case of make bench
    one = [Layer("bench/huge#1", [rand_entry("data/random-272m.bin", 272 * MB, "huge")], 1)]
    return [Image("bench/huge", "v1", one)]


def tiny_layers(prefix, n, seed):
    out = []
    for i in range(n):
        size = 512 + (seed_of(prefix, seed, i) % 3072)
        out.append(Layer("%s#%03d" % (prefix, i),
                         [rand_entry("%s/%03d.bin" % (prefix.replace("/", "-"), i),
                                     size, seed, i)], 6))
    return out


def set_wide():
    # 200 images of 20 tiny layers: 19 from a pool of 40 shared by all,
    # and one of their own (so every image and manifest differs)
    pool = tiny_layers("wide/pool", 40, "wp")
    own = tiny_layers("wide/own", 200, "wo")
    return [Image("wide/app", "t%03d" % i,
                  [pool[(i + 2 * k) % 40] for k in range(19)] + [own[i]])
            for i in range(200)]


def set_scale():
    # 200 images x 20 tiny layers of their own: 4,000 blobs
    layers = tiny_layers("scale/l", 4000, "sc")
    return [Image("scale/app", "t%03d" % i, layers[20 * i:20 * i + 20])
            for i in range(200)]


def set_demo():
    lvl = 1
    pool = Pool(["/usr/bin", "/usr/sbin", "/usr/lib/x86_64-linux-gnu",
                 "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/libexec"], max_file=16 * MB)
    docs = Picker(["/usr/share/doc", "/usr/share/man", "/usr/share/info",
                   "/usr/share"], max_file=4 * MB)
    base = Layer("demo/base", docs.take(8 * MB) + [
        text_entry("etc/os-release", "NAME=pulltop-demo\nID=pulltop-demo\n"),
        ("symlink", "bin", "usr/bin")], lvl)
    # pool buckets: tools#2..5 -> 0..3, big#1,#3 -> 4,5 (mod 6: disjoint files)
    tools = [base] + [Layer("demo/tools#%d" % (i + 2), [layer_marker("demo/tools#%d" % (i + 2))],
                            lvl, fill=(pool, 6, i, t * MB))
                      for i, t in enumerate([20, 15, 12, 10])]
    docsimg = [base, Layer("demo/docs#2", docs.take(30 * MB), lvl)]
    big = [Layer("demo/big#1", [layer_marker("demo/big#1")], lvl, fill=(pool, 6, 4, 45 * MB)),
           Layer("demo/big#2", [rand_entry("data/blob-60m.bin", 60 * MB, "demobig")], lvl),
           Layer("demo/big#3", [layer_marker("demo/big#3")], lvl, fill=(pool, 6, 5, 30 * MB)),
           Layer("demo/big#4", [rand_entry("data/blob-15m.bin", 15 * MB, "demobig4")], lvl)]
    ma = []
    for i, plat in enumerate((PLAT_AMD64, PLAT_ARM64, PLAT_ARMV7)):
        ma.append(Image("demo/multiarch", None, [base, Layer(
            "demo/multiarch#%s" % plat["architecture"],
            [arch_marker(plat, "demo/multiarch"),
             rand_entry("data/payload.bin", (3 + 2 * i) * MB, "demoma", i)], lvl)], plat=plat))
    tiny = [Layer("demo/tiny", [text_entry("hello.txt", "hello from pulltop\n")], lvl)]
    return [
        Image("demo/tools", "latest", tools),
        Image("demo/docs", "latest", docsimg),
        Image("demo/big", "latest", big),
        Index("demo/multiarch", "latest", ma),
        Image("demo/tiny", "latest", tiny, cmd=["/bin/cat", "/hello.txt"]),
    ]


# --------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------

def all_layers(items):
    seen, out = set(), []
    for it in items:
        imgs = it.images if isinstance(it, Index) else [it]
        for im in imgs:
            for l in im.layers:
                if id(l) not in seen:
                    seen.add(id(l))
                    out.append(l)
    return out


def build_all(layers, cache_dir, jobs):
    todo = [l for l in layers if l.digest is None]
    # biggest first for better parallel packing
    todo.sort(key=lambda l: -l.uncompressed_estimate)
    if not todo:
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        for f in [ex.submit(build_layer, l, cache_dir) for l in todo]:
            f.result()


def canonical(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def make_config(im):
    hist = [{"created": "1970-01-01T00:00:00Z",
             "created_by": "pulltop tests/fixtures.py: " + l.label} for l in im.layers]
    cfg = {
        "created": "1970-01-01T00:00:00Z",
        "architecture": im.platform["architecture"],
        "os": im.platform["os"],
    }
    if im.platform.get("variant"):
        cfg["variant"] = im.platform["variant"]
    cfg["config"] = {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": im.cmd,
        "WorkingDir": "/",
        "Labels": {"org.pulltop.fixture": "%s" % im.name},
    }
    cfg["rootfs"] = {"type": "layers", "diff_ids": [l.diff_id for l in im.layers]}
    cfg["history"] = hist
    return canonical(cfg)


def make_manifest(im, config_bytes):
    docker = im.kind == "docker"
    m = {"schemaVersion": 2,
         "mediaType": MT_DOCKER_MANIFEST if docker else MT_OCI_MANIFEST,
         "config": {"mediaType": MT_DOCKER_CONFIG if docker else MT_OCI_CONFIG,
                    "digest": "sha256:" + hashlib.sha256(config_bytes).hexdigest(),
                    "size": len(config_bytes)},
         "layers": [{"mediaType": MT_DOCKER_LAYER if docker else MT_OCI_LAYER,
                     "digest": l.digest, "size": l.size} for l in im.layers]}
    return canonical(m), m["mediaType"]


# --------------------------------------------------------------------------
# Registry client
# --------------------------------------------------------------------------

class RegistryError(Exception):
    pass


class Registry:
    """Minimal registry client; one keep-alive connection per thread."""

    def __init__(self, hostport, timeout=300, jobs=2):
        self.hostport = hostport
        self.timeout = timeout
        self.local = threading.local()
        self.lock = threading.Lock()
        self.where = {}   # digest -> repo that has it (for cross-repo mounts)
        self.bytes_up = 0
        self.jobs = max(1, jobs)

    @property
    def conn(self):
        return getattr(self.local, "conn", None)

    @conn.setter
    def conn(self, c):
        self.local.conn = c

    def _conn(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.hostport, timeout=self.timeout,
                                                   blocksize=1 * MB)
        return self.conn

    def request(self, method, url, body=None, headers=None, rewind=None):
        """One request with a single retry on a dropped keep-alive connection."""
        for attempt in (0, 1):
            c = self._conn()
            try:
                c.request(method, url, body=body, headers=headers or {})
                r = c.getresponse()
                data = r.read()
                return r, data
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError, http.client.CannotSendRequest):
                c.close()
                self.conn = None
                if attempt or (body is not None and not rewind):
                    raise
                if rewind:
                    rewind()

    def _path(self, location):
        u = urllib.parse.urlsplit(location)
        return u.path + ("?" + u.query if u.query else "")

    def blob_exists(self, repo, digest):
        r, _ = self.request("HEAD", "/v2/%s/blobs/%s" % (repo, digest))
        return r.status == 200

    def push_blob(self, repo, digest, size, path=None, data=None):
        if self.blob_exists(repo, digest):
            with self.lock:
                self.where.setdefault(digest, repo)
            return "exists"
        with self.lock:
            src = self.where.get(digest)
        if src and src != repo:
            r, body = self.request("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % (
                repo, digest, urllib.parse.quote(src, safe="/")))
            if r.status == 201:
                return "mounted"
        else:
            r, body = self.request("POST", "/v2/%s/blobs/uploads/" % repo,
                                   headers={"Content-Length": "0"})
        if r.status != 202:
            raise RegistryError("POST upload %s: %d %s" % (repo, r.status, body[:300]))
        loc = self._path(r.getheader("Location"))
        url = loc + ("&" if "?" in loc else "?") + "digest=" + urllib.parse.quote(digest)
        hdrs = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        if path is not None:
            with open(path, "rb") as f:
                r, body = self.request("PUT", url, body=f, headers=hdrs,
                                       rewind=lambda: f.seek(0))
        else:
            r, body = self.request("PUT", url, body=data, headers=hdrs, rewind=lambda: None)
        if r.status != 201:
            raise RegistryError("PUT blob %s %s: %d %s" % (repo, digest, r.status, body[:300]))
        got = r.getheader("Docker-Content-Digest")
        if got and got != digest:
            raise RegistryError("registry computed %s for %s" % (got, digest))
        with self.lock:
            self.bytes_up += size
            self.where.setdefault(digest, repo)
        return "uploaded"

    def put_manifest(self, repo, ref, body, mediatype):
        r, resp = self.request("PUT", "/v2/%s/manifests/%s" % (repo, ref), body=body,
                               headers={"Content-Type": mediatype,
                                        "Content-Length": str(len(body))},
                               rewind=lambda: None)
        if r.status != 201:
            raise RegistryError("PUT manifest %s:%s: %d %s" % (repo, ref, r.status, resp[:500]))
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        got = r.getheader("Docker-Content-Digest")
        if got and got != digest:
            raise RegistryError("manifest digest mismatch %s vs %s" % (got, digest))
        return digest


def push_image(reg, im, tag):
    """Push config, layers and manifest of a single-platform image.
    tag None -> push by digest.  Returns a description dict."""
    cfg = make_config(im)
    cfg_digest = "sha256:" + hashlib.sha256(cfg).hexdigest()
    # biggest first, in parallel (the registry is the bottleneck, not us)
    todo = sorted({l.digest: l for l in im.layers}.values(), key=lambda l: -l.size)
    with concurrent.futures.ThreadPoolExecutor(max_workers=reg.jobs) as ex:
        for f in [ex.submit(reg.push_blob, im.name, l.digest, l.size, l.path) for l in todo]:
            f.result()
    reg.push_blob(im.name, cfg_digest, len(cfg), data=cfg)
    man, mt = make_manifest(im, cfg)
    digest = "sha256:" + hashlib.sha256(man).hexdigest()
    reg.put_manifest(im.name, tag or digest, man, mt)
    lmt = MT_DOCKER_LAYER if im.kind == "docker" else MT_OCI_LAYER
    return {
        "name": im.name, "tag": tag, "digest": digest, "mediaType": mt,
        "size": len(man), "platform": im.platform,
        "config": {"digest": cfg_digest, "size": len(cfg),
                   "mediaType": MT_DOCKER_CONFIG if im.kind == "docker" else MT_OCI_CONFIG},
        "layers": [{"digest": l.digest, "size": l.size, "diff_id": l.diff_id,
                    "uncompressed_size": l.tar_size, "mediaType": lmt, "label": l.label}
                   for l in im.layers],
        "total_size": len(man) + len(cfg) + sum(l.size for l in im.layers),
    }


def push_index(reg, ix):
    descs = [push_image(reg, im, None) for im in ix.images]
    docker = ix.kind == "docker"
    mt = MT_DOCKER_LIST if docker else MT_OCI_INDEX
    body = canonical({
        "schemaVersion": 2,
        "mediaType": mt,
        "manifests": [{"mediaType": d["mediaType"], "digest": d["digest"],
                       "size": d["size"], "platform": d["platform"]} for d in descs],
    })
    digest = reg.put_manifest(ix.name, ix.tag, body, mt)
    return {"name": ix.name, "tag": ix.tag, "digest": digest, "mediaType": mt,
            "size": len(body), "manifests": descs,
            "total_size": len(body) + sum(d["total_size"] for d in descs)}


SETS = ("test", "bench", "demo", "wide", "scale", "chunks")


def main():
    global QUIET
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("set", choices=SETS)
    ap.add_argument("--registry", help="HOST:PORT of the registry (plain HTTP)")
    ap.add_argument("--out", help="write a JSON description of the pushed images")
    ap.add_argument("--cache", default=os.path.join(
        os.environ.get("TMPDIR") or tempfile.gettempdir(), "pulltop-fixtures-cache"))
    ap.add_argument("--jobs", type=int, default=max(2, os.cpu_count() or 2),
                    help="parallel layer builds and blob uploads (default: number of CPUs)")
    ap.add_argument("--build-only", action="store_true",
                    help="only build/cache the layers, push nothing")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    a = ap.parse_args()
    QUIET = a.quiet
    if not a.build_only and not a.registry:
        ap.error("--registry is required (unless --build-only)")
    os.makedirs(a.cache, exist_ok=True)

    t0 = time.time()
    if a.set == "test":
        items = set_test()
    elif a.set == "bench":
        items = set_bench()
    elif a.set == "wide":
        items = set_wide()
    elif a.set == "scale":
        items = set_scale()
    elif a.set == "chunks":
        items = set_chunks()
    else:
        items = set_demo()
    layers = all_layers(items)
    build_all(layers, a.cache, a.jobs)
    t1 = time.time()
    log("%d layers ready (%.1f MB) in %.1fs" % (
        len(layers), sum(l.size for l in layers) / MB, t1 - t0))
    if a.build_only:
        return 0

    reg = Registry(a.registry, jobs=a.jobs)
    out = []
    for it in items:
        d = push_index(reg, it) if isinstance(it, Index) else push_image(reg, it, it.tag)
        out.append(d)
        print("%s:%s %s" % (d["name"], d["tag"], d["digest"]), flush=True)
    t2 = time.time()
    log("pushed %d images (%.1f MB uploaded) in %.1fs" % (len(out), reg.bytes_up / MB, t2 - t1))
    if a.out:
        doc = {"registry": a.registry, "set": a.set, "images": out}
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RegistryError as e:
        print("fixtures: error: %s" % e, file=sys.stderr)
        sys.exit(1)
    except (OSError, http.client.HTTPException) as e:
        print("fixtures: error: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
