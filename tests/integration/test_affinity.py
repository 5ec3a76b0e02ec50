"""Affinity rules of issue 14 on the wire (items 1, 2, 5 and 7; design.md sections 3, 4 and 7):
the real binary in front of real upstream processes (tests/support/upstream.py, which
answers a request whose Accept names text/html with content-type text/html, as a page
server does, and everything else with JSON).

- The action ID decides when it can: a build named by the pin, the header, `dpl` or
  `__vdpl` whose manifest lacks the action's ID is ignored; the newest kept build whose
  manifest has the ID serves it, else the reload answer (action_not_found).
- Documents are navigations, nothing else: script GETs (API calls, favicons) are `other`,
  routed by header, dpl or pin like a POST, and never pinned; pins go only on HTML
  responses with a 2xx, 3xx or 4xx status.
- Canary cohorts follow the client address of X-Forwarded-For from trusted proxies.
- The `__vdpl` cookie is a hint to kept builds only, below header, dpl and the pin.

The issue's two user stories are here literally: test_story_* below.
"""

import json
import os
import shutil
import signal
import tempfile
import unittest

from harness import (yaml_flow as flow, yaml_scalar as scalar, Gateway, GatewayTestCase, free_port, wait_for)
from skew_support import (ID_A_ONLY, ID_AB, ID_NONE, MANIFEST, SkewAssertions, action_headers, exchange,
                          no_js_form, served_by)

SECRET = "affinity-secret-Xq2Lm9Vt4Rk7Pz1Nc8Wd3Hs6Bj0Fy5Ga"
PIN = "skewgate_pin"
HOST = "shop.test"
UA = "Mozilla/5.0 (X11; Linux x86_64) skewgate-affinity-test"

# What Chromium sends for a top-level navigation, for a script fetch() and for the
# favicon (design.md section 2; measured on Next.js 15.1.6 / 16.4.6 pages).
NAVIGATE = [("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            ("sec-fetch-mode", "navigate"), ("sec-fetch-dest", "document"), ("sec-fetch-site", "none"),
            ("user-agent", UA)]
FETCH = [("accept", "*/*"), ("sec-fetch-mode", "cors"), ("sec-fetch-dest", "empty"),
         ("sec-fetch-site", "same-origin"), ("user-agent", UA)]
FAVICON = [("accept", "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"),
           ("sec-fetch-mode", "no-cors"), ("sec-fetch-dest", "image"), ("sec-fetch-site", "same-origin"),
           ("user-agent", UA)]


def set_cookies(resp):
    return [v for k, v in resp.headers if k.lower() == "set-cookie"]


def pin_of(resp):
    for value in set_cookies(resp):
        if value.startswith(PIN + "="):
            return value[len(PIN) + 1:value.index(";")]
    return None


def cookies(**values):
    return ("cookie", "; ".join(f"{k}={v}" for k, v in values.items()))


def fnv1a(text):
    """skew/canary.cc's hash: FNV-1a 64 over the bytes."""
    h = 14695981039346656037
    for byte in text.encode():
        h = ((h ^ byte) * 1099511628211) % (1 << 64)
    return h


def in_cohort(address, percent, user_agent=UA):
    """skew::in_canary_cohort, so a test can say which side each client address lands on."""
    return fnv1a(address + "\n" + user_agent) % 10000 < percent * 100


class AffinityGateway:
    """A skewgate process with its own work dir and state_dir, reloadable (SIGHUP) with a new render."""

    def __init__(self, testcase, render):
        self.testcase = testcase
        self.port = free_port()
        self.workdir = tempfile.mkdtemp(prefix="skewgate-affinity-")
        self.state_dir = os.path.join(self.workdir, "state")
        self.gateway = Gateway(render(self.port, self.state_dir), self.port, self.workdir)
        testcase.addCleanup(self._cleanup)

    def _cleanup(self):
        self.testcase._stop_gateway(self.gateway)
        outcome = getattr(self.testcase, "_outcome", None)
        if outcome is None or getattr(outcome, "success", True):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def reload(self, render, ready, timeout=15.0):
        self.testcase.assertTrue(wait_for(self.gateway.catches_sighup, 5.0), "skewgate does not catch SIGHUP")
        path = self.gateway.config_path
        with open(path + ".tmp", "w") as f:
            f.write(render(self.port, self.state_dir))
        os.replace(path + ".tmp", path)
        self.gateway.signal(signal.SIGHUP)
        self.testcase.assertTrue(wait_for(ready, timeout, interval=0.1),
                                 f"the reload did not apply; stderr: {self.gateway.stderr_text()[-2000:]}")

    def req(self, method="GET", target="/", headers=(), body=None):
        return exchange(self.port, method, target, HOST, list(headers), body)

    def log_for(self, marker):
        """The access-log line of the request whose target carries `marker` (bounded wait)."""
        found = wait_for(lambda: next((e for e in self.gateway.access_log()
                                       if marker in str(e.get("target") or "")), None), 3.0)
        self.testcase.assertIsNotNone(found, f"no access-log line for {marker}: {self.gateway.stdout_text()[-2000:]}")
        return found


def renderer(builds, current, canary=None, trusted=None):
    """render(port, state_dir) for app `shop` with a fixed pin secret."""
    def render(port, state_dir):
        lines = [f"listeners: [{{address: 127.0.0.1:{port}}}]",
                 "workers: 1",
                 f"state_dir: {scalar(state_dir)}",
                 "access_log: {path: stdout, format: json}",
                 "timeouts: {upstream_connect: 1s, upstream_response: 5s, drain: 2s, client_header: 5s}",
                 f"pins: {flow({'secret': SECRET})}"]
        if trusted is not None:
            lines.append(f"trusted_proxies: {flow(trusted)}")
        lines += ["apps:", "  - name: shop", f"    hosts: [{HOST}]",
                  "    actions: {inspect_form_posts: true}"]
        if canary:
            lines.append(f"    canary: {flow(canary)}")
        lines.append(f"    current: {current}")
        lines.append("    builds:")
        for b in builds:
            lines.append(f"      - {flow(b)}")
        return "\n".join(lines) + "\n"
    return render


class AffinityTestCase(GatewayTestCase, SkewAssertions):
    def build(self, b, manifest=None, state=None):
        out = {"id": f"dpl-{b}", "upstreams": [self.up[b].address]}
        if manifest:
            out["manifest"] = MANIFEST[manifest]
        if state:
            out["state"] = state
        return out

    def assertServed(self, resp, build_id, what):
        self.assertEqual((resp.status, served_by(resp)), (200, build_id), f"{what}: {resp!r}")


class ActionManifestTest(AffinityTestCase):
    """Item 1: builds with manifests (a: ID_A_ONLY, ID_AB; b: ID_AB), no deployment ID in the app."""

    def setUp(self):
        self.up = {b: self.start_upstream(f"dpl-{b}") for b in ("a", "b", "n")}

    def deploy_b(self, g):
        render = renderer([self.build("a", "a"), self.build("b", "b")], "dpl-b")
        g.reload(render, lambda: served_by(g.req("GET", "/", NAVIGATE)) == "dpl-b")

    def action(self, g, action_id, target, extra=()):
        return g.req("POST", target, action_headers(action_id, origin=f"http://{HOST}") + list(extra), b'["$K1"]')

    def test_story_pin_b_and_an_action_only_a_has_goes_to_a(self):
        g = AffinityGateway(self, renderer([self.build("a", "a")], "dpl-a"))
        tab1 = g.req("GET", "/cart", NAVIGATE)
        self.assertServed(tab1, "dpl-a", "tab 1 loads build A")
        self.assertTrue(pin_of(tab1), f"tab 1's page is pinned: {tab1!r}")
        self.deploy_b(g)
        tab2 = g.req("GET", "/cart", NAVIGATE + [cookies(**{PIN: pin_of(tab1)})])
        self.assertServed(tab2, "dpl-b", "tab 2 loads build B")
        pin_b = pin_of(tab2)
        self.assertTrue(pin_b, f"tab 2 re-pins the shared cookie jar to B: {tab2!r}")

        # Tab 1 (build A's page, no deployment ID) clicks its button; the jar now holds pin B.
        resp = self.action(g, ID_A_ONLY, "/cart?story=a", [cookies(**{PIN: pin_b})])
        self.assertServed(resp, "dpl-a", "tab 1's action, which only A's manifest has")
        self.assertEqual(set_cookies(resp), [], "an action is never pinned")
        line = g.log_for("story=a")
        self.assertEqual((line.get("client_build"), line.get("build"), line.get("outcome")),
                         ("dpl-a", "dpl-a", "served"), line)

    def test_manifest_overrules_every_name_that_lacks_the_id(self):
        g = AffinityGateway(self, renderer([self.build("b", "b")], "dpl-b"))
        pin_b = pin_of(g.req("GET", "/", NAVIGATE))
        self.assertTrue(pin_b)
        g.reload(renderer([self.build("a", "a"), self.build("b", "b")], "dpl-b"),
                 lambda: g.req("POST", "/x", [("x-deployment-id", "dpl-a")]).header("x-served-by") == "dpl-a")
        ctype, form = no_js_form(ID_A_ONLY)
        form_headers = [("content-type", ctype), ("origin", f"http://{HOST}")]
        # (case, request, served by, outcome in the access log)
        rows = [
            ("pin B, ID only A has", lambda m: self.action(g, ID_A_ONLY, f"/c?{m}", [cookies(**{PIN: pin_b})]),
             "dpl-a", "served"),
            ("pin B, no-JS form, ID only A has",
             lambda m: g.req("POST", f"/c?{m}", form_headers + [cookies(**{PIN: pin_b})], form), "dpl-a", "served"),
            ("__vdpl B, ID only A has", lambda m: self.action(g, ID_A_ONLY, f"/c?{m}", [cookies(__vdpl="dpl-b")]),
             "dpl-a", "served"),
            ("header B, ID only A has",
             lambda m: self.action(g, ID_A_ONLY, f"/c?{m}", [("x-deployment-id", "dpl-b")]), "dpl-a", "rerouted"),
            ("dpl B, ID only A has", lambda m: self.action(g, ID_A_ONLY, f"/c?dpl=dpl-b&{m}"), "dpl-a", "rerouted"),
            ("pin B, ID both have: B keeps it",
             lambda m: self.action(g, ID_AB, f"/c?{m}", [cookies(**{PIN: pin_b})]), "dpl-b", "served"),
            ("header B, ID both have: B keeps it",
             lambda m: self.action(g, ID_AB, f"/c?{m}", [("x-deployment-id", "dpl-b")]), "dpl-b", "served"),
        ]
        for i, (case, send, build_id, outcome) in enumerate(rows):
            with self.subTest(case):
                marker = f"row=m{i}z"
                self.assertServed(send(marker), build_id, case)
                line = g.log_for(marker)
                self.assertEqual((line.get("build"), line.get("outcome")), (build_id, outcome), line)

        with self.subTest("pin B, ID in no manifest: reload answer action_not_found"):
            resp = self.action(g, ID_NONE, "/c?none=1", [cookies(**{PIN: pin_b})])
            self.assertReloadAnswer(resp, "/c?none=1", "action_not_found", "unknown")
        with self.subTest("header B, ID in no manifest: reload answer action_not_found"):
            resp = self.action(g, ID_NONE, "/c?none=2", [("x-deployment-id", "dpl-b")])
            self.assertReloadAnswer(resp, "/c?none=2", "action_not_found", "unknown")

        # A retired: the ID is in no kept build's manifest any more.
        g.reload(renderer([self.build("a", "a", "retired"), self.build("b", "b")], "dpl-b"),
                 lambda: g.req("POST", "/x", [("x-deployment-id", "dpl-a")]).header("x-served-by") == "dpl-b")
        with self.subTest("pin B, ID only a retired build has: action_not_found"):
            resp = self.action(g, ID_A_ONLY, "/c?retired=1", [cookies(**{PIN: pin_b})])
            self.assertReloadAnswer(resp, "/c?retired=1", "action_not_found", "unknown")

    def test_a_named_build_without_a_manifest_answers_for_itself(self):
        # dpl-n has no manifest: nothing is known about its actions, so its name holds.
        g = AffinityGateway(self, renderer([self.build("n")], "dpl-n"))
        pin_n = pin_of(g.req("GET", "/", NAVIGATE))
        self.assertTrue(pin_n)
        g.reload(renderer([self.build("a", "a"), self.build("n"), self.build("b", "b")], "dpl-b"),
                 lambda: served_by(g.req("GET", "/", NAVIGATE)) == "dpl-b")
        self.assertServed(self.action(g, ID_A_ONLY, "/c", [cookies(**{PIN: pin_n})]), "dpl-n", "pin n")
        self.assertServed(self.action(g, ID_A_ONLY, "/c", [("x-deployment-id", "dpl-n")]), "dpl-n", "header n")
        self.assertServed(self.action(g, ID_A_ONLY, "/c", [cookies(__vdpl="dpl-n")]), "dpl-n", "__vdpl n")


class DocumentsTest(AffinityTestCase):
    """Item 2: documents are navigations; pins only on HTML answers."""

    def setUp(self):
        self.up = {b: self.start_upstream(f"dpl-{b}") for b in ("a", "b")}
        self.g = AffinityGateway(self, renderer([self.build("a"), self.build("b")], "dpl-a"))
        self.pin_a = pin_of(self.g.req("GET", "/", NAVIGATE))
        self.assertTrue(self.pin_a)
        self.g.reload(renderer([self.build("a"), self.build("b")], "dpl-b"),
                      lambda: served_by(self.g.req("GET", "/", NAVIGATE)) == "dpl-b")

    def test_story_api_get_with_the_header_and_the_favicon_are_not_documents(self):
        g = self.g
        resp = g.req("GET", "/api/x", [("x-deployment-id", "dpl-a")])
        self.assertServed(resp, "dpl-a", "GET /api/x with x-deployment-id: dpl-a")
        self.assertEqual(set_cookies(resp), [], "an API GET is never pinned")
        resp = g.req("GET", "/favicon.ico")
        self.assertEqual(set_cookies(resp), [], f"GET /favicon.ico is never pinned: {resp!r}")
        self.assertEqual(g.log_for("/api/x").get("kind"), "other")
        self.assertEqual(g.log_for("/favicon.ico").get("kind"), "other")

    def test_kinds_and_pins_by_request_shape(self):
        g = self.g
        pin_a = cookies(**{PIN: self.pin_a})
        # (case, method, target, headers, served by, kind, pinned to)
        rows = [
            ("navigation", "GET", "/p", NAVIGATE, "dpl-b", "document", "new"),
            ("navigation naming A by header (never from a browser)", "GET", "/p",
             NAVIGATE + [("x-deployment-id", "dpl-a")], "dpl-b", "document", "new"),
            ("iframe", "GET", "/p", [("sec-fetch-dest", "iframe"), ("accept", "text/html")], "dpl-b", "document",
             "new"),
            ("no Sec-Fetch, Accept text/html", "GET", "/p", [("accept", "text/html")], "dpl-b", "document", "new"),
            ("HEAD, no Sec-Fetch, Accept text/html", "HEAD", "/p", [("accept", "text/html")], "dpl-b", "document",
             "new"),
            ("navigation with pin A: reload lands on B", "GET", "/p", NAVIGATE + [pin_a], "dpl-b", "document", "new"),
            ("fetch naming A by header", "GET", "/api/x", FETCH + [("x-deployment-id", "dpl-a")], "dpl-a", "other",
             None),
            ("bare GET naming A by header", "GET", "/api/x", [("x-deployment-id", "dpl-a")], "dpl-a", "other", None),
            ("Accept text/html but x-deployment-id A (script)", "GET", "/api/x",
             [("accept", "text/html"), ("x-deployment-id", "dpl-a")], "dpl-a", "other", None),
            ("Accept text/html with Sec-Fetch-Mode cors (script)", "GET", "/api/x",
             [("accept", "text/html"), ("sec-fetch-mode", "cors"), ("sec-fetch-dest", "empty")], "dpl-b", "other",
             None),
            ("HEAD naming A by header", "HEAD", "/api/x", [("x-deployment-id", "dpl-a")], "dpl-a", "other", None),
            ("GET naming A by dpl", "GET", "/api/x?dpl=dpl-a", FETCH, "dpl-a", "other", None),
            ("OPTIONS naming A by dpl", "OPTIONS", "/api/x?dpl=dpl-a", [], "dpl-a", "other", None),
            ("fetch with pin A", "GET", "/api/x", FETCH + [pin_a], "dpl-a", "other", None),
            ("bare GET with pin A", "GET", "/api/x", [pin_a], "dpl-a", "other", None),
            ("favicon (Chromium)", "GET", "/favicon.ico", FAVICON, "dpl-b", "other", None),
            ("favicon with pin A", "GET", "/favicon.ico", FAVICON + [pin_a], "dpl-a", "other", None),
            ("bare GET", "GET", "/robots.txt", [], "dpl-b", "other", None),
            ("GET naming an unknown build: current", "GET", "/api/x", [("x-deployment-id", "dpl-zz")], "dpl-b",
             "other", None),
        ]
        for i, (case, method, target, headers, build_id, kind, pinned) in enumerate(rows):
            with self.subTest(case):
                marker = f"row=m{i}z"
                target = target + ("&" if "?" in target else "?") + marker
                resp = g.req(method, target, headers)
                self.assertEqual((resp.status, served_by(resp)), (200, build_id), f"{case}: {resp!r}")
                self.assertEqual(g.log_for(marker).get("kind"), kind, case)
                if pinned:
                    self.assertTrue(pin_of(resp), f"{case}: a document answered with HTML is pinned: {resp!r}")
                else:
                    self.assertEqual(set_cookies(resp), [], f"{case}: not pinned")

    def test_pins_only_on_html_answers_with_2xx_3xx_4xx(self):
        g = self.g
        html = [("accept", "text/html"), ("sec-fetch-mode", "navigate"), ("sec-fetch-dest", "document")]
        json_doc = [("accept", "application/json"), ("sec-fetch-mode", "navigate"), ("sec-fetch-dest", "document")]
        # (case, target, headers, status, pinned)
        rows = [
            ("200 text/html", "/p", html, 200, True),
            ("302 text/html", "/status/302", html, 302, True),
            ("404 text/html", "/status/404", html, 404, True),
            ("410 text/html", "/status/410", html, 410, True),
            ("500 text/html", "/status/500", html, 500, False),
            ("503 text/html", "/status/503", html, 503, False),
            ("200 application/json to a navigation", "/p", json_doc, 200, False),
            ("404 application/json to a navigation", "/status/404", json_doc, 404, False),
            ("204 (no content type)", "/status/204", html, 204, False),
        ]
        for case, target, headers, status, pinned in rows:
            with self.subTest(case):
                resp = g.req("GET", target, headers)
                self.assertEqual((resp.status, served_by(resp)), (status, "dpl-b"), f"{case}: {resp!r}")
                self.assertEqual(bool(pin_of(resp)), pinned, f"{case}: {resp!r}")


class CanaryCohortTest(AffinityTestCase):
    """Item 5: the cohort hash uses X-Forwarded-For's client address from a trusted peer."""

    PERCENT = 60

    def setUp(self):
        self.up = {b: self.start_upstream(f"dpl-{b}") for b in ("k", "b")}

    def gateway(self, trusted):
        return AffinityGateway(self, renderer([self.build("k"), self.build("b")], "dpl-b",
                                              canary={"build": "dpl-k", "percent": self.PERCENT}, trusted=trusted))

    def side(self, address):
        return "dpl-k" if in_cohort(address, self.PERCENT) else "dpl-b"

    def send(self, g, xff):
        headers = [("user-agent", UA)] + [("x-forwarded-for", v) for v in xff]
        return served_by(g.req("POST", "/api/hook", headers, b"{}"))

    def test_the_client_behind_trusted_proxies_decides_the_cohort(self):
        g = self.gateway(["127.0.0.1/32", "10.0.0.0/8", "2001:db8:ffff::/48"])
        # (X-Forwarded-For fields as sent, the client address skewgate must hash)
        rows = [
            ([], "127.0.0.1"),
            (["203.0.113.9"], "203.0.113.9"),
            (["203.0.113.9, 10.0.0.1"], "203.0.113.9"),
            (["198.51.100.23, 203.0.113.9, 10.0.0.1"], "203.0.113.9"),
            (["203.0.113.9,10.1.2.3 , 10.0.0.1"], "203.0.113.9"),
            (["198.51.100.23", "203.0.113.9, 10.0.0.1"], "203.0.113.9"),
            (["10.0.0.2, 10.0.0.1"], "10.0.0.2"),
            (["2001:db8::1, 2001:db8:ffff::2"], "2001:db8::1"),
            (["[2001:db8::1]:4711"], "2001:db8::1"),
            (["198.51.100.23:4711, 10.0.0.1"], "198.51.100.23"),
            (["not-an-ip, 203.0.113.9"], "203.0.113.9"),
            (["203.0.113.9, not-an-ip, 10.0.0.1"], "127.0.0.1"),
            (["unknown"], "127.0.0.1"),
        ]
        self.assertTrue({self.side(a) for _, a in rows} == {"dpl-k", "dpl-b"},
                        "fixture: the rows must land on both sides")
        for xff, address in rows:
            with self.subTest(xff=xff):
                for _ in range(2):
                    self.assertEqual(self.send(g, xff), self.side(address), f"client address {address}")

    def test_an_untrusted_peer_is_the_client(self):
        g = self.gateway(["10.0.0.0/8"])
        peer = self.side("127.0.0.1")
        for xff in (["203.0.113.9"], ["198.51.100.23, 10.0.0.1"], ["2001:db8::1"]):
            with self.subTest(xff=xff):
                self.assertEqual(self.send(g, xff), peer)


class VdplCookieTest(AffinityTestCase):
    """Item 7: `__vdpl` names kept builds only, below header, dpl and the pin; documents ignore it."""

    def setUp(self):
        self.up = {b: self.start_upstream(f"dpl-{b}") for b in ("a", "b", "c", "d", "k")}

    def test_vdpl_rows(self):
        builds = [self.build("d", state="retired"), self.build("a", "a"), self.build("k"), self.build("b", "b"),
                  self.build("c", state="preview")]
        g = AffinityGateway(self, renderer([self.build("k")], "dpl-k"))
        pin_k = pin_of(g.req("GET", "/", NAVIGATE))
        self.assertTrue(pin_k)
        g.reload(renderer(builds, "dpl-b"), lambda: served_by(g.req("GET", "/", NAVIGATE)) == "dpl-b")
        vdpl = lambda b: cookies(__vdpl=b)  # noqa: E731
        # (case, method, target, headers, served by)
        rows = [
            ("API POST, __vdpl retained A", "POST", "/api/x", [vdpl("dpl-a")], "dpl-a"),
            ("API GET, __vdpl retained A", "GET", "/api/x", FETCH + [vdpl("dpl-a")], "dpl-a"),
            ("asset without dpl, __vdpl A", "GET", "/_next/static/chunks/x.js", [vdpl("dpl-a")], "dpl-a"),
            ("rsc without header, __vdpl A", "GET", "/p?_rsc=1", [("rsc", "1"), vdpl("dpl-a")], "dpl-a"),
            ("__vdpl current B", "POST", "/api/x", [vdpl("dpl-b")], "dpl-b"),
            ("__vdpl preview C: ignored", "POST", "/api/x", [vdpl("dpl-c")], "dpl-b"),
            ("__vdpl retired D: ignored", "POST", "/api/x", [vdpl("dpl-d")], "dpl-b"),
            ("__vdpl unknown: ignored", "POST", "/api/x", [vdpl("dpl-zz")], "dpl-b"),
            ("__vdpl empty: ignored", "POST", "/api/x", [("cookie", "__vdpl=")], "dpl-b"),
            ("header beats __vdpl", "POST", "/api/x", [("x-deployment-id", "dpl-b"), vdpl("dpl-a")], "dpl-b"),
            ("dpl beats __vdpl", "GET", "/_next/static/x.js?dpl=dpl-b", [vdpl("dpl-a")], "dpl-b"),
            ("pin beats __vdpl", "POST", "/api/x", [cookies(**{PIN: pin_k, "__vdpl": "dpl-a"})], "dpl-k"),
            ("a document ignores __vdpl", "GET", "/p", NAVIGATE + [vdpl("dpl-a")], "dpl-b"),
            ("__vdpl beats the action manifest when it has the ID", "POST", "/c",
             action_headers(ID_AB, origin=f"http://{HOST}") + [vdpl("dpl-a")], "dpl-a"),
            ("the action manifest overrules __vdpl that lacks the ID", "POST", "/c",
             action_headers(ID_A_ONLY, origin=f"http://{HOST}") + [vdpl("dpl-b")], "dpl-a"),
            ("underscore-less name is no hint", "POST", "/api/x", [cookies(vdpl="dpl-a")], "dpl-b"),
        ]
        for case, method, target, headers, build_id in rows:
            with self.subTest(case):
                body = b"{}" if method == "POST" else None
                resp = g.req(method, target, headers, body)
                self.assertServed(resp, build_id, case)
        self.assertEqual(set_cookies(g.req("POST", "/api/x", [vdpl("dpl-a")], b"{}")), [])


if __name__ == "__main__":
    unittest.main()
