"""Issue 13, items 4-6, on the real binary: no connection lives forever.

Contract: a request body that stops arriving gets 408 client_body_timeout (while no
response started) and the connection closes; a client that stops reading is closed
after client_send; a WebSocket tunnel with no byte either way for tunnel_idle is closed
on both sides; an upstream that stops taking the request body gets 504
upstream_send_timeout. Each expiry is in the access log and counted in
skewgate_rejected_requests_total{reason} or skewgate_upstream_errors_total{reason}.
Expect: 100-continue on a form post skewgate reads before deciding is answered by
skewgate itself. An Upgrade the upstream declines leaves a keep-alive connection.
Timeouts are tiny (300 ms); timing is only checked as "closed within timeout + slack".
"""

import http.client
import re
import socket
import threading
import time
import unittest

from harness import GatewayTestCase, request_bytes, wait_for

TIMEOUT_S = 0.3
SLACK_S = 2.0
TINY = {"client_body": "300ms", "client_send": "300ms", "tunnel_idle": "300ms", "upstream_response": "300ms",
        "client_header": "2s"}
UPGRADE_HEADERS = (("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13"),
                   ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="))


def counter(text, name, **labels):
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


class TimeoutsTest(GatewayTestCase):
    def setUp(self):
        self.up = self.start_upstream("dpl-a")
        self.gw = self.start_gateway(apps=[{"name": "shop", "hosts": ["shop.test"], "current": "dpl-a",
                                            "builds": [("dpl-a", [self.up.address])]}], timeouts=TINY)

    def metrics(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.gw.admin_port, timeout=5)
        try:
            conn.request("GET", "/metrics")
            return conn.getresponse().read().decode()
        finally:
            conn.close()

    def wait_counted(self, name, **labels):
        """Workers publish their counts once a second."""
        self.assertTrue(wait_for(lambda: counter(self.metrics(), name, **labels) >= 1, 5),
                        f"{name}{labels} never counted")

    def wait_logged(self, detail):
        self.wait_log(self.gw, lambda e: e.get("detail") == detail)

    def closed_within(self, sock, limit_s):
        """Reads (and drops) until EOF or reset; the seconds it took, or None."""
        start = time.monotonic()
        sock.settimeout(0.2)
        while time.monotonic() - start < limit_s:
            try:
                if not sock.recv(65536):
                    return time.monotonic() - start
            except socket.timeout:
                continue
            except ConnectionResetError:
                return time.monotonic() - start
        return None

    def test_a_stalled_request_body_gets_408_then_close(self):
        for name, request in [
            ("content-length", request_bytes("POST", "/upload", headers=[("Content-Length", "100")]) + b"part"),
            ("chunked", request_bytes("POST", "/upload", headers=[("Transfer-Encoding", "chunked")]) + b"5\r\nab"),
            ("peeked form post", request_bytes("POST", "/form", headers=[
                ("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", "40")]) + b"a=1"),
        ]:
            with self.subTest(name):
                conn = self.raw(self.gw)
                conn.send(request)
                start = time.monotonic()
                response = conn.read_response()
                self.assertEqual(response.status, 408)
                self.assertEqual(response.json()["error"], "client_body_timeout")
                self.assertEqual((response.header("connection") or "").lower(), "close")
                self.assertLess(time.monotonic() - start, TIMEOUT_S + SLACK_S)
                self.assertIsNotNone(self.closed_within(conn.sock, SLACK_S + 2))
        self.wait_logged("client_body_timeout")
        self.wait_counted("skewgate_rejected_requests_total", reason="client_body_timeout")

    def test_a_client_that_stops_reading_is_closed(self):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.connect(("127.0.0.1", self.gw.port))
        self.addCleanup(sock.close)
        sock.sendall(request_bytes("GET", "/repeat?bytes=1000000000"))
        # Never read: the close shows in the log and the counter.
        self.wait_logged("client_send_timeout")
        self.wait_counted("skewgate_rejected_requests_total", reason="client_send_timeout")
        received = 0
        sock.settimeout(5)
        while True:
            data = sock.recv(1 << 20)
            if not data:
                break
            received += len(data)
            self.assertLess(received, 200 << 20, "the response went on: nothing closed the connection")

    def test_an_idle_tunnel_is_closed_on_both_sides(self):
        conn = self.raw(self.gw)
        conn.send(request_bytes("GET", "/ws", headers=UPGRADE_HEADERS))
        self.assertEqual(conn.read_response().status, 101)
        conn.send(b"ping")
        self.assertEqual(conn.read_exactly(4), b"ping")
        took = self.closed_within(conn.sock, TIMEOUT_S + SLACK_S)
        self.assertIsNotNone(took, "the idle tunnel stayed open")
        self.wait_logged("tunnel_idle_timeout")
        self.wait_counted("skewgate_rejected_requests_total", reason="tunnel_idle_timeout")
        # The upstream side went too: no connection left in flight there.
        self.assertTrue(wait_for(lambda: self.up.stats()["inflight"] == 0, 3), self.up.stats())

    def test_an_upstream_that_stops_taking_the_body_gets_504_upstream_send_timeout(self):
        conn = self.raw(self.gw, timeout=10)
        size = 64 << 20
        conn.send(request_bytes("POST", "/hold", headers=[("Content-Length", str(size))]))
        stop = threading.Event()

        def push():
            block = b"x" * 65536
            conn.sock.settimeout(0.5)
            for _ in range(size // len(block)):
                if stop.is_set():
                    return
                try:
                    conn.sock.sendall(block)
                except socket.timeout:
                    continue
                except OSError:
                    return

        sender = threading.Thread(target=push)
        sender.start()
        try:
            deadline = time.monotonic() + 8
            while b"\r\n\r\n" not in conn.buf and time.monotonic() < deadline:
                try:
                    data = conn.sock.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    break
                conn.buf += data
        finally:
            stop.set()
            sender.join()
        self.assertTrue(conn.buf.startswith(b"HTTP/1.1 504"), conn.buf[:200])
        self.assertIn(b"upstream_send_timeout", conn.buf)
        self.wait_counted("skewgate_upstream_errors_total", reason="upstream_send_timeout")

    def test_expect_100_continue_on_a_peeked_form_post_is_answered_by_skewgate(self):
        conn = self.raw(self.gw)
        body = b"name=ada&lang=en"
        conn.send(request_bytes("POST", "/form", headers=[
            ("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", str(len(body))),
            ("Expect", "100-continue")]))
        conn.sock.settimeout(1.0)  # a short, bounded wait: curl's own is 1 s
        interim = conn.read_response(skip_interim=False)
        self.assertEqual(interim.status, 100)
        conn.sock.settimeout(5)
        conn.send(body)
        response = conn.read_response(skip_interim=False)
        self.assertEqual(response.status, 200)  # no second 100
        echo = response.json()
        self.assertEqual(echo["body_length"], len(body))
        self.assertNotIn("expect", [name.lower() for name, _ in echo["headers"]])

    def test_a_declined_upgrade_leaves_a_keep_alive_connection(self):
        for status in (200, 404, 426):
            with self.subTest(status=status):
                conn = self.raw(self.gw)
                conn.send(request_bytes("GET", f"/status/{status}", headers=UPGRADE_HEADERS))
                response = conn.read_response()
                self.assertEqual(response.status, status)
                conn.send(request_bytes("GET", "/after"))
                after = conn.read_response()
                self.assertEqual(after.status, 200)
                self.assertEqual(after.json()["target"], "/after")


if __name__ == "__main__":
    unittest.main()
