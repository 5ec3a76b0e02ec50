"""The control plane on the wire (design.md sections 7, 8 and 11, issue 9): the admin
listener, its JSON API and errors, the CLI in the same binary, durability of every
acknowledged change across kill -9, reloads (SIGHUP, POST /api/v1/reload, file watch),
and the zero-drop binary restart (socket takeover).

Real binary, real upstream processes (tests/support/upstream.py), all on 127.0.0.1.
Routing is observed with two requests: a plain document GET always goes to the app's
current build; an rsc request with x-deployment-id X goes to X while X is kept and gets
a 409 with `x-skewgate-reload: required; reason=build_killed; build=X` once X is retired.
"""

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import unittest

from control_support import (TOKEN, Skewgate, Timeline, Traffic, durable_view, render, takeover, wait_until,
                             write_atomically)
from harness import SKEWGATE_BIN, GatewayTestCase, free_port, wait_for

SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
FILE_LINE_COL = re.compile(r"skewgate\.yaml:\d+:\d+")
IMMEDIATE_GRACE = 2.0  # seconds: how long a stale answer is watched to report how stale it was


def killed_header(build_id):
    return f"required; reason=build_killed; build={build_id}"


class ControlCase(GatewayTestCase):
    """Helpers shared by the control-plane tests."""

    def assertErrorReply(self, reply, status, code=None):
        """Admin error: the status, JSON {"error": snake_case, "message": text}, nothing else."""
        self.assertEqual(reply.status, status, f"expected HTTP {status}, got {reply!r}")
        self.assertTrue(reply.headers.get("content-type", "").startswith("application/json"),
                        f"error without a JSON content-type: {reply.headers} {reply!r}")
        try:
            body = reply.json()
        except ValueError:
            self.fail(f"error body is not JSON: {reply!r}")
        self.assertIsInstance(body, dict, reply)
        self.assertIn("error", body, reply)
        self.assertIn("message", body, reply)
        self.assertRegex(body["error"], SNAKE, reply)
        self.assertIsInstance(body["message"], str)
        self.assertTrue(body["message"], f"empty message: {reply!r}")
        extra = set(body) - {"error", "message", "errors"}
        self.assertEqual(extra, set(), f"unexpected keys in an error body: {reply!r}")
        if code is not None:
            self.assertEqual(body["error"], code, reply)
        return body

    def assertNow(self, probe, expected, what):
        """probe() must equal expected on the very next request; when it does not, watch a
        bounded while longer to say whether (and when) it converged."""
        got = probe()
        if got == expected:
            return
        start = time.monotonic()
        later = wait_until(lambda: probe() == expected, IMMEDIATE_GRACE, interval=0.02)
        converged = (f"it converged {time.monotonic() - start:.3f}s later" if later
                     else f"still not after {IMMEDIATE_GRACE}s")
        self.fail(f"{what}: expected {expected!r} on the next request after the acknowledgement, "
                  f"got {got!r} ({converged})")

    def assertRoutes(self, sg, current, kept=(), killed=(), host="shop.test", now=True):
        """Documents go to `current`; rsc for each kept build reaches it; each killed build's rsc
        gets the 409 build_killed answer."""
        def check(probe, expected, what):
            if now:
                self.assertNow(probe, expected, what)
            else:
                self.assertTrue(wait_until(lambda: probe() == expected, 10.0), f"{what}: got {probe()!r}")

        check(lambda: sg.served(host), current, f"document on {host} -> current")
        for b in kept:
            check(lambda b=b: (lambda r: (r.status, r.header("x-served-by")))(sg.rsc(b, host)), (200, b),
                  f"rsc with x-deployment-id {b} -> {b}")
        for b in killed:
            check(lambda b=b: (lambda r: (r.status, r.header("x-skewgate-reload")))(sg.rsc(b, host)),
                  (409, killed_header(b)), f"rsc with x-deployment-id {b} (retired) -> 409 build_killed")


def api_app(name="shop", hosts=("shop.test",)):
    return {"name": name, "hosts": list(hosts), "registry": "api"}


# ---------------------------------------------------------------------------

class ApiRegistry(ControlCase):
    """`registry: api`: builds come from the admin API and the CLI, persisted in state_dir."""

    def setUp(self):
        self.up = {b: self.start_upstream(f"dpl-{b}") for b in ("a", "b", "c")}
        self.sg = Skewgate(self, lambda sg: render(sg.port, sg.admin_port, sg.state_dir, [api_app()],
                                                    token_file=sg.token_file), token=TOKEN).start()

    def addr(self, b):
        return self.up[b].address

    def deploy(self, b, expect=0):
        rc, out, err = self.sg.cli("deploy", "--app", "shop", "--build", f"dpl-{b}", "--upstream", self.addr(b),
                                   "--health-timeout", "10s")
        self.assertEqual(rc, expect, f"deploy dpl-{b}: exit {rc}\nstdout: {out}\nstderr: {err}")
        return out, err

    def register(self, b, upstreams=None):
        return self.sg.admin("POST", "/api/v1/apps/shop/builds",
                             {"id": f"dpl-{b}", "upstreams": upstreams or [self.addr(b)]})

    def cli_ok(self, *args):
        rc, out, err = self.sg.cli(*args)
        self.assertEqual(rc, 0, f"skewgate {' '.join(args)}: exit {rc}\nstdout: {out}\nstderr: {err}")
        return out

    def cli_refused(self, *args):
        rc, out, err = self.sg.cli(*args)
        self.assertEqual(rc, 1, f"skewgate {' '.join(args)}: expected exit 1 (refused by the server), got {rc}\n"
                                f"stdout: {out}\nstderr: {err}")
        self.assertTrue(err.strip(), f"a refusal says why on stderr: {args}")
        return err

    def builds_json(self):
        rc, out, err = self.sg.cli("builds", "--app", "shop", json_out=True)
        self.assertEqual(rc, 0, f"builds --json: exit {rc}: {err}")
        return json.loads(out)

    def test_cli_drives_deploy_promote_rollback_retire_and_routing_follows(self):
        app = self.builds_json()
        self.assertEqual((app["name"], app["registry"], app["current"], app["builds"]), ("shop", "api", None, []))

        self.deploy("a")
        self.assertRoutes(self.sg, "dpl-a", kept=["dpl-a"])
        self.deploy("b")
        self.assertRoutes(self.sg, "dpl-b", kept=["dpl-a", "dpl-b"])
        self.deploy("c")
        self.assertRoutes(self.sg, "dpl-c", kept=["dpl-a", "dpl-b", "dpl-c"])
        states = {b["id"]: b["state"] for b in self.builds_json()["builds"]}
        self.assertEqual(states, {"dpl-a": "retained", "dpl-b": "retained", "dpl-c": "current"})

        out = self.cli_ok("rollback", "--app", "shop")
        self.assertIn("dpl-b", out)
        self.assertRoutes(self.sg, "dpl-b", kept=["dpl-a", "dpl-b", "dpl-c"])
        self.cli_ok("rollback", "--app", "shop")  # rollback walks back through history
        self.assertRoutes(self.sg, "dpl-a", kept=["dpl-a", "dpl-b", "dpl-c"])

        self.cli_ok("promote", "--app", "shop", "--build", "dpl-c")
        self.assertRoutes(self.sg, "dpl-c", kept=["dpl-a", "dpl-b", "dpl-c"])

        self.cli_ok("retire", "--app", "shop", "--build", "dpl-a")
        self.assertRoutes(self.sg, "dpl-c", kept=["dpl-b", "dpl-c"], killed=["dpl-a"])
        r = self.sg.rsc("dpl-a")
        self.assertEqual(r.header("cache-control"), "no-store", r)

        # Refusals: exit 1, and nothing changes on the wire.
        self.cli_refused("retire", "--app", "shop", "--build", "dpl-c")      # the current one
        self.cli_refused("promote", "--app", "shop", "--build", "dpl-a")     # a retired one
        self.cli_refused("promote", "--app", "shop", "--build", "dpl-zzz")   # unknown
        self.cli_refused("builds", "--app", "nope")                          # unknown app
        rc, out, err = self.sg.cli("deploy", "--app", "shop", "--build", "dpl-b", "--upstream", self.addr("c"))
        self.assertEqual(rc, 1, f"re-registering dpl-b with other upstreams must be refused: {rc} {out} {err}")
        self.assertRoutes(self.sg, "dpl-c", kept=["dpl-b", "dpl-c"], killed=["dpl-a"])

        app = self.builds_json()
        by_id = {b["id"]: b for b in app["builds"]}
        self.assertEqual(app["current"], "dpl-c")
        self.assertEqual({k: v["state"] for k, v in by_id.items()},
                         {"dpl-a": "retired", "dpl-b": "retained", "dpl-c": "current"})
        self.assertEqual(by_id["dpl-a"]["retired_by"], "kill_switch")
        self.assertEqual(by_id["dpl-b"]["upstreams"], [self.addr("b")])
        for b in app["builds"]:
            self.assertEqual(set(b), {"id", "state", "healthy", "upstreams", "superseded_at", "age_seconds",
                                      "last_request_at", "retired_by", "has_manifest"}, b)
        self.assertIsNone(by_id["dpl-c"]["superseded_at"])
        self.assertIsNotNone(by_id["dpl-b"]["superseded_at"])

        table = self.cli_ok("builds", "--app", "shop")
        for b in ("dpl-a", "dpl-b", "dpl-c"):
            self.assertIn(b, table)

    def test_cli_exit_codes_for_usage_and_connection_errors(self):
        for args in (["promote", "--app", "shop"],                     # missing --build
                     ["deploy", "--app", "shop", "--build", "dpl-a"],  # missing --upstream
                     ["promote", "--app", "shop", "--build", "dpl-a", "--bogus", "1"]):
            rc, out, err = self.sg.cli(*args)
            self.assertEqual(rc, 2, f"usage error {args}: exit {rc} {out} {err}")
        closed = free_port()
        rc, out, err = self.sg.cli("builds", "--app", "shop", admin=f"http://127.0.0.1:{closed}")
        self.assertEqual(rc, 2, f"connection refused must exit 2: {rc} {out} {err}")
        rc, out, err = self.sg.cli("builds", "--app", "shop", token_file=os.path.join(self.sg.workdir, "missing"))
        self.assertEqual(rc, 2, f"an unreadable token file is a usage error: {rc} {out} {err}")

    def test_token_missing_or_wrong_is_refused(self):
        self.assertEqual(self.register("a").status, 201)
        paths = [("GET", "/api/v1/apps", None), ("GET", "/api/v1/apps/shop", None), ("GET", "/api/v1/config", None),
                 ("POST", "/api/v1/apps/shop/builds/dpl-a/promote", None), ("POST", "/api/v1/reload", None),
                 ("POST", "/api/v1/apps/shop/builds", {"id": "dpl-b", "upstreams": [self.addr("b")]})]
        wrong = ["", TOKEN[:-1], TOKEN + "x", TOKEN[:-1] + "Z", "x" * len(TOKEN), TOKEN.upper()]
        for method, path, body in paths:
            self.assertErrorReply(self.sg.admin(method, path, body, token=None), 401)
            for w in wrong:
                self.assertErrorReply(self.sg.admin(method, path, body, token=w), 401)
            self.assertErrorReply(self.sg.admin(method, path, body, token=None,
                                                headers={"Authorization": f"Basic {TOKEN}"}), 401)
            self.assertErrorReply(self.sg.admin(method, path, body, token=None,
                                                headers={"Authorization": TOKEN}), 401)
        # Nothing changed behind the refusals.
        app = self.sg.app()
        self.assertIsNone(app["current"])
        self.assertEqual([b["id"] for b in app["builds"]], ["dpl-a"])

        # The CLI: no token or a wrong one is a refusal (exit 1); the token from the env works.
        rc, out, err = self.sg.cli("promote", "--app", "shop", "--build", "dpl-a", token_file=None)
        self.assertEqual(rc, 1, f"no token: {rc} {out} {err}")
        wrong_file = os.path.join(self.sg.workdir, "wrong-token")
        with open(wrong_file, "w") as f:
            f.write("not-the-token\n")
        rc, out, err = self.sg.cli("promote", "--app", "shop", "--build", "dpl-a", token_file=wrong_file)
        self.assertEqual(rc, 1, f"wrong token: {rc} {out} {err}")
        self.assertIsNone(self.sg.app()["current"])
        rc, out, err = self.sg.cli("promote", "--app", "shop", "--build", "dpl-a", token_file=None,
                                   env_extra={"SKEWGATE_ADMIN_TOKEN": TOKEN})
        self.assertEqual(rc, 0, f"token from SKEWGATE_ADMIN_TOKEN: {rc} {out} {err}")
        self.assertEqual(self.sg.served(), "dpl-a")

    def test_api_errors_and_transitions(self):
        sg = self.sg
        self.assertErrorReply(sg.admin("GET", "/api/v1/apps/nope"), 404, "app_not_found")
        self.assertErrorReply(sg.admin("POST", "/api/v1/apps/nope/builds", {"id": "x", "upstreams": [self.addr("a")]}),
                              404, "app_not_found")
        self.assertErrorReply(sg.admin("POST", "/api/v1/apps/nope/rollback"), 404, "app_not_found")
        for op in ("promote", "retire", "preview"):
            self.assertErrorReply(sg.admin("POST", f"/api/v1/apps/shop/builds/dpl-zzz/{op}"), 404)
        self.assertErrorReply(sg.admin("GET", "/api/v1/nothing-here"), 404)

        # Invalid bodies: 400.
        for body in (b"", b"{", b"{not json}", b"\xff\xfe\x00", b"[1, 2", b"null", b"[]", b'"id"', b"1e999999",
                     b'{"id": "dpl-a"}', b'{"upstreams": ["127.0.0.1:1"]}', b'{"id": 7, "upstreams": ["127.0.0.1:1"]}',
                     b'{"id": "dpl-a", "upstreams": "127.0.0.1:1"}', b'{"id": "dpl-a", "upstreams": [17]}',
                     b'{"id": "dpl-a", "upstreams": []}', b'{"id": "dpl-a", "upstreams": ["not an address"]}',
                     b'{"id": "bad id/with slash", "upstreams": ["127.0.0.1:1"]}',
                     b'{"id": "dpl-a", "upstreams": ["127.0.0.1:1"], "manifest": 5}',
                     b'{"id": "dpl-a", "upstreams": ["127.0.0.1:1"], "manifest": "/nonexistent/manifest.json"}'):
            self.assertErrorReply(sg.admin("POST", "/api/v1/apps/shop/builds", body), 400)
        self.assertEqual(sg.app()["builds"], [], "an invalid body registered something")

        # Register: 201, then 200 when repeated identically, 409 with other upstreams.
        r = self.register("a")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["app"], "shop")
        self.assertEqual(r.json()["build"]["id"], "dpl-a")
        r = self.register("a")
        self.assertEqual(r.status, 200, f"an identical re-register is idempotent: {r!r}")
        self.assertErrorReply(self.register("a", [self.addr("b")]), 409)
        self.assertErrorReply(self.register("a", [self.addr("a"), self.addr("b")]), 409)

        self.assertErrorReply(sg.admin("POST", "/api/v1/apps/shop/rollback"), 409)  # nothing to roll back to
        r = sg.admin("POST", "/api/v1/apps/shop/builds/dpl-a/promote")
        self.assertEqual((r.status, r.json()["current"], r.json()["previous"]), (200, "dpl-a", None), r)
        self.assertEqual(self.register("b").status, 201)
        r = sg.admin("POST", "/api/v1/apps/shop/builds/dpl-b/promote")
        self.assertEqual((r.status, r.json()), (200, {"app": "shop", "current": "dpl-b", "previous": "dpl-a"}), r)
        self.assertEqual(sg.app()["current"], "dpl-b")
        self.assertErrorReply(sg.admin("POST", "/api/v1/apps/shop/builds/dpl-b/retire"), 409)   # current
        self.assertErrorReply(sg.admin("POST", "/api/v1/apps/shop/builds/dpl-b/preview"), 409)  # current
        r = sg.admin("POST", "/api/v1/apps/shop/builds/dpl-a/retire")
        self.assertEqual(r.status, 200, r)
        self.assertErrorReply(sg.admin("POST", "/api/v1/apps/shop/builds/dpl-a/promote"), 409)  # retired
        self.assertErrorReply(sg.admin("POST", "/api/v1/apps/shop/builds/dpl-a/preview"), 409)  # retired
        self.assertErrorReply(self.register("a", [self.addr("c")]), 409)  # a retired id with other upstreams
        self.assertErrorReply(sg.admin("POST", "/api/v1/apps/shop/rollback"), 409)  # only a retired one behind
        self.assertRoutes(sg, "dpl-b", kept=["dpl-b"], killed=["dpl-a"])

        # Wrong methods are refused with the same error shape.
        self.assertErrorReply(sg.admin("DELETE", "/api/v1/apps/shop"), 405)
        self.assertErrorReply(sg.admin("GET", "/api/v1/reload"), 405)

    def test_oversized_and_malformed_bodies_never_crash_or_block(self):
        self.deploy("a")
        big = b'{"id": "dpl-big", "upstreams": ["' + b"x" * (4 << 20) + b'"]}'
        status = self.raw_admin_post("/api/v1/apps/shop/builds", big)
        self.assertIn(status, (400, 413), f"a 4 MiB body must be refused with 413 (or 400), got {status}")
        deep = b"[" * 200000 + b"]" * 200000
        for body in (deep, b'{"id": "' + b"\\u00" * 1000 + b'"}', b'{"id": "dpl-x", "upstreams": [' + b"1," * 50000 + b"1]}"):
            status = self.raw_admin_post("/api/v1/apps/shop/builds", body)
            self.assertIn(status, (400, 413), f"malformed body ({len(body)} bytes): {status}")
            self.assertEqual(self.sg.admin("GET", "/healthz").status, 200)

        # A client that sends half a body and waits blocks neither the admin loop nor the proxy.
        stuck = socket.create_connection(("127.0.0.1", self.sg.admin_port), timeout=5)
        self.addCleanup(stuck.close)
        stuck.sendall(b"POST /api/v1/apps/shop/builds HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                      TOKEN.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"id\":")
        others = [socket.create_connection(("127.0.0.1", self.sg.admin_port), timeout=5) for _ in range(5)]
        for s in others:
            self.addCleanup(s.close)
            s.sendall(b"GET /api/v1/apps/shop HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # an unfinished head
        t = time.monotonic()
        r = self.sg.admin("GET", "/api/v1/apps/shop", timeout=3.0)
        self.assertEqual(r.status, 200, r)
        self.assertLess(time.monotonic() - t, 2.0, "the admin API waited for a stuck client")
        self.assertEqual(self.sg.served(), "dpl-a")
        self.assertIsNone(self.sg.proc.poll(), "skewgate exited")

    def raw_admin_post(self, path, body, timeout=10.0):
        """POST a body of any size; the status (the server may answer before reading it all)."""
        s = socket.create_connection(("127.0.0.1", self.sg.admin_port), timeout=timeout)
        try:
            head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
            try:
                s.sendall(head + body)
            except (BrokenPipeError, ConnectionResetError):
                pass
            data = b""
            try:
                while b"\r\n" not in data:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except ConnectionResetError:
                pass
            self.assertTrue(data.startswith(b"HTTP/1.1 "), f"no answer to a {len(body)}-byte body: {data[:200]!r}")
            return int(data.split(b" ", 2)[1])
        finally:
            s.close()

    def test_admin_api_is_never_on_the_proxy_listener(self):
        self.deploy("a")
        for path in ("/api/v1/apps", "/api/v1/apps/shop", "/api/v1/config", "/healthz", "/readyz"):
            r = self.sg.request("GET", path, headers=[("Authorization", f"Bearer {TOKEN}")])
            self.assertEqual((r.status, r.header("x-served-by")), (200, "dpl-a"),
                             f"GET {path} on the proxy listener must be proxied to the app: {r!r}")
        r = self.sg.request("POST", "/api/v1/apps/shop/rollback", headers=[("Authorization", f"Bearer {TOKEN}")],
                            body=b"{}")
        self.assertEqual(r.header("x-served-by"), "dpl-a", r)
        self.assertEqual(self.sg.current(), "dpl-a")
        # And the admin listener proxies nothing.
        r = self.sg.admin("GET", "/", headers={"Host": "shop.test"})
        self.assertNotEqual(r.status, 200, r)
        self.assertNotIn("x-served-by", r.headers)

    def test_healthz_and_readyz_while_draining(self):
        self.deploy("a")
        self.assertEqual(self.sg.admin("GET", "/healthz", token=None).status, 200)
        r = self.sg.admin("GET", "/readyz", token=None)
        self.assertEqual(r.status, 200, r)
        done = {}

        def slow():
            try:
                done["resp"] = self.sg.request("GET", "/delay?ms=2500", timeout=15)
            except Exception as exc:  # noqa: BLE001
                done["error"] = exc

        t = threading.Thread(target=slow, daemon=True)
        t.start()
        self.assertTrue(wait_until(lambda: self.up["a"].stats()["inflight"] >= 1, 5.0), "the slow request never arrived")
        self.sg.signal(signal.SIGTERM)
        self.assertTrue(wait_until(lambda: self.sg.admin("GET", "/readyz", token=None, timeout=1).status == 503, 2.0),
                        "readyz did not turn 503 while draining")
        t.join(15)
        self.assertNotIn("error", done, done)
        self.assertEqual((done["resp"].status, done["resp"].header("x-served-by")), (200, "dpl-a"))
        self.assertEqual(self.sg.proc.wait(timeout=15), 0)

    def test_kill9_after_each_acknowledged_change_restarts_exactly_as_acknowledged(self):
        sg = self.sg
        restarts = 0

        def acknowledged_then_kill(what, kept, killed=()):
            nonlocal restarts
            app = sg.app()
            before = durable_view(app)
            current = app["current"]
            sg.restart_after_kill9()
            restarts += 1
            after = durable_view(sg.app())
            self.assertEqual(after, before, f"after kill -9 following '{what}', the state differs from the "
                                            f"acknowledged one")
            if current:
                self.assertRoutes(sg, current, kept=kept, killed=killed)
            else:
                r = sg.request("GET", "/")
                self.assertIsNone(r.header("x-served-by"), f"an app with no current build served: {r!r}")

        r = self.register("a")
        self.assertEqual(r.status, 201, r)
        acknowledged_then_kill("register dpl-a", [])
        self.cli_ok("promote", "--app", "shop", "--build", "dpl-a")
        acknowledged_then_kill("promote dpl-a", ["dpl-a"])
        self.deploy("b")
        acknowledged_then_kill("deploy dpl-b", ["dpl-a", "dpl-b"])
        self.deploy("c")
        acknowledged_then_kill("deploy dpl-c", ["dpl-a", "dpl-b", "dpl-c"])
        self.cli_ok("rollback", "--app", "shop")
        self.assertEqual(sg.current(), "dpl-b")
        acknowledged_then_kill("rollback to dpl-b", ["dpl-a", "dpl-b"])
        self.cli_ok("preview", "--app", "shop", "--build", "dpl-c")
        acknowledged_then_kill("preview dpl-c", ["dpl-a", "dpl-b"])
        self.cli_ok("retire", "--app", "shop", "--build", "dpl-a")
        acknowledged_then_kill("retire dpl-a", ["dpl-b"], killed=["dpl-a"])
        self.cli_ok("promote", "--app", "shop", "--build", "dpl-c")
        acknowledged_then_kill("promote dpl-c (from preview)", ["dpl-b", "dpl-c"], killed=["dpl-a"])
        self.cli_ok("rollback", "--app", "shop")
        acknowledged_then_kill("rollback to dpl-b again", ["dpl-b", "dpl-c"], killed=["dpl-a"])
        self.assertEqual(sg.current(), "dpl-b")
        self.assertEqual(restarts, 9)

    def test_corrupt_or_truncated_state_is_a_startup_error_naming_the_file(self):
        self.deploy("a")
        self.deploy("b")
        self.sg.kill9()
        files = sorted(f for f in os.listdir(self.sg.state_dir)
                       if not f.endswith(".tmp") and os.path.isfile(os.path.join(self.sg.state_dir, f)))
        self.assertTrue(files, "nothing in state_dir after acknowledged changes")
        for name in files:
            path = os.path.join(self.sg.state_dir, name)
            with open(path, "rb") as f:
                good = f.read()
            for label, bad in (("truncated", good[:len(good) // 2]), ("garbage", b"\x00\x01not json at all"),
                               ("empty", b"")):
                with open(path, "wb") as f:
                    f.write(bad)
                code, err = self.sg.start_expect_exit(timeout=5.0)
                self.assertIsNotNone(code, f"skewgate kept running on a {label} {name}")
                self.assertNotEqual(code, 0, f"a {label} {name} must stop start-up")
                self.assertIn(path, err, f"the error must name the file ({label} {name}): {err[-600:]!r}")
                with open(path, "rb") as f:
                    self.assertEqual(f.read(), bad, f"{name} was rewritten by a refused start ({label})")
            with open(path, "wb") as f:
                f.write(good)
        self.sg.start()
        self.assertRoutes(self.sg, "dpl-b", kept=["dpl-a", "dpl-b"])


class TokenFromEnv(ControlCase):
    def test_env_token(self):
        up = self.start_upstream("dpl-a")
        sg = Skewgate(self, lambda sg: render(sg.port, sg.admin_port, sg.state_dir, [api_app()]),
                      token=TOKEN, token_via="env").start()
        self.assertErrorReply(sg.admin("GET", "/api/v1/apps", token=None), 401)
        self.assertErrorReply(sg.admin("GET", "/api/v1/apps", token="nope"), 401)
        self.assertEqual(sg.admin("GET", "/api/v1/apps").status, 200)
        r = sg.admin("POST", "/api/v1/apps/shop/builds", {"id": "dpl-a", "upstreams": [up.address]}, token="nope")
        self.assertErrorReply(r, 401)
        self.assertEqual(sg.app()["builds"], [])


class AdminConfig(ControlCase):
    PIN_SECRET = "pin-secret-0123456789abcdefghijklmnopqrstuv"
    OLD_SECRET = "old-pin-secret-zyxwvutsrqponmlkjihgfedcba9876"

    def test_config_endpoint_redacts_every_secret(self):
        up = self.start_upstream("dpl-a")
        sg = Skewgate(self, lambda sg: render(
            sg.port, sg.admin_port, sg.state_dir,
            [{"name": "shop", "hosts": ["shop.test"], "current": "dpl-a",
              "builds": [{"id": "dpl-a", "upstreams": [up.address]}]}],
            token_file=sg.token_file,
            extra_top={"pins": {"secret": self.PIN_SECRET, "previous_secrets": [self.OLD_SECRET]}}),
            token=TOKEN).start()
        r = sg.admin("GET", "/api/v1/config")
        self.assertEqual(r.status, 200, r)
        config = r.json()
        self.assertIsInstance(config, dict)
        text = r.body.decode()
        for secret in (self.PIN_SECRET, self.OLD_SECRET, TOKEN):
            self.assertNotIn(secret, text, "GET /api/v1/config leaks a secret")
            self.assertNotIn(secret[:16], text, "GET /api/v1/config leaks part of a secret")
        self.assertIn("dpl-a", text)
        self.assertIn(up.address, text)

    def test_non_loopback_admin_without_token_is_a_config_error(self):
        # Checked with --check only: the test never binds anything but loopback.
        workdir = self.make_dir()
        base = ("listeners: [{address: 127.0.0.1:%d}]\nstate_dir: %s\n"
                "apps:\n  - {name: shop, hosts: [shop.test], current: dpl-a, builds: [{id: dpl-a, upstreams: [127.0.0.1:9]}]}\n"
                % (free_port(), os.path.join(workdir, "state")))
        token_file = os.path.join(workdir, "token")
        with open(token_file, "w") as f:
            f.write(TOKEN + "\n")
        cases = [("0.0.0.0", None, 1), ("[::]", None, 1), ("127.0.0.1", None, 0), ("0.0.0.0", token_file, 0)]
        for host, tf, expected in cases:
            admin = f"{{address: '{host}:{free_port()}'" + (f", token_file: {tf}" if tf else "") + "}"
            path = os.path.join(workdir, "c.yaml")
            with open(path, "w") as f:
                f.write(base + f"admin: {admin}\n")
            env = {k: v for k, v in os.environ.items() if k != "SKEWGATE_ADMIN_TOKEN"}
            p = subprocess.run([SKEWGATE_BIN, "--check", "-c", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=env, timeout=10)
            err = p.stderr.decode()
            self.assertEqual(p.returncode, expected, f"--check with admin {admin}: exit {p.returncode}, "
                                                     f"expected {expected}; stderr: {err!r}")
            if expected:
                self.assertRegex(err, r"c\.yaml:\d+:\d+", "the error names file:line:col")
                self.assertIn("token", err)

    def make_dir(self):
        import tempfile
        import shutil
        d = tempfile.mkdtemp(prefix="skewgate-cp-")
        self.addCleanup(shutil.rmtree, d, True)
        return d


# ---------------------------------------------------------------------------

class ConfigRegistry(ControlCase):
    """`registry: config`: builds come from the YAML; the API refuses to mutate them."""

    def setUp(self):
        self.up = {b: self.start_upstream(f"dpl-{b}") for b in ("a", "b", "c")}
        self.current = "dpl-a"
        self.builds = ["a", "b"]
        self.retired = set()
        self.broken = False
        self.watch = None
        self.sg = self.make_gateway()

    def make_gateway(self, **kw):
        return Skewgate(self, self.render, token=TOKEN, **kw).start()

    def render(self, sg):
        builds = []
        for b in self.builds:
            entry = {"id": f"dpl-{b}", "upstreams": [self.up[b].address]}
            if f"dpl-{b}" in self.retired:
                entry["state"] = "retired"
            builds.append(entry)
        text = render(sg.port, sg.admin_port, sg.state_dir,
                      [{"name": "shop", "hosts": ["shop.test"], "current": self.current, "builds": builds}],
                      token_file=sg.token_file, watch=self.watch)
        if self.broken:
            # Two errors at once: an unknown key and a current that names no build.
            text = text.replace("    current: ", "    curent: dpl-b\n    current: dpl-nope-").replace(
                "workers: 2", "workers: lots")
        return text

    def write(self):
        self.sg.write_config(self.render(self.sg))

    def sighup(self):
        # Startup already waited for /readyz, so the SIGHUP handler is in place.
        self.sg.signal(signal.SIGHUP)

    def test_mutating_api_calls_answer_409_registry_is_config(self):
        sg = self.sg
        for method, path, body in (("POST", "/api/v1/apps/shop/builds", {"id": "dpl-c", "upstreams": [self.up["c"].address]}),
                                   ("POST", "/api/v1/apps/shop/builds/dpl-b/promote", None),
                                   ("POST", "/api/v1/apps/shop/builds/dpl-a/retire", None),
                                   ("POST", "/api/v1/apps/shop/builds/dpl-b/retire", None),
                                   ("POST", "/api/v1/apps/shop/builds/dpl-b/preview", None),
                                   ("POST", "/api/v1/apps/shop/rollback", None)):
            self.assertErrorReply(sg.admin(method, path, body), 409, "registry_is_config")
        rc, out, err = sg.cli("promote", "--app", "shop", "--build", "dpl-b")
        self.assertEqual(rc, 1, f"CLI promote on a config app: {rc} {out} {err}")
        self.assertIn("registry_is_config", out + err)
        app = sg.app()
        self.assertEqual((app["registry"], app["current"]), ("config", "dpl-a"))
        self.assertRoutes(sg, "dpl-a", kept=["dpl-a", "dpl-b"])

    def test_sighup_reload_changes_routing_and_invalid_yaml_leaves_it(self):
        sg = self.sg
        self.assertRoutes(sg, "dpl-a", kept=["dpl-a", "dpl-b"])
        self.current = "dpl-b"
        self.write()
        self.sighup()
        self.assertRoutes(sg, "dpl-b", kept=["dpl-a", "dpl-b"], now=False)

        self.builds = ["a", "b", "c"]
        self.current = "dpl-c"
        self.broken = True
        self.write()
        refused_before = sg.stderr_text().count("reload refused")
        self.sighup()
        self.assertTrue(wait_for(lambda: sg.stderr_text().count("reload refused") > refused_before, 5.0),
                        f"no 'reload refused' on stderr after an invalid file: {sg.stderr_text()[-1000:]!r}")
        self.assertRegex(sg.stderr_text(), FILE_LINE_COL, "the refused reload names file:line:col")
        self.assertIsNone(sg.proc.poll(), "skewgate exited on an invalid file")
        self.assertRoutes(sg, "dpl-b", kept=["dpl-a", "dpl-b"])
        self.assertEqual(sg.current(), "dpl-b")

        self.broken = False
        self.retired = {"dpl-a"}
        self.write()
        self.sighup()
        self.assertRoutes(sg, "dpl-c", kept=["dpl-b", "dpl-c"], killed=["dpl-a"], now=False)

    def test_reload_api_and_cli(self):
        sg = self.sg
        r = sg.admin("POST", "/api/v1/reload")
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json()["reloaded"], True)
        generation = r.json()["generation"]
        self.assertIsInstance(generation, int)

        self.current = "dpl-b"
        self.broken = True
        self.write()
        r = sg.admin("POST", "/api/v1/reload")
        body = self.assertErrorReply(r, 400, "invalid_config")
        self.assertIsInstance(body.get("errors"), list, r)
        self.assertGreaterEqual(len(body["errors"]), 2, f"all errors at once: {r!r}")
        for e in body["errors"]:
            self.assertRegex(e, FILE_LINE_COL, f"each error names file:line:col: {e!r}")
        self.assertRoutes(sg, "dpl-a", kept=["dpl-a", "dpl-b"])
        rc, out, err = sg.cli("reload")
        self.assertEqual(rc, 1, f"CLI reload of an invalid file: {rc} {out} {err}")
        self.assertRegex(out + err, FILE_LINE_COL, "the CLI shows the errors")

        self.broken = False
        self.write()
        r = sg.admin("POST", "/api/v1/reload")
        self.assertEqual(r.status, 200, r)
        self.assertGreater(r.json()["generation"], generation)
        self.assertRoutes(sg, "dpl-b", kept=["dpl-a", "dpl-b"])

        self.current = "dpl-a"
        self.write()
        rc, out, err = sg.cli("reload")
        self.assertEqual(rc, 0, f"CLI reload: {rc} {out} {err}")
        self.assertRoutes(sg, "dpl-a", kept=["dpl-a", "dpl-b"])
        rc, out, err = sg.cli("reload", json_out=True)
        self.assertEqual(rc, 0)
        self.assertIs(json.loads(out)["reloaded"], True)


# ---------------------------------------------------------------------------

def watch_supported():
    """`watch: true` is accepted by --check (the key exists): (True, "") or (False, why)."""
    import tempfile
    import shutil
    d = tempfile.mkdtemp(prefix="skewgate-cp-")
    try:
        path = os.path.join(d, "w.yaml")
        with open(path, "w") as f:
            f.write(render(free_port(), free_port(), os.path.join(d, "state"),
                           [{"name": "shop", "hosts": ["shop.test"], "current": "dpl-a",
                             "builds": [{"id": "dpl-a", "upstreams": ["127.0.0.1:9"]}]}], watch=True))
        p = subprocess.run([SKEWGATE_BIN, "--check", "-c", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=10)
        if p.returncode == 0:
            return True, ""
        return False, "`watch: true` is not accepted yet: " + p.stderr.decode()[-300:]
    finally:
        shutil.rmtree(d, ignore_errors=True)


class WatchedConfig(ConfigRegistry):
    """`watch: true`: file changes are picked up without SIGHUP (feature detected at run time)."""

    PICKUP = 5.0  # seconds

    def setUp(self):
        ok, why = watch_supported()
        if not ok:
            self.skipTest(why)
        self.up = {b: self.start_upstream(f"dpl-{b}") for b in ("a", "b", "c")}
        self.current = "dpl-a"
        self.builds = ["a", "b"]
        self.retired = set()
        self.broken = False
        self.watch = True

    # The inherited tests run with watch on too (SIGHUP and the API still work).

    def test_file_edit_is_picked_up_without_sighup(self):
        self.sg = self.make_gateway(config_dir="etc")
        self.edit_cycle(self.sg)

    def test_file_edit_is_picked_up_while_the_directory_is_busy(self):
        # The config file shares its directory with files that change all the time (here the
        # access log on stdout, written on every request): the edit is still picked up.
        self.sg = self.make_gateway()
        self.edit_cycle(self.sg)

    def edit_cycle(self, sg):
        self.assertRoutes(sg, "dpl-a", kept=["dpl-a", "dpl-b"])
        self.current = "dpl-b"
        with open(sg.config_path, "w") as f:  # in place, as `echo > file` or an editor that truncates
            f.write(self.render(sg))
        self.assertTrue(wait_until(lambda: sg.served() == "dpl-b", self.PICKUP),
                        f"an in-place edit was not picked up within {self.PICKUP}s: {sg.stderr_text()[-800:]!r}")
        self.current = "dpl-a"
        write_atomically(sg.config_path, self.render(sg))  # write a temp file, rename over
        self.assertTrue(wait_until(lambda: sg.served() == "dpl-a", self.PICKUP),
                        f"a rename-over edit was not picked up within {self.PICKUP}s")

        # An invalid edit is refused, routing stays, and the next valid edit is picked up.
        self.current = "dpl-b"
        self.broken = True
        write_atomically(sg.config_path, self.render(sg))
        self.assertTrue(wait_for(lambda: "reload refused" in sg.stderr_text(), self.PICKUP),
                        "an invalid watched edit was not reported")
        self.assertRegex(sg.stderr_text(), FILE_LINE_COL)
        self.assertRoutes(sg, "dpl-a", kept=["dpl-a", "dpl-b"])
        self.broken = False
        write_atomically(sg.config_path, self.render(sg))
        self.assertTrue(wait_until(lambda: sg.served() == "dpl-b", self.PICKUP),
                        "a valid edit after an invalid one was not picked up")

    def test_kubernetes_configmap_symlink_swap(self):
        import tempfile
        workdir = tempfile.mkdtemp(prefix="skewgate-cp-")
        cm = os.path.join(workdir, "config")
        os.makedirs(cm)
        sg = Skewgate(self, None, token=TOKEN, workdir=workdir)
        sg.config_path = os.path.join(cm, "skewgate.yaml")
        serial = [0]

        def publish():
            # What the kubelet does: a new timestamped dir, a new ..data symlink renamed over the old.
            serial[0] += 1
            stamp = f"..2024_01_01_00_00_{serial[0]:02d}.{1000 + serial[0]}"
            os.makedirs(os.path.join(cm, stamp))
            with open(os.path.join(cm, stamp, "skewgate.yaml"), "w") as f:
                f.write(self.render(sg))
            old = os.readlink(os.path.join(cm, "..data")) if os.path.islink(os.path.join(cm, "..data")) else None
            os.symlink(stamp, os.path.join(cm, "..data_tmp"))
            os.rename(os.path.join(cm, "..data_tmp"), os.path.join(cm, "..data"))
            if not os.path.islink(sg.config_path):
                os.symlink("..data/skewgate.yaml", sg.config_path)
            if old:
                import shutil
                shutil.rmtree(os.path.join(cm, old))

        publish()
        self.sg = sg.start()
        self.assertRoutes(sg, "dpl-a", kept=["dpl-a", "dpl-b"])
        for current in ("dpl-b", "dpl-a", "dpl-b"):
            self.current = current
            publish()
            self.assertTrue(wait_until(lambda: sg.served() == current, self.PICKUP),
                            f"ConfigMap swap #{serial[0]} to {current} not picked up within {self.PICKUP}s; "
                            f"stderr: {sg.stderr_text()[-800:]!r}")
            self.assertRoutes(sg, current, kept=["dpl-a", "dpl-b"])

    # Inherited tests need a gateway; the two above start their own.
    def _inherited(name):
        def run(self):
            self.sg = self.make_gateway()
            getattr(ConfigRegistry, name)(self)
        return run

    test_sighup_reload_changes_routing_and_invalid_yaml_leaves_it = _inherited(
        "test_sighup_reload_changes_routing_and_invalid_yaml_leaves_it")
    test_reload_api_and_cli = _inherited("test_reload_api_and_cli")
    test_mutating_api_calls_answer_409_registry_is_config = _inherited(
        "test_mutating_api_calls_answer_409_registry_is_config")


# ---------------------------------------------------------------------------

class BinaryRestart(ControlCase):
    """Zero-drop binary restart: a second `skewgate -c SAME_CONFIG` takes the listening
    sockets over (SCM_RIGHTS through a Unix socket in state_dir); the old one drains and
    exits 0. Detected at run time by "took over" on the new process's stderr."""

    def test_second_process_takes_over_without_dropping_requests(self):
        up = {b: self.start_upstream(f"dpl-{b}") for b in ("a", "b")}
        sg = Skewgate(self, lambda sg: render(sg.port, sg.admin_port, sg.state_dir, [api_app()],
                                              token_file=sg.token_file), token=TOKEN).start()
        for b in ("a", "b"):
            self.assertEqual(sg.admin("POST", "/api/v1/apps/shop/builds",
                                      {"id": f"dpl-{b}", "upstreams": [up[b].address]}).status, 201)
            self.assertEqual(sg.admin("POST", f"/api/v1/apps/shop/builds/dpl-{b}/promote").status, 200)
        before = durable_view(sg.app())
        old = sg.proc

        # Probe first, with no traffic: without the feature a second process may share the
        # port for a moment (SO_REUSEPORT) before it gives up.
        supported, detail = takeover(sg)
        if not supported:
            self.skipTest("binary restart (socket takeover) not available: " + detail)
        self.assertEqual(detail, "", detail)
        self.assertIsNot(sg.proc, old)
        self.assertEqual(durable_view(sg.app()), before, "state after the takeover")
        self.assertRoutes(sg, "dpl-b", kept=["dpl-a", "dpl-b"])

        # Again, under traffic (keep-alive and new connections, some with bodies).
        traffic = Traffic(sg.port, "shop", "shop.test", ["dpl-a", "dpl-b"], keepalive=2, fresh=2).start()
        try:
            time.sleep(0.5)
            for i in range(2):
                previous = sg.proc
                supported, detail = takeover(sg)
                self.assertTrue(supported, f"takeover #{i + 2} under traffic: {detail}")
                self.assertEqual(detail, "", f"takeover #{i + 2} under traffic: {detail}")
                self.assertEqual(previous.returncode, 0)
                time.sleep(0.5)
        finally:
            self.assertTrue(traffic.stop(), "client threads did not stop")
        verdict = traffic.judge(Timeline({"shop": "dpl-b"}))
        print(f"\n[takeover] {json.dumps({k: v for k, v in verdict.items() if k != 'examples'})}", flush=True)
        self.assertGreater(verdict["answered"], 50, verdict)
        for key in ("failed", "resets", "non_200", "wrong_build", "altered_bodies"):
            self.assertEqual(verdict[key], 0, f"{key} during takeovers: {verdict['examples']}")
        self.assertEqual(durable_view(sg.app()), before)
        self.assertEqual(sg.admin("GET", "/readyz").status, 200)


if __name__ == "__main__":
    unittest.main()
