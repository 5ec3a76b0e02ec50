"""Never forward anything two parsers could read differently (issue 13, items 7-9).

Item 7: a request whose target, header names, Host, chunk sizes or routing headers another
parser could read differently gets a precise 400 (stable code) and a closed connection, and
reaches no upstream. Item 8: an absolute-form target's authority wins over Host for routing,
and the upstream receives origin-form with a Host that agrees. Item 9: h2c upgrades and
HTTP2-Settings are never forwarded, headers nominated by Connection are gone before routing
reads the request, and X-Real-IP / Forwarded / X-Forwarded-Port from an untrusted peer are
removed.

Each class is a table of cases; every case runs on its own connection.
"""

import time
import unittest

from harness import RSC, GatewayTestCase, header_values, request_bytes


def head(target="/", host="shop.test", headers=(), method="GET", version="HTTP/1.1", host_lines=None):
    """Raw request head bytes; host_lines overrides the Host line(s) (bytes, may be empty)."""
    out = f"{method} ".encode() + (target if isinstance(target, bytes) else target.encode()) + \
        f" {version}\r\n".encode()
    if host_lines is None:
        out += b"Host: " + host.encode() + b"\r\n"
    else:
        out += host_lines
    for name, value in headers:
        out += (name if isinstance(name, bytes) else name.encode()) + b": " + \
            (value if isinstance(value, bytes) else value.encode()) + b"\r\n"
    return out + b"\r\n"


class RejectTest(GatewayTestCase):
    """Item 7: one table per class of ambiguous request."""

    def setUp(self):
        self.up = self.start_upstream("dpl-b")
        self.old = self.start_upstream("dpl-a")
        self.gw = self.start_gateway(
            apps=[{"name": "shop", "hosts": ["shop.test", "*.shop.test"], "current": "dpl-b",
                   "builds": [("dpl-a", [self.old.address]), ("dpl-b", [self.up.address])]}],
            limits={"body_bytes": "1MiB"},
            timeouts={"client_header": "5s"})

    def upstream_requests(self):
        # /__stats itself counts as one request at each upstream.
        return self.up.stats()["requests"] + self.old.stats()["requests"]

    def expect_reject(self, data, code, status=400):
        before = self.upstream_requests()
        conn = self.raw(self.gw)
        resp = conn.send_then_read(data)
        self.assertEqual(resp.status, status, (data, resp))
        self.assertIn("json", (resp.header("content-type") or "").lower(), resp)
        self.assertEqual(resp.json().get("error"), code, (data, resp.json()))
        self.assertTrue(conn.is_closed(timeout=3.0), f"connection left open after {data!r}")
        self.assertEqual(self.upstream_requests() - before - 2, 0, f"{data!r} reached an upstream")

    def expect_served(self, data):
        conn = self.raw(self.gw)
        conn.send(data)
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, (data, resp))
        return resp

    def test_control_bytes_in_target(self):
        for target in (b"/a\x01b", b"/a\x00b", b"/a\x7fb", b"/a\tb", b"/a\rb", b"/a\nb",
                       b"/a?q=\x1b", b"/\x0c"):
            with self.subTest(target=target):
                self.expect_reject(head(target), "invalid_target")

    def test_invalid_target_forms(self):
        cases = [
            ("GET", "shop.test:80"),            # authority-form outside CONNECT
            ("GET", "*"),                        # asterisk-form outside OPTIONS
            ("POST", "*"),
            ("GET", "ftp://shop.test/x"),        # only http and https
            ("GET", "file:///etc/passwd"),
            ("GET", "javascript:alert(1)"),
            ("GET", "http://user@shop.test/x"),  # userinfo (RFC 9110 4.2.4)
            ("GET", "http://sh%20op.test/x"),
            ("GET", "http://shop.test,evil.test/x"),
            ("GET", "http://[::1/x"),
            ("GET", "http:///x"),                # empty authority
            ("GET", "http://shop.test:99999/x"),
            ("GET", "http://shop.test:80x/x"),
            ("GET", "relative/path"),
        ]
        for method, target in cases:
            with self.subTest(method=method, target=target):
                self.expect_reject(head(target, method=method), "invalid_target")

    def test_request_line_versions(self):
        cases = [
            (b"GET /a\r\nHost: shop.test\r\n\r\n", 400, "invalid_version"),   # HTTP/0.9 to llhttp
            (b"GET /a\nHost: shop.test\r\n\r\n", 400, "invalid_version"),
            (b"GET /a\n\r\n", 400, "invalid_version"),
            (b"GET / HTTP/2.0\r\nHost: shop.test\r\n\r\n", 505, "http_version_not_supported"),
        ]
        for data, status, code in cases:
            with self.subTest(data=data):
                self.expect_reject(data, code, status=status)

    def test_options_asterisk_is_served(self):
        resp = self.expect_served(head("*", method="OPTIONS"))
        self.assertEqual(resp.json()["target"], "*")

    def test_connect_is_refused(self):
        # 405, not 400: the request is well-formed, skewgate just is no tunnel (RFC 9110 9.3.6);
        # nginx answers CONNECT the same way.
        for target in ("shop.test:443", "127.0.0.1:22", "[::1]:6379"):
            with self.subTest(target=target):
                self.expect_reject(head(target, method="CONNECT", host=target), "method_not_allowed", status=405)
        conn = self.raw(self.gw)
        conn.send(head("shop.test:443", method="CONNECT"))
        allow = conn.read_response().header("allow") or ""
        self.assertIn("GET", allow)
        self.assertNotIn("CONNECT", allow)

    def test_invalid_header_names(self):
        for line in (b": empty-name", b"Bad Name: x", b"X(y): z", b"X\x01Y: z", b"X\x7fY: z",
                     b"X\"Q: z", b"X,Y: z", b"X/Y: z", b"X[Y]: z", b"\xffname: z"):
            with self.subTest(line=line):
                data = head()[:-2] + line + b"\r\n\r\n"
                self.expect_reject(data, "invalid_header_name")

    def test_every_non_token_byte_in_a_header_name(self):
        # The whole class: each byte that is no tchar (RFC 9110 5.6.2), inside a name. ':' ends
        # the name and is not part of this class; CR and LF end the line (bare ones: bad_request).
        tchar = set(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        conn = None
        for byte in range(256):
            if byte in tchar or byte in b":":
                continue
            with self.subTest(byte=byte):
                before = self.upstream_requests()
                conn = self.raw(self.gw)
                conn.send(head()[:-2] + b"X-A" + bytes([byte]) + b"B: z\r\n\r\n")
                resp = conn.read_response()
                self.assertEqual(resp.status, 400, resp)
                if byte not in b"\r\n":
                    self.assertEqual(resp.json().get("error"), "invalid_header_name", resp.json())
                self.assertEqual(self.upstream_requests() - before - 2, 0)
                conn.close()

    def test_missing_host(self):
        self.expect_reject(head(host_lines=b""), "missing_host")
        self.expect_reject(head(host_lines=b"", headers=[("X-Host", "shop.test")]), "missing_host")

    def test_http10_without_host_is_not_missing_host(self):
        conn = self.raw(self.gw)
        conn.send(head(host_lines=b"", version="HTTP/1.0"))
        resp = conn.read_response()
        self.assertNotEqual((resp.json() or {}).get("error") if resp.status >= 400 else None, "missing_host")

    def test_duplicate_host(self):
        for lines in (b"Host: shop.test\r\nHost: shop.test\r\n",
                      b"Host: shop.test\r\nHost: evil.test\r\n",
                      b"Host: evil.test\r\nhost: shop.test\r\n",
                      b"Host: shop.test\r\nX-A: 1\r\nHOST: shop.test\r\n"):
            with self.subTest(lines=lines):
                self.expect_reject(head(host_lines=lines), "duplicate_host")

    def test_invalid_host(self):
        for host in ("", "a@shop.test", "user:pw@shop.test", "shop .test", "shop.test evil.test",
                     "shop.test,evil.test", "shop.test/x", "shop.test\\x", "shop.test:80x",
                     "shop.test:80:81", "shop.test:99999", "shop.test:65536", "shop.test:-1",
                     "shop.test:", ":8080", "[::1", "[::1]x", "[zz::1]:80", "shop.test?x",
                     "shop.test#x", "%73hop.test", "shop.test;x", "[fe80::1%25eth0]", "[v1.x]"):
            with self.subTest(host=host):
                self.expect_reject(head(host=host), "invalid_host")

    def test_valid_hosts_are_served(self):
        for host in ("shop.test", "SHOP.test", "shop.test:8080", "eu.shop.test:1", "shop.test:65535",
                     "127.0.0.1", "127.0.0.1:80", "[::1]", "[::1]:8080", "my_host.shop.test"):
            with self.subTest(host=host):
                resp = self.raw(self.gw)
                resp.send(head(host=host))
                r = resp.read_response()
                # Unknown hosts get skewgate's own 404/421; what matters is that it is not a 400.
                self.assertNotEqual(r.status, 400, (host, r))

    def test_chunk_size_overflow_answered_at_once(self):
        for size in (b"ffffffffffffffffff", b"10000000000000000", b"1" * 40):
            with self.subTest(size=size):
                conn = self.raw(self.gw)
                start = time.monotonic()
                conn.send(head("/upload", method="POST", headers=[("Transfer-Encoding", "chunked")]) +
                          size + b"\r\n")
                resp = conn.read_response()
                self.assertEqual(resp.status, 400, resp)
                self.assertEqual(resp.json().get("error"), "chunk_size_overflow", resp.json())
                self.assertLess(time.monotonic() - start, 2.0)
                self.assertTrue(conn.is_closed(timeout=3.0))

    def test_chunk_over_body_limit_answered_at_once(self):
        # A chunk size that fits in 64 bits but is over limits.body_bytes: 413 before any body byte.
        for size in (b"100001", b"7fffffff", b"ffffffffffffffff"):
            with self.subTest(size=size):
                conn = self.raw(self.gw)
                start = time.monotonic()
                conn.send(head("/upload", method="POST", headers=[("Transfer-Encoding", "chunked")]) +
                          size + b"\r\n")
                resp = conn.read_response()
                self.assertEqual(resp.status, 413, resp)
                self.assertEqual(resp.json().get("error"), "body_too_large", resp.json())
                self.assertLess(time.monotonic() - start, 2.0)

    def test_routing_header_repeated_or_list(self):
        cases = [
            [("x-deployment-id", "dpl-a"), ("x-deployment-id", "dpl-b")],
            [("x-deployment-id", "dpl-a"), ("X-Deployment-Id", "dpl-a")],
            [("x-deployment-id", "dpl-a, dpl-b")],
            [("x-deployment-id", "dpl-a,")],
            [("x-deployment-id", ",dpl-a")],
            [("next-action", "7f00aa"), ("next-action", "7f00bb")],
            [("next-action", "7f00aa,7f00bb")],
            [("rsc", "1"), ("rsc", "1")],
            [("rsc", "1, 0")],
        ]
        for headers in cases:
            with self.subTest(headers=headers):
                self.expect_reject(head("/p", headers=[*RSC.items(), *headers] if headers[0][0] != "rsc"
                                        else headers), "duplicate_routing_header")

    def test_rejections_reach_access_log(self):
        self.expect_reject(head(host="a@shop.test"), "invalid_host")
        entry = self.wait_log(self.gw, lambda e: e.get("detail") == "invalid_host")
        self.assertEqual(entry["status"], 400)


class AbsoluteFormTest(GatewayTestCase):
    """Item 8: the target's authority wins over Host; upstreams get origin-form."""

    def setUp(self):
        self.shop = self.start_upstream("dpl-shop")
        self.other = self.start_upstream("dpl-other")
        self.gw = self.start_gateway(
            apps=[{"name": "shop", "hosts": ["shop.test"], "current": "dpl-shop",
                   "builds": [("dpl-shop", [self.shop.address])]},
                  {"name": "other", "hosts": ["other.test"], "current": "dpl-other",
                   "builds": [("dpl-other", [self.other.address])]}])

    def echo(self, data):
        conn = self.raw(self.gw)
        conn.send(data)
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        return resp.json()

    def test_authority_wins_and_upstream_gets_origin_form(self):
        cases = [
            # (target, Host header, expected build, expected target upstream, expected Host upstream)
            ("http://shop.test/path?q=1", "other.test", "dpl-shop", "/path?q=1", "shop.test"),
            ("http://other.test/p", "shop.test", "dpl-other", "/p", "other.test"),
            ("HTTP://other.test:8080/p", "shop.test", "dpl-other", "/p", "other.test:8080"),
            ("https://shop.test/x/y", "other.test", "dpl-shop", "/x/y", "shop.test"),
            ("http://shop.test", "other.test", "dpl-shop", "/", "shop.test"),
            ("http://shop.test?a=b", "other.test", "dpl-shop", "/?a=b", "shop.test"),
            ("http://shop.test//evil.test/x", "other.test", "dpl-shop", "//evil.test/x", "shop.test"),
        ]
        for target, host, build, upstream_target, upstream_host in cases:
            with self.subTest(target=target, host=host):
                echo = self.echo(head(target, host=host))
                self.assertEqual(echo["build"], build, echo)
                self.assertEqual(echo["target"], upstream_target, echo)
                self.assertEqual(header_values(echo, "host"), [upstream_host], echo)
                self.assertEqual(header_values(echo, "x-forwarded-host"), [upstream_host], echo)

    def test_absolute_form_classification_uses_target_path(self):
        # The path of an absolute-form target is what classifies: a static asset with ?dpl= of
        # an unknown build is still an asset, not a document of path "http://...".
        echo = self.echo(head("http://shop.test/_next/static/chunks/a.js", host="other.test"))
        self.assertEqual(echo["target"], "/_next/static/chunks/a.js")
        entry = self.wait_log(self.gw, lambda e: "a.js" in str(e.get("path") or e.get("target")))
        self.assertEqual(entry.get("kind"), "asset", entry)
        self.assertEqual(entry.get("app"), "shop", entry)

    def test_absolute_form_still_needs_a_valid_host(self):
        conn = self.raw(self.gw)
        conn.send(head("http://shop.test/", host_lines=b"Host: a\r\nHost: b\r\n"))
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.json().get("error")), (400, "duplicate_host"))

    def test_options_absolute_form_without_path_becomes_asterisk(self):
        echo = self.echo(head("http://shop.test", host="other.test", method="OPTIONS"))
        self.assertEqual(echo["target"], "*")
        self.assertEqual(header_values(echo, "host"), ["shop.test"])


class HopByHopTest(GatewayTestCase):
    """Item 9: what Connection, Upgrade and untrusted forwarding headers can no longer do."""

    def setUp(self):
        self.a = self.start_upstream("dpl-a")
        self.b = self.start_upstream("dpl-b")
        self.gw = self.start_gateway(
            apps=[{"name": "shop", "hosts": ["shop.test"], "current": "dpl-b",
                   "builds": [("dpl-a", [self.a.address]), ("dpl-b", [self.b.address])]}],
            trusted_proxies=["10.0.0.0/8"])

    def test_h2c_never_forwarded_nor_tunnelled(self):
        cases = [
            [("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"), ("HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA")],
            [("Connection", "upgrade"), ("Upgrade", "h2c")],
            [("Connection", "upgrade"), ("Upgrade", "H2C"), ("HTTP2-Settings", "AAMAAABk")],
            [("HTTP2-Settings", "AAMAAABk")],
            [("Connection", "upgrade"), ("Upgrade", "foo/1.0")],
            [("Connection", "upgrade"), ("Upgrade", "h2c, foo")],
            [("Upgrade", "websocket")],  # no Connection: upgrade: not an upgrade at all
        ]
        for headers in cases:
            with self.subTest(headers=headers):
                conn = self.raw(self.gw)
                conn.send(head("/h2c", headers=headers))
                resp = conn.read_response()
                self.assertEqual(resp.status, 200, resp)
                echo = resp.json()
                for gone in ("upgrade", "http2-settings", "connection"):
                    self.assertEqual(header_values(echo, gone), [], f"{gone} forwarded: {echo['headers']}")
                # Proxied as plain HTTP: the connection goes on with the next request.
                conn.send(head("/after"))
                self.assertEqual(conn.read_response().json()["target"], "/after")

    def test_websocket_upgrade_keeps_only_websocket(self):
        conn = self.raw(self.gw)
        conn.send(head("/ws", headers=[("Connection", "Upgrade"), ("Upgrade", "websocket"),
                                       ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                                       ("Sec-WebSocket-Version", "13"), ("HTTP2-Settings", "AAMA")]))
        resp = conn.read_response()
        self.assertEqual(resp.status, 101, resp)

    def test_connection_nominated_headers_cannot_route(self):
        cases = [
            ("x-deployment-id", [*RSC.items(), ("x-deployment-id", "dpl-a")]),
            ("X-Deployment-ID", [*RSC.items(), ("x-deployment-id", "dpl-a")]),
        ]
        for nominated, headers in cases:
            with self.subTest(nominated=nominated):
                conn = self.raw(self.gw)
                conn.send(head("/r", headers=[("Connection", f"keep-alive, {nominated}"), *headers]))
                resp = conn.read_response()
                self.assertEqual(resp.header("x-served-by"), "dpl-b", "a nominated x-deployment-id routed")
                self.assertEqual(header_values(resp.json(), "x-deployment-id"), [])

    def test_connection_nominated_headers_cannot_classify(self):
        # A nominated rsc header: the request is classified (and logged) as a document.
        conn = self.raw(self.gw)
        conn.send(head("/classify-me", headers=[("Connection", "rsc"), ("rsc", "1"),
                                                ("Accept", "text/html")]))
        echo = conn.read_response().json()
        self.assertEqual(header_values(echo, "rsc"), [])
        entry = self.wait_log(self.gw, lambda e: "classify-me" in str(e.get("path") or e.get("target")))
        self.assertEqual(entry.get("kind"), "document", entry)

    def test_connection_cannot_nominate_essential_headers(self):
        for nominated in ("host", "Host", "content-length", "transfer-encoding", "close, host"):
            with self.subTest(nominated=nominated):
                conn = self.raw(self.gw)
                conn.send(request_bytes("POST", "/x", body=b"hello", headers=[("Connection", nominated)]))
                resp = conn.read_response()
                self.assertEqual(resp.status, 400, resp)
                self.assertEqual(resp.json().get("error"), "invalid_connection_header")
                self.assertTrue(conn.is_closed(timeout=3.0))

    def test_connection_close_keeps_its_meaning(self):
        conn = self.raw(self.gw)
        conn.send(head("/c", headers=[("Connection", "close")]))
        self.assertEqual(conn.read_response().status, 200)
        self.assertTrue(conn.is_closed(timeout=3.0))

    def test_untrusted_forwarding_headers_removed(self):
        conn = self.raw(self.gw)
        conn.send(head("/fwd", headers=[("X-Real-IP", "1.2.3.4"), ("Forwarded", "for=1.2.3.4;proto=https"),
                                        ("X-Forwarded-Port", "443"), ("x-real-ip", "5.6.7.8"),
                                        ("X-Forwarded-For", "9.9.9.9")]))
        echo = conn.read_response().json()
        for gone in ("x-real-ip", "forwarded", "x-forwarded-port"):
            self.assertEqual(header_values(echo, gone), [], f"{gone} from an untrusted peer forwarded")
        self.assertEqual(header_values(echo, "x-forwarded-for"), ["127.0.0.1"])


class TrustedForwardingTest(GatewayTestCase):
    def test_trusted_peer_keeps_forwarding_headers(self):
        up = self.start_upstream("dpl-b")
        gw = self.start_gateway(
            apps=[{"name": "shop", "hosts": ["shop.test"], "current": "dpl-b",
                   "builds": [("dpl-b", [up.address])]}],
            trusted_proxies=["127.0.0.0/8"])
        conn = self.raw(gw)
        conn.send(head("/fwd", headers=[("X-Real-IP", "1.2.3.4"), ("Forwarded", "for=1.2.3.4"),
                                        ("X-Forwarded-Port", "443")]))
        echo = conn.read_response().json()
        self.assertEqual(header_values(echo, "x-real-ip"), ["1.2.3.4"])
        self.assertEqual(header_values(echo, "forwarded"), ["for=1.2.3.4"])
        self.assertEqual(header_values(echo, "x-forwarded-port"), ["443"])


if __name__ == "__main__":
    unittest.main()
