"""HTTP/1.1 proxying as nginx/HAProxy users expect it (design.md section 9).

Keep-alive both sides, pipelining in order, chunked and large bodies unchanged,
Expect: 100-continue, HEAD/204/304 framing, WebSocket upgrade, request header
rewriting as the upstream sees it, and the JSON access-log line.
"""

import base64
import hashlib
import json
import os
import socket
import time
import unittest

from harness import RSC, GatewayTestCase, header_values, log_path, request_bytes, sha256

MiB = 1024 * 1024


class ProxyingTest(GatewayTestCase):
    def setUp(self):
        self.a = self.start_upstream("dpl-a")
        self.b = self.start_upstream("dpl-b")
        self.gw = self.start_gateway(
            apps=[{"name": "shop", "hosts": ["shop.test", "*.shop.test"], "current": "dpl-b",
                   "builds": [("dpl-a", [self.a.address]), ("dpl-b", [self.b.address])]}],
            trusted_proxies=["10.0.0.0/8"],
            timeouts={"upstream_response": "10s", "client_header": "5s"})

    # --- connections -------------------------------------------------------

    def test_keep_alive_reuse_visible_at_upstream(self):
        conn = self.raw(self.gw)
        echoes = []
        for i in range(3):
            conn.send(request_bytes("GET", f"/ka{i}"))
            resp = conn.read_response()
            self.assertEqual(resp.status, 200, resp)
            echoes.append(resp.json())
        self.assertEqual(len({e["conn"] for e in echoes}), 1, "upstream connection not reused")
        self.assertEqual([e["seq"] for e in echoes], [echoes[0]["seq"] + i for i in range(3)])
        # A second downstream connection also reuses the pooled upstream connection.
        conn2 = self.raw(self.gw)
        conn2.send(request_bytes("GET", "/ka-next"))
        self.assertEqual(conn2.read_response().json()["conn"], echoes[0]["conn"])

    def test_pipelined_requests_answered_in_order(self):
        conn = self.raw(self.gw)
        targets = ["/delay?ms=300&n=0", "/p1", "/delay?ms=100&n=2", "/p3"]
        conn.send(b"".join(request_bytes("GET", t) for t in targets))
        got = [conn.read_response().json()["target"] for _ in targets]
        self.assertEqual(got, targets)

    def test_pipelined_across_builds_in_order(self):
        conn = self.raw(self.gw)
        reqs = [("/delay?ms=300", "dpl-a"), ("/q1", "dpl-b"), ("/q2", "dpl-a")]
        conn.send(b"".join(request_bytes("GET", t, headers=[("rsc", "1"), ("x-deployment-id", b)])
                              for t, b in reqs))
        got = [(r["target"], r["build"]) for r in (conn.read_response().json() for _ in reqs)]
        self.assertEqual(got, reqs)

    def test_connection_close_honoured(self):
        conn = self.raw(self.gw)
        conn.send(request_bytes("GET", "/bye", headers=[("Connection", "close")]))
        self.assertEqual(conn.read_response().status, 200)
        self.assertTrue(conn.is_closed(timeout=3.0))

    def test_http10_request(self):
        conn = self.raw(self.gw)
        conn.send(request_bytes("GET", "/old", version="HTTP/1.0"))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json()["target"], "/old")
        self.assertTrue(conn.is_closed(timeout=3.0))

    # --- bodies ------------------------------------------------------------

    def test_content_length_request_body_unchanged(self):
        body = os.urandom(100_000)
        conn = self.raw(self.gw)
        conn.send(request_bytes("POST", "/upload", body=body, headers=[("Content-Type", "application/octet-stream")]))
        echo = conn.read_response().json()
        self.assertEqual(echo["method"], "POST")
        self.assertEqual(echo["body_length"], len(body))
        self.assertEqual(echo["body_sha256"], sha256(body))

    def test_chunked_request_body_unchanged(self):
        pieces = [os.urandom(n) for n in (1, 17, 4096, 70_000, 3)]
        wire = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
        conn = self.raw(self.gw)
        conn.send(request_bytes("POST", "/chunks", headers=[("Transfer-Encoding", "chunked")]) + wire)
        echo = conn.read_response().json()
        body = b"".join(pieces)
        self.assertEqual(echo["body_length"], len(body))
        self.assertEqual(echo["body_sha256"], sha256(body))
        # The same connection serves the next request: the chunked framing ended right.
        conn.send(request_bytes("GET", "/after-chunks"))
        self.assertEqual(conn.read_response().json()["target"], "/after-chunks")

    def test_chunked_request_sent_slowly(self):
        conn = self.raw(self.gw)
        conn.send(request_bytes("POST", "/slow-chunks", headers=[("Transfer-Encoding", "chunked")]))
        pieces = [b"alpha", b"beta", b"gamma"]
        for p in pieces:
            time.sleep(0.1)
            conn.send(b"%x\r\n" % len(p) + p + b"\r\n")
        conn.send(b"0\r\n\r\n")
        echo = conn.read_response().json()
        self.assertEqual(echo["body_sha256"], sha256(b"".join(pieces)))

    def test_chunked_response_unchanged(self):
        conn = self.raw(self.gw)
        conn.send(request_bytes("GET", "/chunked?n=50&size=1000"))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200)
        self.assertEqual(len(resp.body), 50_000)
        self.assertEqual(sha256(resp.body), resp.header("x-body-sha256"))
        conn.send(request_bytes("GET", "/after"))
        self.assertEqual(conn.read_response().json()["target"], "/after")

    def test_10mib_request_body_streamed(self):
        body = os.urandom(10 * MiB)
        conn = self.raw(self.gw, timeout=30)
        conn.send(request_bytes("PUT", "/big-upload", body=body))
        echo = conn.read_response().json()
        self.assertEqual(echo["body_length"], len(body))
        self.assertEqual(echo["body_sha256"], sha256(body))

    def test_10mib_response_body_streamed(self):
        conn = self.raw(self.gw, timeout=30)
        conn.send(request_bytes("GET", f"/big?bytes={10 * MiB}"))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200)
        self.assertEqual(len(resp.body), 10 * MiB)
        self.assertEqual(sha256(resp.body), resp.header("x-body-sha256"))

    def test_10mib_chunked_request_body(self):
        body = os.urandom(10 * MiB)
        wire = b"".join(b"%x\r\n" % len(body[i:i + 65536]) + body[i:i + 65536] + b"\r\n"
                        for i in range(0, len(body), 65536)) + b"0\r\n\r\n"
        conn = self.raw(self.gw, timeout=30)
        conn.send(request_bytes("POST", "/big-chunks", headers=[("Transfer-Encoding", "chunked")]) + wire)
        echo = conn.read_response().json()
        self.assertEqual(echo["body_sha256"], sha256(body))

    def test_response_backpressure_bounds_memory(self):
        # A downstream that stops reading must stop the upstream read too (design.md 9:
        # watermarks, no full buffering): skewgate's RSS stays far below the body size.
        def rss_kib():
            with open(f"/proc/{self.gw.proc.pid}/status") as f:
                return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        before = rss_kib()
        total = 256 * MiB
        conn = self.raw(self.gw, timeout=60)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        conn.send(request_bytes("GET", f"/repeat?bytes={total}"))
        status, _, _, _ = conn.read_head()
        self.assertEqual(status, 200)
        time.sleep(2.0)  # the upstream could push all 256 MiB in this time if nothing held it
        grown_mib = (rss_kib() - before) / 1024
        self.assertLess(grown_mib, 64, f"skewgate RSS grew {grown_mib:.0f} MiB while the client read nothing")
        got = len(conn.buf)
        while got < total:
            data = conn.sock.recv(1 << 20)
            self.assertTrue(data, f"closed after {got} of {total} bytes")
            got += len(data)
        conn.buf = b""
        self.assertEqual(got, total)

    def test_request_backpressure_bounds_memory(self):
        # An upstream that stops reading must stop skewgate reading the downstream body.
        def rss_kib():
            with open(f"/proc/{self.gw.proc.pid}/status") as f:
                return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        before = rss_kib()
        total = 256 * MiB
        conn = self.raw(self.gw, timeout=2)
        conn.send(request_bytes("POST", "/hold", headers=[("Content-Length", str(total))]))
        block = b"u" * (1 << 20)
        sent = 0
        deadline = time.monotonic() + 3.0
        conn.sock.settimeout(0.2)
        while sent < total and time.monotonic() < deadline:
            try:
                sent += conn.sock.send(block)
            except socket.timeout:
                pass
        grown_mib = (rss_kib() - before) / 1024
        self.assertLess(sent, total, "the whole body was accepted although the upstream reads nothing")
        self.assertLess(grown_mib, 64, f"skewgate RSS grew {grown_mib:.0f} MiB while the upstream read nothing "
                                       f"({sent >> 20} MiB sent)")

    def test_slow_response_body(self):
        conn = self.raw(self.gw)
        conn.send(request_bytes("GET", "/slow-body?bytes=20&interval_ms=50"))
        resp = conn.read_response()
        self.assertEqual(len(resp.body), 20)
        self.assertEqual(sha256(resp.body), resp.header("x-body-sha256"))

    def test_expect_100_continue(self):
        body = b"hello world"
        conn = self.raw(self.gw)
        conn.send(request_bytes("POST", "/expect", headers=[("Expect", "100-continue"),
                                                           ("Content-Length", str(len(body)))]))
        conn.sock.settimeout(3)
        interim = conn.read_response(skip_interim=False)
        self.assertEqual(interim.status, 100, "no 100 Continue before the body was sent")
        conn.sock.settimeout(10)
        conn.send(body)
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json()["body_sha256"], sha256(body))

    # --- framing -----------------------------------------------------------

    def test_head_has_no_body(self):
        conn = self.raw(self.gw)
        conn.send(request_bytes("HEAD", "/big?bytes=1000"))
        resp = conn.read_response(method="HEAD")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header("content-length"), "1000")
        # Nothing else on the wire: the next response is the next request's.
        conn.send(request_bytes("GET", "/after-head"))
        self.assertEqual(conn.read_response().json()["target"], "/after-head")

    def test_204_and_304_framing(self):
        conn = self.raw(self.gw)
        conn.send(request_bytes("GET", "/status/204"))
        self.assertEqual(conn.read_response().status, 204)
        conn.send(request_bytes("GET", "/status/304", headers=[("If-None-Match", '"v1"')]))
        resp = conn.read_response()
        self.assertEqual(resp.status, 304)
        self.assertEqual(resp.header("etag"), '"v1"')
        conn.send(request_bytes("GET", "/after-304"))
        resp = conn.read_response()
        self.assertEqual(resp.json()["target"], "/after-304")
        self.assertEqual(conn.buf, b"")

    def test_status_passthrough(self):
        for status in (201, 404, 500, 503):
            resp, body = self.get(self.gw, f"/status/{status}")
            self.assertEqual(resp.status, status)
            self.assertEqual(resp.getheader("x-served-by"), "dpl-b")

    # --- upgrade -----------------------------------------------------------

    def test_websocket_upgrade_echo(self):
        key = base64.b64encode(os.urandom(16)).decode()
        conn = self.raw(self.gw)
        conn.send(request_bytes("GET", "/ws", headers=[
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13"),
            ("x-deployment-id", "dpl-a")]))
        resp = conn.read_response()
        self.assertEqual(resp.status, 101, resp)
        self.assertEqual(resp.header("upgrade").lower(), "websocket")
        self.assertEqual(resp.header("x-served-by"), "dpl-a")
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        self.assertEqual(resp.header("sec-websocket-accept"), accept.decode())
        for payload in (b"\x81\x05hello", os.urandom(100_000), b"\x00\xff\r\n\r\n"):
            conn.send(payload)
            self.assertEqual(conn.read_exactly(len(payload)), payload)

    # --- headers -----------------------------------------------------------

    def test_request_headers_as_seen_by_upstream(self):
        conn = self.raw(self.gw)
        conn.send(request_bytes("POST", "/hdr?x=1", host="eu.shop.test", body=b"{}", headers=[
            ("Origin", "http://eu.shop.test"),
            ("X-Forwarded-For", "1.2.3.4"),
            ("X-Forwarded-Proto", "https"),
            ("Connection", "keep-alive, X-Hop-Custom"),
            ("X-Hop-Custom", "drop me"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("x-middleware-subrequest", "middleware:middleware:middleware"),
            ("Next-Action", "7f00aa"),
            ("Cookie", "a=1; b=2"),
            ("X-Repeated", "one"),
            ("X-Repeated", "two"),
        ]))
        echo = conn.read_response().json()
        h = lambda name: header_values(echo, name)  # noqa: E731
        self.assertEqual(h("host"), ["eu.shop.test"])
        self.assertEqual(h("origin"), ["http://eu.shop.test"])
        # The peer (127.0.0.1) is not trusted: the incoming X-Forwarded-For is replaced.
        self.assertEqual(h("x-forwarded-for"), ["127.0.0.1"])
        self.assertEqual(h("x-forwarded-proto"), ["http"])
        self.assertEqual(h("x-forwarded-host"), ["eu.shop.test"])
        for gone in ("x-hop-custom", "keep-alive", "proxy-connection", "x-middleware-subrequest"):
            self.assertEqual(h(gone), [], f"{gone} was forwarded")
        self.assertEqual(h("next-action"), ["7f00aa"])
        self.assertEqual(h("cookie"), ["a=1; b=2"])
        self.assertEqual(h("x-repeated"), ["one", "two"])
        self.assertEqual(echo["target"], "/hdr?x=1")
        self.assertEqual(echo["body_sha256"], sha256(b"{}"))

    def test_response_headers_passed_back(self):
        resp, body = self.get(self.gw, "/", headers={**RSC, "x-deployment-id": "dpl-a"})
        self.assertEqual(resp.getheader("x-served-by"), "dpl-a")
        self.assertEqual(resp.getheader("content-type"), "application/json")

    # --- access log --------------------------------------------------------

    def test_access_log_line(self):
        resp, body = self.get(self.gw, "/logme?x=1", headers={**RSC, "x-deployment-id": "dpl-a"})
        self.assertEqual(resp.status, 200)
        entry = self.wait_log(self.gw, lambda e: log_path(e).startswith("/logme"))
        self.assertEqual(entry["app"], "shop")
        self.assertIn("path", entry, "access-log field 'path' missing")
        self.assertTrue(entry["path"].startswith("/logme"), entry)
        self.assertEqual(entry["client_build"], "dpl-a")
        self.assertEqual(entry["build"], "dpl-a")
        self.assertEqual(entry["method"], "GET")
        self.assertEqual(entry["status"], 200)
        self.assertIsInstance(entry["bytes_sent"], int)
        self.assertGreaterEqual(entry["bytes_sent"], len(body))
        self.assertIsInstance(entry["duration_ms"], (int, float))
        self.assertGreaterEqual(entry["duration_ms"], 0)

    def test_access_log_one_line_per_request(self):
        conn = self.raw(self.gw)
        for i in range(5):
            conn.send(request_bytes("GET", f"/count{i}"))
            conn.read_response()
        time.sleep(0.3)
        self.wait_log(self.gw, lambda e: log_path(e).startswith("/count4"))
        counted = [e for e in self.gw.access_log() if log_path(e).startswith("/count")]
        self.assertEqual(len(counted), 5, counted)
        self.assertTrue(all(e["build"] == "dpl-b" for e in counted), counted)


class TrustedProxyTest(GatewayTestCase):
    def test_forwarded_for_appended_when_peer_trusted(self):
        up = self.start_upstream("dpl-b")
        gw = self.start_gateway(
            apps=[{"name": "shop", "hosts": ["shop.test"], "current": "dpl-b",
                   "builds": [("dpl-b", [up.address])]}],
            trusted_proxies=["127.0.0.0/8"])
        echo = self.get_json(gw, "/", headers={"X-Forwarded-For": "1.2.3.4"})
        self.assertEqual([v.replace(" ", "") for v in header_values(echo, "x-forwarded-for")],
                         ["1.2.3.4,127.0.0.1"])
        echo = self.get_json(gw, "/")
        self.assertEqual(header_values(echo, "x-forwarded-for"), ["127.0.0.1"])


if __name__ == "__main__":
    unittest.main()
