"""Manifest paths cannot stall the main loop (issue 13 item 3).

A build's `manifest` is a path the admin API (or the config file) names. skewgate reads it
on the main loop, the one that also answers the admin API and hands snapshots to the workers:
a FIFO (open blocks until a writer comes), /dev/zero (never ends) or a huge file stalled
or exhausted it. Now only a regular file of at most `actions.manifest_max_bytes` (per app,
default 16 MiB) is read; anything else is a clear error for that build alone (register:
400 invalid_manifest naming the problem; config load: file:line:col and the key) and the
admin API stays responsive. A manifest is read again only when its file changes (inode,
size, mtime), never on every registry change.
"""

import json
import os
import shutil
import signal
import subprocess
import time
import unittest

from control_support import Skewgate, read_text, render, write_atomically
from harness import SKEWGATE_BIN, GatewayTestCase, wait_for
from skew_support import MANIFEST

CAP = 4096  # actions.manifest_max_bytes of the test app
QUICK = 2.0  # seconds: an answer that does not wait for a file


def api_app():
    return {"name": "shop", "hosts": ["shop.test"], "registry": "api", "actions": {"manifest_max_bytes": CAP}}


def big_manifest(size):
    """A valid manifest of about `size` bytes (padding in an ignored key)."""
    doc = {"node": {"40a1c2e3f4051627384950a6b7c8d9e0f1a2b3c4d5": {}}, "edge": {}, "pad": ""}
    doc["pad"] = "x" * max(0, size - len(json.dumps(doc)))
    return json.dumps(doc)


class ManifestPaths(GatewayTestCase):

    def setUp(self):
        self.up = self.start_upstream("dpl-a")
        self.sg = Skewgate(self, lambda sg: render(sg.port, sg.admin_port, sg.state_dir, [api_app()])).start()
        self.dir = os.path.join(self.sg.workdir, "manifests")
        os.makedirs(self.dir)
        self.n = 0

    def path(self, name):
        return os.path.join(self.dir, name)

    def fifo(self, name="fifo.json"):
        p = self.path(name)
        os.mkfifo(p)
        return p

    def register(self, manifest, timeout=QUICK + 3):
        self.n += 1
        return self.sg.admin("POST", "/api/v1/apps/shop/builds",
                             {"id": f"dpl-m{self.n}", "upstreams": [self.up.address], "manifest": manifest},
                             timeout=timeout)

    def assertHealthyAtOnce(self):
        t = time.monotonic()
        r = self.sg.admin("GET", "/healthz", timeout=QUICK)
        self.assertEqual(r.status, 200)
        self.assertLess(time.monotonic() - t, QUICK, "the admin API waited")

    def test_register_refuses_what_is_not_a_small_regular_file(self):
        fifo = self.fifo()
        os.symlink(fifo, self.path("link-to-fifo.json"))
        with open(self.path("big.json"), "w") as f:
            f.write(big_manifest(CAP + 1))
        cases = [  # (what, path, words the message must hold)
            ("a FIFO", fifo, ["not a regular file", "FIFO"]),
            ("a symlink to a FIFO", self.path("link-to-fifo.json"), ["not a regular file", "FIFO"]),
            ("a directory", self.dir, ["not a regular file", "directory"]),
            ("/dev/zero", "/dev/zero", ["not a regular file", "device"]),
            ("/dev/null", "/dev/null", ["not a regular file", "device"]),
            ("over actions.manifest_max_bytes", self.path("big.json"), ["actions.manifest_max_bytes", str(CAP)]),
            ("missing", self.path("missing.json"), ["No such file"]),
        ]
        for what, path, words in cases:
            with self.subTest(what):
                t = time.monotonic()
                r = self.register(path)
                self.assertLess(time.monotonic() - t, QUICK, f"{what}: the register waited")
                self.assertEqual(r.status, 400, f"{what}: {r!r}")
                body = r.json()
                self.assertEqual(body["error"], "invalid_manifest", f"{what}: {r!r}")
                self.assertIn(path, body["message"])
                for w in words:
                    self.assertIn(w, body["message"], f"{what}: {r!r}")
                self.assertHealthyAtOnce()
        self.assertEqual(self.sg.app()["builds"], [], "a refused manifest registered a build")
        # Right at the cap, and through a symlink to a regular file: accepted.
        with open(self.path("at-cap.json"), "w") as f:
            f.write(big_manifest(CAP))
        self.assertEqual(os.path.getsize(self.path("at-cap.json")), CAP)
        self.assertEqual(self.register(self.path("at-cap.json")).status, 201)
        os.symlink(MANIFEST["a"], self.path("link-to-a.json"))
        self.assertEqual(self.register(self.path("link-to-a.json")).status, 201)
        self.assertEqual(self.sg.admin("GET", "/readyz").status, 200)

    def test_a_manifest_that_turns_into_a_fifo_spoils_only_its_own_build(self):
        p = self.path("m.json")
        shutil.copy(MANIFEST["a"], p)
        self.assertEqual(self.register(p).status, 201)
        self.assertEqual(self.sg.admin("POST", "/api/v1/apps/shop/builds/dpl-m1/promote").status, 200)
        os.unlink(p)
        os.mkfifo(p)
        # Registry changes read manifests of every build: this one is refused, not waited for.
        t = time.monotonic()
        r = self.sg.admin("POST", "/api/v1/apps/shop/builds",
                          {"id": "dpl-other", "upstreams": [self.up.address]}, timeout=QUICK + 3)
        self.assertLess(time.monotonic() - t, QUICK)
        self.assertEqual(r.status, 201, r)
        self.assertHealthyAtOnce()
        self.assertTrue(wait_for(lambda: "not a regular file" in self.sg.stderr_text(), 3.0),
                        self.sg.stderr_text()[-1500:])
        self.assertEqual(self.sg.served(), "dpl-a")

    def test_a_manifest_is_read_again_only_when_its_file_changes(self):
        p = self.path("m.json")
        shutil.copy(MANIFEST["a"], p)
        self.assertEqual(self.register(p).status, 201)
        self.assertEqual(self.sg.admin("POST", "/api/v1/apps/shop/builds/dpl-m1/promote").status, 200)
        st = os.stat(p)
        # Same inode, same size, same mtime, other bytes (not JSON any more): a re-read would
        # say so on stderr at the next registry change.
        with open(p, "r+b") as f:
            f.write(b"!" * st.st_size)
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
        self.assertEqual(os.stat(p).st_mtime_ns, st.st_mtime_ns)
        for i in range(3):
            r = self.sg.admin("POST", "/api/v1/apps/shop/builds", {"id": f"dpl-x{i}", "upstreams": [self.up.address]})
            self.assertEqual(r.status, 201, r)
        time.sleep(0.2)
        self.assertNotIn("is not a server-reference-manifest.json", self.sg.stderr_text(),
                         "an unchanged manifest was read again on a registry change")
        # A changed mtime is a changed file: read again at the next change, and refused.
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        r = self.sg.admin("POST", "/api/v1/apps/shop/builds", {"id": "dpl-y", "upstreams": [self.up.address]})
        self.assertEqual(r.status, 201, r)
        self.assertTrue(wait_for(lambda: "is not a server-reference-manifest.json" in self.sg.stderr_text(), 3.0),
                        "a changed manifest was not read again")
        self.assertEqual(read_text(p)[:3], "!!!")


class ManifestPathsInConfig(GatewayTestCase):
    """registry: config: the loader names file:line:col and the key, and never waits."""

    def render(self, port, admin_port, state_dir, manifest):
        app = {"name": "shop", "hosts": ["shop.test"], "current": "dpl-a",
               "actions": {"manifest_max_bytes": CAP},
               "builds": [{"id": "dpl-a", "upstreams": [self.up.address], "manifest": manifest}]}
        return render(port, admin_port, state_dir, [app])

    def setUp(self):
        self.up = self.start_upstream("dpl-a")
        self.good = MANIFEST["a"]
        self.manifest = self.good
        self.sg = Skewgate(self, lambda sg: self.render(sg.port, sg.admin_port, sg.state_dir, self.manifest))
        self.dir = os.path.join(self.sg.workdir, "manifests")
        os.makedirs(self.dir)
        os.mkfifo(os.path.join(self.dir, "fifo.json"))
        with open(os.path.join(self.dir, "big.json"), "w") as f:
            f.write(big_manifest(CAP + 1))

    def bad_paths(self):
        return [(os.path.join(self.dir, "fifo.json"), "FIFO"), (self.dir, "directory"), ("/dev/zero", "device"),
                (os.path.join(self.dir, "big.json"), "actions.manifest_max_bytes")]

    def test_check_names_the_file_line_and_key(self):
        for path, word in self.bad_paths():
            with self.subTest(path=path):
                self.sg.write_config(self.render(self.sg.port, self.sg.admin_port, self.sg.state_dir, path))
                try:
                    p = subprocess.run([SKEWGATE_BIN, "--check", "-c", self.sg.config_path], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=5)
                except subprocess.TimeoutExpired:
                    self.fail(f"--check waited on {path}")
                err = p.stderr.decode()
                self.assertEqual(p.returncode, 1, err)
                self.assertRegex(err, r"skewgate\.yaml:\d+:\d+: apps\[0\]\.builds\[0\]\.manifest: ")
                self.assertIn(word, err)

    def test_a_reload_with_a_bad_manifest_is_refused_and_nothing_stops(self):
        self.sg.start()
        for path, word in self.bad_paths():
            with self.subTest(path=path):
                before = self.sg.stderr_text().count("reload refused")
                self.sg.write_config(self.render(self.sg.port, self.sg.admin_port, self.sg.state_dir, path))
                self.sg.signal(signal.SIGHUP)
                self.assertTrue(wait_for(lambda: self.sg.stderr_text().count("reload refused") > before, QUICK + 1),
                                f"no refusal: {self.sg.stderr_text()[-1500:]}")
                self.assertIn(word, self.sg.stderr_text())
                r = self.sg.admin("GET", "/healthz", timeout=QUICK)
                self.assertEqual(r.status, 200)
                self.assertEqual(self.sg.served(), "dpl-a")


if __name__ == "__main__":
    unittest.main()
