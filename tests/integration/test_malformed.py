"""Strict parsing: malformed or over-limit requests get a precise JSON error and a closed connection.

Contract (issue 3, design.md section 9): body {"error": "<code>", "message": "..."};
400 bad_request (or a precise code: invalid_header_name, invalid_chunk_size, ...; see
test_request_hygiene.py), 413 body_too_large, 414 uri_too_long, 431 header_too_large,
408 client_header_timeout; the connection is closed; nothing ambiguous reaches the upstream.
"""

import select
import time
import unittest

from harness import ConnectionClosed, GatewayTestCase, request_bytes


class MalformedTest(GatewayTestCase):
    def setUp(self):
        self.up = self.start_upstream("dpl-b")
        self.gw = self.start_gateway(
            apps=[{"name": "shop", "hosts": ["shop.test"], "current": "dpl-b",
                   "builds": [("dpl-b", [self.up.address])]}],
            limits={"header_bytes": "8KiB", "headers": 30, "uri_bytes": "1KiB", "body_bytes": "4KiB"},
            timeouts={"client_header": "1s"})

    def expect_error(self, data, status, code, upstream_sees=0):
        before = self.up.stats()["requests"]
        conn = self.raw(self.gw)
        resp = conn.send_then_read(data)
        self.assertEqual(resp.status, status, resp)
        self.assertIn("json", (resp.header("content-type") or "").lower(), resp)
        body = resp.json()
        self.assertEqual(body.get("error"), code, body)
        self.assertIsInstance(body.get("message"), str, body)
        self.assertTrue(conn.is_closed(timeout=3.0), "connection left open after a malformed request")
        # /__stats itself counts as one request at the upstream.
        self.assertEqual(self.up.stats()["requests"] - before - 1, upstream_sees,
                         "a rejected request reached the upstream")
        return resp

    def test_content_length_and_transfer_encoding(self):
        data = (b"POST /x HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        self.expect_error(data, 400, "bad_request")

    def test_two_different_content_lengths(self):
        data = (b"POST /x HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\n"
                b"Content-Length: 6\r\n\r\nhello!")
        self.expect_error(data, 400, "bad_request")

    def test_bad_chunk_size(self):
        data = (b"POST /x HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"zz\r\nhello\r\n0\r\n\r\n")
        # The head is fine and may already be forwarded; the body must still be refused.
        conn = self.raw(self.gw)
        conn.send(data)
        resp = conn.read_response()
        self.assertEqual(resp.status, 400, resp)
        self.assertEqual(resp.json().get("error"), "invalid_chunk_size", resp)
        self.assertTrue(conn.is_closed(timeout=3.0))

    def test_bare_lf_line_endings(self):
        self.expect_error(b"GET / HTTP/1.1\nHost: shop.test\n\n", 400, "bad_request")

    def test_bare_lf_in_header(self):
        self.expect_error(b"GET / HTTP/1.1\r\nHost: shop.test\nX-A: b\r\n\r\n", 400, "bad_request")

    def test_bare_cr_in_header(self):
        self.expect_error(b"GET / HTTP/1.1\r\nHost: shop.test\r\nX-A: b\rX-B: c\r\n\r\n", 400, "bad_request")

    def test_nul_in_header_value(self):
        self.expect_error(b"GET / HTTP/1.1\r\nHost: shop.test\r\nX-A: a\x00b\r\n\r\n", 400, "bad_request")

    def test_obs_fold(self):
        self.expect_error(b"GET / HTTP/1.1\r\nHost: shop.test\r\nX-A: a\r\n  folded\r\n\r\n",
                          400, "bad_request")

    def test_invalid_header_name(self):
        self.expect_error(b"GET / HTTP/1.1\r\nHost: shop.test\r\nBad Name: x\r\n\r\n", 400, "invalid_header_name")
        self.expect_error(b"GET / HTTP/1.1\r\nHost: shop.test\r\nX(y): z\r\n\r\n", 400, "invalid_header_name")

    def test_space_before_colon(self):
        # RFC 9112 section 5.1: whitespace before the colon is part of no valid name.
        self.expect_error(b"GET / HTTP/1.1\r\nHost: shop.test\r\nX-A : b\r\n\r\n", 400, "invalid_header_name")

    def test_body_too_large_content_length(self):
        body = b"x" * 5000
        self.expect_error(request_bytes("POST", "/upload", body=body), 413, "body_too_large")

    def test_body_too_large_chunked(self):
        chunk = b"y" * 1000
        data = (b"POST /upload HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                + (b"3e8\r\n" + chunk + b"\r\n") * 6 + b"0\r\n\r\n")
        conn = self.raw(self.gw)
        resp = conn.send_then_read(data)
        self.assertEqual(resp.status, 413, resp)
        self.assertEqual(resp.json().get("error"), "body_too_large", resp)
        self.assertTrue(conn.is_closed(timeout=3.0))

    def test_body_at_limit_is_served(self):
        conn = self.raw(self.gw)
        conn.send(request_bytes("POST", "/upload", body=b"z" * 4096))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json()["body_length"], 4096)

    def test_uri_too_long(self):
        self.expect_error(request_bytes("GET", "/" + "a" * 2000), 414, "uri_too_long")

    def test_header_too_large(self):
        self.expect_error(request_bytes("GET", "/", headers=[("X-Big", "b" * 9000)]), 431, "header_too_large")

    def test_too_many_headers(self):
        headers = [(f"X-H{i}", "v") for i in range(40)]
        self.expect_error(request_bytes("GET", "/", headers=headers), 431, "header_too_large")

    def test_within_limits_is_served(self):
        headers = [(f"X-H{i}", "v" * 100) for i in range(20)]
        conn = self.raw(self.gw)
        conn.send(request_bytes("GET", "/" + "a" * 900, headers=headers))
        self.assertEqual(conn.read_response().status, 200)

    def test_slowloris_gets_408(self):
        conn = self.raw(self.gw)
        start = time.monotonic()
        conn.send(b"GET / HTTP/1.1\r\nHost: shop.test\r\n")
        # Keep dribbling header lines: the limit is on the whole head, not on idle time.
        i = 0
        while time.monotonic() - start < 4:
            readable, _, _ = select.select([conn.sock], [], [], 0.2)
            if readable:
                break
            try:
                conn.send(b"X-Slow-%d: 1\r\n" % i)
            except (BrokenPipeError, ConnectionResetError):
                break
            i += 1
        try:
            resp = conn.read_response()
        except ConnectionClosed as e:
            self.fail(f"closed without a 408 answer: {e}")
        elapsed = time.monotonic() - start
        self.assertEqual(resp.status, 408, resp)
        self.assertEqual(resp.json().get("error"), "client_header_timeout", resp)
        self.assertLess(elapsed, 3.5, "client_header (1s) not enforced on a dribbling head")
        self.assertTrue(conn.is_closed(timeout=3.0))

    def test_idle_partial_head_gets_408(self):
        conn = self.raw(self.gw)
        start = time.monotonic()
        conn.send(b"GET / HTTP/1.1\r\nHost: sh")
        resp = conn.read_response()
        self.assertEqual(resp.status, 408, resp)
        self.assertEqual(resp.json().get("error"), "client_header_timeout", resp)
        self.assertLess(time.monotonic() - start, 3.5)
        self.assertTrue(conn.is_closed(timeout=3.0))

    def test_good_request_after_bad_connection_still_served(self):
        self.expect_error(b"GET / HTTP/1.1\r\nHost: shop.test\r\nX-A: a\x00b\r\n\r\n", 400, "bad_request")
        conn = self.raw(self.gw)
        conn.send(request_bytes("GET", "/ok"))
        self.assertEqual(conn.read_response().status, 200)


if __name__ == "__main__":
    unittest.main()
