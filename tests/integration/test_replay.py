"""Issue 14 items 3 and 4 on the wire: the answer tells the truth.

Real upstream processes (tests/support/next_upstream.py) answer an action they do not know
as Next.js 16.4 (409 + x-nextjs-action-not-found), 15.4 (404 + the header) and 15.1 (200
text/html, the page) do. skewgate must never pass that answer on: it replays the call on
the next kept build that may have it (newest first), or, with none left, sends the app's
reload answer (reason action_not_found). No manifests anywhere: zero-config.

An asset without `dpl` that current answers 404 is tried on the kept builds, newest first,
at most assets.fallback_builds; all 404: the last 404 with cache-control: no-store.

Which build ran what is read from the upstreams' own logs (GET /__log, not through
skewgate); the access log names the builds tried; /metrics counts the replays as
outcome="rerouted".
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

from harness import (IO_TIMEOUT, START_TIMEOUT, GatewayTestCase, free_port, stop_process, wait_for,
                     yaml_flow as flow)
from skew_support import SkewAssertions, action_headers, exchange, pattern, urlencoded_form

HERE = os.path.dirname(os.path.abspath(__file__))
NEXT_UPSTREAM_PY = os.path.join(HERE, "..", "support", "next_upstream.py")

ACTION = "40a1c2e3f4051627384950a6b7c8d9e0f1a2b3c4d5"  # known to the old build only
ACTION_B = "00ab11cd22ef33aa44bb55cc66dd77ee88ff99a0b1"  # known to the current build only
UNKNOWN = "1234567890abcdef1234567890abcdef12345678ff"  # known to no build

NOT_FOUND_STATUS = {"16.4": 409, "15.4": 404, "15.1": 200}
CHUNK = "/_next/static/immutable/app-4f2a9c.js"


class NextUpstream:
    """One tests/support/next_upstream.py process, stopped by its PID."""

    def __init__(self, build_id, version, actions=(), static=()):
        self.build_id = build_id
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, NEXT_UPSTREAM_PY, "--port", str(self.port), "--id", build_id, "--next", version,
             "--actions", ",".join(actions), "--static", ",".join(static)],
            stdout=subprocess.PIPE, stderr=self.stderr, stdin=subprocess.DEVNULL)
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT)
        line = self.proc.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            self.stop()
            raise RuntimeError(f"next upstream {build_id} did not start: {line!r}")

    def log(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=IO_TIMEOUT)
        try:
            conn.request("GET", "/__log")
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def stop(self):
        stop_process(self.proc)
        self.proc.stdout.close()
        self.stderr.close()


def render(port, builds, app_extra=None):
    """builds: [(id, upstream)] oldest first; the last is current."""
    lines = [f"listeners: [{{address: 127.0.0.1:{port}}}]",
             "workers: 1",
             "access_log: {path: stdout, format: json}",
             "timeouts: {upstream_connect: 1s, upstream_response: 5s, drain: 2s, client_header: 5s}",
             "apps:",
             "  - name: shop",
             "    hosts: [shop.test]"]
    for key, value in (app_extra or {}).items():
        lines.append(f"    {key}: {flow(value)}")
    lines.append(f"    current: {builds[-1][0]}")
    lines.append("    builds:")
    # verify: false: the start-up probe (GET /) would show in the upstreams'
    # logs, which these tests read as the list of requests skewgate sent.
    for build_id, upstream in builds:
        lines.append(f"      - {{id: {build_id}, upstreams: [{upstream.address}], verify: false}}")
    return "\n".join(lines) + "\n"


SAMPLE = re.compile(r'^(\w+)\{([^}]*)\} (\S+)$')


def metric(text, name, **labels):
    """The value of the series `name` whose labels include `labels` (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


class ReplayTest(SkewAssertions, GatewayTestCase):

    def upstream(self, build_id, version, actions=(), static=()):
        u = NextUpstream(build_id, version, actions, static)
        self.addCleanup(u.stop)
        return u

    def gateway(self, builds, app_extra=None):
        return self.start_gateway(config_text=render("{port}", builds, app_extra))

    def post_action(self, gw, action_id, body, target="/cart"):
        return exchange(gw.port, "POST", target, headers=action_headers(action_id), body=body)

    def metrics(self, gw):
        conn = http.client.HTTPConnection("127.0.0.1", gw.admin_port, timeout=IO_TIMEOUT)
        try:
            conn.request("GET", "/metrics")
            return conn.getresponse().read().decode()
        finally:
            conn.close()

    def assertMetric(self, gw, name, value, **labels):
        """Workers publish their counts every interval (metrics/stats_board.h): wait, bounded."""
        text = wait_for(lambda: (lambda t: t if metric(t, name, **labels) == value else None)(self.metrics(gw)), 5.0)
        if text is None:
            text = self.metrics(gw)
            self.assertEqual(metric(text, name, **labels), value,
                             f"{name}{labels}: " + "\n".join(l for l in text.splitlines() if l.startswith(name)))

    def action_log(self, upstream):
        return [(e["method"], e["action"], e["status"], e["body_sha256"]) for e in upstream.log()
                if e["method"] == "POST"]

    # ---- item 3 ----

    def test_an_action_the_current_build_does_not_know_is_replayed_on_the_build_that_does(self):
        for version in ("16.4", "15.4", "15.1"):
            with self.subTest(next=version):
                old = self.upstream("dpl-a", version, actions=[ACTION])
                current = self.upstream("dpl-b", version, actions=[ACTION_B])
                gw = self.gateway([("dpl-a", old), ("dpl-b", current)])
                body = b'["$K1",{"qty":2}]' + pattern(5000)
                sha = hashlib.sha256(body).hexdigest()

                resp = self.post_action(gw, ACTION, body)
                self.assertEqual((resp.status, resp.header("content-type"), resp.header("x-served-by")),
                                 (200, "text/x-component", "dpl-a"), resp)
                self.assertEqual(json.loads(resp.body[2:]), {"build": "dpl-a", "action": ACTION, "body_sha256": sha})
                self.assertIsNone(resp.header("x-nextjs-action-not-found"))
                # Current answered "not found" once; the old build ran the call, same bytes.
                self.assertEqual(self.action_log(current), [("POST", ACTION, NOT_FOUND_STATUS[version], sha)])
                self.assertEqual(self.action_log(old), [("POST", ACTION, 200, sha)])

                entry = self.wait_log(gw, lambda e: e.get("kind") == "action")
                self.assertEqual({k: entry.get(k) for k in ("build", "outcome", "detail", "tried", "status")},
                                 {"build": "dpl-a", "outcome": "rerouted", "detail": "action_replayed",
                                  "tried": ["dpl-b"], "status": 200})
                self.assertMetric(gw, "skewgate_requests_total", 1, app="shop", build="dpl-a", kind="action",
                                  outcome="rerouted")
                self.assertMetric(gw, "skewgate_requests_total", 1, kind="action")

    def test_a_discarded_answer_read_whole_leaves_its_connection_to_the_next_request(self):
        # The miss (and a 404 for an asset) comes whole with its head: skewgate reads past it
        # and keeps the connection, so a stream of stale calls costs current no new connection
        # (it cost one each: a connect, and a TIME_WAIT on our side).
        for version in ("16.4", "15.4", "15.1"):
            with self.subTest(next=version):
                old = self.upstream("dpl-a", version, actions=[ACTION], static=[CHUNK])
                current = self.upstream("dpl-b", version)
                gw = self.gateway([("dpl-a", old), ("dpl-b", current)])
                for i in range(3):
                    resp = self.post_action(gw, ACTION, b"[%d]" % i)
                    self.assertEqual((resp.status, resp.header("x-served-by")), (200, "dpl-a"), resp)
                    resp = exchange(gw.port, "GET", CHUNK)
                    self.assertEqual((resp.status, resp.header("x-served-by")), (200, "dpl-a"), resp)
                seen = [(e["method"], e["status"], e["conn"]) for e in current.log()]
                self.assertEqual([(m, st) for m, st, _ in seen],
                                 [("POST", NOT_FOUND_STATUS[version]), ("GET", 404)] * 3)
                self.assertEqual({c for _, _, c in seen}, {1}, seen)
                self.assertEqual({e["conn"] for e in old.log()}, {1})

    def test_an_action_no_kept_build_knows_gets_the_reload_answer_after_one_try_each(self):
        # An upgrade: the old build is 15.1 (answers the page), current is 16.4.
        oldest = self.upstream("dpl-0", "15.4")
        old = self.upstream("dpl-a", "15.1", actions=[ACTION])
        current = self.upstream("dpl-b", "16.4", actions=[ACTION_B])
        gw = self.gateway([("dpl-0", oldest), ("dpl-a", old), ("dpl-b", current)])
        resp = self.post_action(gw, UNKNOWN, b"[]", target="/cart?step=2")
        self.assertReloadAnswer(resp, "/cart?step=2", "action_not_found", "unknown")
        sha = hashlib.sha256(b"[]").hexdigest()
        self.assertEqual(self.action_log(current), [("POST", UNKNOWN, 409, sha)])
        self.assertEqual(self.action_log(old), [("POST", UNKNOWN, 200, sha)])
        self.assertEqual(self.action_log(oldest), [("POST", UNKNOWN, 404, sha)])
        entry = self.wait_log(gw, lambda e: e.get("kind") == "action")
        self.assertEqual({k: entry.get(k) for k in ("build", "outcome", "detail", "tried", "status")},
                         {"build": "", "outcome": "answered", "detail": "action_not_found",
                          "tried": ["dpl-b", "dpl-a", "dpl-0"], "status": 200})
        self.assertMetric(gw, "skewgate_reload_required_total", 1, app="shop", kind="action",
                          reason="action_not_found")
        self.assertMetric(gw, "skewgate_requests_total", 1, kind="action", outcome="answered")
        self.assertMetric(gw, "skewgate_requests_total", 1, kind="action")

    def test_an_answer_that_ran_is_never_replayed(self):
        old = self.upstream("dpl-a", "15.1", actions=[ACTION, ACTION_B])
        current = self.upstream("dpl-b", "15.1", actions=[ACTION_B])
        gw = self.gateway([("dpl-a", old), ("dpl-b", current)])
        # Current knows it: served there, once.
        resp = self.post_action(gw, ACTION_B, b"[1]")
        self.assertEqual((resp.status, resp.header("x-served-by")), (200, "dpl-b"), resp)
        # A no-JS form post answered with the page is passed on (a known action does that too).
        content_type, body = urlencoded_form(ACTION)
        resp = exchange(gw.port, "POST", "/cart", headers=[("content-type", content_type),
                                                           ("origin", "http://shop.test")], body=body)
        self.assertEqual((resp.status, resp.header("x-served-by")), (200, "dpl-b"), resp)
        self.assertIn(b"page of dpl-b", resp.body)
        # An API POST is never an action, whatever it is answered.
        resp = exchange(gw.port, "POST", "/api/x", headers=[("content-type", "application/json")], body=b"{}")
        self.assertEqual((resp.status, resp.header("x-served-by")), (200, "dpl-b"), resp)
        self.assertEqual([e for e in old.log() if e["method"] == "POST"], [])

    def test_a_body_over_replay_bytes_gets_the_reload_answer_and_runs_nowhere_else(self):
        old = self.upstream("dpl-a", "16.4", actions=[ACTION])
        current = self.upstream("dpl-b", "16.4")
        gw = self.gateway([("dpl-a", old), ("dpl-b", current)], app_extra={"actions": {"replay_bytes": "1KiB"}})
        resp = self.post_action(gw, ACTION, pattern(4096))
        self.assertReloadAnswer(resp, "/cart", "action_not_found", "unknown")
        self.assertEqual(self.action_log(old), [])
        # Within the limit: replayed.
        resp = self.post_action(gw, ACTION, pattern(1024))
        self.assertEqual((resp.status, resp.header("x-served-by")), (200, "dpl-a"), resp)

    # ---- item 4 ----

    def test_an_asset_current_lacks_is_served_by_the_newest_kept_build_that_has_it(self):
        old = self.upstream("dpl-a", "16.4", static=[CHUNK])
        mid = self.upstream("dpl-m", "16.4")
        current = self.upstream("dpl-b", "16.4")
        gw = self.gateway([("dpl-a", old), ("dpl-m", mid), ("dpl-b", current)])
        for method in ("GET", "HEAD"):
            with self.subTest(method=method):
                resp = exchange(gw.port, method, CHUNK, headers=[("accept", "*/*"), ("sec-fetch-dest", "script")])
                self.assertEqual((resp.status, resp.header("x-served-by")), (200, "dpl-a"), resp)
                self.assertEqual(resp.body, b"" if method == "HEAD" else f"/* dpl-a {CHUNK} */".encode())
                self.assertEqual(resp.header("cache-control"), "public, max-age=31536000, immutable")
        # Newest first: current, then dpl-m, then dpl-a; each once per request.
        for upstream in (current, mid, old):
            self.assertEqual([(e["method"], e["status"]) for e in upstream.log()],
                             [("GET", 200 if upstream is old else 404), ("HEAD", 200 if upstream is old else 404)])
        entry = self.wait_log(gw, lambda e: e.get("kind") == "asset")
        self.assertEqual({k: entry.get(k) for k in ("build", "outcome", "detail", "tried")},
                         {"build": "dpl-a", "outcome": "rerouted", "detail": "asset_fallback",
                          "tried": ["dpl-b", "dpl-m"]})
        self.assertMetric(gw, "skewgate_requests_total", 2, build="dpl-a", kind="asset", outcome="rerouted")
        self.assertMetric(gw, "skewgate_requests_total", 2, kind="asset")

    def test_an_asset_no_build_has_gets_the_last_404_with_no_store_after_at_most_fallback_builds_tries(self):
        ups = [self.upstream(f"dpl-{i}", "16.4") for i in range(5)]
        gw = self.gateway([(u.build_id, u) for u in ups], app_extra={"assets": {"fallback_builds": 2}})
        resp = exchange(gw.port, "GET", "/_next/static/chunks/gone.js")
        self.assertEqual((resp.status, resp.header("cache-control")), (404, "no-store"), resp)
        self.assertEqual(resp.header("x-served-by"), "dpl-2")
        self.assertEqual([len(u.log()) for u in ups], [0, 0, 1, 1, 1])
        # With dpl the request names its build: no fallback.
        resp = exchange(gw.port, "GET", "/_next/static/chunks/gone.js?dpl=dpl-4")
        self.assertEqual((resp.status, resp.header("x-served-by")), (404, "dpl-4"), resp)
        self.assertEqual([len(u.log()) for u in ups], [0, 0, 1, 1, 2])


if __name__ == "__main__":
    unittest.main()
