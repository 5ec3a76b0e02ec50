"""Issue 15 on the wire: @lazarv/react-server apps survive a deploy.

Real upstream processes (tests/support/react_server_upstream.py) answer as react-server
builds do (measured): a function the build has: 200 text/x-component + react-server-data;
one it lacks: 200 text/x-component WITHOUT react-server-data (its GlobalError render,
which replaces the page: the bug); a navigation POST: 200 flight; a document: HTML.

skewgate must replay a stale call onto the older kept build that has the function, answer
the flight reload answer when none has it, serve the reload module itself, send every
navigation POST to current whatever the pin says, leave react-server shapes alone under
`framework: next`, and show the framework in the access log and the metrics. No function
IDs are configured (functions_from is another item): answer-side detection decides.
"""

import hashlib
import http.client
import json
import os
import re
import select
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

from harness import IO_TIMEOUT, START_TIMEOUT, GatewayTestCase, free_port, stop_process, wait_for
from skew_support import exchange, multipart

HERE = os.path.dirname(os.path.abspath(__file__))
UPSTREAM_PY = os.path.join(HERE, "..", "support", "react_server_upstream.py")

SECRET = "rs-pin-secret-4Tq8Vz1Lm6Kx3Wc9Pd2Hy7Nb5Jf0Ga"
COOKIE = "skewgate_pin"
# Ids are "<absolute source path at build time>#<export>"; the client sends them
# encodeURIComponent'ed.
KEPT = "/app/src/actions.mjs#kept"          # in both builds (unchanged function)
OLD = "/app/src/actions.mjs#addTodo"        # renamed in B: only A has it
NEW = "/app/src/actions.mjs#createTodo"     # only B has it
GONE = "/app/src/old.mjs#removed"           # in no build
MODULE_BODY = b'location.replace(location.href.split("#")[0]); export default function R(){return null}'
RELOAD_FLIGHT = b'1:I["/__skewgate/reload.mjs",[],"default",1]\n0:["$L1"]\n'


class ReactServerUpstream:
    """One tests/support/react_server_upstream.py process, stopped by its PID."""

    def __init__(self, build_id, functions=()):
        self.build_id = build_id
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, UPSTREAM_PY, "--port", str(self.port), "--id", build_id,
             "--functions", ",".join(functions)],
            stdout=subprocess.PIPE, stderr=self.stderr, stdin=subprocess.DEVNULL)
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT)
        line = self.proc.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            self.stop()
            raise RuntimeError(f"react-server upstream {build_id} did not start: {line!r}")

    def log(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=IO_TIMEOUT)
        try:
            conn.request("GET", "/__log")
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def posts(self):
        return [(e["path"], e["action"] and urllib.parse.unquote(e["action"]), e["status"]) for e in self.log()
                if e["method"] == "POST"]

    def stop(self):
        stop_process(self.proc)
        self.proc.stdout.close()
        self.stderr.close()


def render(builds, framework=None, policy=None):
    """builds: [(id, upstream)] oldest first; the last is current."""
    lines = ["listeners: [{address: 127.0.0.1:{port}}]",
             "workers: 1",
             "access_log: {path: stdout, format: json}",
             "timeouts: {upstream_connect: 1s, upstream_response: 5s, drain: 2s, client_header: 5s}",
             f"pins: {{secret: {SECRET}}}",
             "apps:",
             "  - name: todo",
             "    hosts: [todo.test]"]
    if framework:
        lines.append(f"    framework: {framework}")
    if policy:
        lines.append(f"    skew: {{action_policy: {policy}, message: \"Reload \\\"now\\\"\"}}")
    lines.append(f"    current: {builds[-1][0]}")
    lines.append("    builds:")
    for build_id, upstream in builds:
        lines.append(f"      - {{id: {build_id}, upstreams: [{upstream.address}], verify: false}}")
    return "\n".join(lines) + "\n"


SAMPLE = re.compile(r'^(\w+)\{([^}]*)\} (\S+)$')


def metric(text, name, **labels):
    total = 0.0
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


def call_headers(function_id, pin=None):
    h = [("react-server-action", urllib.parse.quote(function_id, safe="")), ("accept", "text/x-component"),
         ("content-type", "text/plain;charset=UTF-8"), ("origin", "http://todo.test")]
    if pin:
        h.append(("cookie", f"{COOKIE}={pin}"))
    return h


def navigation_headers(pin=None):
    h = [("accept", "text/x-component"), ("content-type", "application/json")]
    if pin:
        h.append(("cookie", f"{COOKIE}={pin}"))
    return h


def pin_of(resp):
    for name, value in resp.headers:
        if name.lower() == "set-cookie" and value.startswith(COOKIE + "="):
            return value[len(COOKIE) + 1:value.index(";")]
    return None


class ReactServerTest(GatewayTestCase):

    def upstream(self, build_id, functions=()):
        u = ReactServerUpstream(build_id, functions)
        self.addCleanup(u.stop)
        return u

    def gateway(self, builds, **kwargs):
        return self.start_gateway(config_text=render(builds, **kwargs))

    def req(self, gw, method, target, headers=(), body=None):
        return exchange(gw.port, method, target, host="todo.test", headers=list(headers), body=body)

    def call(self, gw, function_id, body=b'["$K1"]', pin=None, target="/todos/rsc.x-component"):
        return self.req(gw, "POST", target, call_headers(function_id, pin), body)

    def metrics(self, gw):
        conn = http.client.HTTPConnection("127.0.0.1", gw.admin_port, timeout=IO_TIMEOUT)
        try:
            conn.request("GET", "/metrics")
            return conn.getresponse().read().decode()
        finally:
            conn.close()

    def assertMetric(self, gw, name, value, **labels):
        text = wait_for(lambda: (lambda t: t if metric(t, name, **labels) == value else None)(self.metrics(gw)), 5.0)
        if text is None:
            text = self.metrics(gw)
            self.assertEqual(metric(text, name, **labels), value,
                             f"{name}{labels}: " + "\n".join(l for l in text.splitlines() if l.startswith(name)))

    def assertReloadFlight(self, resp, reason):
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.header("content-type"), "text/x-component; charset=utf-8", resp)
        self.assertEqual(resp.header("cache-control"), "no-store", resp)
        self.assertIsNone(resp.header("react-server-data"), resp)
        self.assertIsNone(resp.header("x-served-by"), resp)
        self.assertEqual(resp.header("x-skewgate-reload"), f"required; reason={reason}; build=unknown", resp)
        self.assertEqual(resp.body, RELOAD_FLIGHT)

    def pin_for_a(self, a, b):
        """A pin for rs-a, as a tab that loaded a page while A was current gets it."""
        first = self.gateway([("rs-a", a)], framework="react-server")
        page = self.req(first, "GET", "/todos", [("accept", "text/html"), ("sec-fetch-mode", "navigate")])
        self.assertEqual(page.header("x-served-by"), "rs-a", page)
        pin = pin_of(page)
        self.assertTrue(pin, page)
        first.stop()
        return pin

    # ---- replay (item 4) ----

    def test_a_stale_call_is_replayed_onto_the_older_kept_build_that_has_the_function(self):
        for framework in ("react-server", "auto"):
            with self.subTest(framework=framework):
                a = self.upstream("rs-a", [KEPT, OLD])
                b = self.upstream("rs-b", [KEPT, NEW])
                gw = self.gateway([("rs-a", a), ("rs-b", b)], framework=framework)
                body = b'["$K1",{"title":"milk"}]' + b"x" * 3000
                resp = self.call(gw, OLD, body)
                self.assertEqual((resp.status, resp.header("x-served-by"), resp.header("react-server-data")),
                                 (200, "rs-a", "rsc"), resp)
                row = json.loads(resp.body[2:])
                self.assertEqual(row, {"build": "rs-a", "function": OLD,
                                       "body_sha256": hashlib.sha256(body).hexdigest()})
                # Current answered "not found" once (the GlobalError never reached the client).
                self.assertEqual(b.posts(), [("/todos/rsc.x-component", OLD, 200)])
                self.assertEqual(a.posts(), [("/todos/rsc.x-component", OLD, 200)])
                entry = self.wait_log(gw, lambda e: e.get("kind") == "action")
                self.assertEqual({k: entry.get(k) for k in ("build", "outcome", "detail", "tried", "framework")},
                                 {"build": "rs-a", "outcome": "rerouted", "detail": "action_replayed",
                                  "tried": ["rs-b"], "framework": "react-server"})
                # A function current has: served there, once.
                resp = self.call(gw, KEPT)
                self.assertEqual((resp.status, resp.header("x-served-by")), (200, "rs-b"), resp)
                self.assertMetric(gw, "skewgate_framework_requests_total", 1, app="todo", framework="react-server",
                                  kind="action", outcome="rerouted")
                self.assertMetric(gw, "skewgate_framework_requests_total", 1, app="todo", framework="react-server",
                                  kind="action", outcome="served")

    def test_a_call_no_kept_build_has_gets_the_flight_reload_answer(self):
        a = self.upstream("rs-a", [KEPT, OLD])
        b = self.upstream("rs-b", [KEPT, NEW])
        gw = self.gateway([("rs-a", a), ("rs-b", b)], framework="react-server")
        resp = self.call(gw, GONE)
        self.assertReloadFlight(resp, "action_not_found")
        self.assertEqual(b.posts(), [("/todos/rsc.x-component", GONE, 200)])
        self.assertEqual(a.posts(), [("/todos/rsc.x-component", GONE, 200)])
        entry = self.wait_log(gw, lambda e: e.get("kind") == "action")
        self.assertEqual({k: entry.get(k) for k in ("build", "outcome", "detail", "tried", "framework", "status")},
                         {"build": "", "outcome": "answered", "detail": "action_not_found",
                          "tried": ["rs-b", "rs-a"], "framework": "react-server", "status": 200})
        self.assertMetric(gw, "skewgate_reload_required_total", 1, app="todo", kind="action",
                          reason="action_not_found")
        self.assertMetric(gw, "skewgate_framework_requests_total", 1, app="todo", framework="react-server",
                          kind="action", outcome="answered")

    def test_policy_error_answers_the_flight_error_row(self):
        a = self.upstream("rs-a", [KEPT])
        b = self.upstream("rs-b", [KEPT])
        gw = self.gateway([("rs-a", a), ("rs-b", b)], framework="react-server", policy="error")
        resp = self.call(gw, GONE)
        self.assertEqual((resp.status, resp.header("content-type"), resp.header("react-server-data"),
                          resp.header("cache-control")),
                         (200, "text/x-component; charset=utf-8", "rsc", "no-store"), resp)
        self.assertEqual(resp.body, b'0:["$@1"]\n1:E{"digest":"Reload \\"now\\""}\n')

    def test_no_js_form_posts_are_passed_on_and_never_replayed_on_html(self):
        a = self.upstream("rs-a", [OLD])
        b = self.upstream("rs-b", [NEW])
        gw = self.gateway([("rs-a", a), ("rs-b", b)], framework="react-server")
        content_type, body = multipart([(f"$ACTION_ID_{OLD}", "", None), ("title", "milk", None)])
        resp = self.req(gw, "POST", "/todos", [("content-type", content_type), ("origin", "http://todo.test")], body)
        self.assertEqual((resp.status, resp.header("x-served-by")), (200, "rs-b"), resp)
        entry = self.wait_log(gw, lambda e: e.get("kind") == "action")
        self.assertEqual(entry.get("framework"), "react-server")

    # ---- the reload module (item 5) ----

    def test_the_reload_module_is_served_by_skewgate_and_never_reaches_a_build(self):
        for framework in ("react-server", "auto"):
            with self.subTest(framework=framework):
                a = self.upstream("rs-a")
                b = self.upstream("rs-b")
                gw = self.gateway([("rs-a", a), ("rs-b", b)], framework=framework)
                for method in ("GET", "HEAD"):
                    resp = self.req(gw, method, "/__skewgate/reload.mjs?t=1", [("sec-fetch-dest", "script")])
                    self.assertEqual((resp.status, resp.header("content-type"), resp.header("cache-control")),
                                     (200, "text/javascript; charset=utf-8", "no-store"), resp)
                    self.assertEqual(resp.body, MODULE_BODY if method == "GET" else b"")
                    self.assertEqual(resp.header("content-length"), str(len(MODULE_BODY)))
                    self.assertIsNone(resp.header("x-served-by"))
                resp = self.req(gw, "POST", "/__skewgate/reload.mjs", [("content-type", "text/plain")], b"x")
                self.assertEqual((resp.status, resp.header("allow")), (405, "GET, HEAD"), resp)
                self.assertEqual(a.log() + b.log(), [])
                entry = self.wait_log(gw, lambda e: e.get("path") == "/__skewgate/reload.mjs")
                self.assertEqual({k: entry.get(k) for k in ("kind", "outcome", "detail", "status", "build")},
                                 {"kind": "other", "outcome": "answered", "detail": "reload_module",
                                  "status": 200, "build": ""})
                self.assertMetric(gw, "skewgate_requests_total", 3, app="todo", build="none", kind="other",
                                  outcome="answered")

    # ---- navigations and pins (item 2) ----

    def test_a_navigation_post_always_goes_to_current_whatever_the_pin(self):
        a = self.upstream("rs-a", [KEPT, OLD])
        b = self.upstream("rs-b", [KEPT, NEW])
        pin = self.pin_for_a(a, b)
        gw = self.gateway([("rs-a", a), ("rs-b", b)], framework="react-server")
        # The pinned tab's function call goes to its build (A has it: no replay needed) ...
        resp = self.call(gw, OLD, pin=pin)
        self.assertEqual((resp.status, resp.header("x-served-by"), resp.header("react-server-data")),
                         (200, "rs-a", "rsc"), resp)
        self.assertEqual(b.posts(), [])
        # ... while its navigation lands on current, never a 409, and no pin rides on flight.
        for target in ("/todos/rsc.x-component", "/@side.rsc.x-component", "/rsc.x-component"):
            resp = self.req(gw, "POST", target, navigation_headers(pin) + [("x-deployment-id", "rs-a")], b"{}")
            self.assertEqual((resp.status, resp.header("x-served-by")), (200, "rs-b"), resp)
            self.assertEqual(json.loads(resp.body[2:])["navigation"], target)
            self.assertIsNone(pin_of(resp))
        entry = self.wait_log(gw, lambda e: e.get("kind") == "rsc")
        self.assertEqual((entry.get("framework"), entry.get("build"), entry.get("pin")),
                         ("react-server", "rs-b", "valid"))
        self.assertMetric(gw, "skewgate_framework_requests_total", 3, app="todo", framework="react-server",
                          kind="rsc", outcome="served")

    def test_framework_next_does_not_treat_react_server_shapes_specially(self):
        a = self.upstream("rs-a", [OLD])
        b = self.upstream("rs-b", [NEW])
        pin = self.pin_for_a(a, b)
        gw = self.gateway([("rs-a", a), ("rs-b", b)], framework="next")
        # The call is a plain POST: current's GlobalError is passed on, nothing replayed.
        resp = self.call(gw, OLD)
        self.assertEqual((resp.status, resp.header("x-served-by"), resp.header("react-server-data")),
                         (200, "rs-b", None), resp)
        self.assertEqual(a.posts(), [])
        # The navigation follows the pin like any other request.
        resp = self.req(gw, "POST", "/todos/rsc.x-component", navigation_headers(pin), b"{}")
        self.assertEqual(resp.header("x-served-by"), "rs-a", resp)
        # The module path is the app's own.
        resp = self.req(gw, "GET", "/__skewgate/reload.mjs")
        self.assertEqual(resp.header("x-served-by"), "rs-b", resp)
        flight = lambda: [e for e in gw.access_log() if "rsc.x-component" in e.get("path", "")]
        wait_for(lambda: len(flight()) == 2, 3.0)
        entries = flight()
        self.assertEqual([(e.get("kind"), e.get("framework")) for e in entries],
                         [("other", None), ("other", None)])

    def test_the_header_on_another_path_is_not_an_action(self):
        a = self.upstream("rs-a", [OLD])
        b = self.upstream("rs-b", [NEW])
        gw = self.gateway([("rs-a", a), ("rs-b", b)], framework="react-server")
        # An API POST carrying the header: routed as `other`, its answer passed on as is.
        resp = self.req(gw, "POST", "/api/orders", call_headers(OLD), b"{}")
        self.assertEqual((resp.status, resp.header("x-served-by")), (200, "rs-b"), resp)
        self.assertEqual(a.log(), [])
        entry = self.wait_log(gw, lambda e: e.get("path") == "/api/orders")
        self.assertEqual((entry.get("kind"), entry.get("framework")), ("other", None))


if __name__ == "__main__":
    unittest.main()
