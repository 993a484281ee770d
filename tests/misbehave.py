#!/usr/bin/env python3
"""A registry that stops, floods and overflows on purpose, for t-misbehave.

badregistry.py answers wrong documents; this one answers at the wrong pace
or the wrong length: a request answered never, half an answer then silence,
a body or headers that never end, a header or token over a cap, a blob
longer than its descriptor. Standard library only.

One process, several listeners on 127.0.0.1; each listener's GET /v2/ (the
ping, once per registry and run) behaves as its name says, and on the
listeners that answer the ping, the repository name chooses what the rest
does:

  listeners (the ping)
    ok            200 {}
    auth          401 Bearer realm=http://127.0.0.1:<auth>/token: repositories
                  need the token "good" (tok/<mode> names the token server's
                  misbehaviour, below)
    ping-silent   reads the request, never answers
    ping-midbody  200, Content-Length 4096, half of it, then silence
    ping-hdrstall a status line and one header, then silence
    ping-401flood 401 with a challenge and a body that never ends
    ping-hugeauth 401 with a 200 KiB WWW-Authenticate header
    ping-hdrflood 200 with header lines that never end
    gone          answers the ping (Connection: close), then stops listening
    tls-garbage   raw TCP: answers a TLS hello with plain-HTTP bytes
    tls-close     raw TCP: closes each connection at once
    backlog       never accepts, its backlog full: a connect never completes

  repositories on ok (manifests; c/ configs; l/ layers)
    m/silent      manifest: never answered
    m/midbody     manifest: half the body, then silence
    m/hdrstall    manifest: a status line and one header, then silence
    m/404stall    404 whose body stops half way
    m/404flood    404 whose body never ends (chunked)
    m/hugeauth    401 with a 200 KiB WWW-Authenticate header
    m/longauth    401 with a 6 KiB WWW-Authenticate header
    m/longrealm   401 with a challenge whose realm is 2 KiB long
    m/hugehdr     200 with a 200 KiB X-Padding header
    m/hdrflood    header lines that never end
    m/redirflood  307 whose body never ends
    c/silent      config: never answered
    c/midbody     config: half the body, then silence
    c/long        config: 100 bytes more than its descriptor
    c/flood       config: a body that never ends (no length, until close)
    c/redirflood  config: 307 whose body never ends
    c/redirstall  config: 307 whose body stops half way
    c/redirsilent config: 307 to a storage URL that never answers
    l/long        layer: 4096 bytes more than its descriptor
    l/midbody     layer: half the body, then silence
    l/flood       layer: a body that never ends (chunked)
    l/redirflood  layer: 307 whose body never ends
    good/x        a small valid image

  token server modes (repository tok/<mode> on the auth listener)
    tok/silent    the token request is never answered
    tok/midbody   half a token answer, then silence
    tok/401flood  401 whose body never ends
    tok/401       401, every time
    tok/huge      a 100 KiB token answer
    tok/loop      a token is given, the registry refuses it: 401 forever
    anything else the token "good"

GET /__stats on any HTTP listener: {"requests": [[listener, path], ...]}.
Usage: misbehave.py --portfile F   (F gets {"listener": port, ...} as JSON)
"""
import argparse, hashlib, json, os, socket, socketserver, threading
import time, urllib.parse

OCI_M = "application/vnd.oci.image.manifest.v1+json"
STALL = 120         # seconds a "silent" answer waits before closing
FLOOD = 120         # seconds a never-ending answer goes on at most

def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()

CONFIG = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": []}}).encode()

def layer_for(repo):
    """Each repository has a layer of its own, so stores never share one."""
    return (repo.encode() + b" layer bytes ") * 100

def manifest_for(repo):
    lay = layer_for(repo)
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_M,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(CONFIG), "size": len(CONFIG)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha(lay), "size": len(lay)}]}).encode()

LOCK = threading.Lock()
REQUESTS = []
PORTS = {}

def note(listener, path):
    with LOCK:
        REQUESTS.append([listener, path])

def stall(sock):
    """Send nothing more until the client goes or STALL passes."""
    sock.settimeout(1)
    end = time.monotonic() + STALL
    while time.monotonic() < end:
        try:
            if sock.recv(4096) == b"":
                return
        except socket.timeout:
            continue
        except OSError:
            return

def flood(w, chunked, piece=b"x" * 65536):
    """Write piece after piece until the client goes or FLOOD passes."""
    end = time.monotonic() + FLOOD
    try:
        while time.monotonic() < end:
            if chunked:
                w.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            else:
                w.write(piece)
    except OSError:
        pass

class Http(socketserver.StreamRequestHandler):
    """A hand-written HTTP/1.1 server: every byte on the wire is chosen."""
    listener = "ok"

    def handle(self):
        while self.one():
            pass

    def one(self):
        line = self.rfile.readline(65536)
        if not line:
            return False
        parts = line.decode("latin-1").split()
        if len(parts) < 2:
            return False
        self.method, target = parts[0], parts[1]
        self.hdrs = {}
        while True:
            h = self.rfile.readline(65536)
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            self.hdrs[k.strip().lower()] = v.strip()
        u = urllib.parse.urlsplit(target)
        self.path, self.query = u.path, urllib.parse.parse_qs(u.query)
        if self.path == "/__stats":
            with LOCK:
                body = json.dumps({"requests": REQUESTS}).encode()
            return self.send(200, body)
        note(self.listener, target)
        return self.route()

    # --- answers
    def head(self, code, headers=(), end=True):
        reason = {200: "OK", 307: "Temporary Redirect", 401: "Unauthorized",
                  404: "Not Found"}.get(code, "Status")
        out = b"HTTP/1.1 %d %s\r\n" % (code, reason.encode())
        for k, v in headers:
            out += b"%s: %s\r\n" % (k.encode(), v if isinstance(v, bytes)
                                    else v.encode())
        if end:
            out += b"\r\n"
        self.wfile.write(out)

    def send(self, code, body, ctype="application/json", extra=()):
        self.head(code, [("Content-Type", ctype),
                         ("Content-Length", str(len(body)))] + list(extra))
        if self.method != "HEAD":
            self.wfile.write(body)
        return True

    def half(self, code, body, ctype="application/json", extra=()):
        """Promise all of body, send half, then go silent."""
        self.head(code, [("Content-Type", ctype),
                         ("Content-Length", str(len(body)))] + list(extra))
        self.wfile.write(body[:len(body) // 2])
        stall(self.connection)
        return False

    def silent(self):
        stall(self.connection)
        return False

    def hdrstall(self):
        self.head(200, [("Content-Type", OCI_M)], end=False)
        stall(self.connection)
        return False

    def hdrflood(self):
        self.head(200, [("Content-Type", OCI_M)], end=False)
        end = time.monotonic() + FLOOD
        n = 0
        try:
            while time.monotonic() < end:
                self.wfile.write(b"".join(b"X-Flood-%d: %s\r\n" % (n + i,
                    b"y" * 200) for i in range(64)))
                n += 64
        except OSError:
            pass
        return False

    def flooding(self, code, chunked, extra=()):
        hs = [("Content-Type", "application/octet-stream")] + list(extra)
        hs += [("Transfer-Encoding", "chunked")] if chunked else \
            [("Connection", "close")]
        self.head(code, hs)
        flood(self.wfile, chunked)
        return False

    def challenge(self):
        return ('Bearer realm="http://127.0.0.1:%d/token",service="misbehave"'
                % PORTS["auth"])

    def unauthorized(self):
        return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED",'
                         b'"message":"authentication required"}]}',
                         extra=[("WWW-Authenticate", self.challenge())])

    def notfound(self):
        return self.send(404, b'{"errors":[{"code":"NOT_FOUND",'
                         b'"message":"not here"}]}')

    # --- routing
    def route(self):
        p = self.path
        if p == "/v2/":
            return self.ping()
        if p.startswith("/storage/"):
            return self.storage(p[len("/storage/"):])
        if p == "/token":
            return self.token()
        for kind in ("/manifests/", "/blobs/"):
            if p.startswith("/v2/") and kind in p:
                repo = p[len("/v2/"):p.index(kind)]
                ref = p.rsplit("/", 1)[1]
                if self.listener == "auth" and not self.authorized(repo):
                    return self.unauthorized()
                if kind == "/manifests/":
                    return self.manifest(repo)
                return self.blob(repo, ref)
        return self.notfound()

    def authorized(self, repo):
        return (self.hdrs.get("authorization") == "Bearer good" and
                repo != "tok/loop")

    def ping(self):
        l = self.listener
        if l in ("ok", "gone"):
            extra = [("Connection", "close")] if l == "gone" else []
            if l == "gone":
                # stop listening before answering: a connect made once
                # the answer is in is refused, never accepted by a race
                self.server.socket.shutdown(socket.SHUT_RDWR)
                threading.Thread(target=self.server.shutdown,
                                 daemon=True).start()
            self.send(200, b"{}", extra=extra)
            return l != "gone"
        if l == "auth":
            return self.unauthorized()
        if l == "ping-silent":
            return self.silent()
        if l == "ping-midbody":
            return self.half(200, b"{" + b" " * 4094 + b"}")
        if l == "ping-hdrstall":
            return self.hdrstall()
        if l == "ping-401flood":
            return self.flooding(401, False,
                                 [("WWW-Authenticate", self.challenge())])
        if l == "ping-hugeauth":
            return self.send(401, b"{}", extra=[("WWW-Authenticate",
                'Bearer realm="http://127.0.0.1/token",service="' +
                "s" * (200 << 10) + '"')])
        if l == "ping-hdrflood":
            return self.hdrflood()
        return self.notfound()

    def manifest(self, repo):
        body = manifest_for(repo)
        if repo == "m/silent":
            return self.silent()
        if repo == "m/midbody":
            return self.half(200, body, OCI_M)
        if repo == "m/hdrstall":
            return self.hdrstall()
        if repo == "m/404stall":
            return self.half(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN",'
                             b'"message":"manifest unknown"}]}' + b" " * 400)
        if repo == "m/404flood":
            return self.flooding(404, True)
        if repo == "m/hugeauth":
            return self.send(401, b"{}", extra=[("WWW-Authenticate",
                'Bearer realm="http://127.0.0.1/token",scope="' +
                "s" * (200 << 10) + '"')])
        if repo == "m/longauth":
            return self.send(401, b"{}", extra=[("WWW-Authenticate",
                'Bearer realm="http://127.0.0.1/token",service="' +
                "s" * 6000 + '"')])
        if repo == "m/longrealm":
            return self.send(401, b"{}", extra=[("WWW-Authenticate",
                'Bearer realm="http://127.0.0.1/' + "r" * 2000 + '"')])
        if repo == "m/hugehdr":
            return self.send(200, body, OCI_M,
                             extra=[("X-Padding", "p" * (200 << 10))])
        if repo == "m/hdrflood":
            return self.hdrflood()
        if repo == "m/redirflood":
            return self.flooding(307, True, [("Location",
                "/storage/%s/%s" % (repo, self.path.rsplit("/", 1)[1]))])
        return self.send(200, body, OCI_M)

    def blob(self, repo, digest):
        lay = layer_for(repo)
        if digest == sha(CONFIG):
            body, what = CONFIG, "c/"
        elif digest == sha(lay):
            body, what = lay, "l/"
        else:
            return self.notfound()
        mode = repo if repo.startswith(what) else "good"
        loc = [("Location", "/storage/%s/%s" % (mode, digest))]
        if mode.endswith("/silent"):
            return self.silent()
        if mode.endswith("/midbody"):
            return self.half(200, body, "application/octet-stream")
        if mode.endswith("/long"):
            extra = 100 if what == "c/" else 4096
            return self.send(200, body + b"z" * extra,
                             "application/octet-stream")
        if mode == "c/flood":
            return self.flooding(200, False)
        if mode == "l/flood":
            return self.flooding(200, True)
        if mode.endswith("/redirflood"):
            return self.flooding(307, mode.startswith("c/"), loc)
        if mode == "c/redirstall":
            return self.half(307, b"<html>moved</html>" * 100, "text/html",
                             extra=loc)
        if mode == "c/redirsilent":
            return self.send(307, b"", extra=loc)
        return self.send(200, body, "application/octet-stream")

    def storage(self, rest):
        mode, _, digest = rest.rpartition("/")
        if mode == "c/redirsilent":
            return self.silent()
        if not digest.startswith("sha256:"):
            return self.send(200, manifest_for(mode), OCI_M)
        for body in (CONFIG, layer_for(mode)):
            if digest == sha(body):
                return self.send(200, body, "application/octet-stream")
        return self.notfound()

    def token(self):
        scope = (self.query.get("scope") or [""])[0]
        repo = scope.split(":")[1] if scope.count(":") == 2 else ""
        if repo == "tok/silent":
            return self.silent()
        if repo == "tok/midbody":
            return self.half(200, b'{"token": "good", "expires_in": 300}')
        if repo == "tok/401flood":
            return self.flooding(401, True)
        if repo == "tok/401":
            return self.send(401, b'{"details": "no"}')
        if repo == "tok/huge":
            return self.send(200, json.dumps({"token": "good",
                "pad": "p" * (100 << 10)}).encode())
        return self.send(200, b'{"token": "good", "expires_in": 300}')

class Raw(socketserver.BaseRequestHandler):
    """tls-garbage and tls-close: not HTTP, not TLS."""
    listener = "tls-close"

    def handle(self):
        note(self.listener, "")
        if self.listener == "tls-garbage":
            try:
                self.request.recv(4096)
                self.request.sendall(b"HTTP/1.1 400 Bad Request\r\n"
                                     b"Content-Length: 0\r\n\r\n")
            except OSError:
                pass

class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

def full_backlog():
    """A listener that never accepts, its queue filled by our own connects:
    the kernel drops further SYNs, so a client's connect hangs."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(0)
    port = s.getsockname()[1]
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(c)
    time.sleep(0.2)
    return port, [s] + fillers

LISTENERS = ["ok", "auth", "ping-silent", "ping-midbody", "ping-hdrstall",
             "ping-401flood", "ping-hugeauth", "ping-hdrflood", "gone", "tls-garbage", "tls-close"]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--portfile", required=True)
    a = ap.parse_args()
    for name in LISTENERS:
        base = Raw if name.startswith("tls-") else Http
        handler = type("H_" + name.replace("-", "_"), (base,),
                       {"listener": name})
        srv = Server(("127.0.0.1", 0), handler)
        PORTS[name] = srv.server_address[1]
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    PORTS["backlog"], keep = full_backlog()
    tmp = a.portfile + ".tmp"
    with open(tmp, "w") as f:
        json.dump(PORTS, f)
    os.rename(tmp, a.portfile)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass

if __name__ == "__main__":
    main()
