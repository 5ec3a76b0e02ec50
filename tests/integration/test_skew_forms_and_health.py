"""No-JS form posts and health in the skew engine (design.md sections 3, 5 and 7, issue 4).

Form posts: a POST whose multipart or urlencoded body names `$ACTION_ID_<id>` in its
first `actions.inspect_bytes` is an action, routed by the manifest that holds the ID;
skewgate only peeks at the body, so what reaches the upstream is byte-identical
(sha256 from the upstream's echo), also past 64 KiB and when the body comes chunked.

Health: `health: {path: /health, interval: 500ms, timeout: 300ms, rise: 2, fall: 2}`.
The upstreams are in-process servers (skew_support.ToggleUpstream) whose /health
switches between 200 and 503. A retained build whose checks fail is treated as gone
(reason build_unhealthy) and comes back after `rise` passes; an unhealthy current build
gets 503 JSON at once.
"""

import hashlib
import json
import time
import unittest

from harness import GatewayTestCase, RawConnection, header_values, request_bytes
from skew_support import (ID_A_ONLY, ID_AB, ID_NONE, MANIFEST, SkewAssertions, SkewGateway, ToggleUpstream,
                          action_headers, build, chunked, echo, exchange, multipart, no_js_form, pattern,
                          render_config, rsc_headers, served_by, urlencoded_form, wait_until)

CART = "/cart?item=7"


class FormPostTest(GatewayTestCase, SkewAssertions):
    """current dpl-b, dpl-a retained (listed, not current). `shop` inspects form posts (64 KiB),
    `shop-noinspect` has inspect_form_posts: false."""

    def setUp(self):
        self.a = self.start_upstream("dpl-a")
        self.b = self.start_upstream("dpl-b")
        builds = [build("dpl-a", [self.a.address], MANIFEST["a"]), build("dpl-b", [self.b.address], MANIFEST["b"])]
        self.sg = SkewGateway(self, lambda port, state_dir: render_config(port, state_dir, [
            {"name": "shop", "hosts": ["shop.test"], "actions": {"inspect_form_posts": True, "inspect_bytes": "64KiB"},
             "current": "dpl-b", "builds": builds},
            {"name": "shop-noinspect", "hosts": ["noinspect.test"], "actions": {"inspect_form_posts": False},
             "current": "dpl-b", "builds": builds},
        ]))

    def post(self, ctype, body, target=CART, host="shop.test", extra=()):
        return exchange(self.sg.port, "POST", target, host, [("content-type", ctype), *extra], body)

    def assertArrivedIntact(self, resp, build_id, body, target=CART, chunked_wire=False):
        self.assertServedBy(resp, build_id)
        e = echo(resp)
        self.assertEqual((e["method"], e["target"]), ("POST", target))
        self.assertEqual(e["body_length"], len(body))
        self.assertEqual(e["body_sha256"], hashlib.sha256(body).hexdigest())
        if chunked_wire:
            # Forwarded as sent: chunked (or, if re-framed, with the right length).
            self.assertTrue(e["body_chunked"] or header_values(e, "content-length") == [str(len(body))], e)

    def test_small_multipart_form_reaches_manifest_build(self):
        ctype, body = no_js_form(ID_A_ONLY, [("qty", "2", None), ("note", "gift wrap, please", None)])
        self.assertArrivedIntact(self.post(ctype, body), "dpl-a", body)

    def test_urlencoded_form_reaches_manifest_build(self):
        ctype, body = urlencoded_form(ID_A_ONLY)
        self.assertArrivedIntact(self.post(ctype, body), "dpl-a", body)

    def test_action_ref_form_reaches_manifest_build(self):
        ctype, body = multipart([("$ACTION_REF_1", "", None),
                                 ("$ACTION_1:0", '{"id":"%s","bound":"$@1"}' % ID_A_ONLY, None),
                                 ("$ACTION_1:1", '["$K1"]', None), ("qty", "2", None)])
        self.assertArrivedIntact(self.post(ctype, body), "dpl-a", body)

    def test_large_multipart_form_is_byte_identical(self):
        upload = pattern(300 * 1024, seed=11)
        ctype, body = no_js_form(ID_A_ONLY, [("qty", "2", None), ("photo", upload, "photo.bin")])
        self.assertGreater(len(body), 64 * 1024)
        self.assertArrivedIntact(self.post(ctype, body), "dpl-a", body)

    def test_chunked_multipart_form_is_byte_identical(self):
        upload = pattern(200 * 1024, seed=12)
        ctype, body = no_js_form(ID_A_ONLY, [("photo", upload, "photo.bin")])
        # Tiny chunks first, so the $ACTION_ID_ field name is split across chunk boundaries.
        wire = chunked(body, [7, 13, 1, 64, 8192, 65536, 3])
        resp = self.post(ctype, wire, extra=[("transfer-encoding", "chunked")])
        self.assertArrivedIntact(resp, "dpl-a", body, chunked_wire=True)

    def test_chunked_small_form(self):
        ctype, body = urlencoded_form(ID_A_ONLY)
        resp = self.post(ctype, chunked(body, [5]), extra=[("transfer-encoding", "chunked")])
        self.assertArrivedIntact(resp, "dpl-a", body, chunked_wire=True)

    def test_expect_100_continue_form(self):
        ctype, body = no_js_form(ID_A_ONLY, [("photo", pattern(80 * 1024, seed=13), "p.bin")])
        resp = self.post(ctype, body, extra=[("expect", "100-continue")])
        self.assertArrivedIntact(resp, "dpl-a", body)

    def test_field_past_inspect_bytes_is_not_an_action(self):
        # The $ACTION_ID_ field starts after the first 64 KiB: not classified, so `other` -> current.
        ctype, body = multipart([("filler", pattern(70 * 1024, seed=14), "f.bin"),
                                 (f"$ACTION_ID_{ID_A_ONLY}", "", None)])
        self.assertArrivedIntact(self.post(ctype, body), "dpl-b", body)

    def test_inspection_off_sends_form_to_current(self):
        ctype, body = no_js_form(ID_A_ONLY)
        self.assertArrivedIntact(self.post(ctype, body, host="noinspect.test"), "dpl-b", body)

    def test_form_post_with_no_action_field_goes_to_current(self):
        ctype, body = multipart([("email", "x@example.com", None)])
        self.assertArrivedIntact(self.post(ctype, body, target="/api/subscribe"), "dpl-b", body,
                                 target="/api/subscribe")

    def test_form_post_with_unknown_action_gets_303(self):
        ctype, body = no_js_form(ID_NONE)
        resp = self.post(ctype, body)
        self.assertSeeOther(resp, CART, "action_not_found", "unknown")

    def test_keep_alive_after_forwarded_form(self):
        # A forwarded form post leaves the connection usable for the next request.
        ctype, body = no_js_form(ID_A_ONLY, [("photo", pattern(70 * 1024, seed=15), "p.bin")])
        conn = RawConnection(self.sg.port)
        self.addCleanup(conn.close)
        conn.send(request_bytes("POST", CART, "shop.test", [("content-type", ctype)], body))
        first = conn.read_response("POST")
        self.assertEqual(json.loads(first.body)["body_sha256"], hashlib.sha256(body).hexdigest())
        conn.send(request_bytes("GET", "/", "shop.test"))
        second = conn.read_response("GET")
        self.assertEqual((second.status, served_by(second)), (200, "dpl-b"))


HEALTH = {"path": "/health", "interval": "500ms", "timeout": "300ms", "rise": 2, "fall": 2}
FLIP_TIMEOUT = 10.0  # fall/rise * interval is ~1 s; generous bound


class HealthTest(GatewayTestCase, SkewAssertions):
    """dpl-a retained, dpl-b current, both with health checks on ToggleUpstreams."""

    def setUp(self):
        self.a = ToggleUpstream("dpl-a")
        self.addCleanup(self.a.stop)
        self.b = ToggleUpstream("dpl-b")
        self.addCleanup(self.b.stop)
        self.sg = SkewGateway(self, lambda port, state_dir: render_config(port, state_dir, [
            {"name": "shop", "hosts": ["shop.test"], "health": HEALTH, "current": "dpl-b",
             "builds": [build("dpl-a", [self.a.address], MANIFEST["a"]),
                        build("dpl-b", [self.b.address], MANIFEST["b"])]}]))
        self.port = self.sg.port

    def req(self, method, target, headers=(), body=None):
        return exchange(self.port, method, target, "shop.test", headers, body)

    def rsc_a(self):
        return self.req("GET", "/cart?_rsc=1", rsc_headers("dpl-a"))

    def test_health_checks_run_on_every_build(self):
        wait_until(self, lambda: self.a.checks() >= 2 and self.b.checks() >= 2, 5.0,
                   "two health checks on each upstream", self.sg)
        self.assertServedBy(self.rsc_a(), "dpl-a")

    def test_unhealthy_retained_build_is_gone_then_recovers(self):
        self.assertServedBy(self.rsc_a(), "dpl-a")
        wait_until(self, lambda: self.a.checks() >= 1, 5.0, "a first health check", self.sg)
        self.a.set_healthy(False)
        wait_until(self, lambda: self.rsc_a().status == 409, FLIP_TIMEOUT, "dpl-a to be ejected", self.sg)
        served_before = self.a.requests
        with self.subTest("rsc -> 409 build_unhealthy"):
            self.assertRscAnswer(self.rsc_a(), "build_unhealthy", "dpl-a")
        with self.subTest("action, ID only in a -> reload answer"):
            self.assertReloadAnswer(self.req("POST", CART, action_headers(ID_A_ONLY, "dpl-a"), b"[]"),
                                    CART, "build_unhealthy", "dpl-a")
        with self.subTest("JSON client"):
            self.assertJsonAnswer(self.req("POST", CART, action_headers(ID_A_ONLY, "dpl-a", accept="application/json"),
                                           b"[]"), "build_unhealthy", "dpl-a", "dpl-b", CART)
        with self.subTest("action, ID also in b -> rerouted to b"):
            self.assertServedBy(self.req("POST", CART, action_headers(ID_AB, "dpl-a"), b"[]"), "dpl-b")
        with self.subTest("no-JS form, ID only in a -> 303"):
            ctype, body = no_js_form(ID_A_ONLY)
            self.assertSeeOther(self.req("POST", CART, [("content-type", ctype)], body), CART,
                                "build_unhealthy", "dpl-a")
        with self.subTest("asset, document, other -> current"):
            self.assertServedBy(self.req("GET", "/_next/static/chunks/a.js?dpl=dpl-a"), "dpl-b")
            self.assertServedBy(self.req("GET", "/", [("x-deployment-id", "dpl-a")]), "dpl-b")
            self.assertServedBy(self.req("POST", "/api/hook", [("x-deployment-id", "dpl-a")], b"{}"), "dpl-b")
        with self.subTest("nothing reached the unhealthy build"):
            self.assertEqual(self.a.requests, served_before)
        self.a.set_healthy(True)
        wait_until(self, lambda: served_by(self.rsc_a()) == "dpl-a", FLIP_TIMEOUT, "dpl-a to recover", self.sg)
        self.assertServedBy(self.req("POST", CART, action_headers(ID_A_ONLY, "dpl-a"), b"[]"), "dpl-a")
        self.assertServedBy(self.req("GET", "/_next/static/chunks/a.js?dpl=dpl-a"), "dpl-a")

    def test_single_failed_check_does_not_eject(self):
        # fall: 2 -- one failed check (then passes again) keeps the build.
        self.assertServedBy(self.rsc_a(), "dpl-a")
        wait_until(self, lambda: self.a.checks() >= 1, 5.0, "a first health check", self.sg)
        n = self.a.checks()
        self.a.set_healthy(False)
        wait_until(self, lambda: self.a.checks() >= n + 1, 3.0, "one failed check", self.sg)
        self.a.set_healthy(True)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            resp = self.rsc_a()
            self.assertServedBy(resp, "dpl-a", f"ejected after a single failed check: {resp!r}")
            time.sleep(0.1)

    def test_unhealthy_current_answers_503_at_once(self):
        self.assertServedBy(self.req("GET", "/"), "dpl-b")
        self.b.set_healthy(False)
        wait_until(self, lambda: self.req("GET", "/").status == 503, FLIP_TIMEOUT, "current to turn unhealthy",
                   self.sg)
        for target, headers in (("/", []), ("/cart?_rsc=1", rsc_headers()), ("/_next/static/x.js", []),
                                ("/cart?_rsc=2", rsc_headers("dpl-b"))):
            with self.subTest(target=target):
                start = time.monotonic()
                resp = self.req("GET", target, headers)
                elapsed = time.monotonic() - start
                self.assertEqual(resp.status, 503, resp)
                self.assertLess(elapsed, 1.0, "503 must come at once, not after a timeout")
                self.assertEqual(resp.header("content-type"), "application/json", resp)
                body = json.loads(resp.body)
                self.assertEqual((body.get("error"), body.get("reason")), ("upstream_unavailable", "build_unhealthy"),
                                 body)
                self.assertEqual((body.get("app"), body.get("build")), ("shop", "dpl-b"), body)
        with self.subTest("action with no header -> 503 too"):
            resp = self.req("POST", CART, action_headers(ID_AB), b"[]")
            self.assertEqual(resp.status, 503, resp)
        with self.subTest("healthy retained a still served"):
            self.assertServedBy(self.rsc_a(), "dpl-a")
        self.b.set_healthy(True)
        wait_until(self, lambda: served_by(self.req("GET", "/")) == "dpl-b", FLIP_TIMEOUT, "current to recover",
                   self.sg)


if __name__ == "__main__":
    unittest.main()
