"""`skewgate` without -c runs the embedded default demo config (issue 3):
listener 127.0.0.1:8080; app `demo` for hosts localhost and 127.0.0.1; builds dpl-a at
127.0.0.1:3001 and dpl-b at 127.0.0.1:3002; current dpl-b.

Fixed ports, so the test skips when any of them is taken (for example by scripts/demo.sh).
"""

import unittest

from harness import GatewayTestCase, port_free, wait_for

LISTEN, PORT_A, PORT_B = 8080, 3001, 3002


class DefaultConfigTest(GatewayTestCase):
    def setUp(self):
        taken = [p for p in (LISTEN, PORT_A, PORT_B) if not port_free(p)]
        if taken:
            self.skipTest(f"ports in use on 127.0.0.1: {taken}")
        self.start_upstream("dpl-a", port=PORT_A)
        self.start_upstream("dpl-b", port=PORT_B)
        self.gw = self.start_gateway(port=LISTEN, embedded_default=True)

    def test_routes_like_the_demo(self):
        for host in ("localhost", "127.0.0.1", f"localhost:{LISTEN}"):
            self.assertEqual(self.get_json(self.gw, "/", host=host)["build"], "dpl-b", host)
            self.assertEqual(self.get_json(self.gw, "/", host=host, headers={"rsc": "1", "x-deployment-id": "dpl-a"})["build"],
                             "dpl-a", host)
            self.assertEqual(self.get_json(self.gw, "/_next/static/x.js?dpl=dpl-a", host=host)["build"], "dpl-a", host)

    def test_access_log_names_demo_app(self):
        self.get_json(self.gw, "/named")
        # The default access log is plain text on stdout: app=demo on the request's line.
        line = wait_for(lambda: next((l for l in self.gw.stdout_text().splitlines() if "/named" in l), None), 3.0)
        self.assertIsNotNone(line, self.gw.stdout_text())
        self.assertIn("demo", line)
        self.assertIn("dpl-b", line)

if __name__ == "__main__":
    unittest.main()
