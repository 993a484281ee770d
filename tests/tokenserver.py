#!/usr/bin/env python3
"""A docker token server (the registry's `auth: token` realm) for pulltop's
auth tests.  Python standard library only; JWTs are signed RS256 by running
`openssl dgst -sha256 -sign KEY`, with the certificate in the x5c header
(the registry's rootcertbundle holds that same certificate).

Usage:
    tokenserver.py --portfile F --key KEY.pem --cert CERT.pem
                   [--issuer I] [--expires SECONDS]
                   [--user NAME:PASSWORD]... [--refresh-token TOKEN=NAME]...
                   [--grant WHO:REPO-GLOB:ACTIONS]...

GET  /token?service=S&scope=repository:R:pull[&scope=...][&account=A]
     with or without Basic credentials (wrong ones: 401);
POST /token  form grant_type=refresh_token&refresh_token=T (or
     grant_type=password&username=U&password=P), service, scope: the OAuth2
     way docker uses an identity token.
Either answers {"token", "access_token", "expires_in", "issued_at"}.  The
token grants, per requested scope, the actions that a --grant rule gives
the caller: WHO is a user name, "anonymous" or "*" (anyone); anything not
granted is left out, as docker's token servers do (the registry then says
401 insufficient_scope).

Control (never part of the token protocol):
    GET  /__stats    {"tokens": [{"who","scope","granted","method"}...],
                      "rejected": N, "requests": N}
    POST /__mode     body "normal", "garbage" (200 with HTML) or "500"
"""

import argparse
import base64
import fnmatch
import http.server
import json
import os
import socketserver
import subprocess
import sys
import threading
import time
import urllib.parse


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class State:
    def __init__(self, a):
        self.a = a
        self.lock = threading.Lock()
        self.tokens = []
        self.rejected = 0
        self.requests = 0
        self.mode = "normal"
        self.users = dict(u.split(":", 1) for u in a.user)
        self.refresh = dict(r.split("=", 1) for r in a.refresh_token)
        self.grants = [g.split(":", 2) for g in a.grant]
        with open(a.cert) as f:
            pem = f.read()
        der = base64.b64decode("".join(
            l for l in pem.splitlines() if l and not l.startswith("-----")))
        self.x5c = base64.b64encode(der).decode()

    def allowed(self, who, repo, actions):
        out = []
        for w, glob, acts in self.grants:
            if w not in ("*", who) or not fnmatch.fnmatchcase(repo, glob):
                continue
            for act in acts.split(","):
                if act in actions and act not in out:
                    out.append(act)
        return out

    def sign(self, claims):
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing = (b64url(json.dumps(header).encode()) + "." +
                   b64url(json.dumps(claims).encode()))
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.a.key],
                             input=signing.encode(), capture_output=True,
                             check=True).stdout
        return signing + "." + b64url(sig)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("tokenserver: " + (fmt % args) + "\n")

    def send(self, code, body, ctype="application/json", extra=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        st = self.server.state
        u = urllib.parse.urlsplit(self.path)
        if u.path == "/__stats":
            with st.lock:
                return self.send(200, {"tokens": st.tokens, "rejected": st.rejected,
                                       "requests": st.requests})
        if u.path != "/token":
            return self.send(404, {"error": "not found"})
        q = urllib.parse.parse_qs(u.query)
        who = "anonymous"
        h = self.headers.get("Authorization", "")
        if h.startswith("Basic "):
            try:
                user, pw = base64.b64decode(h[6:]).decode().split(":", 1)
            except Exception:
                user, pw = "", None
            if st.users.get(user) != pw or pw is None:
                return self.reject()
            who = user
        elif h:
            return self.reject()
        self.issue(who, q, "GET")

    def do_POST(self):
        st = self.server.state
        u = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode()
        if u.path == "/__mode":
            with st.lock:
                st.mode = body.strip() or "normal"
            return self.send(200, {"mode": st.mode})
        if u.path != "/token":
            return self.send(404, {"error": "not found"})
        q = urllib.parse.parse_qs(body)
        grant = q.get("grant_type", [""])[0]
        if grant == "refresh_token":
            who = st.refresh.get(q.get("refresh_token", [""])[0])
        elif grant == "password":
            user = q.get("username", [""])[0]
            who = user if st.users.get(user) == q.get("password", [None])[0] else None
        else:
            return self.send(400, {"error": "unsupported_grant_type"})
        if who is None:
            return self.reject()
        self.issue(who, q, "POST")

    def reject(self):
        st = self.server.state
        with st.lock:
            st.requests += 1
            st.rejected += 1
        self.send(401, {"errors": [{"code": "UNAUTHORIZED",
                                    "message": "incorrect username or password"}]})

    def issue(self, who, q, method):
        st = self.server.state
        with st.lock:
            st.requests += 1
            mode = st.mode
        if mode == "garbage":
            return self.send(200, b"<html>Gateway says hello</html>", "text/html")
        if mode == "500":
            return self.send(500, b"oops", "text/plain")
        access = []
        for scope in q.get("scope", []):
            parts = scope.split(":")
            if len(parts) < 3 or parts[0] != "repository":
                continue
            repo, actions = ":".join(parts[1:-1]), parts[-1].split(",")
            got = st.allowed(who, repo, actions)
            if got:
                access.append({"type": "repository", "name": repo, "actions": got})
        now = int(time.time())
        claims = {"iss": st.a.issuer, "sub": "" if who == "anonymous" else who,
                  "aud": q.get("service", [""])[0], "exp": now + st.a.expires,
                  "nbf": now - 5, "iat": now, "jti": os.urandom(8).hex(),
                  "access": access}
        tok = st.sign(claims)
        with st.lock:
            st.tokens.append({"who": who, "scope": q.get("scope", []),
                              "granted": access, "method": method,
                              "time": time.time()})
        self.send(200, {"token": tok, "access_token": tok,
                        "expires_in": st.a.expires,
                        "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                   time.gmtime(now))})


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--portfile", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--issuer", default="pulltop-tokenserver")
    ap.add_argument("--expires", type=int, default=300)
    ap.add_argument("--user", action="append", default=[])
    ap.add_argument("--refresh-token", action="append", default=[])
    ap.add_argument("--grant", action="append", default=[])
    a = ap.parse_args()
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.state = State(a)
    tmp = a.portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, a.portfile)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
