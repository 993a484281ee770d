#!/usr/bin/env python3
"""A registry that misbehaves on purpose, for pulltop's error tests.

Serves /v2/ (200) and, per repository name, one kind of bad answer:
  bad/notjson      manifest that is not JSON
  bad/shape        OCI index media type with a 'layers' list
  bad/huge         a 5 MiB manifest
  bad/wrongblob    a valid manifest whose layer blob has the wrong bytes
  bad/schema1      a Docker schema 1 manifest
  bad/baddigest    a layer digest that is not sha256:<64 hex>
  mt/...           media types that do not fit their role (MT_DOCS below)
  notregistry/...  (use --not-registry: /v2/ answers 404 with HTML)
Usage: badregistry.py [--not-registry] --portfile F
"""
import argparse, hashlib, http.server, json, os, socketserver, sys

OCI_M = "application/vnd.oci.image.manifest.v1+json"
OCI_I = "application/vnd.oci.image.index.v1+json"

def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()

CONFIG = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": []}}).encode()
GOOD_LAYER = b"the right bytes " * 64
WRONG_LAYER = b"the WRONG bytes " * 64

def manifest(layers):
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_M,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(CONFIG), "size": len(CONFIG)},
        "layers": layers}).encode()

DOCS = {
    "bad/notjson": (OCI_M, b"<html>this is not json</html>"),
    "bad/shape": (OCI_I, json.dumps({"schemaVersion": 2, "mediaType": OCI_I,
        "manifests": [], "layers": [{"digest": sha(b"x"), "size": 1}]}).encode()),
    "bad/huge": (OCI_M, b'{"schemaVersion":2,"pad":"' + b"x" * (5 << 20) + b'"}'),
    "bad/wrongblob": (OCI_M, manifest([{"mediaType":
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "digest": sha(GOOD_LAYER), "size": len(GOOD_LAYER)}])),
    "bad/schema1": ("application/vnd.docker.distribution.manifest.v1+prettyjws",
        json.dumps({"schemaVersion": 1, "name": "bad/schema1"}).encode()),
    "bad/baddigest": (OCI_M, manifest([{"mediaType":
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "digest": "sha256:../../../etc/passwd", "size": 10}])),
}

# --- media-type confusion (CVE-2021-41190 class): every document below is
# otherwise valid and every blob it names is served with the right bytes, so
# only the media type check can refuse it. mt/NAME serves MT_DOCS[NAME];
# manifests and blobs named by digest come from MT_BLOBS.
MT_CONFIG_OCI = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_BLOBS = {}

def mt_blob(data):
    MT_BLOBS[sha(data)] = data
    return {"digest": sha(data), "size": len(data)}

def mt_manifest(config_mt, layer_mt, config=CONFIG):
    layer = dict(mt_blob(b"a layer of the mt/ cases " * 8), mediaType=layer_mt)
    cfg = mt_blob(config)
    if config_mt:
        cfg["mediaType"] = config_mt
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_M, "config": cfg,
                       "layers": [layer]}).encode()

def mt_index(entry_mt, target):
    entry = dict(mt_blob(target), mediaType=entry_mt,
                 platform={"os": "linux", "architecture": "amd64"})
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_I,
                       "manifests": [entry]}).encode()

MT_GOOD = mt_manifest(MT_CONFIG_OCI, MT_LAYER_GZ)
MT_DOCS = {
    # the case: an index (a real one) named as the config
    "config-index": (OCI_M, mt_manifest(OCI_I, MT_LAYER_GZ, config=mt_index(
        OCI_M, MT_GOOD))),
    "config-manifest": (OCI_M, mt_manifest(OCI_M, MT_LAYER_GZ, config=MT_GOOD)),
    "config-layer": (OCI_M, mt_manifest(MT_LAYER_GZ, MT_LAYER_GZ)),
    "config-none": (OCI_M, mt_manifest(None, MT_LAYER_GZ)),
    "layer-index": (OCI_M, mt_manifest(MT_CONFIG_OCI, OCI_I)),
    "layer-manifest": (OCI_M, mt_manifest(MT_CONFIG_OCI, OCI_M)),
    "layer-config": (OCI_M, mt_manifest(MT_CONFIG_OCI, MT_CONFIG_OCI)),
    "entry-config": (OCI_I, mt_index(MT_CONFIG_OCI, MT_GOOD)),
    "entry-layer": (OCI_I, mt_index(MT_LAYER_GZ, MT_GOOD)),
    # a manifest served as an index, and the reverse
    "ctype-index": (OCI_I, MT_GOOD),
    "ctype-manifest": (OCI_M, mt_index(OCI_M, MT_GOOD)),
    # the control: the same blobs with the right media types pull fine
    "good": (OCI_M, MT_GOOD),
}

def mt_serve(h, p):
    """Answer GET /v2/mt/... from MT_DOCS and MT_BLOBS; False if not ours."""
    if not p.startswith("/v2/mt/"):
        return False
    name, _, ref = p[len("/v2/mt/"):].partition("/")
    kind, _, ref = ref.partition("/")
    if kind == "manifests" and name in MT_DOCS and not ref.startswith("sha256:"):
        ct, body = MT_DOCS[name]
    elif ref in MT_BLOBS:
        body = MT_BLOBS[ref]
        ct = (json.loads(body).get("mediaType", OCI_M) if kind == "manifests"
              else "application/octet-stream")
    else:
        return False
    h.send(200, body, ct)
    return True

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    not_registry = False

    def log_message(self, *a):
        pass

    def send(self, code, body, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        p = self.path.split("?")[0]
        if p == "/v2/":
            if self.not_registry:
                return self.send(404, b"<html>nothing here</html>", "text/html")
            return self.send(200, b"{}")
        if mt_serve(self, p):
            return
        if "/manifests/" in p:
            name = p[len("/v2/"):p.index("/manifests/")]
            if name in DOCS:
                ct, body = DOCS[name]
                return self.send(200, body, ct)
        if "/blobs/" in p:
            d = p.rsplit("/", 1)[1]
            if d == sha(CONFIG):
                return self.send(200, CONFIG, "application/octet-stream")
            if d == sha(GOOD_LAYER):
                return self.send(200, WRONG_LAYER, "application/octet-stream")
        self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')

    do_HEAD = do_GET

class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--not-registry", action="store_true")
    ap.add_argument("--portfile", required=True)
    a = ap.parse_args()
    H.not_registry = a.not_registry
    srv = S(("127.0.0.1", 0), H)
    tmp = a.portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, a.portfile)
    srv.serve_forever()

if __name__ == "__main__":
    main()
