"""Many replicas, one truth (issue 17 section 5): three skewgate processes share one
configuration directory laid out as the kubelet lays out a mounted ConfigMap, and one pin
secret file, as three pods of one Deployment would.

    config/..2026_12_05_18_00_00.1/skewgate.yaml   the file's bytes, one directory per version
    config/..data -> ..2026_12_05_18_00_00.1         swapped atomically on each update
    config/skewgate.yaml -> ..data/skewgate.yaml    the path every replica reads (-c)

A deploy writes a new timestamped directory, points `..data_tmp` at it and renames that over
`..data` (what the kubelet's atomic writer does), then removes the old directory. Each
replica reloads through its own file watch (`watch: true`); nobody signals them.

The file cannot hold three sets of ports and state dirs, so each replica gets its own
through the command line (--listen, --admin-listen, --state-dir), which holds across
reloads. In a cluster every pod has its own address and filesystem and needs none of them.

Proves, on 127.0.0.1 with real upstream processes:
  - a pin issued by one replica is accepted by the other two (one secret file);
  - a swap that changes nothing reloads nothing;
  - each swap converges on all three within 2 s (measured from the rename to the moment
    each replica's admin API shows the new builds; printed);
  - under steady load spread over the three replicas (documents, RSC requests naming the
    old and the new build, POSTs carrying a pin of the old and of the kept build), a deploy
    (add dpl-c), a promote (current: dpl-c) and a retire (dpl-a: retired) cause no failed
    and no misrouted request. The figures are printed (ctest -V, or the failure message).
"""

import http.client
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import unittest

from control_support import Skewgate, render, wait_until
from harness import (SKEWGATE_BIN, ConnectionClosed, GatewayTestCase, RawConnection, free_port, request_bytes,
                     wait_for)

TOKEN = "replicas-test-admin-token-4d1e8b2a7c"
PIN_SECRET = "replicas-test-pin-secret-0123456789abcdefghijklmnop"  # >= 32 bytes
REPLICAS = 3
CONVERGE_WITHIN = 2.0      # seconds, the bound
POLL_INTERVAL = 0.005      # between two rounds of admin polls while waiting for convergence
STEADY = 0.8               # seconds of steady load between two changes
THREADS_PER_REPLICA = 2
# A replica's admin API shows a new snapshot when its control plane has made it; its
# workers get it through uv_async_send a moment later (control_plane.h). A request that
# starts within this margin after the admin API showed the change may still be served
# by the snapshot before it.
HANDOFF_MARGIN = 0.25
RELOADED = "configuration reloaded (file changed)"


class ConfigMapDir:
    """A directory updated the way the kubelet updates a mounted ConfigMap."""

    def __init__(self, root):
        self.root = root
        self.serial = 0
        os.makedirs(root)
        self.path = os.path.join(root, "skewgate.yaml")

    def publish(self, text):
        """Writes a new version; returns the monotonic time just before `..data` was swapped."""
        self.serial += 1
        stamp = time.strftime("..%Y_%m_%d_%H_%M_%S", time.gmtime()) + f".{self.serial}"
        os.makedirs(os.path.join(self.root, stamp))
        with open(os.path.join(self.root, stamp, "skewgate.yaml"), "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        data = os.path.join(self.root, "..data")
        old = os.readlink(data) if os.path.islink(data) else None
        tmp = os.path.join(self.root, "..data_tmp")
        os.symlink(stamp, tmp)
        t0 = time.monotonic()
        os.rename(tmp, data)
        if not os.path.islink(self.path):
            os.symlink("..data/skewgate.yaml", self.path)
        if old:
            shutil.rmtree(os.path.join(self.root, old))
        return t0


class Replica(Skewgate):
    """One skewgate process on the shared file, with its own ports and state_dir given on
    the command line."""

    def __init__(self, testcase, index, config_path):
        super().__init__(testcase, None, workdir=tempfile.mkdtemp(prefix=f"skewgate-replica{index}-"))
        self.index = index
        self.config_path = config_path
        self.token = TOKEN  # the shared admin.token_file holds it
        for name in ("SKEWGATE_SECRET", "SKEWGATE_SECRET_FILE"):
            self.env.pop(name, None)

    def spawn(self, extra_args=()):
        return super().spawn(["--listen", f"127.0.0.1:{self.port}", "--admin-listen", f"127.0.0.1:{self.admin_port}",
                              "--state-dir", self.state_dir, *extra_args])

    def view(self):
        """(current, {build: state}) as this replica's admin API shows it."""
        app = self.app("shop")
        return app["current"], {b["id"]: b["state"] for b in app["builds"]}

    def reloads(self):
        return self.stderr_text().count(RELOADED)


def pin_of(response):
    """The skewgate_pin cookie's value set by a response, or None."""
    for name, value in response.headers:
        if name.lower() == "set-cookie":
            m = re.match(r"\s*skewgate_pin=([^;]+)", value)
            if m:
                return m.group(1)
    return None


# ---------------------------------------------------------------------------
# The load: what each kind of request may get in each epoch of the scenario.

EPOCHS = [
    # (name, current, builds that are kept) ; dpl-a is retired in the last epoch
    ("before", "dpl-b", {"dpl-a", "dpl-b"}),
    ("deployed dpl-c", "dpl-b", {"dpl-a", "dpl-b", "dpl-c"}),
    ("promoted dpl-c", "dpl-c", {"dpl-a", "dpl-b", "dpl-c"}),
    ("retired dpl-a", "dpl-c", {"dpl-b", "dpl-c"}),
]
KINDS = ["document", "rsc-a", "rsc-c", "pin-a", "pin-b"]
RELOAD = "reload answer"  # a local answer with x-skewgate-reload (design.md section 5)


def outcomes(kind, epoch):
    """The outcomes a request of `kind` may have in `epoch`: x-served-by of a 200, or RELOAD."""
    _, current, kept = EPOCHS[epoch]
    if kind == "document":
        return {current}                         # a navigation always lands on current
    if kind in ("rsc-a", "rsc-c"):
        build = "dpl-" + kind[-1]
        return {build} if build in kept else {RELOAD}   # 409 for rsc (section 5)
    build = "dpl-" + kind[-1]                    # pin-a, pin-b: kind `other` with a pin cookie
    return {build} if build in kept else {current}


class Load:
    """Client threads on keep-alive connections, THREADS_PER_REPLICA per replica. Every
    request is recorded with its replica, kind, [start, end] and outcome, and judged
    afterwards against when each change reached each replica."""

    def __init__(self, replicas, pins):
        self.replicas = replicas
        self.pins = pins
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.records = []  # (replica, kind, s, e, outcome)
        self.errors = []   # (replica, kind, s, e, message)
        self.threads = [threading.Thread(target=self._run, args=(r, n), daemon=True)
                        for r in range(len(replicas)) for n in range(THREADS_PER_REPLICA)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(20)
        return not any(t.is_alive() for t in self.threads)

    def _request(self, kind):
        if kind == "document":
            return "GET", "/", [("accept", "text/html"), ("sec-fetch-mode", "navigate")], None
        if kind.startswith("rsc-"):
            return "GET", "/page?_rsc=1", [("rsc", "1"), ("x-deployment-id", "dpl-" + kind[-1]), ("accept", "*/*")], None
        body = b'{"n": 1}'
        return "POST", "/api/submit", [("cookie", f"skewgate_pin={self.pins[kind[-1]]}"),
                                       ("content-type", "application/json")], body

    def _run(self, replica, n):
        port = self.replicas[replica].port
        conn = None
        i = n
        while not self.stop_event.is_set():
            kind = KINDS[i % len(KINDS)]
            i += 1
            method, target, headers, body = self._request(kind)
            data = request_bytes(method, target, "shop.test", headers, body)
            for attempt in (1, 2):
                reused = conn is not None
                s = time.monotonic()
                try:
                    if conn is None:
                        conn = RawConnection(port)
                    conn.send(data)
                    resp = conn.read_response(method)
                except (OSError, ConnectionClosed) as exc:
                    e = time.monotonic()
                    if conn is not None:
                        conn.close()
                    conn = None
                    # RFC 9112 9.3.1: a reused connection closed before an answer may be
                    # retried once on a new one (clients do); nothing else is forgiven.
                    if reused and attempt == 1 and isinstance(exc, ConnectionClosed):
                        continue
                    with self.lock:
                        self.errors.append((replica, kind, s, e, f"{type(exc).__name__}: {exc}"[:200]))
                    break
                e = time.monotonic()
                if resp.status == 200:
                    outcome = resp.header("x-served-by") or "200 without x-served-by"
                elif resp.status == 409 and resp.header("x-skewgate-reload"):
                    outcome = RELOAD
                else:
                    outcome = f"status {resp.status}"
                with self.lock:
                    self.records.append((replica, kind, s, e, outcome))
                if (resp.header("connection") or "").lower() == "close":
                    conn.close()
                    conn = None
                break
        if conn is not None:
            conn.close()

    def judge(self, swaps, converged):
        """swaps[k]: when the change into epoch k+1 was published; converged[k][r]: when
        replica r showed it. Epoch k may be in effect on replica r from swaps[k-1] until
        converged[k][r] + HANDOFF_MARGIN."""
        def possible(r, s, e):
            out = set()
            for k in range(len(EPOCHS)):
                start = swaps[k - 1] if k > 0 else float("-inf")
                end = converged[k][r] + HANDOFF_MARGIN if k < len(swaps) else float("inf")
                if start <= e and s <= end:
                    out.add(k)
            return out

        failed, misrouted = [], []
        per_kind = {k: 0 for k in KINDS}
        per_replica = [0] * len(self.replicas)
        for replica, kind, s, e, outcome in self.records:
            per_kind[kind] += 1
            per_replica[replica] += 1
            allowed = set()
            for k in possible(replica, s, e):
                allowed |= outcomes(kind, k)
            if outcome in allowed:
                continue
            detail = (replica, kind, outcome, sorted(allowed), round(s - swaps[0], 3))
            # Served by a build that was not due (or served where a reload answer was due):
            # misrouted. Anything else not allowed (a reload answer or an error status
            # where a build should have served) failed.
            (misrouted if outcome.startswith("dpl-") else failed).append(detail)
        failed += [(r, k, m, [], round(s - swaps[0], 3)) for r, k, s, e, m in self.errors]
        return {"requests": len(self.records) + len(self.errors), "answered": len(self.records),
                "failed": len(failed), "misrouted": len(misrouted), "per_kind": per_kind,
                "per_replica": per_replica, "examples": {"failed": failed[:5], "misrouted": misrouted[:5]}}


class ReplicasShareOneConfigMap(GatewayTestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="skewgate-replicas-")
        self.addCleanup(shutil.rmtree, self.root, True)
        self.up = {b: self.start_upstream(f"dpl-{b}") for b in ("a", "b", "c")}
        secrets = os.path.join(self.root, "secrets")  # as a mounted Secret
        os.makedirs(secrets)
        self.token_file = os.path.join(secrets, "admin-token")
        self.secret_file = os.path.join(secrets, "pin-secret")
        with open(self.token_file, "w") as f:
            f.write(TOKEN + "\n")
        with open(self.secret_file, "w") as f:
            f.write(PIN_SECRET + "\n")
        self.config = ConfigMapDir(os.path.join(self.root, "config"))
        # The ports the file names are never bound: every replica overrides them.
        self.file_port, self.file_admin_port = free_port(), free_port()

    def render(self, current, builds):
        """The shared file. builds: [(id, state or None)]."""
        entries = []
        for build, state in builds:
            entry = {"id": build, "upstreams": [self.up[build[-1]].address]}
            if state:
                entry["state"] = state
            entries.append(entry)
        return render(self.file_port, self.file_admin_port, os.path.join(self.root, "unused-state"),
                      [{"name": "shop", "hosts": ["shop.test"], "registry": "config", "current": current,
                        "builds": entries}],
                      token_file=self.token_file, workers=1, watch=True,
                      extra_top={"pins": {"secret_file": self.secret_file}})

    def start_replicas(self):
        replicas = [Replica(self, i, self.config.path) for i in range(REPLICAS)]
        for r in replicas:
            r.start()
        return replicas

    def converge(self, replicas, t0, want):
        """Polls every replica's admin API until each shows `want`; the seconds each took
        after the swap (None: not within CONVERGE_WITHIN plus a second)."""
        seen = [None] * len(replicas)
        deadline = t0 + CONVERGE_WITHIN + 1.0
        while None in seen and time.monotonic() < deadline:
            for i, r in enumerate(replicas):
                if seen[i] is None and wait_until(lambda: r.view() == want, 0):
                    seen[i] = time.monotonic()
            time.sleep(POLL_INTERVAL)
        return seen

    def assert_converged(self, what, t0, seen, replicas):
        took = [None if t is None else round(t - t0, 3) for t in seen]
        late = [i for i, t in enumerate(took) if t is None or t > CONVERGE_WITHIN]
        self.assertEqual(late, [], f"{what}: replicas {late} did not converge within {CONVERGE_WITHIN}s "
                                   f"(seconds per replica: {took}); stderr of the first late one: "
                                   f"{replicas[late[0]].stderr_text()[-1500:] if late else ''}")
        return took

    def test_pins_convergence_and_changes_under_load(self):
        report = {"convergence_seconds": {}}
        started = time.monotonic()
        self.config.publish(self.render("dpl-a", [("dpl-a", None), ("dpl-b", None)]))
        replicas = self.start_replicas()

        # A pin for dpl-a, issued by replica 0 while dpl-a is current.
        first = replicas[0].request("GET", "/", "shop.test", [("accept", "text/html")])
        self.assertEqual(first.header("x-served-by"), "dpl-a")
        pin_a = pin_of(first)
        self.assertIsNotNone(pin_a, f"replica 0 set no pin on a document: {first!r}")

        # First swap: dpl-b becomes current on every replica.
        t0 = self.config.publish(self.render("dpl-b", [("dpl-a", None), ("dpl-b", None)]))
        want = ("dpl-b", {"dpl-a": "retained", "dpl-b": "current"})
        report["convergence_seconds"]["promote dpl-b (idle)"] = self.assert_converged(
            "promote dpl-b", t0, self.converge(replicas, t0, want), replicas)

        # A pin for dpl-b from replica 1; each pin is honoured by the replicas that did not
        # issue it: a POST (kind `other`) with it goes to its build, not to current.
        second = replicas[1].request("GET", "/", "shop.test", [("accept", "text/html")])
        self.assertEqual(second.header("x-served-by"), "dpl-b")
        pin_b = pin_of(second)
        self.assertIsNotNone(pin_b)
        self.assertNotEqual(pin_a, pin_b)
        for i, r in enumerate(replicas):
            for pin, build in ((pin_a, "dpl-a"), (pin_b, "dpl-b")):
                got = r.request("POST", "/api/submit", "shop.test",
                                [("cookie", f"skewgate_pin={pin}"), ("content-type", "application/json")], b"{}")
                self.assertEqual((got.status, got.header("x-served-by")), (200, build),
                                 f"replica {i} with the {build} pin: {got!r}")
            # Without a pin, the same request goes to current: the pin made the difference.
            plain = r.request("POST", "/api/submit", "shop.test", [("content-type", "application/json")], b"{}")
            self.assertEqual(plain.header("x-served-by"), "dpl-b")

        # A swap that changes no byte reloads nothing.
        before = [r.reloads() for r in replicas]
        self.config.publish(self.render("dpl-b", [("dpl-a", None), ("dpl-b", None)]))
        time.sleep(0.8)  # four times the watch's settle delay
        self.assertEqual([r.reloads() for r in replicas], before, "a swap to identical bytes reloaded")

        # Deploy, promote, retire under load.
        load = Load(replicas, {"a": pin_a, "b": pin_b}).start()
        swaps, converged = [], []
        steps = [
            ("deploy dpl-c", self.render("dpl-b", [("dpl-a", None), ("dpl-b", None), ("dpl-c", None)]),
             ("dpl-b", {"dpl-a": "retained", "dpl-b": "current", "dpl-c": "retained"})),
            ("promote dpl-c", self.render("dpl-c", [("dpl-a", None), ("dpl-b", None), ("dpl-c", None)]),
             ("dpl-c", {"dpl-a": "retained", "dpl-b": "retained", "dpl-c": "current"})),
            ("retire dpl-a", self.render("dpl-c", [("dpl-a", "retired"), ("dpl-b", None), ("dpl-c", None)]),
             ("dpl-c", {"dpl-a": "retired", "dpl-b": "retained", "dpl-c": "current"})),
        ]
        try:
            time.sleep(STEADY)
            for what, text, want in steps:
                t0 = self.config.publish(text)
                seen = self.converge(replicas, t0, want)
                report["convergence_seconds"][what + " (under load)"] = self.assert_converged(
                    what, t0, seen, replicas)
                swaps.append(t0)
                converged.append(seen)
                time.sleep(STEADY)
        finally:
            stopped = load.stop()
        self.assertTrue(stopped, "load threads did not stop")
        verdict = load.judge(swaps, converged)
        report.update({k: v for k, v in verdict.items() if k != "examples"})
        report["load_seconds"] = round(time.monotonic() - swaps[0] + STEADY, 1) if swaps else None
        report["test_seconds"] = round(time.monotonic() - started, 1)
        sys.stderr.write(f"\n[replicas] {json.dumps(report)}\n")
        sys.stderr.flush()
        self.assertEqual((verdict["failed"], verdict["misrouted"]), (0, 0),
                         f"{json.dumps(verdict['examples'])}; {json.dumps(report)}")
        self.assertGreater(min(verdict["per_replica"]), 100, report)
        # Every replica reloaded once per change (the first swap and the three under load;
        # the identical swap not) and refused nothing.
        for i, r in enumerate(replicas):
            self.assertNotIn("reload refused", r.stderr_text(), f"replica {i}")
            self.assertEqual(r.reloads(), 1 + len(steps), f"replica {i}: {r.stderr_text()[-1500:]}")


class ReplicaCommandLine(GatewayTestCase):
    """The per-replica flags as --check sees them."""

    def check(self, *args):
        import subprocess
        p = subprocess.run([SKEWGATE_BIN, "--check", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=30)
        return p.returncode, p.stdout.decode() + p.stderr.decode()

    def test_overrides_are_checked_with_the_file(self):
        workdir = tempfile.mkdtemp(prefix="skewgate-replica-flags-")
        self.addCleanup(shutil.rmtree, workdir, True)
        path = os.path.join(workdir, "skewgate.yaml")
        with open(path, "w") as f:
            f.write(render(free_port(), free_port(), os.path.join(workdir, "state"),
                           [{"name": "shop", "hosts": ["shop.test"], "current": "dpl-a",
                             "builds": [{"id": "dpl-a", "upstreams": ["127.0.0.1:3001"]}]}]))
        self.assertEqual(self.check("-c", path, "--listen", "127.0.0.1:18080", "--admin-listen=[::1]:19901",
                                    "--state-dir", workdir)[0], 0)
        code, out = self.check("-c", path, "--listen", "127.0.0.1:1", "--listen", "127.0.0.1:2")
        self.assertEqual(code, 1, out)
        self.assertIn("<command line>: --listen: given 2 times but", out)
        code, out = self.check("-c", path, "--admin-listen", "0.0.0.0:9901")
        self.assertEqual(code, 1, out)
        self.assertIn("<command line>: --admin-listen: the admin API would be reachable from other hosts", out)
        code, out = self.check("-c", path, "--listen", "shop-a:8080")
        self.assertEqual(code, 2, out)
        self.assertIn("--listen 'shop-a:8080': expected IP:PORT", out)
        code, out = self.check("-c", path, "--state-dir")
        self.assertEqual(code, 2, out)
        self.assertIn("--state-dir needs a value", out)


if __name__ == "__main__":
    unittest.main()
