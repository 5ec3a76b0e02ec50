"""Graceful drain on SIGTERM/SIGINT.

Contract (issue 3, design.md section 9): stop accepting, finish in-flight requests
(up to timeouts.drain), exit 0.
"""

import signal
import socket
import threading
import time
import unittest

from harness import GatewayTestCase, RawConnection, request_bytes, wait_for


class DrainTest(GatewayTestCase):
    def start(self, drain="5s"):
        self.up = self.start_upstream("dpl-b")
        self.gw = self.start_gateway(
            apps=[{"name": "shop", "hosts": ["shop.test"], "current": "dpl-b",
                   "builds": [("dpl-b", [self.up.address])]}],
            workers=2, timeouts={"drain": drain, "upstream_response": "30s"})

    def start_slow_requests(self, count, ms):
        """Send `count` slow requests on their own connections; results land in a list."""
        results = [None] * count
        conns = []
        for i in range(count):
            conn = RawConnection(self.gw.port, timeout=15)
            self.addCleanup(conn.close)
            conn.send(request_bytes("GET", f"/delay?ms={ms}&i={i}"))
            conns.append(conn)

        def read(i):
            try:
                results[i] = conns[i].read_response()
            except Exception as e:  # reported by the assertions below
                results[i] = e

        threads = [threading.Thread(target=read, args=(i,), daemon=True) for i in range(count)]
        for t in threads:
            t.start()
        # Wait until the upstream holds all of them, so they are truly in flight.
        self.assertTrue(wait_for(lambda: self.up.stats()["inflight"] >= count, 5.0),
                        "slow requests never reached the upstream")
        return results, threads

    def connect_refused(self):
        try:
            socket.create_connection(("127.0.0.1", self.gw.port), timeout=0.5).close()
            return False
        except ConnectionRefusedError:
            return True
        except OSError:
            return False

    def drain_with(self, sig):
        self.start()
        results, threads = self.start_slow_requests(3, 1500)
        sent = time.monotonic()
        self.gw.signal(sig)
        self.assertTrue(wait_for(self.connect_refused, 1.0), "still accepting after the signal")
        for t in threads:
            t.join(timeout=10)
        for r in results:
            self.assertNotIsInstance(r, Exception, r)
            self.assertIsNotNone(r, "in-flight request got no answer")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["build"], "dpl-b")
        code = self.gw.wait(timeout=8)
        self.assertEqual(code, 0, f"exit code after drain; stderr: {self.gw.stderr_text()[-2000:]}")
        self.assertLess(time.monotonic() - sent, 7.0)

    def test_sigterm_finishes_in_flight_and_exits_0(self):
        self.drain_with(signal.SIGTERM)

    def test_sigint_finishes_in_flight_and_exits_0(self):
        self.drain_with(signal.SIGINT)

    def test_idle_gateway_exits_promptly(self):
        self.start()
        idle = self.raw(self.gw)  # an idle keep-alive connection must not hold the drain
        idle.send(request_bytes("GET", "/warm"))
        self.assertEqual(idle.read_response().status, 200)
        start = time.monotonic()
        self.gw.signal(signal.SIGTERM)
        code = self.gw.wait(timeout=8)
        self.assertEqual(code, 0)
        self.assertLess(time.monotonic() - start, 3.0, "idle keep-alive connection held the drain")

    def test_drain_bounded_by_timeout(self):
        self.start(drain="1s")
        results, threads = self.start_slow_requests(1, 20000)
        start = time.monotonic()
        self.gw.signal(signal.SIGTERM)
        code = self.gw.wait(timeout=10)
        elapsed = time.monotonic() - start
        self.assertIsNotNone(code, "skewgate still running 10s after SIGTERM with drain 1s")
        self.assertEqual(code, 0)
        self.assertLess(elapsed, 4.0, "drain (1s) not enforced")
        self.assertGreater(elapsed, 0.8, "exited before the drain period with a request in flight")


if __name__ == "__main__":
    unittest.main()
