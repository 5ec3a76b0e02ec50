"""Signed pins (issue 6, design.md sections 4, 6 and 7) against the real binary and
real upstream processes: the pin cookie on documents, a no-JS form post from an
old tab, secret rotation across a restart, forged pins, preview links minted by
the admin API, canary stickiness across reloads, the origin check for actions,
and that no secret ever reaches stdout, stderr or GET /api/v1/config.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import stat
import tempfile
import unittest

from harness import (yaml_flow as flow, yaml_scalar as scalar, IO_TIMEOUT, Gateway, GatewayTestCase, free_port,
                     wait_for)
from skew_support import ID_A_ONLY, exchange, urlencoded_form

SECRET_1 = "pin-secret-one-7Qm2V9xKc4LpT8wZr1Ns5Yb3Hd6Fj0Ge"
SECRET_2 = "pin-secret-two-Xa8Kd2Lq9Wm4Rt7Zp1Vn6Bc3Hs5Jy0Fu"
COOKIE = "skewgate_pin"
HOST = "shop.test"
NAVIGATE = [("accept", "text/html,application/xhtml+xml"), ("sec-fetch-mode", "navigate"),
            ("sec-fetch-dest", "document")]


def set_cookies(resp):
    return [v for k, v in resp.headers if k.lower() == "set-cookie"]


def pin_of(resp):
    """The pin value skewgate set on this response, or None."""
    for value in set_cookies(resp):
        if value.startswith(COOKIE + "="):
            return value[len(COOKIE) + 1:value.index(";")]
    return None


def cookie(value):
    return ("cookie", f"theme=dark; {COOKIE}={value}")


class PinGateway:
    """A skewgate process with its own work dir, restartable and reloadable with a new config."""

    def __init__(self, testcase, render):
        self.testcase = testcase
        self.render = render
        self.port = free_port()
        self.admin_port = free_port()
        self.workdir = tempfile.mkdtemp(prefix="skewgate-pins-")
        self.state_dir = os.path.join(self.workdir, "state")
        self.stdio = []  # (stdout, stderr) of every process, for the secret scan
        self.gateway = None
        self._start(render)
        testcase.addCleanup(self._cleanup)

    def config(self, render):
        return render(self.port, self.admin_port, self.state_dir)

    def _start(self, render):
        self.gateway = Gateway(self.config(render), self.port, self.workdir)
        # Gateway() waits for the admin listener only when it picks the admin port itself;
        # main.cc opens it after the proxy listeners (refused once under ctest -j2).
        self.testcase.assertTrue(wait_for(self._admin_accepts, 10.0), "the admin listener never accepted")

    def _admin_accepts(self):
        try:
            socket.create_connection(("127.0.0.1", self.admin_port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def _collect(self):
        self.stdio.append(self.gateway.stdout_text() + self.gateway.stderr_text())

    def _cleanup(self):
        if self.gateway and self.gateway.proc.poll() is None:
            self.gateway.stop()
        outcome = getattr(self.testcase, "_outcome", None)
        if outcome is None or getattr(outcome, "success", True):
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            print(f"\n--- skewgate stderr ({self.workdir}) ---\n{self.gateway.stderr_text()[-4000:]}")

    def restart(self, render):
        self.gateway.stop()
        self._collect()
        self._start(render)

    def reload(self, render, ready, timeout=15.0):
        self.testcase.assertTrue(wait_for(self.gateway.catches_sighup, 5.0), "skewgate does not catch SIGHUP")
        path = self.gateway.config_path
        with open(path + ".tmp", "w") as f:
            f.write(self.config(render))
        os.replace(path + ".tmp", path)
        self.gateway.signal(signal.SIGHUP)
        self.testcase.assertTrue(wait_for(ready, timeout, interval=0.1),
                                 f"the reload did not apply; stderr: {self.gateway.stderr_text()[-2000:]}")

    def req(self, method="GET", target="/", headers=(), body=None, host=HOST):
        return exchange(self.port, method, target, host, list(headers), body)

    def doc(self, target="/", headers=()):
        """A browser navigation (design.md section 3): the only request that is pinned."""
        return self.req("GET", target, NAVIGATE + list(headers))

    def admin(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=IO_TIMEOUT)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=payload,
                         headers={"content-type": "application/json"} if method != "GET" else {})
            resp = conn.getresponse()
            return resp.status, resp.read().decode("utf-8", "replace")
        finally:
            conn.close()

    def all_output(self):
        return "".join(self.stdio) + self.gateway.stdout_text() + self.gateway.stderr_text()


def renderer(builds, current=None, registry=None, pins=None, canary=None, security=None, trusted=None):
    """A render(port, admin_port, state_dir) for app `shop` (hosts shop.test)."""
    def render(port, admin_port, state_dir):
        lines = [f"listeners: [{{address: 127.0.0.1:{port}}}]",
                 "workers: 2",
                 f"admin: {{address: 127.0.0.1:{admin_port}}}",
                 f"state_dir: {scalar(state_dir)}",
                 "access_log: {path: stdout, format: json}",
                 "timeouts: {upstream_connect: 1s, upstream_response: 5s, drain: 2s, client_header: 5s}"]
        if pins:
            lines.append(f"pins: {flow(pins)}")
        if trusted:
            lines.append(f"trusted_proxies: {flow(trusted)}")
        lines.append("apps:")
        lines.append("  - name: shop")
        lines.append(f"    hosts: [{HOST}]")
        if registry:
            lines.append(f"    registry: {registry}")
        if canary:
            lines.append(f"    canary: {flow(canary)}")
        if security:
            lines.append(f"    security: {flow(security)}")
        if current:
            lines.append(f"    current: {current}")
        if builds:
            lines.append("    builds:")
            for b in builds:
                lines.append(f"      - {flow(b)}")
        return "\n".join(lines) + "\n"
    return render


class PinsTest(GatewayTestCase):
    def setUp(self):
        self.up = {b: self.start_upstream(b) for b in ("dpl-a", "dpl-b", "dpl-c", "dpl-k")}

    def build(self, b, state=None):
        out = {"id": b, "upstreams": [self.up[b].address]}
        if state:
            out["state"] = state
        return out

    def assertServedBy(self, resp, build_id, what=""):
        self.assertEqual((resp.status, resp.header("x-served-by")), (200, build_id), f"{what}: {resp!r}")

    # --- the cases ---

    def test_no_js_form_post_from_an_old_tab_reaches_its_build_while_retained(self):
        pins = {"secret": SECRET_1}
        g = PinGateway(self, renderer([self.build("dpl-a")], "dpl-a", pins=pins))
        page = g.doc("/cart")
        self.assertServedBy(page, "dpl-a", "the page of the old tab")
        old_pin = pin_of(page)
        self.assertTrue(old_pin, f"no pin on the document: {page!r}")
        attrs = set_cookies(page)[0].split("; ")[1:]
        self.assertEqual(sorted(attrs), sorted(["Path=/", "Max-Age=604800", "HttpOnly", "SameSite=Lax"]))

        # Deploy B: A is retained.
        deployed = renderer([self.build("dpl-a"), self.build("dpl-b")], "dpl-b", pins=pins)
        g.reload(deployed, lambda: g.doc("/").header("x-served-by") == "dpl-b")

        ctype, body = urlencoded_form(ID_A_ONLY)
        form = [("content-type", ctype), ("origin", f"http://{HOST}")]
        resp = g.req("POST", "/cart", form + [cookie(old_pin)], body)
        self.assertServedBy(resp, "dpl-a", "a no-JS form post pinned to A")
        self.assertEqual(set_cookies(resp), [], "only documents set pins")
        self.assertServedBy(g.req("POST", "/cart", form, body), "dpl-b", "the same post without a pin")
        # A reload of the old tab's page lands on B and re-pins it there.
        reloaded = g.doc("/cart", [cookie(old_pin)])
        self.assertServedBy(reloaded, "dpl-b", "a document with a pin for a retained build")
        self.assertTrue(pin_of(reloaded) and pin_of(reloaded) != old_pin)
        # Header and dpl win over the pin (each tab follows its own build).
        self.assertServedBy(g.req("GET", "/_next/static/x.js?dpl=dpl-b", [cookie(old_pin)]), "dpl-b", "dpl wins")

        # A retired: the pinned form post goes to current.
        retired = renderer([self.build("dpl-a", "retired"), self.build("dpl-b")], "dpl-b", pins=pins)
        g.reload(retired, lambda: g.req("POST", "/api/x", [cookie(old_pin)]).header("x-served-by") == "dpl-b")
        resp = g.req("POST", "/cart", form + [cookie(old_pin)], body)
        self.assertNotEqual(resp.header("x-served-by"), "dpl-a", resp)

    def test_rotation_keeps_pins_valid(self):
        builds = [self.build("dpl-a"), self.build("dpl-b")]
        g = PinGateway(self, renderer(builds, "dpl-a", pins={"secret": SECRET_1}))
        pin_a = pin_of(g.doc("/"))
        self.assertTrue(pin_a)
        # B becomes current while the visitor's pin names A: non-documents follow the pin.
        rotated = renderer(builds, "dpl-b", pins={"secret": SECRET_2, "previous_secrets": [SECRET_1]})
        g.restart(rotated)
        self.assertServedBy(g.req("POST", "/api/x", [cookie(pin_a)]), "dpl-a", "a pin sealed by the previous secret")
        new_pin = pin_of(g.doc("/"))
        self.assertTrue(new_pin)
        self.assertNotEqual(new_pin.split(".")[0], pin_a.split(".")[0], "new pins are signed by the new key")
        # Without the old secret the old pin is ignored (and nothing breaks).
        g.restart(renderer(builds, "dpl-b", pins={"secret": SECRET_2}))
        resp = g.req("POST", "/api/x", [cookie(pin_a)])
        self.assertServedBy(resp, "dpl-b", "a pin of a key that is gone")

    def test_forged_pin_for_a_preview_build_gets_current(self):
        g = PinGateway(self, renderer([self.build("dpl-b"), self.build("dpl-c", "preview")], "dpl-b",
                                      pins={"secret": SECRET_1}))
        genuine = pin_of(g.doc("/"))
        key_id, sealed = genuine.split(".")
        flipped = sealed[:10] + ("A" if sealed[10] != "A" else "B") + sealed[11:]
        forged = [
            "deadbeef." + "A" * 60,         # too short to be a sealed pin
            f"deadbeef.{sealed}",           # a well-formed pin under an unknown key
            f"{key_id}.{flipped}",          # tampered ciphertext
            f"{key_id}.{sealed}x",          # malformed
            "dpl-c",                        # a bare build id
        ]
        for value in forged:
            with self.subTest(value=value):
                doc = g.doc("/", [cookie(value)])
                self.assertServedBy(doc, "dpl-b", "a document with a forged pin")
                self.assertTrue(pin_of(doc), "a forged pin is replaced")
                self.assertServedBy(g.req("POST", "/api/x", [cookie(value)]), "dpl-b", "an API call with a forged pin")
        # Header and dpl never reach a preview build either.
        resp = g.req("POST", "/api/x", [("x-deployment-id", "dpl-c")])
        self.assertNotEqual(resp.header("x-served-by"), "dpl-c")
        # Each forgery is counted by its result in the access log.
        for result in ("unknown_key", "tampered", "malformed"):
            with self.subTest(result=result):
                self.wait_log(g.gateway, lambda e, r=result: e.get("pin") == r)

    def test_preview_link_flow(self):
        g = PinGateway(self, renderer(None, registry="api", pins={"secret": SECRET_1}))
        for b in ("dpl-b", "dpl-c"):
            status, body = g.admin("POST", "/api/v1/apps/shop/builds", {"id": b, "upstreams": [self.up[b].address]})
            self.assertIn(status, (200, 201), body)
        status, body = g.admin("POST", "/api/v1/apps/shop/builds/dpl-b/promote")
        self.assertEqual(status, 200, body)
        status, body = g.admin("POST", "/api/v1/apps/shop/builds/dpl-c/preview")
        self.assertEqual(status, 200, body)
        answer = json.loads(body)
        self.assertEqual(answer["state"], "preview")
        self.assertTrue(answer["preview_url"].startswith("/?skewgate_preview="), answer)
        self.assertRegex(answer["expires_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

        self.assertServedBy(g.doc("/"), "dpl-b", "no link: current")
        # The link, with a query of its own, on another path.
        token = answer["preview_url"].split("=", 1)[1]
        link = g.doc(f"/shop?a=1&skewgate_preview={token}&b=2")
        self.assertEqual(link.status, 302, link)
        self.assertEqual(link.header("location"), "/shop?a=1&b=2")
        self.assertEqual(link.header("cache-control"), "no-store")
        preview_pin = pin_of(link)
        self.assertTrue(preview_pin, link)
        self.assertServedBy(g.doc("/shop?a=1&b=2", [cookie(preview_pin)]), "dpl-c", "the pinned browser")
        self.assertServedBy(g.req("POST", "/api/x", [cookie(preview_pin)]), "dpl-c", "its API calls")
        self.assertServedBy(g.doc("/"), "dpl-b", "other browsers")
        # A broken token is ignored: a normal request.
        self.assertServedBy(g.doc(f"/?skewgate_preview={token[:-2]}"), "dpl-b", "a broken link")
        # A link token is no pin.
        self.assertServedBy(g.doc("/", [cookie(token)]), "dpl-b", "a link token as a cookie")

    def test_preview_link_for_a_config_preview_build(self):
        # registry: config: `state: preview` is written in the YAML; the API only mints the link.
        g = PinGateway(self, renderer([self.build("dpl-b"), self.build("dpl-c", state="preview")], "dpl-b",
                                      pins={"secret": SECRET_1}))
        status, body = g.admin("POST", "/api/v1/apps/shop/builds/dpl-c/preview")
        self.assertEqual(status, 200, body)
        token = json.loads(body)["preview_url"].split("=", 1)[1]
        link = g.doc(f"/?skewgate_preview={token}")
        self.assertEqual(link.status, 302, link)
        self.assertServedBy(g.doc("/", [cookie(pin_of(link))]), "dpl-c", "the pinned browser")
        status, body = g.admin("POST", "/api/v1/apps/shop/builds/dpl-b/preview")
        self.assertEqual(status, 409, body)
        self.assertEqual(json.loads(body)["error"], "registry_is_config")

    def test_origin_mismatch_is_403(self):
        g = PinGateway(self, renderer([self.build("dpl-b")], "dpl-b", pins={"secret": SECRET_1},
                                      security={"check_origin": True,
                                                "allowed_origins": ["https://partner.test"]}))
        action = [("next-action", ID_A_ONLY), ("accept", "text/x-component"), ("content-type", "text/plain")]
        resp = g.req("POST", "/cart", action + [("origin", "https://evil.test")], b"[]")
        self.assertEqual(resp.status, 403, resp)
        self.assertEqual(resp.header("content-type"), "application/json")
        self.assertEqual(resp.header("cache-control"), "no-store")
        self.assertEqual(resp.json()["error"], "origin_mismatch")
        for origin in (f"http://{HOST}", "https://partner.test", None):
            with self.subTest(origin=origin):
                headers = action + ([("origin", origin)] if origin else [])
                self.assertServedBy(g.req("POST", "/cart", headers, b"[]"), "dpl-b", f"origin {origin}")
        # Other kinds are not checked.
        self.assertServedBy(g.req("POST", "/api/hook", [("origin", "https://evil.test")], b"{}"), "dpl-b", "other")
        entry = self.wait_log(g.gateway, lambda e: e.get("status") == 403)
        self.assertIn("origin_mismatch", json.dumps(entry))

    # --- canary, Secure, secrets ---

    def test_canary_visitor_stays_across_reloads_and_moves_back_when_removed(self):
        pins = {"secret": SECRET_1}
        builds = [self.build("dpl-k"), self.build("dpl-b")]
        g = PinGateway(self, renderer(builds, "dpl-b", pins=pins, canary={"build": "dpl-k", "percent": 100}))
        first = g.doc("/")
        self.assertServedBy(first, "dpl-k", "a new visitor in the cohort")
        canary_pin = pin_of(first)
        self.assertTrue(canary_pin)

        # The cohort shrinks to nobody: the pinned visitor stays, new visitors get current.
        shrunk = renderer(builds, "dpl-b", pins=pins, canary={"build": "dpl-k", "percent": 0})
        g.reload(shrunk, lambda: g.doc("/").header("x-served-by") == "dpl-b")
        for _ in range(3):
            again = g.doc("/", [cookie(canary_pin)])
            self.assertServedBy(again, "dpl-k", "a reload of the pinned visitor")
            self.assertEqual(set_cookies(again), [])
        ctype, body = urlencoded_form(ID_A_ONLY)
        self.assertServedBy(g.req("POST", "/", [("content-type", ctype), ("origin", f"http://{HOST}"),
                                                cookie(canary_pin)], body), "dpl-k", "an action of the visitor")

        # The canary is removed: the visitor's next document is current, re-pinned.
        removed = renderer(builds, "dpl-b", pins=pins)
        g.reload(removed, lambda: g.doc("/", [cookie(canary_pin)]).header("x-served-by") == "dpl-b")
        back = g.doc("/", [cookie(canary_pin)])
        self.assertServedBy(back, "dpl-b", "after the canary is removed")
        current_pin = pin_of(back)
        self.assertTrue(current_pin and current_pin != canary_pin)
        self.assertServedBy(g.doc("/", [cookie(current_pin)]), "dpl-b", "pinned to current")

    def test_secure_only_over_https_from_a_trusted_hop(self):
        g = PinGateway(self, renderer([self.build("dpl-b")], "dpl-b", pins={"secret": SECRET_1},
                                      trusted=["127.0.0.1/32"]))
        plain = set_cookies(g.doc("/"))[0]
        self.assertNotIn("Secure", plain)
        https = set_cookies(g.doc("/", [("x-forwarded-proto", "https")]))[0]
        self.assertTrue(https.endswith("; Secure"), https)
        untrusted = PinGateway(self, renderer([self.build("dpl-b")], "dpl-b", pins={"secret": SECRET_1}))
        self.assertNotIn("Secure", set_cookies(untrusted.doc("/", [("x-forwarded-proto", "https")]))[0])

    def test_no_secret_in_logs_or_config(self):
        secrets = [SECRET_1, SECRET_2]
        g = PinGateway(self, renderer([self.build("dpl-b")], "dpl-b",
                                      pins={"secret": SECRET_1, "previous_secrets": [SECRET_2]}))
        pin = pin_of(g.doc("/"))
        self.assertTrue(pin)
        g.doc("/", [cookie("deadbeef.AAAA")])
        status, config = g.admin("GET", "/api/v1/config")
        self.assertEqual(status, 200)
        # A reload that changes the secret says it applies at the next restart.
        changed = renderer([self.build("dpl-b")], "dpl-b", pins={"secret": SECRET_2})
        g.reload(changed, lambda: "pins secret" in g.gateway.stderr_text())
        # From the environment, and generated into state_dir.
        env_secret = "pin-secret-env-Qw3Er5Ty7Ui9Op1As2Df4Gh6Jk8Lz0Xc"
        secrets.append(env_secret)
        os.environ["SKEWGATE_SECRET"] = env_secret
        try:
            g.restart(renderer([self.build("dpl-b")], "dpl-b"))
        finally:
            del os.environ["SKEWGATE_SECRET"]
        self.assertTrue(pin_of(g.doc("/")))
        g.restart(renderer([self.build("dpl-b")], "dpl-b"))
        key_path = os.path.join(g.state_dir, "pin-secret")
        self.assertTrue(os.path.exists(key_path), g.gateway.stderr_text())
        self.assertEqual(stat.S_IMODE(os.stat(key_path).st_mode), 0o600)
        with open(key_path) as f:
            secrets.append(f.read().strip())
        self.assertTrue(pin_of(g.doc("/")))
        status, config2 = g.admin("GET", "/api/v1/config")
        output = g.all_output() + config + config2
        self.assertIn("generated a pin secret", output)
        for secret in secrets:
            self.assertNotIn(secret, output)
            self.assertNotIn(secret[:16], output)


if __name__ == "__main__":
    unittest.main()
