#!/usr/bin/env python3
"""Sample the dashboard's ETA once a second and compare it with the time
that was actually left.

Usage: etacheck.py --socket SOCK [--min-frac 0.1] [--min-left 2] -- PULLTOP ARGS...

Runs PULLTOP ARGS (with --exit-when-done added) in a new detached tmux
session (120x40) on the private server SOCK, captures the pane every
second, reads the header's "A / B" bytes and "ETA x", and when pulltop has
exited prints one JSON object:
  {"rc": N, "wall": S, "samples": [[t, frac, eta_or_null], ...],
   "judged": K, "worst": E, "worst_at": [t, frac, eta, left]}
where E is the worst |eta - left| / left over the samples taken once
frac >= --min-frac and with left >= --min-left seconds (a "--" there counts
as an error of 1.0). Python standard library only.
"""
import argparse, json, os, re, shlex, subprocess, sys, tempfile, time

UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}
BYTES = re.compile(r"([\d.]+) (B|kB|MB|GB|TB) / ([\d.]+) (B|kB|MB|GB|TB)")
ETA = re.compile(r"ETA (\S+)")


def secs(text):
    if text in ("--", "done"):
        return None
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if not m or not any(m.groups()):
        return None
    h, mi, s = (int(x) if x else 0 for x in m.groups())
    return h * 3600 + mi * 60 + s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--min-frac", type=float, default=0.1)
    ap.add_argument("--min-left", type=float, default=2.0)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    work = tempfile.mkdtemp(prefix="etacheck.")
    end, rcf = os.path.join(work, "end"), os.path.join(work, "rc")
    shell = "%s --exit-when-done; rc=$?; date +%%s.%%N >%s; echo $rc >%s" % (
        " ".join(shlex.quote(c) for c in cmd), end, rcf)
    tm = ["tmux", "-S", a.socket, "-f", "/dev/null"]
    env = dict(os.environ, TERM=os.environ.get("TERM") or "xterm")
    subprocess.run(tm + ["new-session", "-d", "-x", "120", "-y", "40", shell],
                   check=True, env=env)
    t0 = time.time()
    samples = []
    while not os.path.exists(rcf) and time.time() - t0 < a.timeout:
        now = time.time()
        pane = subprocess.run(tm + ["capture-pane", "-p"], capture_output=True,
                              text=True).stdout
        head = pane.split("\n", 1)[0]
        b, e = BYTES.search(head), ETA.search(head)
        if b and e:
            done = float(b.group(1)) * UNITS[b.group(2)]
            total = float(b.group(3)) * UNITS[b.group(4)]
            if total > 0:
                samples.append([now, done / total, secs(e.group(1))])
        time.sleep(max(0.0, 1.0 - (time.time() - now)))
    subprocess.run(tm + ["kill-server"], capture_output=True)
    if not os.path.exists(rcf):
        print(json.dumps({"rc": None, "error": "timed out"}))
        return 1
    t_end = float(open(end).read())
    rc = int(open(rcf).read())
    worst, worst_at, judged = 0.0, None, 0
    for t, frac, eta in samples:
        left = t_end - t
        if frac < a.min_frac or left < a.min_left:
            continue
        judged += 1
        err = 1.0 if eta is None else abs(eta - left) / left
        if err > worst:
            worst, worst_at = err, [round(t - t0, 1), round(frac, 3), eta, round(left, 1)]
    print(json.dumps({"rc": rc, "wall": round(t_end - t0, 1),
                      "samples": [[round(t - t0, 1), round(f, 3), e] for t, f, e in samples],
                      "judged": judged, "worst": round(worst, 3), "worst_at": worst_at}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
