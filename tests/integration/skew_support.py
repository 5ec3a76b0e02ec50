"""Support for the skew-engine integration tests (issue 4): configs with manifests,
skew policies, health and retention; deploys by rewriting the YAML and sending SIGHUP;
byte-exact checks of skewgate's own answers; an in-process upstream whose health
check can be switched between 200 and 503.

Built on harness.py without changing it: harness.make_config has no skew, health,
retention, manifest or state_dir settings, so configs are rendered here and the
gateway is started through harness.Gateway with a work dir that also holds state_dir.
"""

import hashlib
import http.server
import json
import os
import re
import shutil
import signal
import socketserver
import tempfile
import threading
import time
import urllib.parse

from harness import (yaml_flow as flow, yaml_scalar as scalar, IO_TIMEOUT, ConnectionClosed, Gateway, RawConnection, free_port, request_bytes,
                     wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")

# Action IDs (42 hex digits, as Next.js makes them) in the fixture manifests.
ID_A_ONLY = "40a1c2e3f4051627384950a6b7c8d9e0f1a2b3c4d5"  # manifest-a.json only
ID_AB = "00ab11cd22ef33aa44bb55cc66dd77ee88ff99a0b1"      # manifest-a.json and manifest-b.json
ID_B_EDGE = "60be7d8c9b0a1f2e3d4c5b6a79880796a5b4c3d2e1"  # manifest-b.json, under "edge"
ID_C_ONLY = "7fc0ffee0123456789abcdef0123456789abcdef01"  # manifest-c.json only
ID_NONE = "1234567890abcdef1234567890abcdef12345678ff"    # in no manifest

MANIFEST = {b: os.path.join(DATA, f"manifest-{b}.json") for b in ("a", "b", "c")}


def manifest_secrets():
    """The encryptionKey of every fixture manifest: they must never leave skewgate."""
    out = []
    for path in MANIFEST.values():
        with open(path) as f:
            out.append(json.load(f)["encryptionKey"])
    return out


DEFAULT_MESSAGE = "This page is out of date. Reload to continue."
ERROR_MESSAGE = "Shop was updated: please reload this page (error policy)."

# Headers a skewgate answer may carry besides the ones a test names.
FRAMING_HEADERS = {"content-length", "connection", "date", "server"}

REASON_PHRASES = {200: "OK", 303: "See Other", 404: "Not Found", 409: "Conflict", 503: "Service Unavailable"}


# ---------------------------------------------------------------------------
# Config rendering



def build(build_id, upstreams, manifest=None, state=None):
    b = {"id": build_id, "upstreams": list(upstreams)}
    if manifest:
        b["manifest"] = manifest
    if state:
        b["state"] = state
    return b


def render_config(port, state_dir, apps, workers=1):
    """apps: dicts with name, hosts, current, builds (from build()) and optional
    skew, actions, asset_prefixes, retention, health (dicts / lists)."""
    lines = [
        f"listeners: [{{address: 127.0.0.1:{port}}}]",
        f"workers: {workers}",
        f"state_dir: {scalar(state_dir)}",
        "access_log: {path: stdout, format: json}",
        "timeouts: {upstream_connect: 1s, upstream_response: 5s, drain: 2s, client_header: 5s}",
        "apps:",
    ]
    for app in apps:
        lines.append(f"  - name: {scalar(app['name'])}")
        lines.append(f"    hosts: {flow(app['hosts'])}")
        for key in ("skew", "actions", "asset_prefixes", "retention", "health"):
            if key in app:
                lines.append(f"    {key}: {flow(app[key])}")
        lines.append(f"    current: {scalar(app['current'])}")
        lines.append("    builds:")
        for b in app["builds"]:
            lines.append(f"      - {flow(b)}")
    return "\n".join(lines) + "\n"


class SkewGateway:
    """A skewgate process with its own work dir (config, logs, state_dir), reloadable."""

    def __init__(self, testcase, render):
        """render(port, state_dir) -> YAML text."""
        self.testcase = testcase
        self.port = free_port()
        self.workdir = tempfile.mkdtemp(prefix="skewgate-skew-")
        self.state_dir = os.path.join(self.workdir, "state")
        os.makedirs(self.state_dir)
        self.gateway = Gateway(render(self.port, self.state_dir), self.port, self.workdir)
        testcase.addCleanup(self._cleanup)

    def _cleanup(self):
        self.testcase._stop_gateway(self.gateway)  # prints stderr when the test failed
        outcome = getattr(self.testcase, "_outcome", None)
        if outcome is None or getattr(outcome, "success", True):
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def config_path(self):
        return self.gateway.config_path

    def restart(self):
        """Stop (SIGTERM by PID) and start again with the same config file and state_dir."""
        self.gateway.stop()
        with open(self.config_path) as f:
            text = f.read()
        self.gateway = Gateway(text, self.port, self.workdir)

    def reload(self, render, ready, timeout=15.0, what="the new config"):
        """Write the new config atomically, SIGHUP, and wait (bounded) until ready() holds."""
        if not wait_for(self.gateway.catches_sighup, 5.0):
            raise AssertionError("skewgate does not catch SIGHUP 5 s after it started accepting")
        text = render(self.port, self.state_dir)
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config_path)
        self.gateway.signal(signal.SIGHUP)

        def probe():
            try:
                return ready()
            except (OSError, ConnectionClosed, ValueError, AssertionError):
                return False

        if not wait_for(probe, timeout, interval=0.1):
            code = self.gateway.proc.poll()
            if code is not None:
                raise AssertionError(f"skewgate exited ({code}) after SIGHUP for {what}; "
                                     f"stderr: {self.gateway.stderr_text()[-2000:]}")
            raise AssertionError(f"skewgate did not apply {what} within {timeout}s after SIGHUP; "
                                 f"stderr: {self.gateway.stderr_text()[-2000:]}")

    def logs(self):
        return self.gateway.stdout_text() + self.gateway.stderr_text()


# ---------------------------------------------------------------------------
# Requests

def exchange(port, method="GET", target="/", host="shop.test", headers=(), body=None, timeout=IO_TIMEOUT):
    """One request on a fresh connection; the harness Response (raw head kept)."""
    conn = RawConnection(port, timeout=timeout)
    try:
        conn.send(request_bytes(method, target, host, list(headers), body))
        return conn.read_response(method)
    finally:
        conn.close()


def served_by(resp):
    return resp.header("x-served-by")


def echo(resp):
    """The upstream's echo of a proxied request (requires a 200 JSON answer)."""
    if resp.status != 200 or not resp.header("x-served-by"):
        raise AssertionError(f"expected a proxied 200, got {resp!r}")
    return json.loads(resp.body)


def chunked(body, sizes):
    """Chunked encoding of body with chunk sizes cycling through `sizes`."""
    out = bytearray()
    i = 0
    k = 0
    while i < len(body):
        n = sizes[k % len(sizes)]
        k += 1
        piece = body[i:i + n]
        i += len(piece)
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    out += b"0\r\n\r\n"
    return bytes(out)


def pattern(n, seed=0):
    out = bytearray()
    counter = seed
    while len(out) < n:
        out += hashlib.sha256(counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:n])


BOUNDARY = "----WebKitFormBoundaryQ3tV8sZk1xY7mP0a"


def multipart(fields, boundary=BOUNDARY):
    """fields: list of (name, value bytes/str, filename or None). Returns (content_type, body)."""
    out = bytearray()
    for name, value, filename in fields:
        if isinstance(value, str):
            value = value.encode()
        out += f"--{boundary}\r\n".encode()
        if filename:
            out += (f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    f"Content-Type: application/octet-stream\r\n\r\n").encode()
        else:
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", bytes(out)


def no_js_form(action_id, extra_fields=()):
    """What React renders for <form action={serverAction}> without JS: $ACTION_ID_<id>, then the inputs."""
    return multipart([(f"$ACTION_ID_{action_id}", "", None), *extra_fields])


def urlencoded_form(action_id, extra="qty=2&note=a+b%26c"):
    return ("application/x-www-form-urlencoded",
            f"%24ACTION_ID_{action_id}=&{extra}".encode())


def action_headers(action_id, deployment_id=None, name="next-action", accept="text/x-component",
                   origin="http://shop.test"):
    """A Next.js client action fetch (design.md section 2). The browser's Origin is the
    page's own host (security.check_origin rejects any other)."""
    h = [(name, action_id), ("accept", accept), ("origin", origin),
         ("content-type", "text/plain;charset=UTF-8"),
         ("next-router-state-tree", "%5B%22%22%2C%7B%22children%22%3A%5B%22cart%22%5D%7D%5D")]
    if deployment_id:
        h.append(("x-deployment-id", deployment_id))
    return h


def rsc_headers(deployment_id=None, prefetch=False, name="rsc"):
    h = [(name, "1"), ("next-router-state-tree", "%5B%22%22%2C%7B%7D%5D"), ("accept", "*/*")]
    if prefetch:
        h.append(("next-router-prefetch", "1"))
    if deployment_id:
        h.append(("x-deployment-id", deployment_id))
    return h


def document_headers(deployment_id=None):
    h = [("accept", "text/html,application/xhtml+xml"), ("sec-fetch-mode", "navigate")]
    if deployment_id:
        h.append(("x-deployment-id", deployment_id))
    return h


WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def upgrade_served_by(port, host="shop.test", deployment_id=None):
    """Open a websocket through skewgate; the x-served-by of the 101."""
    headers = [("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Key", WS_KEY),
               ("Sec-WebSocket-Version", "13")]
    if deployment_id:
        headers.append(("x-deployment-id", deployment_id))
    conn = RawConnection(port)
    try:
        conn.send(request_bytes("GET", "/ws", host, headers))
        status, _, head, _ = conn.read_head()
        if status != 101:
            raise AssertionError(f"expected 101, got {status} {head}")
        return next((v for k, v in head if k.lower() == "x-served-by"), None)
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# Byte-exact answer checks

class SkewAssertions:
    """Mixin for unittest.TestCase."""

    def assertAnswerHead(self, resp, status, expected, optional=()):
        """Status line exact; each (name, value) in `expected` present exactly once with the
        exact value bytes; no header outside expected + framing + `optional` names."""
        lines = resp.raw_head[:-4].split(b"\r\n")
        self.assertEqual(lines[0].decode("latin-1"), f"HTTP/1.1 {status} {REASON_PHRASES[status]}",
                         f"status line; response {resp!r}")
        seen = {}
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            self.assertTrue(sep, f"bad header line {line!r}")
            seen.setdefault(name.decode("latin-1").lower(), []).append(value.strip(b" \t"))
        for name, value in expected:
            got = seen.get(name.lower(), [])
            self.assertEqual(got, [value.encode("latin-1")],
                             f"header {name}: expected exactly [{value!r}], got {got!r}; head {resp.raw_head!r}")
        allowed = {n.lower() for n, _ in expected} | FRAMING_HEADERS | {n.lower() for n in optional}
        extra = sorted(set(seen) - allowed)
        self.assertEqual(extra, [], f"unexpected headers {extra}; head {resp.raw_head!r}")
        if "content-length" in seen:
            self.assertEqual(seen["content-length"], [str(len(resp.body)).encode()])
        else:
            self.fail(f"answer without content-length: {resp.raw_head!r}")

    @staticmethod
    def reload_header(reason, client_build):
        return ("x-skewgate-reload", f"required; reason={reason}; build={client_build}")

    def assertReloadAnswer(self, resp, path_and_query, reason, client_build):
        """Policy reload: 200, x-action-redirect, empty text/plain, no-store."""
        self.assertAnswerHead(resp, 200, [("content-type", "text/plain"), ("cache-control", "no-store"),
                                          ("x-action-redirect", path_and_query),
                                          self.reload_header(reason, client_build)])
        self.assertEqual(resp.body, b"")

    def assertErrorAnswer(self, resp, reason, client_build, message=ERROR_MESSAGE):
        """Policy error: 409 text/plain (exactly), body = message, and no x-nextjs-action-not-found
        (Next.js 16.4 would throw its own error without reading the body)."""
        self.assertAnswerHead(resp, 409, [("content-type", "text/plain"), ("cache-control", "no-store"),
                                          self.reload_header(reason, client_build)])
        self.assertEqual(resp.body, message.encode())

    def assertJsonAnswer(self, resp, reason, client_build, current_build, reload):
        self.assertAnswerHead(resp, 409, [("content-type", "application/json"), ("cache-control", "no-store"),
                                          self.reload_header(reason, client_build)])
        self.assertEqual(json.loads(resp.body), {"error": "reload_required", "reason": reason,
                                                 "client_build": client_build, "current_build": current_build,
                                                 "reload": reload})
        self.assertEqual(list(json.loads(resp.body)), ["error", "reason", "client_build", "current_build", "reload"])

    def assertSeeOther(self, resp, location, reason, client_build):
        """No-JS form post: 303 to the same path and query."""
        self.assertAnswerHead(resp, 303, [("location", location), ("cache-control", "no-store"),
                                          self.reload_header(reason, client_build)],
                              optional=("content-type",))

    def assertRscAnswer(self, resp, reason, client_build):
        """RSC: 409 text/plain + no-store + the structured header (never a 3xx)."""
        self.assertAnswerHead(resp, 409, [("content-type", "text/plain"), ("cache-control", "no-store"),
                                          self.reload_header(reason, client_build)])

    def assertServedBy(self, resp, build_id, msg=None):
        self.assertEqual((resp.status, served_by(resp)), (200, build_id),
                         msg or f"expected a 200 from {build_id}, got {resp!r}")


# ---------------------------------------------------------------------------
# An upstream whose health check answer can be switched

class ToggleUpstream:
    """HTTP/1.1 server in a thread of the test process: `health_path` answers 200 while
    healthy, else 503; every other request gets the echo JSON (like upstream.py) with
    x-served-by. Stopped in a cleanup (no process to kill)."""

    def __init__(self, build_id, health_path="/health"):
        self.build_id = build_id
        self.health_path = health_path
        self.healthy = True
        self.health_checks = 0
        self.requests = 0
        self.lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30

            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                path = urllib.parse.urlsplit(self.path).path
                if path == owner.health_path:
                    with owner.lock:
                        owner.health_checks += 1
                        ok = owner.healthy
                    status, payload = (200, b"ok") if ok else (503, b"unhealthy")
                    ctype = "text/plain"
                else:
                    with owner.lock:
                        owner.requests += 1
                    status, ctype = 200, "application/json"
                    payload = json.dumps({
                        "build": owner.build_id, "method": self.command, "target": self.path,
                        "headers": [[k, v] for k, v in self.headers.items()],
                        "body_length": len(body), "body_sha256": hashlib.sha256(body).hexdigest(),
                    }).encode()
                self.send_response(status)
                self.send_header("x-served-by", owner.build_id)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _answer

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def set_healthy(self, healthy):
        with self.lock:
            self.healthy = healthy

    def checks(self):
        with self.lock:
            return self.health_checks

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def wait_until(testcase, predicate, timeout, what, gateway=None):
    """Bounded poll; fails the test with `what` (and the gateway's stderr tail) on timeout."""
    def probe():
        try:
            return predicate()
        except (OSError, ConnectionClosed, ValueError):
            return False
    start = time.monotonic()
    ok = wait_for(probe, timeout, interval=0.1)
    if not ok:
        tail = gateway.gateway.stderr_text()[-1500:] if gateway else ""
        testcase.fail(f"timed out after {timeout}s waiting for {what}; stderr: {tail}")
    return time.monotonic() - start
