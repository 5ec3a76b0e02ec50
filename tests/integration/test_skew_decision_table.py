"""The skew engine's decision table on the wire (design.md sections 3-5 and 7, issue 4).

Three builds of one app, deployed the way an operator does in `registry: config`:
edit the YAML, send SIGHUP.

  phase 1: current dpl-a                         builds [a]
  phase 2: deploy b  -> current dpl-b, a retained builds [a, b]
  phase 3: deploy c  -> current dpl-c, a, b retained
  phase 4: retire a  (kill switch: `state: retired`) -> reason build_killed

Two apps share the builds: `shop` (shop.test, action_policy reload) and `shop-error`
(shop-error.test, action_policy error with its own message). Manifests
(tests/integration/data/manifest-*.json): a holds ID_A_ONLY and ID_AB, b holds ID_AB
(node) and ID_B_EDGE (edge), c holds ID_C_ONLY. `/status/` is an extra asset prefix so
the upstream's /status/404 is an asset that current answers 404.

Answers are checked byte-exact on the raw response head: status line, each header once
with the exact value, nothing else but framing headers.
"""

import hashlib
import json
import unittest

from harness import GatewayTestCase, header_values
from skew_support import (DEFAULT_MESSAGE, ERROR_MESSAGE, ID_A_ONLY, ID_AB, ID_B_EDGE, ID_C_ONLY, ID_NONE,
                          MANIFEST, SkewAssertions, SkewGateway, action_headers, build, document_headers,
                          echo, exchange, manifest_secrets, multipart, no_js_form, render_config, rsc_headers, served_by,
                          upgrade_served_by, urlencoded_form, wait_until)

ASSET_PREFIXES = ["/_next/static/", "/_next/image", "/status/"]
CART = "/cart?item=7&q=a%20b"


class ThreeBuilds(GatewayTestCase, SkewAssertions):
    """Starts phase 1; advance(n) deploys up to phase n with SIGHUP."""

    def setUp(self):
        self.up = {b: self.start_upstream(f"dpl-{b}") for b in ("a", "b", "c")}
        self.phase = 1
        self.sg = SkewGateway(self, self.render)
        self.port = self.sg.port
        self.assertServedBy(self.req("GET", "/"), "dpl-a")

    def render(self, port, state_dir):
        builds = [build("dpl-a", [self.up["a"].address], MANIFEST["a"],
                        "retired" if self.phase >= 4 else None)]
        if self.phase >= 2:
            builds.append(build("dpl-b", [self.up["b"].address], MANIFEST["b"]))
        if self.phase >= 3:
            builds.append(build("dpl-c", [self.up["c"].address], MANIFEST["c"]))
        current = {1: "dpl-a", 2: "dpl-b"}.get(self.phase, "dpl-c")
        common = {"current": current, "builds": builds, "asset_prefixes": ASSET_PREFIXES,
                  "actions": {"inspect_form_posts": True, "inspect_bytes": "64KiB"}}
        return render_config(port, state_dir, [
            {"name": "shop", "hosts": ["shop.test"], "skew": {"action_policy": "reload"}, **common},
            {"name": "shop-error", "hosts": ["shop-error.test"],
             "skew": {"action_policy": "error", "message": ERROR_MESSAGE}, **common},
        ])

    def advance(self, phase):
        while self.phase < phase:
            self.phase += 1
            if self.phase == 2:
                self.sg.reload(self.render, lambda: served_by(self.req("GET", "/")) == "dpl-b", what="deploy b")
            elif self.phase == 3:
                self.sg.reload(self.render, lambda: served_by(self.req("GET", "/")) == "dpl-c", what="deploy c")
            else:
                self.sg.reload(self.render,
                               lambda: self.req("GET", "/p?_rsc=1", headers=rsc_headers("dpl-a")).status == 409,
                               what="retire a (state: retired)")

    def req(self, method, target, host="shop.test", headers=(), body=None):
        return exchange(self.port, method, target, host, headers, body)

    def action(self, action_id, deployment_id=None, target=CART, host="shop.test", **kw):
        return self.req("POST", target, host, action_headers(action_id, deployment_id, origin=f"http://{host}", **kw), b'["$K1",7]')

    def form(self, action_id, target=CART, host="shop.test", urlencoded=False):
        ctype, body = urlencoded_form(action_id) if urlencoded else no_js_form(action_id, [("qty", "2", None)])
        return self.req("POST", target, host, [("content-type", ctype), ("origin", f"http://{host}")], body)

    def requests_seen(self, b):
        return self.up[b].stats()["requests"]


class DecisionTableTest(ThreeBuilds):
    # -- row: client build is current --------------------------------------------------

    def test_current_client_build_is_proxied(self):
        for host in ("shop.test", "shop-error.test"):
            with self.subTest(host=host, phase=1):
                self.assertServedBy(self.action(ID_A_ONLY, "dpl-a", host=host), "dpl-a")
                self.assertServedBy(self.req("GET", "/p?_rsc=x", host, rsc_headers("dpl-a")), "dpl-a")
                self.assertServedBy(self.req("GET", "/_next/static/chunks/app.js?dpl=dpl-a", host), "dpl-a")
                self.assertServedBy(self.req("GET", "/", host, document_headers("dpl-a")), "dpl-a")
                self.assertServedBy(self.req("POST", "/api/hook", host, [("x-deployment-id", "dpl-a")], b"{}"),
                                    "dpl-a")
        self.advance(2)
        for host in ("shop.test", "shop-error.test"):
            with self.subTest(host=host, phase=2):
                self.assertServedBy(self.action(ID_AB, "dpl-b", host=host), "dpl-b")
                self.assertServedBy(self.req("GET", "/p?_rsc=x", host, rsc_headers("dpl-b", prefetch=True)),
                                    "dpl-b")
                self.assertServedBy(self.req("GET", "/_next/static/chunks/app.js?dpl=dpl-b", host), "dpl-b")
                self.assertServedBy(self.req("GET", "/", host, document_headers("dpl-b")), "dpl-b")
                self.assertServedBy(self.req("GET", "/"), "dpl-b")
                self.assertServedBy(self.req("PUT", "/api/hook?dpl=dpl-b", host, [], b"{}"), "dpl-b")
        with self.subTest("current asset 404 passes untouched (dpl names current)"):
            resp = self.req("GET", "/status/404?dpl=dpl-b")
            self.assertEqual((resp.status, served_by(resp)), (404, "dpl-b"), resp)
            self.assertIsNone(resp.header("cache-control"), resp)
        # Issue 14 item 4: without dpl, current's 404 is tried on the kept builds
        # (tests/integration/test_replay.py has the full rule); all 404: the last
        # one goes out, no-store.
        with self.subTest("current asset 404 without dpl: tried on the retained build, last 404 no-store"):
            resp = self.req("GET", "/status/404")
            self.assertEqual((resp.status, served_by(resp), resp.header("cache-control")),
                             (404, "dpl-a", "no-store"), resp)

    # -- row: client build is retained and healthy -------------------------------------

    def test_retained_client_build_cells(self):
        self.advance(2)
        with self.subTest("action: next-action header -> the retained build"):
            resp = self.action(ID_A_ONLY, "dpl-a")
            self.assertServedBy(resp, "dpl-a")
            e = echo(resp)
            self.assertEqual((e["method"], e["target"]), ("POST", CART))
            self.assertEqual(header_values(e, "next-action"), [ID_A_ONLY])
            self.assertEqual(e["body_sha256"], hashlib.sha256(b'["$K1",7]').hexdigest())
        with self.subTest("action: Next-Action casing"):
            self.assertServedBy(self.action(ID_A_ONLY, "dpl-a", name="Next-Action"), "dpl-a")
        with self.subTest("action: JSON client"):
            self.assertServedBy(self.action(ID_A_ONLY, "dpl-a", accept="application/json"), "dpl-a")
        with self.subTest("action: React-Server-Action"):
            resp = self.req("POST", "/cart/rsc.x-component", headers=[
                ("React-Server-Action", "%2Fsrc%2Factions.ts%23add"), ("x-deployment-id", "dpl-a"),
                ("content-type", "text/plain")], body=b"[]")
            self.assertServedBy(resp, "dpl-a")
        with self.subTest("action: no-JS form post, client build from a's manifest"):
            self.assertServedBy(self.form(ID_A_ONLY), "dpl-a")
        with self.subTest("rsc navigation, _rsc untouched"):
            target = "/cart?_rsc=1x9qz&item=7"
            resp = self.req("GET", target, headers=rsc_headers("dpl-a"))
            self.assertServedBy(resp, "dpl-a")
            self.assertEqual(echo(resp)["target"], target)
        with self.subTest("rsc prefetch"):
            self.assertServedBy(self.req("GET", "/cart?_rsc=p", headers=rsc_headers("dpl-a", prefetch=True)),
                                "dpl-a")
        with self.subTest("rsc: RSC casing"):
            self.assertServedBy(self.req("GET", "/cart?_rsc=u", headers=rsc_headers("dpl-a", name="RSC")), "dpl-a")
        with self.subTest("asset ?dpl="):
            self.assertServedBy(self.req("GET", "/_next/static/chunks/app-4f2a.js?dpl=dpl-a"), "dpl-a")
            self.assertServedBy(self.req("GET", "/_next/image?url=%2Fhero.png&w=640&q=75&dpl=dpl-a"), "dpl-a")
        with self.subTest("document -> current"):
            self.assertServedBy(self.req("GET", "/", headers=document_headers("dpl-a")), "dpl-b")
            self.assertServedBy(self.req("GET", "/cart?dpl=dpl-a", headers=document_headers()), "dpl-b")
            resp = self.req("HEAD", "/", headers=[("x-deployment-id", "dpl-a"), ("sec-fetch-mode", "navigate")])
            self.assertEqual((resp.status, served_by(resp)), (200, "dpl-b"), resp)
        with self.subTest("other -> the retained build"):
            self.assertServedBy(self.req("POST", "/api/hook", headers=[("x-deployment-id", "dpl-a"),
                                                                     ("content-type", "application/json")],
                                         body=b'{"x":1}'), "dpl-a")
            self.assertServedBy(self.req("DELETE", "/api/item/3?dpl=dpl-a"), "dpl-a")
            # A GET or HEAD that is no navigation (script: no Sec-Fetch-Mode navigate, no text/html).
            self.assertServedBy(self.req("GET", "/api/item/3", headers=[("x-deployment-id", "dpl-a")]), "dpl-a")
            resp = self.req("HEAD", "/", headers=[("x-deployment-id", "dpl-a")])
            self.assertEqual((resp.status, served_by(resp)), (200, "dpl-a"), resp)
        with self.subTest("upgrade -> the retained build"):
            self.assertEqual(upgrade_served_by(self.port, deployment_id="dpl-a"), "dpl-a")
        with self.subTest("error-policy app proxies the same"):
            self.assertServedBy(self.action(ID_A_ONLY, "dpl-a", host="shop-error.test"), "dpl-a")
            self.assertServedBy(self.req("GET", "/x?_rsc=1", "shop-error.test", rsc_headers("dpl-a")), "dpl-a")

    # -- row: client build retired by the kill switch ----------------------------------

    def test_killed_client_build_reload_policy(self):
        self.advance(4)
        seen_by_a = self.requests_seen("a")
        with self.subTest("action -> 200 x-action-redirect"):
            self.assertReloadAnswer(self.action(ID_A_ONLY, "dpl-a"), CART, "build_killed", "dpl-a")
        with self.subTest("action, Next-Action casing"):
            self.assertReloadAnswer(self.action(ID_A_ONLY, "dpl-a", name="Next-Action"), CART, "build_killed",
                                    "dpl-a")
        with self.subTest("action, accept lists text/x-component and JSON: still the Next.js answer"):
            self.assertReloadAnswer(self.action(ID_A_ONLY, "dpl-a", accept="text/x-component, application/json"),
                                    CART, "build_killed", "dpl-a")
        with self.subTest("action without a query string"):
            self.assertReloadAnswer(self.action(ID_A_ONLY, "dpl-a", target="/account/settings"),
                                    "/account/settings", "build_killed", "dpl-a")
        with self.subTest("rsc -> 409"):
            self.assertRscAnswer(self.req("GET", "/cart?_rsc=1x9qz", headers=rsc_headers("dpl-a")),
                                 "build_killed", "dpl-a")
        with self.subTest("rsc prefetch -> 409"):
            self.assertRscAnswer(self.req("GET", "/cart?_rsc=p", headers=rsc_headers("dpl-a", prefetch=True)),
                                 "build_killed", "dpl-a")
        with self.subTest("rsc, RSC casing -> 409"):
            self.assertRscAnswer(self.req("GET", "/cart?_rsc=u", headers=rsc_headers("dpl-a", name="RSC")),
                                 "build_killed", "dpl-a")
        with self.subTest("answers never reached the killed build"):
            self.assertEqual(self.requests_seen("a") - seen_by_a, 1)  # the /__stats request itself
        with self.subTest("asset -> current"):
            self.assertServedBy(self.req("GET", "/_next/static/chunks/app-4f2a.js?dpl=dpl-a"), "dpl-c")
            self.assertServedBy(self.req("GET", "/_next/image?url=%2Fhero.png&w=640&dpl=dpl-a"), "dpl-c")
        with self.subTest("asset missing in current -> 404 no-store"):
            resp = self.req("GET", "/status/404?dpl=dpl-a")
            self.assertEqual((resp.status, served_by(resp)), (404, "dpl-c"), resp)
            self.assertEqual(header_values({"headers": resp.headers}, "cache-control"), ["no-store"], resp)
            self.assertEqual(echo_target(resp), "/status/404?dpl=dpl-a")
        with self.subTest("asset found in current keeps its own caching"):
            resp = self.req("GET", "/status/200?dpl=dpl-a")
            self.assertServedBy(resp, "dpl-c")
            self.assertIsNone(resp.header("cache-control"), resp)
        with self.subTest("document -> current"):
            self.assertServedBy(self.req("GET", "/", headers=document_headers("dpl-a")), "dpl-c")
            self.assertServedBy(self.req("GET", "/cart?dpl=dpl-a"), "dpl-c")
        with self.subTest("other -> current"):
            self.assertServedBy(self.req("POST", "/api/hook", headers=[("x-deployment-id", "dpl-a"),
                                                                     ("content-type", "application/json")],
                                         body=b'{"x":1}'), "dpl-c")
            self.assertServedBy(self.req("DELETE", "/api/item/3?dpl=dpl-a"), "dpl-c")
        with self.subTest("upgrade -> current"):
            self.assertEqual(upgrade_served_by(self.port, deployment_id="dpl-a"), "dpl-c")
        with self.subTest("b is still retained"):
            self.assertServedBy(self.req("GET", "/cart?_rsc=b", headers=rsc_headers("dpl-b")), "dpl-b")
            self.assertServedBy(self.action(ID_AB, "dpl-b"), "dpl-b")

    def test_killed_client_build_error_policy(self):
        self.advance(4)
        host = "shop-error.test"
        with self.subTest("action -> 409 text/plain with the message"):
            self.assertErrorAnswer(self.action(ID_A_ONLY, "dpl-a", host=host), "build_killed", "dpl-a")
        with self.subTest("action, Next-Action casing"):
            self.assertErrorAnswer(self.action(ID_A_ONLY, "dpl-a", host=host, name="Next-Action"),
                                   "build_killed", "dpl-a")
        with self.subTest("rsc -> 409 (policy does not apply)"):
            self.assertRscAnswer(self.req("GET", "/cart?_rsc=1", host, rsc_headers("dpl-a")), "build_killed", "dpl-a")
        with self.subTest("JSON client -> JSON 409 (policy does not apply)"):
            self.assertJsonAnswer(self.action(ID_A_ONLY, "dpl-a", host=host, accept="application/json"),
                                  "build_killed", "dpl-a", "dpl-c", CART)
        with self.subTest("no-JS form -> 303 (policy does not apply)"):
            self.assertSeeOther(self.form(ID_A_ONLY, host=host), CART, "build_killed", "dpl-a")
        with self.subTest("asset, document, other -> current"):
            self.assertServedBy(self.req("GET", "/_next/static/x.js?dpl=dpl-a", host), "dpl-c")
            self.assertServedBy(self.req("GET", "/", host, document_headers("dpl-a")), "dpl-c")
            self.assertServedBy(self.req("POST", "/api/hook?dpl=dpl-a", host, [], b"{}"), "dpl-c")

    def test_killed_client_build_json_clients(self):
        self.advance(4)
        for host in ("shop.test", "shop-error.test"):
            with self.subTest(host=host, client="React-Server-Action"):
                # Issue 15: its client reads flight only (JSON would leave the call pending).
                resp = self.req("POST", "/cart/rsc.x-component?x=1", host, [
                    ("React-Server-Action", "%2Fsrc%2Factions.ts%23add"), ("x-deployment-id", "dpl-a"),
                    ("content-type", "text/plain")], b"[]")
                if host == "shop.test":
                    self.assertAnswerHead(resp, 200, [("content-type", "text/x-component; charset=utf-8"),
                                                      ("cache-control", "no-store"),
                                                      self.reload_header("build_killed", "dpl-a")])
                    self.assertEqual(resp.body, b'1:I["/__skewgate/reload.mjs",[],"default",1]\n0:["$L1"]\n')
                else:
                    self.assertAnswerHead(resp, 200, [("content-type", "text/x-component; charset=utf-8"),
                                                      ("cache-control", "no-store"), ("react-server-data", "rsc"),
                                                      self.reload_header("build_killed", "dpl-a")])
                    self.assertEqual(resp.body, b'0:["$@1"]\n1:E' + json.dumps({"digest": ERROR_MESSAGE}, separators=(",", ":"),
                                                                      ensure_ascii=False).encode()
                                     + b"\n")
            with self.subTest(host=host, client="accept: application/json"):
                self.assertJsonAnswer(self.action(ID_A_ONLY, "dpl-a", host=host, accept="application/json"),
                                      "build_killed", "dpl-a", "dpl-c", CART)

    def test_killed_client_build_no_js_forms_get_303(self):
        self.advance(4)
        with self.subTest("multipart $ACTION_ID_"):
            self.assertSeeOther(self.form(ID_A_ONLY), CART, "build_killed", "dpl-a")
        with self.subTest("urlencoded %24ACTION_ID_"):
            self.assertSeeOther(self.form(ID_A_ONLY, urlencoded=True), CART, "build_killed", "dpl-a")
        with self.subTest("$ACTION_REF_ with $ACTION_n:0"):
            ctype, body = multipart([
                ("$ACTION_REF_1", "", None),
                ("$ACTION_1:0", '{"id":"%s","bound":"$@1"}' % ID_A_ONLY, None),
                ("$ACTION_1:1", '["$K1"]', None), ("qty", "2", None)])
            resp = self.req("POST", "/checkout?step=2", headers=[("content-type", ctype)], body=body)
            self.assertSeeOther(resp, "/checkout?step=2", "build_killed", "dpl-a")
        with self.subTest("form post to a path without query"):
            self.assertSeeOther(self.form(ID_A_ONLY, target="/cart"), "/cart", "build_killed", "dpl-a")

    # -- unknown deployment IDs --------------------------------------------------------

    def test_unknown_deployment_id(self):
        self.advance(2)
        zzz = "dpl-zzz"
        with self.subTest("rsc -> 409 build_unknown"):
            self.assertRscAnswer(self.req("GET", "/cart?_rsc=1", headers=rsc_headers(zzz)), "build_unknown", zzz)
        with self.subTest("action whose ID no kept build has -> reload answer"):
            self.assertReloadAnswer(self.action(ID_NONE, zzz), CART, "build_unknown", zzz)
            self.assertErrorAnswer(self.action(ID_NONE, zzz, host="shop-error.test"), "build_unknown", zzz)
            self.assertJsonAnswer(self.action(ID_NONE, zzz, accept="application/json"),
                                  "build_unknown", zzz, "dpl-b", CART)
        with self.subTest("action rerouted to the kept build whose manifest has the ID"):
            self.assertServedBy(self.action(ID_A_ONLY, zzz), "dpl-a")
            self.assertServedBy(self.action(ID_AB, zzz), "dpl-b")
        with self.subTest("asset, document, other -> current"):
            self.assertServedBy(self.req("GET", "/_next/static/chunks/app.js?dpl=dpl-zzz"), "dpl-b")
            resp = self.req("GET", "/status/404?dpl=dpl-zzz")
            self.assertEqual((resp.status, served_by(resp), resp.header("cache-control")), (404, "dpl-b", "no-store"))
            self.assertServedBy(self.req("GET", "/", headers=document_headers(zzz)), "dpl-b")
            self.assertServedBy(self.req("POST", "/api/hook", headers=[("x-deployment-id", zzz)], body=b"{}"), "dpl-b")
        with self.subTest("unknown id on the error-policy app"):
            self.assertRscAnswer(self.req("GET", "/p?_rsc=1", "shop-error.test", rsc_headers("dpl-x")),
                                 "build_unknown", "dpl-x")

    # -- action-ID manifest routing ----------------------------------------------------

    def test_action_manifest_routing(self):
        self.advance(2)
        with self.subTest(phase=2, case="ID only in a's manifest reaches retained a"):
            self.assertServedBy(self.action(ID_A_ONLY), "dpl-a")
            self.assertServedBy(self.form(ID_A_ONLY), "dpl-a")
        with self.subTest(phase=2, case="ID in a and b: the newest (current b)"):
            self.assertServedBy(self.action(ID_AB), "dpl-b")
        with self.subTest(phase=2, case="ID in no manifest -> action_not_found"):
            self.assertReloadAnswer(self.action(ID_NONE), CART, "action_not_found", "unknown")
        self.advance(3)
        with self.subTest(phase=3, case="a's ID still reaches a"):
            self.assertServedBy(self.action(ID_A_ONLY), "dpl-a")
        with self.subTest(phase=3, case="ID in a and b: newest kept holder b, not current c"):
            self.assertServedBy(self.action(ID_AB), "dpl-b")
            self.assertServedBy(self.form(ID_AB, urlencoded=True), "dpl-b")
        with self.subTest(phase=3, case="edge ID of b's manifest"):
            self.assertServedBy(self.action(ID_B_EDGE), "dpl-b")
        with self.subTest(phase=3, case="c's ID"):
            self.assertServedBy(self.action(ID_C_ONLY), "dpl-c")
        self.advance(4)
        with self.subTest(phase=4, case="client a (killed) rerouted to b, which has the ID"):
            resp = self.action(ID_AB, "dpl-a")
            self.assertServedBy(resp, "dpl-b")
            self.assertEqual(header_values(echo(resp), "next-action"), [ID_AB])
            self.assertServedBy(self.action(ID_AB, "dpl-a", host="shop-error.test"), "dpl-b")
            self.assertServedBy(self.action(ID_AB, "dpl-a", accept="application/json"), "dpl-b")
        with self.subTest(phase=4, case="no header, ID in a and b -> b"):
            self.assertServedBy(self.action(ID_AB), "dpl-b")
            self.assertServedBy(self.form(ID_AB), "dpl-b")
        with self.subTest(phase=4, case="no header, ID only in killed a -> reload answer naming a"):
            self.assertReloadAnswer(self.action(ID_A_ONLY), CART, "build_killed", "dpl-a")
            self.assertErrorAnswer(self.action(ID_A_ONLY, host="shop-error.test"), "build_killed", "dpl-a")
            self.assertSeeOther(self.form(ID_A_ONLY), CART, "build_killed", "dpl-a")
        with self.subTest(phase=4, case="header a, ID only in killed a"):
            self.assertReloadAnswer(self.action(ID_A_ONLY, "dpl-a"), CART, "build_killed", "dpl-a")
        with self.subTest(phase=4, case="ID in no manifest -> action_not_found"):
            self.assertReloadAnswer(self.action(ID_NONE), CART, "action_not_found", "unknown")
            self.assertErrorAnswer(self.action(ID_NONE, host="shop-error.test"), "action_not_found", "unknown")
            self.assertJsonAnswer(self.action(ID_NONE, accept="application/json"),
                                  "action_not_found", "unknown", "dpl-c", CART)
            self.assertSeeOther(self.form(ID_NONE), CART, "action_not_found", "unknown")
        with self.subTest(case="manifest secrets never leave skewgate"):
            logs = self.sg.logs()
            for secret in manifest_secrets():
                self.assertNotIn(secret, logs)
                self.assertNotIn(secret[:24], logs)


def echo_target(resp):
    return json.loads(resp.body)["target"]


class DefaultMessageTest(GatewayTestCase, SkewAssertions):
    """action_policy error without `message`: the documented default text."""

    def test_default_message(self):
        a, b = self.start_upstream("dpl-a"), self.start_upstream("dpl-b")
        sg = SkewGateway(self, lambda port, state_dir: render_config(port, state_dir, [
            {"name": "shop", "hosts": ["shop.test"], "skew": {"action_policy": "error"}, "current": "dpl-b",
             "builds": [build("dpl-a", [a.address], MANIFEST["a"], "retired"),
                        build("dpl-b", [b.address], MANIFEST["b"])]}]))
        resp = exchange(sg.port, "POST", "/cart", "shop.test", action_headers(ID_A_ONLY, "dpl-a"), b"[]")
        self.assertErrorAnswer(resp, "build_killed", "dpl-a", message=DEFAULT_MESSAGE)


class RetentionTest(GatewayTestCase, SkewAssertions):
    """retention {max_builds: 1, min_retained: 0}, builds a, b, c, current c: a has two newer
    builds, so the retention timer (10 s) retires it with reason build_retired; b stays."""

    def test_retention_retires_with_reason_build_retired(self):
        up = {x: self.start_upstream(f"dpl-{x}") for x in ("a", "b", "c")}

        def render(port, state_dir):
            return render_config(port, state_dir, [
                {"name": "shop", "hosts": ["shop.test"], "asset_prefixes": ASSET_PREFIXES,
                 "retention": {"max_builds": 1, "min_retained": 0}, "current": "dpl-c",
                 "builds": [build("dpl-a", [up["a"].address], MANIFEST["a"]),
                            build("dpl-b", [up["b"].address], MANIFEST["b"]),
                            build("dpl-c", [up["c"].address], MANIFEST["c"])]}])

        sg = SkewGateway(self, render)
        rsc_a = lambda: exchange(sg.port, "GET", "/cart?_rsc=1", "shop.test", rsc_headers("dpl-a"))
        elapsed = wait_until(self, lambda: rsc_a().status == 409, 20.0, "retention to retire dpl-a", sg)
        self.assertLess(elapsed, 15.0)
        with self.subTest("rsc -> 409 build_retired"):
            self.assertRscAnswer(rsc_a(), "build_retired", "dpl-a")
        with self.subTest("action -> reload answer build_retired"):
            resp = exchange(sg.port, "POST", CART, "shop.test", action_headers(ID_A_ONLY, "dpl-a"), b"[]")
            self.assertReloadAnswer(resp, CART, "build_retired", "dpl-a")
        with self.subTest("action, ID also in retained b -> rerouted to b"):
            resp = exchange(sg.port, "POST", CART, "shop.test", action_headers(ID_AB, "dpl-a"), b"[]")
            self.assertServedBy(resp, "dpl-b")
        with self.subTest("JSON client"):
            resp = exchange(sg.port, "POST", CART, "shop.test",
                            action_headers(ID_A_ONLY, "dpl-a", accept="application/json"), b"[]")
            self.assertJsonAnswer(resp, "build_retired", "dpl-a", "dpl-c", CART)
        with self.subTest("asset -> current, 404 no-store"):
            self.assertServedBy(exchange(sg.port, "GET", "/_next/static/a.js?dpl=dpl-a"), "dpl-c")
            resp = exchange(sg.port, "GET", "/status/404?dpl=dpl-a")
            self.assertEqual((resp.status, resp.header("cache-control")), (404, "no-store"), resp)
        with self.subTest("b is kept"):
            self.assertServedBy(exchange(sg.port, "GET", "/cart?_rsc=1", "shop.test", rsc_headers("dpl-b")), "dpl-b")
        with self.subTest("retirement persists in state_dir across a restart"):
            sg.restart()
            self.assertRscAnswer(rsc_a(), "build_retired", "dpl-a")
            self.assertServedBy(exchange(sg.port, "GET", "/cart?_rsc=1", "shop.test", rsc_headers("dpl-b")), "dpl-b")


if __name__ == "__main__":
    unittest.main()
