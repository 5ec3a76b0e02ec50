"""Support for the control-plane tests (issue 9): a skewgate process that can be
killed with SIGKILL and started again on the same config and state_dir, the admin
API client, the CLI, and config rendering for `registry: api` and `registry: config`.

Everything runs on 127.0.0.1. Every wait is bounded. Only processes started here are
signalled, by PID, and every one of them is registered for cleanup with the test case.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness import (yaml_flow as flow, yaml_scalar as scalar, IO_TIMEOUT, SKEWGATE_BIN, START_TIMEOUT, ConnectionClosed, RawConnection, free_port,
                     request_bytes, stop_process, wait_for)

TOKEN = "control-plane-test-token-7f3a9c1e5b"
CLI_TIMEOUT = 30.0  # seconds for one CLI invocation (deploy polls health)
RELOAD_HEADER = "x-skewgate-reload"



def render(port, admin_port, state_dir, apps, token_file=None, workers=2, watch=None, access_log=False,
           extra_top=None, admin_extra=None):
    """skewgate YAML. apps: dicts {name, hosts, registry?, current?, builds?: [{id, upstreams, state?}],
    retention?, actions?}. Top-level keys in extra_top (a dict) are written as flow YAML; admin_extra
    (a dict) is merged into the admin block."""
    admin = {"address": f"127.0.0.1:{admin_port}"}
    if token_file:
        admin["token_file"] = token_file
    admin.update(admin_extra or {})
    lines = [f"listeners: [{{address: 127.0.0.1:{port}}}]",
             f"workers: {workers}",
             f"admin: {flow(admin)}",
             f"state_dir: {scalar(state_dir)}",
             "timeouts: {upstream_connect: 1s, upstream_response: 10s, drain: 10s, client_header: 10s}"]
    if access_log:
        lines.append("access_log: {path: stdout, format: json}")
    if watch is not None:
        lines.append(f"watch: {scalar(watch)}")
    for key, value in (extra_top or {}).items():
        lines.append(f"{key}: {flow(value)}")
    lines.append("apps:")
    for app in apps:
        lines.append(f"  - name: {scalar(app['name'])}")
        lines.append(f"    hosts: {flow(app['hosts'])}")
        if "registry" in app:
            lines.append(f"    registry: {app['registry']}")
        if "retention" in app:
            lines.append(f"    retention: {flow(app['retention'])}")
        if "actions" in app:
            lines.append(f"    actions: {flow(app['actions'])}")
        if "current" in app:
            lines.append(f"    current: {scalar(app['current'])}")
        if "builds" in app:
            lines.append("    builds:")
            for b in app["builds"]:
                lines.append(f"      - {flow(b)}")
    return "\n".join(lines) + "\n"


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class AdminReply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<AdminReply {self.status} {self.body[:400]!r}>"


class Skewgate:
    """A skewgate process on a config file in its own work dir; kill -9 and restart keep
    the config file and state_dir. `proc` is the running process (the newest one)."""

    def __init__(self, testcase, render_fn, token=None, token_via="file", env_extra=None, workdir=None,
                 config_dir=None):
        """render_fn(sg) -> YAML text (sg has port, admin_port, state_dir, token_file).
        token: admin token; token_via "file" (admin.token_file) or "env" (SKEWGATE_ADMIN_TOKEN)."""
        self.testcase = testcase
        self.port = free_port()
        self.admin_port = free_port()
        self.workdir = workdir or tempfile.mkdtemp(prefix="skewgate-cp-")
        self.state_dir = os.path.join(self.workdir, "state")
        # config_dir: a subdirectory of its own for the config file (a watched directory
        # where the logs are not written).
        if config_dir:
            os.makedirs(os.path.join(self.workdir, config_dir), exist_ok=True)
        self.config_path = os.path.join(self.workdir, config_dir or "", "skewgate.yaml")
        self.token = token
        self.token_file = None
        self.env = {k: v for k, v in os.environ.items() if k not in ("SKEWGATE_ADMIN_TOKEN", "SKEWGATE_ADMIN")}
        if token and token_via == "file":
            self.token_file = os.path.join(self.workdir, "admin-token")
            with open(self.token_file, "w") as f:
                f.write(token + "\n")
            os.chmod(self.token_file, 0o600)
        elif token:
            self.env["SKEWGATE_ADMIN_TOKEN"] = token
        self.env.update(env_extra or {})
        self.render_fn = render_fn
        self.procs = []  # every process started, for cleanup
        self.proc = None
        self.starts = 0
        testcase.addCleanup(self._cleanup)
        if render_fn is not None:
            self.write_config(render_fn(self))

    # ---- processes ----

    def write_config(self, text):
        write_atomically(self.config_path, text)

    def _log_paths(self, n):
        return (os.path.join(self.workdir, f"stdout.{n}.log"), os.path.join(self.workdir, f"stderr.{n}.log"))

    def spawn(self, extra_args=()):
        """Start a process on the config file; do not wait. Returns (proc, stderr path)."""
        self.starts += 1
        out_path, err_path = self._log_paths(self.starts)
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen([SKEWGATE_BIN, "-c", self.config_path, *extra_args], stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL, env=self.env)
        proc.stderr_path = err_path
        proc.stdout_path = out_path
        self.procs.append(proc)
        return proc

    def start(self, timeout=START_TIMEOUT):
        """Start and wait until the proxy port accepts and /readyz is 200."""
        proc = self.spawn()
        self.proc = proc

        def ready():
            if proc.poll() is not None:
                raise RuntimeError(f"skewgate exited with {proc.returncode} at start; stderr: "
                                   f"{read_text(proc.stderr_path)[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            except OSError:
                return False
            try:
                return self.admin("GET", "/readyz", timeout=1.0).status == 200
            except (OSError, http.client.HTTPException):
                return False

        if not wait_for(ready, timeout):
            stop_process(proc)
            raise RuntimeError(f"skewgate not ready within {timeout}s; stderr: "
                               f"{read_text(proc.stderr_path)[-2000:]}")
        return self

    def start_expect_exit(self, timeout=START_TIMEOUT):
        """Start a process that must refuse to run: (exit code or None if still running, stderr)."""
        proc = self.spawn()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_process(proc)
            code = None
        return code, read_text(proc.stderr_path)

    def kill9(self):
        """SIGKILL by PID, no chance to flush anything."""
        proc = self.proc
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=IO_TIMEOUT)
        # The kernel releases the listening sockets with the process; wait (bounded)
        # until nothing accepts so the restart cannot be mistaken for the old one.
        wait_for(lambda: not _accepts(self.port), 5.0)

    def restart_after_kill9(self):
        self.kill9()
        return self.start()

    def stop(self):
        return stop_process(self.proc)

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stderr_text(self, proc=None):
        return read_text((proc or self.proc).stderr_path)

    def stdout_text(self, proc=None):
        return read_text((proc or self.proc).stdout_path)

    def _cleanup(self):
        for proc in self.procs:
            stop_process(proc)
        if test_failed(self.testcase):
            import sys
            for i, proc in enumerate(self.procs, 1):
                sys.stderr.write(f"\n--- skewgate #{i} stderr ({self.workdir}) exit {proc.returncode} ---\n"
                                 f"{read_text(proc.stderr_path)[-3000:]}\n")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # ---- admin API ----

    def admin(self, method, path, body=None, token="default", headers=None, timeout=IO_TIMEOUT):
        """One admin request; token "default" = this gateway's token (if any), None = none."""
        if token == "default":
            token = self.token
        h = {"Host": f"127.0.0.1:{self.admin_port}"}
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        elif isinstance(body, str):
            body = body.encode()
        if body is None and method == "POST":
            body = b""
        if method not in ("GET", "HEAD"):
            h.setdefault("Content-Type", "application/json")  # what the admin API requires of mutations
        h.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            return AdminReply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def app(self, name="shop"):
        r = self.admin("GET", f"/api/v1/apps/{name}")
        if r.status != 200:
            raise AssertionError(f"GET /api/v1/apps/{name}: {r!r}")
        return r.json()

    def current(self, name="shop"):
        return self.app(name)["current"]

    # ---- CLI ----

    def cli(self, *args, admin=None, token_file="default", json_out=False, env_extra=None, timeout=CLI_TIMEOUT):
        """Run `skewgate ARGS --admin URL [--token-file F] [--json]`: (exit code, stdout, stderr)."""
        argv = [SKEWGATE_BIN, *args, "--admin", admin or f"http://127.0.0.1:{self.admin_port}"]
        if token_file == "default":
            token_file = self.token_file
        if token_file:
            argv += ["--token-file", token_file]
        if json_out:
            argv.append("--json")
        env = {k: v for k, v in os.environ.items() if k not in ("SKEWGATE_ADMIN_TOKEN", "SKEWGATE_ADMIN")}
        if self.token and not self.token_file and token_file is not None:
            env["SKEWGATE_ADMIN_TOKEN"] = self.token
        env.update(env_extra or {})
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           env=env, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")

    # ---- the proxy ----

    def request(self, method="GET", target="/", host="shop.test", headers=(), body=None, timeout=IO_TIMEOUT):
        conn = RawConnection(self.port, timeout=timeout)
        try:
            conn.send(request_bytes(method, target, host, list(headers), body))
            return conn.read_response(method)
        finally:
            conn.close()

    def served(self, host="shop.test", headers=(), target="/"):
        """x-served-by of a plain document GET (None for a local answer)."""
        return self.request("GET", target, host, headers).header("x-served-by")

    def rsc(self, build_id, host="shop.test", target="/page?_rsc=1"):
        return self.request("GET", target, host, [("rsc", "1"), ("x-deployment-id", build_id), ("accept", "*/*")])


def test_failed(testcase):
    """During cleanups: has this test failed? (Python 3.11 leaves _outcome.success True for
    failures reported through the result, so the result's lists are checked too.)"""
    outcome = getattr(testcase, "_outcome", None)
    if outcome is None:
        return False
    result = getattr(outcome, "result", None)
    reported = list(getattr(result, "failures", [])) + list(getattr(result, "errors", []))
    return not getattr(outcome, "success", True) or any(t is testcase for t, _ in reported)


def _accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.3).close()
        return True
    except OSError:
        return False


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def durable_view(app_json):
    """What an acknowledged change fixes and a restart must bring back exactly: current,
    and per build id, state, upstreams, superseded_at, retired_by, has_manifest (not the
    live counters: age, last request, health)."""
    builds = {}
    for b in app_json["builds"]:
        builds[b["id"]] = {k: b.get(k) for k in ("state", "upstreams", "superseded_at", "retired_by",
                                                  "has_manifest")}
    return {"name": app_json["name"], "registry": app_json["registry"], "current": app_json["current"],
            "builds": builds}


def wait_until(predicate, timeout, interval=0.05):
    """Like harness.wait_for, but predicate errors (connection refused, closed) count as False."""
    def probe():
        try:
            return predicate()
        except (OSError, ConnectionClosed, ValueError, http.client.HTTPException):
            return False
    return wait_for(probe, timeout, interval)


def takeover(sg, timeout=5.0, exit_timeout=20.0):
    """Start a second `skewgate -c SAME_CONFIG` while sg.proc runs. Returns
    (supported, detail). Supported: the new process says "took over" on stderr within
    `timeout` s and the old one exits 0 within `exit_timeout` s; sg.proc is then the new
    one. Not supported: the new process is stopped (SIGTERM by PID) and sg.proc is the
    old one, untouched."""
    old = sg.proc
    new = sg.spawn()
    said = wait_for(lambda: "took over" in read_text(new.stderr_path) or new.poll() is not None, timeout)
    if "took over" not in read_text(new.stderr_path):
        code = stop_process(new) if new.poll() is None else new.returncode
        return False, (f"the second process did not print 'took over' within {timeout}s "
                       f"(it {'exited ' + str(code) if said else 'kept running'}); stderr: "
                       f"{read_text(new.stderr_path)[-600:]!r}; the running process's stderr: "
                       f"{read_text(old.stderr_path)[-600:]!r}")
    try:
        old_code = old.wait(timeout=exit_timeout)
    except subprocess.TimeoutExpired:
        old_code = None
    sg.proc = new
    if old_code != 0:
        return True, f"old process exit: {old_code} (expected 0 within {exit_timeout}s)"
    return True, ""


# ---------------------------------------------------------------------------
# Traffic under control-plane changes

class Timeline:
    """Which build was current for each app, and when. A change is recorded with the
    monotonic times just before the operation was sent (t0) and just after it was
    acknowledged (t1): in between, either build may be current."""

    def __init__(self, initial):
        self.initial = dict(initial)  # app -> current at the start
        self.changes = {app: [] for app in initial}  # app -> [(t0, t1, old, new)] in order

    def change(self, app, t0, t1, old, new):
        self.changes[app].append((t0, t1, old, new))

    def possible(self, app, s, e):
        """Builds that may have been current for `app` at some moment in [s, e]."""
        current = self.initial[app]
        out = set()
        for t0, t1, old, new in self.changes[app]:
            if t1 <= s:
                current = new  # settled before the request started
            elif t0 <= e:
                out.update((old, new))  # in flight or started during the request
        out.add(current)
        return out


class CountingConnection(RawConnection):
    """RawConnection that counts the bytes received, so a keep-alive connection closed by
    the server before any byte of the response can be told apart from a failure."""

    def __init__(self, port, timeout=IO_TIMEOUT):
        super().__init__(port, timeout)
        self.received = 0
        self.requests = 0

    def _fill(self):
        before = len(self.buf)
        super()._fill()
        self.received += len(self.buf) - before


def body_for(rng, n):
    return (bytes(rng.getrandbits(8) for _ in range(min(n, 64))) * (n // 64 + 1))[:n]


class Traffic:
    """Client threads hammering the proxy: `keepalive` threads on persistent connections,
    `fresh` threads with one request per new connection. Each request is recorded with its
    [start, end] monotonic times and checked afterwards against the Timeline.

    Request mix (per thread, seeded): document GET (goes to current), rsc GET with
    x-deployment-id X (goes to X), POST with a body and x-deployment-id X (kind `other`:
    goes to X), POST with a body and no id (goes to current), and documents for the
    other apps in `extra_hosts` (host -> app)."""

    def __init__(self, port, app, host, kept, extra_hosts=None, keepalive=3, fresh=2, seed=9):
        import random
        import threading
        self.port = port
        self.app = app
        self.host = host
        self.kept = list(kept)  # builds that stay kept all along: header routing must reach them
        self.extra_hosts = dict(extra_hosts or {})
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.records = []  # (kind, app, want, s, e, status, served, problem)
        self.errors = []   # (kind, class, message, t)
        self.counts = {"sent": 0, "keepalive_retries": 0, "graceful_closes": 0, "connections": 0}
        self.threads = []
        for i in range(keepalive):
            self.threads.append(threading.Thread(target=self._run, args=(True, random.Random(seed * 100 + i)),
                                                 daemon=True))
        for i in range(fresh):
            self.threads.append(threading.Thread(target=self._run, args=(False, random.Random(seed * 100 + 50 + i)),
                                                 daemon=True))

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self, timeout=30.0):
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout)
        return not any(t.is_alive() for t in self.threads)

    def _pick(self, rng):
        r = rng.random()
        if self.extra_hosts and r < 0.15:
            host = rng.choice(sorted(self.extra_hosts))
            return ("document", self.extra_hosts[host], None, "GET", "/", host, [("accept", "text/html")], None)
        if r < 0.45:
            return ("document", self.app, None, "GET", "/", self.host, [("accept", "text/html")], None)
        if r < 0.70:
            x = rng.choice(self.kept)
            return ("rsc", self.app, x, "GET", "/page?_rsc=1", self.host,
                    [("rsc", "1"), ("x-deployment-id", x), ("accept", "*/*")], None)
        body = body_for(rng, rng.choice([1, 100, 4096, 40000]))
        if r < 0.88:
            x = rng.choice(self.kept)
            return ("post", self.app, x, "POST", "/api/submit", self.host,
                    [("x-deployment-id", x), ("content-type", "application/octet-stream")], body)
        return ("post-current", self.app, None, "POST", "/api/submit", self.host,
                [("content-type", "application/octet-stream")], body)

    def _run(self, keepalive, rng):
        import hashlib
        conn = None
        while not self.stop_event.is_set():
            kind, app, want, method, target, host, headers, body = self._pick(rng)
            data = request_bytes(method, target, host, headers, body)
            attempts = 0
            while True:
                attempts += 1
                reused = conn is not None and conn.requests > 0
                s = time.monotonic()
                if attempts == 1:
                    with self.lock:
                        self.counts["sent"] += 1
                try:
                    if conn is None:
                        conn = CountingConnection(self.port)
                        with self.lock:
                            self.counts["connections"] += 1
                    before = conn.received
                    conn.requests += 1
                    conn.send(data)
                    resp = conn.read_response(method)
                    e = time.monotonic()
                except Exception as exc:  # noqa: BLE001 - every failure is recorded and judged
                    e = time.monotonic()
                    nothing_back = conn is not None and conn.received == before and not conn.buf
                    if conn is not None:
                        conn.close()
                    conn = None
                    # RFC 9112 9.3.1: a request on a reused connection that the server closed
                    # before answering may be retried on a new one; clients do that once.
                    if reused and nothing_back and attempts == 1:
                        with self.lock:
                            self.counts["keepalive_retries"] += 1
                        continue
                    with self.lock:
                        self.errors.append((kind, type(exc).__name__, str(exc)[:200], s, e))
                    break
                served = resp.header("x-served-by")
                problem = None
                if resp.status == 200 and body is not None:
                    try:
                        got = json.loads(resp.body)
                        if got.get("body_sha256") != hashlib.sha256(body).hexdigest():
                            problem = f"body arrived altered ({got.get('body_length')} of {len(body)} bytes)"
                    except ValueError:
                        problem = "not the echo JSON"
                with self.lock:
                    self.records.append((kind, app, want, s, e, resp.status, served, problem))
                if not keepalive or (resp.header("connection") or "").lower() == "close":
                    if keepalive:
                        with self.lock:
                            self.counts["graceful_closes"] += 1
                    conn.close()
                    conn = None
                break
        if conn is not None:
            conn.close()

    def judge(self, timeline):
        """Counts and the first problems: every request answered 200 by a valid build."""
        resets = [x for x in self.errors if x[1] in ("ConnectionResetError", "BrokenPipeError")]
        failed = [x for x in self.errors if x[1] not in ("ConnectionResetError", "BrokenPipeError")]
        bad_status, wrong_build, altered = [], [], []
        by_kind = {}
        for kind, app, want, s, e, status, served, problem in self.records:
            by_kind[kind] = by_kind.get(kind, 0) + 1
            if status != 200:
                bad_status.append((kind, app, want, status, served))
                continue
            if problem:
                altered.append((kind, app, want, served, problem))
            valid = {want} if want else timeline.possible(app, s, e)
            if served not in valid:
                wrong_build.append((kind, app, f"served by {served}, valid: {sorted(valid)}", round(e - s, 4)))
        return {
            "sent": self.counts["sent"], "answered": len(self.records), "connections": self.counts["connections"],
            "keepalive_retries": self.counts["keepalive_retries"], "graceful_closes": self.counts["graceful_closes"],
            "failed": len(failed), "resets": len(resets), "non_200": len(bad_status), "wrong_build": len(wrong_build),
            "altered_bodies": len(altered), "by_kind": by_kind,
            "examples": {"failed": failed[:5], "resets": resets[:5], "non_200": bad_status[:5],
                         "wrong_build": wrong_build[:5], "altered": altered[:5]},
        }
