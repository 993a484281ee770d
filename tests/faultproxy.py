#!/usr/bin/env python3
"""Fault-injecting HTTP/1.1 reverse proxy for registry tests (stdlib only).

    python3 tests/faultproxy.py --upstream 127.0.0.1:PORT [--port 0] [--bind 127.0.0.1]
        [--portfile F] [--pidfile F] [--verbose]
        [--reset-after N] [--stall-after N] [--stall-seconds S]
        [--status CODE] [--retry-after S] [--ignore-range] [--bad-range] [--open-range]
        [--bad-range-shift N] [--rate BPS] [--rate-total BPS] [--delay S]
        [--only DIGEST_SUBSTRING] [--times K] [--skip M]
        [--basic-auth USER:PASS] [--ratelimit N;w=S] [--manifest-status CODE]

Everything is forwarded unchanged to the upstream (Host header included,
keep-alive on both sides, request and response bodies streamed, Range/HEAD
passed through); the only rewrite outside a fault is a Location header that
points at the upstream, which is rewritten to point at the proxy.

It is also a forward proxy, for tests of http_proxy and https_proxy: a
request in absolute form (GET http://HOST/...) goes to the upstream like any
other and is counted in stats "absolute_requests"; CONNECT HOST:PORT (loopback
only) opens a plain byte tunnel, listed in stats "tunnels", with no faults.

Faults apply only to blob GETs (GET /v2/<name>/blobs/sha256:<hex>):
  reset_after=N    send N body bytes, then abort the connection with a TCP RST
                   (SO_LINGER 0) once those bytes have left the socket.
  stall_after=N    send N body bytes, then send nothing for stall_seconds
                   (default 3600) keeping the socket open; stops as soon as the
                   client closes; afterwards the rest of the body is sent.
  status=CODE      answer CODE (503/429/500/404/...) with a registry-style JSON
                   error body, without contacting the upstream;
                   retry_after=S adds "Retry-After: S".
  ignore_range     drop the Range header: the client gets 200 + full body.
  bad_range        for "Range: bytes=S-[E]" ask the upstream for a range
                   starting at S+bad_range_shift (default -1000, clamped to 0;
                   if that equals S, S+|shift|) with the same length; the
                   client gets a 206 whose Content-Range/body start elsewhere.
  open_range       for "Range: bytes=S-E" ask the upstream for "bytes=S-": the
                   client gets a 206 whose Content-Range ends elsewhere
                   (the blob's end), as a server ignoring a range's end would.
  rate=BPS         throttle each blob body to BPS bytes/second: a cap per
                   connection (one response at a time on each), as CDNs do.
  rate_total=BPS   throttle all faulted blob bodies together to BPS.
  delay=S          wait S seconds before answering.
  only=SUB         faults apply only to digests containing SUB.
  times=K          faults apply to the first K matching requests (-1 = all).
  skip=M           ...after letting the first M matching requests through.
  rate_always      the rate cap stays on the requests that skip and times
                   leave without faults (a CDN's cap is on every connection).
  redirect         every blob GET is answered 307 to a one-time "signed" URL
                   on the proxy, /__storage/TOKEN/<path>, served from the
                   upstream; the faults above then apply to those storage
                   requests. A token used twice gets 403 (expired), as a
                   real signed URL would: a retry must ask the registry again.
Not faults of blobs, but of the whole front (any time, with or without them):
  basic_auth=U:P   every proxied request without "Authorization: Basic" for
                   exactly U:P gets 401 with WWW-Authenticate: Basic; the user
                   of every Basic header seen is in stats auth_requests[].user.
  ratelimit=N;w=S  manifest GET/HEAD answers carry Docker Hub's headers
                   ratelimit-limit: N;w=S and ratelimit-remaining: R;w=S, R
                   counting down from N-1 with each manifest request.
  manifest_status=CODE  manifest GET/HEAD requests are answered CODE with a
                   registry-style error body (429: TOOMANYREQUESTS) and the
                   ratelimit headers (remaining 0), without the upstream.
  stats manifest_requests counts manifest GET/HEAD requests.
A request "matches" when a fault would change it (range faults only match
requests that carry a Range header).

Control endpoints (served by the proxy itself, never forwarded):
  POST /__fault    JSON object replacing the fault config (keys as above,
                   e.g. {"reset_after": 100000, "times": 1}); {} clears it.
                   Resets the match counter.  Answers the new config.
  GET  /__fault    current config.
  GET  /__stats    JSON stats (see Stats.snapshot).
  POST /__reset    zero the stats.

On start-up the port is printed on stdout and written to --portfile
(atomically), the pid to --pidfile.
"""

import argparse
import base64
import fcntl
import http.client
import http.server
import json
import os
import re
import select
import socket
import struct
import sys
import termios
import threading
import time
import urllib.parse

BLOB_RE = re.compile(r"^/v2/.+/blobs/(sha256:[0-9a-f]{64})$")
MANIFEST_RE = re.compile(r"^/v2/.+/manifests/[^/]+$")
RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d+)\s*-\s*(\d*)\s*$")

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
              "trailers", "transfer-encoding", "upgrade"}

CHUNK = 64 * 1024
MAX_RECORDED = 50000

DEFAULTS = {
    "reset_after": None,
    "stall_after": None,
    "stall_seconds": 3600.0,
    "status": None,
    "retry_after": None,
    "ignore_range": False,
    "bad_range": False,
    "open_range": False,
    "bad_range_shift": -1000,
    "rate": None,
    "rate_total": None,
    "delay": 0.0,
    "only": None,
    "times": -1,
    "skip": 0,
    "rate_always": False,
    "redirect": False,
    "basic_auth": None,
    "ratelimit": None,
    "manifest_status": None,
}
INT_KEYS = {"reset_after", "stall_after", "status", "rate", "rate_total", "times",
            "skip", "bad_range_shift", "manifest_status"}
FLOAT_KEYS = {"stall_seconds", "delay"}
BOOL_KEYS = {"ignore_range", "bad_range", "open_range", "redirect", "rate_always"}
STR_KEYS = {"only", "retry_after", "basic_auth", "ratelimit"}

VERBOSE = False


def vlog(msg):
    if VERBOSE:
        print("faultproxy: " + msg, file=sys.stderr, flush=True)


def normalize_config(raw):
    if not isinstance(raw, dict):
        raise ValueError("fault config must be a JSON object")
    cfg = dict(DEFAULTS)
    for k, v in raw.items():
        k = k.replace("-", "_")
        if k not in DEFAULTS:
            raise ValueError("unknown fault key %r" % k)
        if v is None:
            cfg[k] = DEFAULTS[k]
            continue
        if k in INT_KEYS:
            if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                raise ValueError("%s must be an integer" % k)
            v = int(v)
            if k not in ("times", "bad_range_shift") and v < 0:
                raise ValueError("%s must be >= 0" % k)
        elif k in FLOAT_KEYS:
            v = float(v)
        elif k in BOOL_KEYS:
            if not isinstance(v, bool):
                raise ValueError("%s must be true/false" % k)
        elif k in STR_KEYS:
            v = str(v)
        cfg[k] = v
    if cfg["rate"] == 0 or cfg["rate_total"] == 0:
        raise ValueError("rate must be > 0")
    return cfg


def has_fault(cfg):
    return any(cfg[k] not in (None, False, 0, 0.0) for k in
               ("reset_after", "stall_after", "status", "ignore_range", "bad_range", "open_range",
                "rate", "rate_total", "delay")) or cfg["reset_after"] == 0 \
        or cfg["stall_after"] == 0


class State:
    def __init__(self, cfg):
        self.lock = threading.Lock()
        self.cfg = cfg
        self.matched = 0
        self.total_next = 0.0     # rate_total bucket
        self.reset_stats()

    def reset_stats(self):
        with self.lock:
            self.blob_bytes = 0
            self.by_digest = {}
            self.blob_requests = 0
            self.range_requests = 0
            self.requests_total = 0
            self.faults_applied = 0
            self.resets = 0
            self.stalls = 0
            self.requests = []
            self.dropped = 0
            self.auth = []
            self.connections = 0
            self.absolute = 0      # requests in absolute form (http_proxy)
            self.redirects = 0     # 307s to a storage URL
            self.storage = 0       # storage requests served
            self.expired = 0       # storage URLs used twice (403)
            self.tokens = set()
            self.next_token = 0
            self.tunnels = []      # CONNECT targets (https_proxy)
            self.manifests = 0     # manifest GET/HEAD requests

    def set_config(self, cfg):
        with self.lock:
            self.cfg = cfg
            self.matched = 0
            self.total_next = 0.0

    def fault_for(self, digest, has_range):
        """Decide (once, at request start) which faults apply to a blob GET."""
        with self.lock:
            cfg = self.cfg
            if not has_fault(cfg):
                return None
            if cfg["only"] and cfg["only"] not in digest:
                return None
            eff = dict(cfg)
            if not has_range:
                eff["ignore_range"] = eff["bad_range"] = eff["open_range"] = False
            if not has_fault(eff):
                return None
            n = self.matched
            self.matched += 1
            if n < cfg["skip"] or (cfg["times"] >= 0 and n - cfg["skip"] >= cfg["times"]):
                if cfg["rate_always"] and cfg["rate"]:
                    # the per-connection cap stays on every blob body
                    return dict(DEFAULTS, rate=cfg["rate"])
                return None
            self.faults_applied += 1
            return eff

    def record(self, rec):
        with self.lock:
            self.requests_total += 1
            if len(self.requests) < MAX_RECORDED:
                self.requests.append(rec)
            else:
                self.dropped += 1

    def add_bytes(self, digest, n):
        with self.lock:
            self.blob_bytes += n
            self.by_digest[digest] = self.by_digest.get(digest, 0) + n

    def total_rate_slot(self, n, rate):
        """Reserve n bytes on the shared bucket; returns time to sleep."""
        with self.lock:
            now = time.monotonic()
            start = max(now, self.total_next)
            self.total_next = start + n / float(rate)
            return self.total_next - now

    def snapshot(self):
        with self.lock:
            return {
                "blob_bytes": self.blob_bytes,
                "blob_bytes_by_digest": dict(self.by_digest),
                "blob_requests": self.blob_requests,
                "range_requests": self.range_requests,
                "requests_total": self.requests_total,
                "faults_applied": self.faults_applied,
                "resets": self.resets,
                "stalls": self.stalls,
                "connections": self.connections,
                "absolute_requests": self.absolute,
                "redirects": self.redirects,
                "storage_requests": self.storage,
                "expired_requests": self.expired,
                "tunnels": list(self.tunnels),
                "manifest_requests": self.manifests,
                "auth_seen": bool(self.auth),
                "auth_requests": list(self.auth),
                "requests": [dict(r) for r in self.requests],
                "requests_dropped": self.dropped,
                "fault": dict(self.cfg),
            }


class ClientGone(Exception):
    pass


class UpstreamBroken(Exception):
    pass


class LimitedReader:
    def __init__(self, f, n):
        self.f, self.left = f, n

    def chunks(self):
        while self.left > 0:
            d = self.f.read(min(self.left, CHUNK))
            if not d:
                raise ClientGone("request body truncated")
            self.left -= len(d)
            yield d


def chunked_body(rfile):
    """Decode a chunked request body from the client, yielding data."""
    while True:
        line = rfile.readline(65537)
        if not line:
            raise ClientGone("chunked body truncated")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while True:
                t = rfile.readline(65537)
                if t in (b"\r\n", b"\n", b""):
                    return
        left = size
        while left:
            d = rfile.read(min(left, CHUNK))
            if not d:
                raise ClientGone("chunked body truncated")
            left -= len(d)
            yield d
        rfile.readline(3)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faultproxy"
    timeout = 900

    # ---- plumbing -------------------------------------------------------
    def setup(self):
        super().setup()
        self.up = None
        st = self.server.state
        with st.lock:
            st.connections += 1

    def finish(self):
        try:
            super().finish()
        finally:
            self._close_upstream()

    def log_message(self, fmt, *args):
        vlog("%s %s" % (self.address_string(), fmt % args))

    def _close_upstream(self):
        if self.up is not None:
            try:
                self.up.close()
            except Exception:
                pass
            self.up = None

    def _abort(self, rst):
        """Drop the client connection; with rst, abort it with a TCP RST
        after waiting (<= 5 s) for already-written bytes to leave."""
        self.close_connection = True
        self._close_upstream()
        s = self.connection
        try:
            if rst:
                deadline = time.monotonic() + 5
                buf = bytearray(4)
                while time.monotonic() < deadline:
                    fcntl.ioctl(s.fileno(), termios.TIOCOUTQ, buf)
                    if struct.unpack("i", bytes(buf))[0] == 0:
                        break
                    time.sleep(0.005)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.rfile.close()
        except Exception:
            pass
        try:
            s.close()
        except OSError:
            pass

    def _write(self, data):
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError) as e:
            raise ClientGone(str(e))

    def _send_simple(self, code, body, ctype="application/json", extra=()):
        if isinstance(body, (dict, list)):
            body = (json.dumps(body, indent=1) + "\n").encode()
        self.send_response_only(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self._write(body)

    # ---- dispatch -------------------------------------------------------
    def do_GET(self):
        self.handle_any()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def do_CONNECT(self):
        """https_proxy: tunnel to a loopback HOST:PORT, bytes untouched
        (no faults: they are TLS records), counted in stats "tunnels"."""
        host, _, port = self.path.rpartition(":")
        host = host.strip("[]")
        try:
            if host not in ("127.0.0.1", "localhost", "::1"):
                raise OSError("only loopback targets")
            up = socket.create_connection((host, int(port)), timeout=10)
        except (OSError, ValueError) as e:
            self._send_simple(502, {"error": "CONNECT %s: %s" % (self.path, e)})
            self.close_connection = True
            return
        st = self.server.state
        with st.lock:
            st.tunnels.append(self.path)
        self.send_response_only(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        me = self.connection
        me.settimeout(None)
        up.settimeout(None)
        socks = [me, up]
        try:
            while True:
                r, _, _ = select.select(socks, [], [], 900)
                if not r:
                    break
                for a in r:
                    d = a.recv(65536)
                    if not d:
                        return
                    (up if a is me else me).sendall(d)
        except OSError:
            pass
        finally:
            up.close()

    def handle_any(self):
        try:
            path = self.path
            if path.startswith("http://") or path.startswith("https://"):
                u = urllib.parse.urlsplit(path)
                path = u.path + ("?" + u.query if u.query else "")
                st = self.server.state
                with st.lock:
                    st.absolute += 1
            if path.startswith("/__"):
                return self.control(path)
            return self.proxy(path)
        except ClientGone as e:
            vlog("client gone: %s" % e)
            self._abort(False)
        except UpstreamBroken as e:
            vlog("upstream broken mid-response: %s" % e)
            self._abort(False)

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def control(self, path):
        st = self.server.state
        p = urllib.parse.urlsplit(path).path
        if p == "/__stats" and self.command in ("GET", "HEAD"):
            return self._send_simple(200, st.snapshot())
        if p == "/__fault" and self.command in ("GET", "HEAD"):
            return self._send_simple(200, st.cfg)
        if p == "/__fault" and self.command in ("POST", "PUT"):
            try:
                raw = self._read_body()
                cfg = normalize_config(json.loads(raw.decode() or "{}"))
            except (ValueError, UnicodeDecodeError) as e:
                return self._send_simple(400, {"error": str(e)})
            st.set_config(cfg)
            vlog("fault config: %s" % json.dumps(cfg))
            return self._send_simple(200, cfg)
        if p in ("/__reset", "/__stats/reset") and self.command == "POST":
            self._read_body()
            st.reset_stats()
            return self._send_simple(200, {"ok": True})
        if p == "/__health":
            return self._send_simple(200, {"ok": True})
        if p.startswith("/__storage/"):
            parts = path.split("/", 3)
            if len(parts) == 4 and parts[2].isdigit():
                with st.lock:
                    used = parts[2] in st.tokens
                    st.tokens.add(parts[2])
                    if used:
                        st.expired += 1
                    else:
                        st.storage += 1
                if used:
                    st.record({"method": self.command, "path": "/" + parts[3],
                               "storage": True, "status": 403,
                               "t": round(time.time(), 3)})
                    return self._send_simple(403, {"errors": [{
                        "code": "DENIED", "message": "signed URL expired"}]})
                return self.proxy("/" + parts[3], storage=True)
        self._read_body()
        return self._send_simple(404, {"error": "unknown control endpoint"})

    # ---- proxying -------------------------------------------------------
    def proxy(self, path, storage=False):
        st = self.server.state
        method = self.command
        rng = self.headers.get("Range")
        rec = {"method": method, "path": path, "range": rng, "status": None,
               "bytes": 0, "fault": None, "t": round(time.time(), 3),
               "storage": storage}
        st.record(rec)
        authz = self.headers.get("Authorization")
        if authz is not None:
            rec_auth = {"method": method, "path": path,
                        "host": self.headers.get("Host"),
                        "scheme": authz.split(" ")[0]}
            if authz.split(" ")[0].lower() == "basic":
                try:
                    rec_auth["user"] = base64.b64decode(
                        authz.split(" ", 1)[1].strip()).decode().split(":", 1)[0]
                except (ValueError, IndexError, UnicodeDecodeError):
                    rec_auth["user"] = None
            with st.lock:
                st.auth.append(rec_auth)
        if self.front(method, path, authz, rec):
            return
        with st.lock:
            if rng is not None:
                st.range_requests += 1
        upath = urllib.parse.urlsplit(path).path
        m = BLOB_RE.match(upath) if method == "GET" else None
        digest = m.group(1) if m else None
        fault = None
        if digest and not storage and st.cfg["redirect"]:
            with st.lock:
                st.blob_requests += 1
                st.redirects += 1
                st.next_token += 1
                tok = st.next_token
            rec["status"] = 307
            host = self.headers.get("Host") or "127.0.0.1:%d" % self.server.server_port
            return self._send_simple(307, b"", "text/plain", extra=[
                ("Location", "http://%s/__storage/%d%s" % (host, tok, path))])
        if digest:
            if not storage:
                with st.lock:
                    st.blob_requests += 1
            fault = st.fault_for(digest, rng is not None)
            if fault:
                rec["fault"] = {k: v for k, v in fault.items()
                                if v is not None and v is not False and v != DEFAULTS[k]
                                or k in ("reset_after", "stall_after") and v == 0}
        if fault and fault["delay"]:
            time.sleep(fault["delay"])
        if fault and fault["status"]:
            return self.fault_status(fault, rec)

        # build upstream headers
        headers = []
        has_host = False
        for k, v in self.headers.items():
            lk = k.lower()
            if lk in HOP_BY_HOP or lk == "expect":
                continue
            if lk == "host":
                has_host = True
            if fault and lk in ("range", "if-range") and fault["ignore_range"]:
                continue
            if fault and lk == "range" and fault["bad_range"]:
                v = self.bad_range(v, fault)
                rec["sent_range"] = v
            if fault and lk == "range" and fault["open_range"]:
                m = RANGE_RE.match(v)
                if m:
                    v = "bytes=%s-" % m.group(1)
                rec["sent_range"] = v
            headers.append((k, v))
        if not has_host:
            headers.append(("Host", self.server.upstream))

        body = None
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            body = ("chunked", chunked_body(self.rfile))
            headers.append(("Transfer-Encoding", "chunked"))
        elif self.headers.get("Content-Length"):
            n = int(self.headers["Content-Length"])
            if n:
                body = ("length", LimitedReader(self.rfile, n).chunks())

        resp = self.upstream_request(method, path, headers, body)
        if resp is None:
            rec["status"] = 502
            return self._send_simple(502, {"error": "upstream unreachable"})
        rec["status"] = resp.status
        try:
            self.relay(resp, rec, digest, fault)
        finally:
            if resp.will_close or not resp.isclosed():
                # not fully read or upstream wants to close: don't reuse
                self._close_upstream()

    def upstream_request(self, method, path, headers, body):
        for attempt in (0, 1):
            fresh = self.up is None
            if fresh:
                self.up = http.client.HTTPConnection(self.server.upstream, timeout=900)
            try:
                self.up.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                for k, v in headers:
                    self.up.putheader(k, v)
                self.up.endheaders()
                if body is not None:
                    kind, it = body
                    for d in it:
                        if kind == "chunked":
                            self.up.send(b"%x\r\n%s\r\n" % (len(d), d))
                        else:
                            self.up.send(d)
                    if kind == "chunked":
                        self.up.send(b"0\r\n\r\n")
                return self.up.getresponse()
            except ClientGone:
                raise
            except (ConnectionError, http.client.HTTPException, OSError) as e:
                self._close_upstream()
                # a stale keep-alive connection: retry once if nothing was consumed
                if fresh or body is not None or attempt:
                    vlog("upstream error: %s" % e)
                    return None
        return None

    def front(self, method, path, authz, rec):
        """basic_auth, ratelimit, manifest_status: True when answered here.
        Sets self.extra_headers for relay()."""
        st = self.server.state
        cfg = st.cfg
        self.extra_headers = []
        if cfg["basic_auth"]:
            want = "Basic " + base64.b64encode(cfg["basic_auth"].encode()).decode()
            if authz is None or authz.strip() != want:
                self._read_body()
                rec["status"] = 401
                self._send_simple(401, {"errors": [{
                    "code": "UNAUTHORIZED", "message": "authentication required"}]},
                    extra=[("WWW-Authenticate", 'Basic realm="faultproxy"')])
                return True
        upath = urllib.parse.urlsplit(path).path
        if method not in ("GET", "HEAD") or not MANIFEST_RE.match(upath):
            return False
        with st.lock:
            st.manifests += 1
            n = st.manifests
        if cfg["ratelimit"]:
            lim = cfg["ratelimit"]
            total = int(lim.split(";")[0])
            w = lim[len(lim.split(";")[0]):]
            left = 0 if cfg["manifest_status"] else max(0, total - n)
            self.extra_headers = [("ratelimit-limit", lim),
                                  ("ratelimit-remaining", "%d%s" % (left, w))]
        if cfg["manifest_status"]:
            code = cfg["manifest_status"]
            c, msg = {429: ("TOOMANYREQUESTS", "You have reached your pull "
                            "rate limit. toomanyrequests"),
                      404: ("MANIFEST_UNKNOWN", "manifest unknown"),
                      503: ("UNAVAILABLE", "service unavailable")}.get(
                code, ("UNKNOWN", "unknown error"))
            extra = list(self.extra_headers)
            if cfg["retry_after"] is not None:
                extra.append(("Retry-After", str(cfg["retry_after"])))
            rec["status"] = code
            self._send_simple(code, {"errors": [{"code": c, "message": msg}]},
                              extra=extra)
            return True
        return False

    def bad_range(self, value, fault):
        m = RANGE_RE.match(value)
        if not m:
            return value
        start = int(m.group(1))
        shift = fault["bad_range_shift"]
        wrong = max(0, start + shift)
        if wrong == start:
            wrong = start + abs(shift or 1000)
        if m.group(2):
            end = int(m.group(2))
            return "bytes=%d-%d" % (wrong, end + (wrong - start))
        return "bytes=%d-" % wrong

    def fault_status(self, fault, rec):
        code = fault["status"]
        codes = {404: ("BLOB_UNKNOWN", "blob unknown to registry"),
                 429: ("TOOMANYREQUESTS", "too many requests"),
                 503: ("UNAVAILABLE", "service unavailable")}
        c, msg = codes.get(code, ("UNKNOWN", "unknown error"))
        body = json.dumps({"errors": [{"code": c, "message": msg,
                                       "detail": "injected by faultproxy"}]}).encode()
        extra = [("Docker-Distribution-Api-Version", "registry/2.0")]
        if fault["retry_after"] is not None:
            extra.append(("Retry-After", str(fault["retry_after"])))
        rec["status"] = code
        self._send_simple(code, body, "application/json; charset=utf-8", extra)

    def relay(self, resp, rec, digest, fault):
        st = self.server.state
        method = self.command
        no_body = (method == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200)
        chunked = bool(resp.chunked) and not no_body
        until_close = (not no_body and not chunked and resp.length is None)

        self.send_response_only(resp.status, resp.reason)
        for k, v in resp.msg.items():
            lk = k.lower()
            if lk in HOP_BY_HOP:
                continue
            if lk == "location":
                v = self.rewrite_location(v)
            self.send_header(k, v)
        for k, v in getattr(self, "extra_headers", []):
            self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        if until_close or self.close_connection:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if no_body:
            resp.read()
            return

        count = digest is not None
        reset_at = fault["reset_after"] if fault else None
        stall_at = fault["stall_after"] if fault else None
        rate = fault["rate"] if fault else None
        rate_total = fault["rate_total"] if fault else None
        sent = 0
        t0 = time.monotonic()
        stalled = False

        def checkpoints():
            nonlocal stalled
            if reset_at is not None and sent >= reset_at:
                with st.lock:
                    st.resets += 1
                rec["reset_at"] = sent
                vlog("RST %s after %d bytes" % (digest, sent))
                self._abort(True)
                return True
            if stall_at is not None and not stalled and sent >= stall_at:
                stalled = True
                with st.lock:
                    st.stalls += 1
                rec["stalled_at"] = sent
                self.stall(fault["stall_seconds"])
            return False

        if checkpoints():
            return
        while True:
            n = CHUNK
            if rate:
                n = min(n, max(1024, rate // 20))
            if rate_total:
                n = min(n, max(1024, rate_total // 20))
            for point in (reset_at, stall_at if not stalled else None):
                if point is not None and point > sent:
                    n = min(n, point - sent)
            try:
                data = resp.read(n)
            except (http.client.HTTPException, OSError) as e:
                raise UpstreamBroken(str(e))
            if not data:
                break
            if chunked:
                self._write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                self._write(data)
            sent += len(data)
            rec["bytes"] = sent
            if count:
                st.add_bytes(digest, len(data))
            if rate:
                ahead = sent / float(rate) - (time.monotonic() - t0)
                if ahead > 0:
                    self.sleep_watch(ahead)
            if rate_total:
                d = st.total_rate_slot(len(data), rate_total)
                if d > 0:
                    self.sleep_watch(d)
            if checkpoints():
                return
        if chunked:
            self._write(b"0\r\n\r\n")
        if until_close:
            self._abort(False)

    def client_closed(self):
        """True if the client has closed its side (EOF/RST)."""
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def sleep_watch(self, seconds):
        """Sleep, but give up (ClientGone) as soon as the client closes."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            try:
                r, _, _ = select.select([self.connection], [], [], min(left, 0.5))
            except (OSError, ValueError):
                raise ClientGone("select failed")
            if r:
                if self.client_closed():
                    raise ClientGone("client closed during sleep")
                # pipelined request bytes: nothing to do but wait
                time.sleep(min(0.2, max(0, end - time.monotonic())))

    def stall(self, seconds):
        vlog("stalling for %.1fs" % seconds)
        self.sleep_watch(seconds)

    def rewrite_location(self, v):
        up = self.server.upstream
        host, _, port = up.rpartition(":")
        me = self.headers.get("Host")
        if not me or me in (up, "localhost:" + port, "127.0.0.1:" + port):
            me = "127.0.0.1:%d" % self.server.server_address[1]
        for pre in ("http://%s" % up, "http://localhost:%s" % port,
                    "http://127.0.0.1:%s" % port):
            if v.startswith(pre) and (len(v) == len(pre) or v[len(pre)] in "/?#"):
                return "http://" + me + v[len(pre):]
        return v


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        if VERBOSE:
            super().handle_error(request, client_address)


def write_atomic(path, text):
    tmp = path + ".tmp.%d" % os.getpid()
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    global VERBOSE
    ap = argparse.ArgumentParser(
        description="fault-injecting reverse proxy for registry tests",
        epilog="see the module docstring for fault semantics and control endpoints")
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the registry")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--portfile")
    ap.add_argument("--pidfile")
    ap.add_argument("--verbose", "-v", action="store_true")
    ap.add_argument("--reset-after", type=int)
    ap.add_argument("--stall-after", type=int)
    ap.add_argument("--stall-seconds", type=float)
    ap.add_argument("--status", type=int)
    ap.add_argument("--retry-after")
    ap.add_argument("--ignore-range", action="store_true")
    ap.add_argument("--bad-range", action="store_true")
    ap.add_argument("--open-range", action="store_true")
    ap.add_argument("--bad-range-shift", type=int)
    ap.add_argument("--rate", type=int, help="bytes/second per blob response")
    ap.add_argument("--rate-total", type=int, help="bytes/second over all blob responses")
    ap.add_argument("--delay", type=float, help="seconds before answering a blob GET")
    ap.add_argument("--only", help="only digests containing this substring")
    ap.add_argument("--times", type=int, help="apply to the first K matching requests (-1 all)")
    ap.add_argument("--skip", type=int, help="let the first M matching requests through")
    ap.add_argument("--basic-auth", help="USER:PASS every request must carry")
    ap.add_argument("--ratelimit", help="N;w=SECONDS: ratelimit-* on manifest answers")
    ap.add_argument("--manifest-status", type=int, help="answer manifest requests CODE")
    a = ap.parse_args()
    VERBOSE = a.verbose
    raw = {}
    for k in DEFAULTS:
        v = getattr(a, k, None)
        if v is not None and v is not False:
            raw[k] = v
    try:
        cfg = normalize_config(raw)
    except ValueError as e:
        ap.error(str(e))
    if ":" not in a.upstream:
        ap.error("--upstream must be HOST:PORT")

    srv = Server((a.bind, a.port), Handler)
    srv.state = State(cfg)
    srv.upstream = a.upstream
    port = srv.server_address[1]
    if a.pidfile:
        write_atomic(a.pidfile, "%d\n" % os.getpid())
    if a.portfile:
        write_atomic(a.portfile, "%d\n" % port)
    print(port, flush=True)
    vlog("listening on %s:%d -> %s, faults %s" % (a.bind, port, a.upstream, json.dumps(cfg)))
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
