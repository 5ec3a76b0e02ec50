"""Issue 19: skewgate_worker_connections_accepted_total{worker} on the real binary.

Contract: each worker counts the downstream connections it accepted; /metrics shows one
series per worker (0 .. workers-1, present from the start), not their sum, so the spread
SO_REUSEPORT gives can be read. The test opens a known number of new connections, one
request each (Connection: close), and checks that the series grew by exactly that many in
all. Nothing else connects to the proxy port meanwhile (the start-up probes are counted
before the baseline is read). Workers publish once a second: reads wait a bounded time.
"""

import http.client
import re
import unittest

from harness import GatewayTestCase, request_bytes, wait_for

WORKERS = 2
CONNECTIONS = 40
SERIES = "skewgate_worker_connections_accepted_total"


def per_worker(text):
    """{worker label: value} of the series."""
    out = {}
    for line in text.splitlines():
        m = re.fullmatch(SERIES + r'\{worker="(\d+)"\} (\S+)', line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


class WorkerConnectionsTest(GatewayTestCase):
    def setUp(self):
        self.up = self.start_upstream("dpl-a")
        self.gw = self.start_gateway(apps=[{"name": "shop", "hosts": ["shop.test"], "current": "dpl-a",
                                            "builds": [("dpl-a", [self.up.address])]}], workers=WORKERS,
                                     access_log=False)

    def metrics(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.gw.admin_port, timeout=5)
        try:
            conn.request("GET", "/metrics")
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            return resp.read().decode()
        finally:
            conn.close()

    def settled(self):
        """The per-worker counts once two publishes in a row agree."""
        last = [None]

        def same():
            now = per_worker(self.metrics())
            ok = now == last[0]
            last[0] = now
            return ok
        self.assertTrue(wait_for(same, 10, interval=1.2), "the counts never settled")
        return last[0]

    def test_each_worker_counts_the_connections_it_accepted(self):
        before = self.settled()
        self.assertEqual(sorted(before), [str(w) for w in range(WORKERS)], before)
        for _ in range(CONNECTIONS):
            conn = self.raw(self.gw)
            conn.send(request_bytes("GET", "/", headers=[("connection", "close")]))
            response = conn.read_response()
            self.assertEqual(response.status, 200, response)
            conn.close()
        expected = sum(before.values()) + CONNECTIONS
        self.assertTrue(wait_for(lambda: sum(per_worker(self.metrics()).values()) == expected, 5),
                        f"expected {expected} in all, got {per_worker(self.metrics())}")
        after = per_worker(self.metrics())
        grew = {w: after[w] - before[w] for w in after}
        self.assertTrue(all(v >= 0 for v in grew.values()), grew)
        print(f"\naccepted per worker for {CONNECTIONS} connections: {grew}")


if __name__ == "__main__":
    unittest.main()
