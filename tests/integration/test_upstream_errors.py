"""Upstream failures as the downstream sees them.

Contract (issue 3, design.md section 9): connect refused -> 502, connect timeout -> 504,
no response within upstream_response -> 504, each with JSON
{"error":"upstream_unavailable","app":..,"build":..,"reason":..}. An upstream that resets,
sends garbage or closes mid-head gives a 502; a response cut mid-body is not passed
off as complete. The gateway keeps serving afterwards.
"""

import json
import socket
import time
import unittest

from harness import RSC, ConnectionClosed, GatewayTestCase, free_port, log_path, request_bytes


def blackhole_listener(test):
    """A 127.0.0.1 port whose SYNs are dropped: listen(0) with a full accept queue.

    Linux drops a SYN when the listener's accept queue is full, so a connect()
    there hangs until the caller's own timeout: a loopback-only connect timeout.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    test.addCleanup(listener.close)
    port = listener.getsockname()[1]
    for _ in range(4):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        test.addCleanup(s.close)
    time.sleep(0.2)
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(0.5)
    try:
        probe.connect(("127.0.0.1", port))
        test.skipTest("kernel accepted a connect on a full listener; cannot simulate a connect timeout")
    except socket.timeout:
        pass
    finally:
        probe.close()
    return f"127.0.0.1:{port}"


class UpstreamErrorsTest(GatewayTestCase):
    def start(self, shop_b_upstreams, timeouts=None):
        self.a = self.start_upstream("dpl-a")
        self.gw = self.start_gateway(
            apps=[{"name": "shop", "hosts": ["shop.test"], "current": "dpl-b",
                   "builds": [("dpl-a", [self.a.address]), ("dpl-b", shop_b_upstreams)]}],
            timeouts=timeouts or {"upstream_connect": "1s", "upstream_response": "2s"})

    def assert_unavailable(self, resp, body, status, reason, build="dpl-b"):
        self.assertEqual(resp.status, status, body)
        self.assertIn("json", (resp.getheader("content-type") or "").lower())
        payload = json.loads(body)
        self.assertEqual(payload.get("error"), "upstream_unavailable", payload)
        self.assertEqual(payload.get("app"), "shop", payload)
        self.assertEqual(payload.get("build"), build, payload)
        self.assertEqual(payload.get("reason"), reason, payload)

    def assert_still_serving(self):
        echo = self.get_json(self.gw, "/after", headers={**RSC, "x-deployment-id": "dpl-a"})
        self.assertEqual(echo["build"], "dpl-a")

    def test_connect_refused_502(self):
        self.start([f"127.0.0.1:{free_port()}"])
        resp, body = self.get(self.gw, "/")
        self.assert_unavailable(resp, body, 502, "connect_refused")
        self.assert_still_serving()

    def test_connect_timeout_504(self):
        address = blackhole_listener(self)
        self.start([address])
        start = time.monotonic()
        resp, body = self.get(self.gw, "/")
        elapsed = time.monotonic() - start
        self.assert_unavailable(resp, body, 504, "connect_timeout")
        self.assertGreater(elapsed, 0.8)
        self.assertLess(elapsed, 4.5, "upstream_connect (1s) not enforced")
        self.assert_still_serving()

    def test_response_timeout_504(self):
        b = self.start_upstream("dpl-b")
        self.start([b.address])
        start = time.monotonic()
        resp, body = self.get(self.gw, "/stall")
        elapsed = time.monotonic() - start
        self.assert_unavailable(resp, body, 504, "response_timeout")
        self.assertGreater(elapsed, 1.8)
        self.assertLess(elapsed, 5.5, "upstream_response (2s) not enforced")
        self.assert_still_serving()

    def test_stale_build_refused_names_that_build(self):
        self.a_dead = f"127.0.0.1:{free_port()}"
        b = self.start_upstream("dpl-b")
        self.gw = self.start_gateway(
            apps=[{"name": "shop", "hosts": ["shop.test"], "current": "dpl-b",
                   "builds": [("dpl-a", [self.a_dead]), ("dpl-b", [b.address])]}])
        resp, body = self.get(self.gw, "/", headers={**RSC, "x-deployment-id": "dpl-a"})
        self.assert_unavailable(resp, body, 502, "connect_refused", build="dpl-a")

    def bad_upstream_502(self, path):
        b = self.start_upstream("dpl-b")
        self.start([b.address])
        resp, body = self.get(self.gw, path)
        self.assertEqual(resp.status, 502, body)
        payload = json.loads(body)
        self.assertIn("error", payload)
        self.assert_still_serving()
        # And the same build still works for good requests.
        self.assertEqual(self.get_json(self.gw, "/fine")["build"], "dpl-b")

    def test_upstream_reset_502(self):
        self.bad_upstream_502("/reset")

    def test_upstream_garbage_502(self):
        self.bad_upstream_502("/garbage")

    def test_upstream_closes_mid_head_502(self):
        self.bad_upstream_502("/close-early")

    def test_upstream_closes_mid_body(self):
        b = self.start_upstream("dpl-b")
        self.start([b.address])
        conn = self.raw(self.gw)
        conn.send(request_bytes("GET", "/truncate?bytes=100000"))
        status, _, headers, _ = conn.read_head()
        self.assertEqual(status, 200)
        length = int(dict((k.lower(), v) for k, v in headers).get("content-length", "0") or 0)
        try:
            while len(conn.buf) < length or not length:
                conn._fill()
        except (ConnectionClosed, ConnectionResetError):
            pass
        # The downstream must see the cut: connection closed before the promised bytes.
        if length:
            self.assertLess(len(conn.buf), length, "a cut response was completed")
        else:
            self.assertFalse(conn.buf.endswith(b"0\r\n\r\n"), "a cut response was completed")
        self.assert_still_serving()

    def test_one_dead_upstream_connect_failure_retried(self):
        # design.md 9: "Retry only connect failures": with a dead and a live upstream
        # in the build, every idempotent request is served.
        b = self.start_upstream("dpl-b")
        self.start([f"127.0.0.1:{free_port()}", b.address])
        for i in range(4):
            resp, body = self.get(self.gw, f"/r{i}")
            self.assertEqual(resp.status, 200, body)

    def test_error_is_logged(self):
        self.start([f"127.0.0.1:{free_port()}"])
        resp, body = self.get(self.gw, "/logged")
        self.assertEqual(resp.status, 502)
        entry = self.wait_log(self.gw, lambda e: log_path(e).startswith("/logged"))
        self.assertEqual(entry.get("status"), 502, entry)
        self.assertEqual(entry.get("app"), "shop", entry)


if __name__ == "__main__":
    unittest.main()
