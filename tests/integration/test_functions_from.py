"""`functions_from`: react-server function ids from a build's client chunks (issue 15, item 3).

@lazarv/react-server sends no build identifier with a server-function call, only
`React-Server-Action: encodeURIComponent(<id>)`. skewgate learns which build has which
id from the build's output: every `createServerReference(...)` in `<outDir>/client/**/*.mjs`
(measured in `react-server build` output of 0.0.0-experimental-ea7a06c-20251214, where
rolldown writes `(0,n.createServerReference)(\\`<path>#<export>\\`,...)`). A call whose
client names no build goes to the newest kept build whose chunks hold the id.

- config mode: `functions_from` per build, read at load; a bad dir is a load error at
  file:line:col and the key;
- api mode: `skewgate deploy --functions-from DIR`, persisted in the registry (a kill -9
  and restart keep the ids); a bad dir answers 400 invalid_functions_from at once and
  registers nothing; a dir that goes bad later spoils only its own build (a warning);
- nothing under client/ is followed through a symlink: a chunk elsewhere names no id.
"""

import os
import shutil
import subprocess
import tempfile
import time
import unittest
from urllib.parse import quote

from control_support import Skewgate, render
from harness import SKEWGATE_BIN, GatewayTestCase, wait_for
from skew_support import build, exchange, render_config, served_by

HOST = "shop.test"
QUICK = 2.0  # seconds: an answer that walks a small dir and waits for nothing

# Ids as react-server writes them (absolute source path at build time, '#', export).
RS_A_ONLY = "/srv/shop/src/actions.mjs#addToCart"        # build A only (renamed in B)
RS_AB = "/srv/shop/src/actions.mjs#greet"                # both builds (unchanged function)
RS_B_ONLY = "/srv/shop/src/actions.mjs#addItemToCart"    # build B only
RS_NONE = "/srv/shop/src/actions.mjs#neverBuilt"         # no build
RS_ODD = "/srv/shop/src/Ünïcode 'quoted'.mjs#f"          # escaped in the chunk
RS_LINKED = "/srv/elsewhere/secret.mjs#fromSymlink"      # only in a chunk behind a symlink


def js_template(text):
    return "`" + text.replace("\\", "\\\\").replace("`", "\\`").replace("${", "\\${") + "`"


def chunk(ids):
    """A client chunk in the shape of the measured rolldown output."""
    refs = ",".join(f"r{i}=(0,n.createServerReference)({js_template(i_d)},__react_server_callServer__)"
                    for i, i_d in enumerate(ids))
    return ('import{g as e}from"./rolldown-runtime.Cb5j2Qq5.mjs";import{c as t}from"./react.Cicc3Yzu.mjs";'
            f"var n=e(t(),1);const {refs};export{{}};" if ids else "export{};")


def out_dir(root, name, ids, odd=False):
    """<root>/<name>: a react-server outDir whose client chunks hold `ids`."""
    d = os.path.join(root, name)
    os.makedirs(os.path.join(d, "client", "src"))
    os.makedirs(os.path.join(d, "server"))
    half = len(ids) // 2
    with open(os.path.join(d, "client", "actions.DrDi1LJr.mjs"), "w") as f:
        f.write(chunk(ids[:half]))
    with open(os.path.join(d, "client", "src", "Button.DtjNDhRq.mjs"), "w") as f:
        f.write(chunk(ids[half:]))
    if odd:  # the same id the way a minifier may escape it: "\u00dc..." in double quotes
        escaped = "".join(c if ord(c) < 0x80 and c not in "\"'" else f"\\u{ord(c):04x}" for c in RS_ODD)
        with open(os.path.join(d, "client", "odd.mjs"), "w") as f:
            f.write(f'const o=createServerReference("{escaped}",cs);')
    # What the server side holds is never read (only what the browser can call).
    with open(os.path.join(d, "server", "actions.mjs"), "w") as f:
        f.write(chunk([RS_NONE]))
    # A symlink to a chunk elsewhere, a FIFO and a device named like chunks: skipped.
    elsewhere = os.path.join(root, f"elsewhere-{name}.mjs")
    with open(elsewhere, "w") as f:
        f.write(chunk([RS_LINKED]))
    os.symlink(elsewhere, os.path.join(d, "client", "linked.mjs"))
    os.symlink("/dev/zero", os.path.join(d, "client", "zero.mjs"))
    os.mkfifo(os.path.join(d, "client", "fifo.mjs"))
    return d


def rs_call(action_id, marker):
    """A react-server JS call (the measured wire shape): no build named anywhere."""
    return [("React-Server-Action", quote(action_id, safe="-_.!~*'()")), ("accept", "text/x-component"),
            ("content-type", "text/plain;charset=UTF-8"), ("origin", f"http://{HOST}")], f"/cart/rsc.x-component?{marker}"


class FunctionsFromConfig(GatewayTestCase):
    """Config mode: ids read at load."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="skewgate-rs-")
        self.addCleanup(shutil.rmtree, self.root, True)
        self.up = {b: self.start_upstream(f"dpl-{b}") for b in ("a", "b")}
        os.makedirs(os.path.join(self.root, "state"))
        self.dirs = {"a": out_dir(self.root, "a", [RS_A_ONLY, RS_AB, RS_ODD], odd=False),
                     "b": out_dir(self.root, "b", [RS_AB, RS_B_ONLY], odd=True)}

    def config(self, port, dirs, current="dpl-b"):
        builds = []
        for b in ("a", "b"):
            entry = build(f"dpl-{b}", [self.up[b].address])
            if dirs.get(b) is not None:
                entry["functions_from"] = dirs[b]
            builds.append(entry)
        return render_config(port, os.path.join(self.root, "state"),
                             [{"name": "shop", "hosts": [HOST], "current": current, "builds": builds}])

    def call(self, g, action_id, marker):
        headers, target = rs_call(action_id, marker)
        return exchange(g.port, "POST", target, HOST, headers, b'["$K1"]')

    def test_a_call_reaches_the_newest_build_whose_chunks_hold_its_id(self):
        g = self.start_gateway(config_text=self.config("{port}", self.dirs))
        rows = [  # (id, served by: None = not proxied, skewgate answered itself)
            ("only A's chunks", RS_A_ONLY, "dpl-a"),
            ("both (newest wins)", RS_AB, "dpl-b"),
            ("only B's chunks", RS_B_ONLY, "dpl-b"),
            ("A's template literal", RS_ODD, "dpl-b"),   # B: \\u-escaped in a "..." literal
            ("no build", RS_NONE, None),
            ("only behind a symlink", RS_LINKED, None),
        ]
        for i, (what, action_id, expected) in enumerate(rows):
            with self.subTest(what):
                resp = self.call(g, action_id, f"row={i}")
                self.assertEqual(served_by(resp), expected, f"{what}: {resp!r}")

    def test_an_empty_build_knows_it_has_no_functions(self):
        # B has no server functions at all: a call for A's function goes to A, never to B.
        empty = os.path.join(self.root, "empty")
        os.makedirs(os.path.join(empty, "client"))
        with open(os.path.join(empty, "client", "index.mjs"), "w") as f:
            f.write("console.log(1)")
        g = self.start_gateway(config_text=self.config("{port}", {"a": self.dirs["a"], "b": empty}))
        self.assertEqual(served_by(self.call(g, RS_A_ONLY, "empty=1")), "dpl-a")
        # An id no build has: B's empty set is known, so B is not asked to run it (a build
        # whose ids are unknown, like one without a manifest, answers for itself).
        self.assertIsNone(served_by(self.call(g, RS_NONE, "empty=2")))

    def test_a_bad_dir_is_a_load_error_at_the_key(self):
        plain_file = os.path.join(self.root, "plain")
        with open(plain_file, "w") as f:
            f.write("x")
        no_client = os.path.join(self.root, "no-client")
        os.makedirs(no_client)
        link_client = os.path.join(self.root, "link-client")
        os.makedirs(link_client)
        os.symlink(os.path.join(self.dirs["a"], "client"), os.path.join(link_client, "client"))
        cases = [  # (what, dir, words in the message)
            ("missing", os.path.join(self.root, "missing"), ["no such directory"]),
            ("a file", plain_file, ["is not a directory"]),
            ("no client/", no_client, ["has no client/ directory"]),
            ("client/ is a symlink", link_client, ["client/ is a symlink"]),
            ("/dev/zero", "/dev/zero", ["is not a directory"]),
        ]
        for what, d, words in cases:
            with self.subTest(what):
                path = os.path.join(self.root, "check.yaml")
                with open(path, "w") as f:
                    f.write(self.config(18080, {"a": self.dirs["a"], "b": d}))
                p = subprocess.run([SKEWGATE_BIN, "--check", "-c", path], capture_output=True, timeout=QUICK + 8)
                err = p.stderr.decode()
                self.assertEqual(p.returncode, 1, err)
                self.assertRegex(err, r"check\.yaml:\d+:\d+: apps\[0\]\.builds\[1\]\.functions_from: functions_from ")
                self.assertNotIn("builds[0]", err)
                for w in words:
                    self.assertIn(w, err)
        # Both sources on one build.
        text = self.config(18080, self.dirs).replace(
            "functions_from", "manifest: /x/server-reference-manifest.json, functions_from", 1)
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([SKEWGATE_BIN, "--check", "-c", path], capture_output=True, timeout=QUICK + 8)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not both", p.stderr.decode())


def api_app():
    return {"name": "shop", "hosts": [HOST], "registry": "api"}


class FunctionsFromApi(GatewayTestCase):
    """API mode: the CLI deploys with --functions-from; the registry keeps it."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="skewgate-rs-")
        self.addCleanup(shutil.rmtree, self.root, True)
        self.up = {b: self.start_upstream(f"dpl-{b}") for b in ("a", "b", "c")}
        self.dirs = {"a": out_dir(self.root, "a", [RS_A_ONLY, RS_AB]),
                     "b": out_dir(self.root, "b", [RS_AB, RS_B_ONLY])}
        self.sg = Skewgate(self, lambda sg: render(sg.port, sg.admin_port, sg.state_dir, [api_app()])).start()

    def deploy(self, b, *extra):
        return self.sg.cli("deploy", "--app", "shop", "--build", f"dpl-{b}", "--upstream", self.up[b].address,
                           "--no-verify", "--health-timeout", "20s", *extra)

    def call(self, action_id, marker):
        headers, target = rs_call(action_id, marker)
        return self.sg.request("POST", target, HOST, headers, b'["$K1"]')

    def check_routing(self):
        for i, (action_id, expected) in enumerate([(RS_A_ONLY, "dpl-a"), (RS_AB, "dpl-b"), (RS_B_ONLY, "dpl-b"),
                                                   (RS_NONE, None), (RS_LINKED, None)]):
            with self.subTest(action_id=action_id):
                self.assertEqual(served_by(self.call(action_id, f"n={i}")), expected)

    def test_deploy_with_functions_from_survives_kill9(self):
        for b in ("a", "b"):
            code, out, err = self.deploy(b, "--functions-from", self.dirs[b])
            self.assertEqual(code, 0, out + err)
        self.assertEqual(self.sg.current(), "dpl-b")
        builds = {b["id"]: b for b in self.sg.app()["builds"]}
        self.assertEqual((builds["dpl-a"]["functions_from"], builds["dpl-a"]["function_ids"]), (self.dirs["a"], 2))
        self.assertEqual((builds["dpl-b"]["functions_from"], builds["dpl-b"]["function_ids"]), (self.dirs["b"], 2))
        self.assertTrue(builds["dpl-a"]["has_manifest"])
        self.check_routing()

        self.sg.restart_after_kill9()
        builds = {b["id"]: b for b in self.sg.app()["builds"]}
        self.assertEqual(builds["dpl-a"]["function_ids"], 2, "the restart lost the ids")
        self.check_routing()

        # A retried deploy is idempotent; another dir for the same id is a conflict.
        self.assertEqual(self.deploy("a", "--functions-from", self.dirs["a"])[0], 0)
        r = self.sg.admin("POST", "/api/v1/apps/shop/builds",
                          {"id": "dpl-a", "upstreams": [self.up["a"].address], "functions_from": self.dirs["b"]})
        self.assertEqual((r.status, r.json()["error"]), (409, "build_conflict"), r)

    def test_a_bad_dir_refuses_that_build_only(self):
        self.assertEqual(self.deploy("b", "--functions-from", self.dirs["b"])[0], 0)
        no_client = os.path.join(self.root, "no-client")
        os.makedirs(no_client)
        fifo = os.path.join(self.root, "fifo")
        os.mkfifo(fifo)
        cases = [  # (what, body extra, error code, words)
            ("missing", {"functions_from": os.path.join(self.root, "missing")}, "invalid_functions_from",
             ["no such directory"]),
            ("no client/", {"functions_from": no_client}, "invalid_functions_from", ["has no client/"]),
            ("a FIFO", {"functions_from": fifo}, "invalid_functions_from", ["is not a directory"]),
            ("/etc", {"functions_from": "/etc"}, "invalid_functions_from", ["has no client/"]),
            ("not a string", {"functions_from": 7}, "invalid_body", ["functions_from"]),
            ("empty", {"functions_from": ""}, "invalid_body", ["functions_from"]),
            ("with a manifest", {"functions_from": self.dirs["a"], "manifest": "/x.json"}, "invalid_body", ["not both"]),
        ]
        for what, extra, code, words in cases:
            with self.subTest(what):
                t = time.monotonic()
                r = self.sg.admin("POST", "/api/v1/apps/shop/builds",
                                  dict({"id": "dpl-c", "upstreams": [self.up["c"].address]}, **extra),
                                  timeout=QUICK + 3)
                self.assertLess(time.monotonic() - t, QUICK, "the register waited")
                self.assertEqual((r.status, r.json()["error"]), (400, code), r)
                for w in words:
                    self.assertIn(w, r.json()["message"])
        self.assertEqual([b["id"] for b in self.sg.app()["builds"]], ["dpl-b"], "a refused dir registered a build")
        code, out, err = self.deploy("c", "--functions-from", no_client)
        self.assertNotEqual(code, 0)
        self.assertIn("has no client/", out + err)

        # A's dir goes bad after its registration: A loses its ids (a warning), B keeps routing.
        self.assertEqual(self.deploy("a", "--functions-from", self.dirs["a"])[0], 0)  # now current
        shutil.rmtree(os.path.join(self.dirs["a"], "client"))
        r = self.sg.admin("POST", "/api/v1/apps/shop/builds", {"id": "dpl-c", "upstreams": [self.up["c"].address]})
        self.assertEqual(r.status, 201, r)
        self.assertTrue(wait_for(lambda: "build dpl-a: functions_from" in self.sg.stderr_text(), 3.0),
                        self.sg.stderr_text()[-1500:])
        builds = {b["id"]: b for b in self.sg.app()["builds"]}
        self.assertIsNone(builds["dpl-a"]["function_ids"])
        self.assertEqual(builds["dpl-b"]["function_ids"], 2)
        self.assertEqual(served_by(self.call(RS_B_ONLY, "after=1")), "dpl-b")

    def test_a_rewalk_reads_only_changed_chunks(self):
        self.assertEqual(self.deploy("b", "--functions-from", self.dirs["b"])[0], 0)
        # Rewrite a chunk in place with the same size and mtime (not a real deploy's way): a
        # re-read would find the new id; registry changes must only stat it.
        p = os.path.join(self.dirs["b"], "client", "actions.DrDi1LJr.mjs")
        st = os.stat(p)
        with open(p, "r+b") as f:
            text = f.read()
            f.seek(0)
            f.write(text.replace(b"greet", b"GREET"))
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
        for i in range(3):
            r = self.sg.admin("POST", "/api/v1/apps/shop/builds", {"id": f"dpl-x{i}", "upstreams": [self.up["c"].address]})
            self.assertEqual(r.status, 201, r)
        self.assertEqual(served_by(self.call(RS_AB, "same=1")), "dpl-b", "an unchanged chunk was read again")
        # A new mtime: read again at the next registry change.
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
        r = self.sg.admin("POST", "/api/v1/apps/shop/builds", {"id": "dpl-y", "upstreams": [self.up["c"].address]})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(served_by(self.call(RS_AB.replace("greet", "GREET"), "new=1")), "dpl-b")


if __name__ == "__main__":
    unittest.main()
