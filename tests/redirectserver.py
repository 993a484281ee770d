#!/usr/bin/env python3
"""A registry front that wants credentials and sends blobs elsewhere, for
pulltop's auth tests: does Authorization stay with the origin that asked?

Two listeners on 127.0.0.1:
  front    GET /v2/, manifests: need credentials, then proxied from
           --upstream (a plain registry); blobs: need credentials, then
           307 to http://--storage-host:STORAGE/blobs/NAME/DIGEST
  storage  serves those bytes from the upstream (Range passed on) and
           records every request's headers
Auth on the front, one of:
  --basic USER:PASSWORD   Basic realm="pulltop-redirect"
  --bearer-valid SECONDS  Bearer; the front's own /token hands out opaque
                          tokens claiming expires_in 300 but refuses them
                          with 401 invalid_token after SECONDS: a client
                          must take a 401 mid-pull and fetch a new one.

Usage: redirectserver.py --upstream HOST:PORT --portfile F (basic|bearer)
F gets "FRONT_PORT STORAGE_PORT".  Control: GET /__stats on the front:
  {"front": [{"method","path","auth","status"}], "storage": [{"path",
   "headers"}], "tokens": N, "rejected": N}
Python standard library only.
"""

import argparse
import base64
import http.client
import http.server
import json
import os
import re
import socketserver
import sys
import threading
import time

LOCK = threading.Lock()
STATS = {"front": [], "storage": [], "tokens": 0, "rejected": 0}
TOKENS = {}     # token -> time issued
A = None

BLOB_RE = re.compile(r"^/v2/(.+)/blobs/(sha256:[0-9a-f]{64})$")
MANIFEST_RE = re.compile(r"^/v2/(.+)/manifests/([^/]+)$")


def upstream(method, path, headers):
    c = http.client.HTTPConnection(A.upstream, timeout=30)
    c.request(method, path, headers=headers)
    return c, c.getresponse()


class Base(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("redirectserver: " + (fmt % args) + "\n")

    def send(self, code, body=b"", ctype="application/json", extra=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def relay(self, resp, keep=("Content-Type", "Content-Length", "Content-Range",
                                "Docker-Content-Digest", "Accept-Ranges")):
        self.send_response(resp.status)
        for k in keep:
            v = resp.getheader(k)
            if v is not None:
                self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            return
        while True:
            b = resp.read(64 * 1024)
            if not b:
                break
            self.wfile.write(b)


class Front(Base):
    def authorized(self):
        h = self.headers.get("Authorization")
        if A.basic:
            want = "Basic " + base64.b64encode(A.basic.encode()).decode()
            if h == want:
                return True, None
            return False, 'Basic realm="pulltop-redirect"'
        port = self.server.server_address[1]
        chal = 'Bearer realm="http://127.0.0.1:%d/token",service="pulltop-redirect"' % port
        if h and h.startswith("Bearer "):
            with LOCK:
                t = TOKENS.get(h[7:])
            if t is not None and time.time() - t <= A.bearer_valid:
                return True, None
            with LOCK:
                STATS["rejected"] += 1
            return False, chal + ',error="invalid_token"'
        return False, chal

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/__stats":
            with LOCK:
                return self.send(200, STATS)
        if path == "/token" and not A.basic:
            tok = base64.urlsafe_b64encode(os.urandom(18)).decode()
            with LOCK:
                TOKENS[tok] = time.time()
                STATS["tokens"] += 1
            return self.send(200, {"token": tok, "expires_in": 300})
        ok, chal = self.authorized()
        rec = {"method": self.command, "path": path,
               "auth": self.headers.get("Authorization") is not None}
        with LOCK:
            STATS["front"].append(rec)
        if not ok:
            rec["status"] = 401
            return self.send(401, {"errors": [{"code": "UNAUTHORIZED",
                                               "message": "authentication required"}]},
                             extra=[("WWW-Authenticate", chal)])
        if path == "/v2/":
            rec["status"] = 200
            return self.send(200, {})
        m = BLOB_RE.match(path)
        if m:
            rec["status"] = 307
            loc = "http://%s:%d/blobs/%s/%s" % (A.storage_host, A.storage_port,
                                               m.group(1), m.group(2))
            return self.send(307, b"", "text/plain", [("Location", loc)])
        if MANIFEST_RE.match(path):
            hdrs = {"Accept": self.headers.get("Accept", "*/*")}
            c, resp = upstream(self.command, path, hdrs)
            rec["status"] = resp.status
            try:
                return self.relay(resp)
            finally:
                c.close()
        rec["status"] = 404
        self.send(404, {"errors": [{"code": "NAME_UNKNOWN", "message": "no"}]})


class Storage(Base):
    def do_GET(self):
        m = re.match(r"^/blobs/(.+)/(sha256:[0-9a-f]{64})$", self.path)
        with LOCK:
            STATS["storage"].append({"path": self.path,
                                     "headers": dict(self.headers.items())})
        if not m:
            return self.send(404, {"error": "no"})
        hdrs = {}
        if self.headers.get("Range"):
            hdrs["Range"] = self.headers["Range"]
        c, resp = upstream("GET", "/v2/%s/blobs/%s" % (m.group(1), m.group(2)), hdrs)
        try:
            self.relay(resp)
        finally:
            c.close()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--portfile", required=True)
    ap.add_argument("--basic")
    ap.add_argument("--bearer-valid", type=float)
    ap.add_argument("--storage-host", default="127.0.0.1")
    A = ap.parse_args()
    if bool(A.basic) == (A.bearer_valid is not None):
        ap.error("give exactly one of --basic and --bearer-valid")
    storage = Server(("127.0.0.1", 0), Storage)
    A.storage_port = storage.server_address[1]
    front = Server(("127.0.0.1", 0), Front)
    threading.Thread(target=storage.serve_forever, daemon=True).start()
    tmp = A.portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (front.server_address[1], A.storage_port))
    os.rename(tmp, A.portfile)
    try:
        front.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
