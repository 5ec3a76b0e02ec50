"""`skewgate` without -c runs the embedded default demo config (issues 3 and 5):
listener 127.0.0.1:8080, admin 127.0.0.1:9901, state_dir /tmp/skewgate-demo; app `demo` for
hosts localhost and 127.0.0.1 with `registry: api` and no builds. The builds are deployed the
way scripts/demo.sh does it, through the CLI on its default admin address: dpl-a at
127.0.0.1:3001, then dpl-b at 127.0.0.1:3002 (current; dpl-a retained).

Fixed ports and a fixed state_dir, so the test skips when any of the ports is taken (for
example by scripts/demo.sh), and otherwise starts from an empty /tmp/skewgate-demo.
"""

import os
import shutil
import subprocess
import unittest

from harness import SKEWGATE_BIN, GatewayTestCase, port_free, wait_for

LISTEN, ADMIN, PORT_A, PORT_B = 8080, 9901, 3001, 3002
STATE_DIR = "/tmp/skewgate-demo"  # the embedded default's state_dir
CLI_TIMEOUT = 30


class DefaultConfigTest(GatewayTestCase):
    def setUp(self):
        taken = [p for p in (LISTEN, ADMIN, PORT_A, PORT_B) if not port_free(p)]
        if taken:
            self.skipTest(f"ports in use on 127.0.0.1: {taken}")
        # `registry: api` keeps its builds in state_dir: start from none, leave none behind
        # (cleanups run last-in first-out, so this one runs after the gateway has stopped).
        shutil.rmtree(STATE_DIR, ignore_errors=True)
        self.addCleanup(shutil.rmtree, STATE_DIR, True)
        self.start_upstream("dpl-a", port=PORT_A)
        self.start_upstream("dpl-b", port=PORT_B)
        self.gw = self.start_gateway(port=LISTEN, embedded_default=True)
        # Before any deploy the app has no build: nothing may be proxied.
        resp, _ = self.get(self.gw, "/", host="localhost")
        self.assertNotEqual(resp.status, 200)
        self.cli("deploy", "--app", "demo", "--build", "dpl-a", "--upstream", f"127.0.0.1:{PORT_A}")
        self.assertEqual(self.get_json(self.gw, "/", host="localhost")["build"], "dpl-a")
        self.cli("deploy", "--app", "demo", "--build", "dpl-b", "--upstream", f"127.0.0.1:{PORT_B}")

    def cli(self, *args):
        """The CLI on its default admin address (no --admin): the embedded default's admin."""
        env = {k: v for k, v in os.environ.items() if k != "SKEWGATE_ADMIN"}
        p = subprocess.run([SKEWGATE_BIN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, env=env, timeout=CLI_TIMEOUT, text=True)
        self.assertEqual(p.returncode, 0, f"skewgate {' '.join(args)}:\n{p.stdout}{p.stderr}")
        return p.stdout

    def test_routes_like_the_demo(self):
        for host in ("localhost", "127.0.0.1", f"localhost:{LISTEN}"):
            self.assertEqual(self.get_json(self.gw, "/", host=host)["build"], "dpl-b", host)
            self.assertEqual(self.get_json(self.gw, "/", host=host, headers={"rsc": "1", "x-deployment-id": "dpl-a"})["build"],
                             "dpl-a", host)
            self.assertEqual(self.get_json(self.gw, "/_next/static/x.js?dpl=dpl-a", host=host)["build"], "dpl-a", host)

    def test_builds_and_retire_like_the_demo(self):
        listing = self.cli("builds", "--app", "demo")
        # "app demo (registry: api), current: dpl-b", then the table: ID STATE HEALTHY ...
        rows = {w[0]: w[1] for w in (line.split() for line in listing.splitlines()) if w and w[0].startswith("dpl-")}
        self.assertEqual(rows, {"dpl-a": "retained", "dpl-b": "current"}, listing)
        self.cli("retire", "--app", "demo", "--build", "dpl-a")
        # A retired build's RSC request gets the 409 reload answer; documents stay on dpl-b.
        resp, body = self.get(self.gw, "/", host="localhost", headers={"rsc": "1", "x-deployment-id": "dpl-a"})
        self.assertEqual(resp.status, 409, body[:300])
        self.assertIn("build=dpl-a", resp.getheader("x-skewgate-reload") or "")
        self.assertEqual(self.get_json(self.gw, "/", host="localhost")["build"], "dpl-b")

    def test_access_log_names_demo_app(self):
        self.get_json(self.gw, "/named")
        # The default access log is plain text on stdout: app=demo on the request's line.
        line = wait_for(lambda: next((l for l in self.gw.stdout_text().splitlines() if "/named" in l), None), 3.0)
        self.assertIsNotNone(line, self.gw.stdout_text())
        self.assertIn("demo", line)
        self.assertIn("dpl-b", line)

if __name__ == "__main__":
    unittest.main()
