"""Harness for skewgate integration tests: the real binary, real upstream processes.

Everything runs on 127.0.0.1 with ports picked by binding port 0. Every wait is
bounded. Processes are started by this harness and stopped by their PID only
(SIGTERM, then SIGKILL after a bound), through unittest's addCleanup.

The binary comes from $SKEWGATE_BIN (tests/CMakeLists.txt sets it), else
../../build/skewgate relative to this file.
"""

import hashlib
import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
UPSTREAM_PY = os.path.join(HERE, "..", "support", "upstream.py")
SKEWGATE_BIN = os.environ.get("SKEWGATE_BIN") or os.path.join(HERE, "..", "..", "build", "skewgate")

START_TIMEOUT = 10.0  # seconds for a process to become ready
STOP_TIMEOUT = 10.0   # seconds between SIGTERM and SIGKILL
IO_TIMEOUT = 10.0     # default socket timeout in tests


def free_port():
    """A port nothing listens on right now (bound to 0, then released)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_free(port):
    """A server could bind 127.0.0.1:port right now: nothing listens there. SO_REUSEADDR as
    skewgate and the upstreams use it, so connections of an earlier run left in TIME_WAIT
    on that port do not count as taken."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_for(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def stop_process(proc, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
    """Signal our own child by PID; SIGKILL after the bound. Returns its exit code."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=timeout)
    return proc.returncode


class Upstream:
    """One tests/support/upstream.py process."""

    def __init__(self, build_id, port=None, mode="echo"):
        self.build_id = build_id
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, UPSTREAM_PY, "--port", str(self.port), "--id", build_id, "--mode", mode],
            stdout=subprocess.PIPE, stderr=self.stderr, stdin=subprocess.DEVNULL)
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT)
        line = self.proc.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            # Stop first (so its stderr is complete), read it before stop()
            # closes the file: the reason it did not start is in there.
            stop_process(self.proc)
            self.stderr.seek(0)
            err = self.stderr.read()
            self.stop()
            raise RuntimeError(f"upstream {build_id} on {self.port} did not start: {line!r} {err!r}")

    def stats(self):
        """Ask the upstream directly (not through skewgate) what it has seen."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=IO_TIMEOUT)
        try:
            conn.request("GET", "/__stats")
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def stop(self):
        stop_process(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.stderr.close()


class Gateway:
    """One skewgate process with a config file in a temp dir."""

    def __init__(self, config_text, port, workdir):
        """config_text None: no -c, the embedded default config (which must listen on `port`)."""
        self.port = port
        self.workdir = workdir
        args = [SKEWGATE_BIN]
        if config_text is not None:
            # Every gateway gets its own admin port and state_dir so tests can
            # run in parallel (ctest -j2) without sharing either.
            if not re.search(r"^admin:", config_text, re.M):
                self.admin_port = free_port()
                config_text += f"admin: {{address: 127.0.0.1:{self.admin_port}}}\n"
            if not re.search(r"^state_dir:", config_text, re.M):
                config_text += f"state_dir: {os.path.join(workdir, 'state')}\n"
            self.config_path = os.path.join(workdir, "skewgate.yaml")
            with open(self.config_path, "w") as f:
                f.write(config_text)
            args += ["-c", self.config_path]
        self.stdout_path = os.path.join(workdir, "stdout.log")
        self.stderr_path = os.path.join(workdir, "stderr.log")
        self._stdout = open(self.stdout_path, "wb")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(args,
                                     stdout=self._stdout, stderr=self._stderr,
                                     stdin=subprocess.DEVNULL)
        if not wait_for(self._accepts, START_TIMEOUT):
            self.stop()
            raise RuntimeError(f"skewgate did not accept on 127.0.0.1:{port} within "
                               f"{START_TIMEOUT}s (exit {self.proc.returncode}); "
                               f"stderr: {self.stderr_text()[-2000:]}")

    def _accepts(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"skewgate exited with {self.proc.returncode} at start; "
                               f"stderr: {self.stderr_text()[-2000:]}")
        # main.cc opens the admin listener after the proxy listeners: a test that
        # goes straight to the admin API must not find it closed.
        ports = [self.port] + ([self.admin_port] if getattr(self, "admin_port", None) else [])
        try:
            for port in ports:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def stdout_text(self):
        with open(self.stdout_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def access_log(self):
        """JSON access-log lines written so far (other lines ignored)."""
        entries = []
        for line in self.stdout_text().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    pass
        return entries

    def catches_sighup(self):
        """True once the process has a SIGHUP handler (Linux: SigCgt in /proc/PID/status), so
        a reload's SIGHUP cannot take the default action and kill it. True without procfs."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("SigCgt:"):
                        return bool(int(line.split()[1], 16) & (1 << (signal.SIGHUP - 1)))
        except OSError:
            return True
        return True

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def wait(self, timeout):
        """Exit code, or None if still running after timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        code = stop_process(self.proc)
        self._stdout.close()
        self._stderr.close()
        return code



# ---------------------------------------------------------------------------
# YAML flow collections for test configs.

_PLAIN_SCALAR = re.compile(r"^[A-Za-z0-9_./:-]+$")


def yaml_scalar(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    value = str(value)
    return value if _PLAIN_SCALAR.match(value) else json.dumps(value)


def yaml_flow(value):
    """A YAML flow collection for dicts/lists of scalars."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {yaml_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_flow(v) for v in value) + "]"
    return yaml_scalar(value)


def yaml_list(items):
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def make_config(port, apps, workers=1, timeouts=None, limits=None, trusted_proxies=None,
                access_log=True, extra=""):
    """YAML text for skewgate. apps: list of dicts
    {name, hosts, current, builds: [(id, [addresses])...]}."""
    t = {"upstream_connect": "1s", "upstream_response": "3s", "drain": "5s", "client_header": "2s"}
    t.update(timeouts or {})
    lines = [f"listeners: [{{address: 127.0.0.1:{port}}}]",
             f"workers: {workers}"]
    if access_log:
        lines.append("access_log: {path: stdout, format: json}")
    lines.append("timeouts: {" + ", ".join(f"{k}: {v}" for k, v in t.items()) + "}")
    if limits:
        lines.append("limits: {" + ", ".join(f"{k}: {v}" for k, v in limits.items()) + "}")
    if trusted_proxies is not None:
        lines.append(f"trusted_proxies: {yaml_list(trusted_proxies)}")
    lines.append("apps:")
    for app in apps:
        lines.append(f"  - name: {app['name']}")
        lines.append(f"    hosts: {yaml_list(app['hosts'])}")
        lines.append(f"    current: {app['current']}")
        lines.append("    builds:")
        for build_id, addresses in app["builds"]:
            lines.append(f"      - {{id: {build_id}, upstreams: [{', '.join(addresses)}]}}")
    if extra:
        lines.append(extra)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Raw HTTP/1.1 on sockets, for tests where the exact bytes matter.

class Response:
    def __init__(self, status, reason, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value)
        self.body = body
        self.raw_head = raw_head

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.headers} {self.body[:300]!r}>"


class ConnectionClosed(Exception):
    pass


class RawConnection:
    """A client socket with a read buffer and an HTTP/1.1 response reader."""

    def __init__(self, port, timeout=IO_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def send_then_read(self, data, method="GET"):
        """Sends a request the gateway may refuse before all of it is in (it answers and
        closes, so the rest of the send can fail), then reads the answer."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return self.read_response(method)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionClosed(f"peer closed; buffered {self.buf[:200]!r}")
        self.buf += data

    def read_until(self, marker, limit=1 << 20):
        while marker not in self.buf:
            if len(self.buf) > limit:
                raise AssertionError(f"no {marker!r} in {len(self.buf)} bytes")
            self._fill()
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_close(self):
        try:
            while True:
                self._fill()
        except ConnectionClosed:
            pass
        out, self.buf = self.buf, b""
        return out

    def read_head(self):
        raw = self.read_until(b"\r\n\r\n")
        lines = raw[:-4].split(b"\r\n")
        parts = lines[0].decode("latin-1").split(" ", 2)
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        for line in lines[1:]:
            name, value = line.split(b":", 1)
            headers.append((name.decode("latin-1").strip(), value.decode("latin-1").strip()))
        return status, reason, headers, raw

    def read_response(self, method="GET", skip_interim=True):
        """One response. 1xx are skipped unless skip_interim is False (101 never is)."""
        while True:
            status, reason, headers, raw = self.read_head()
            if skip_interim and 100 <= status < 200 and status != 101:
                continue
            break
        resp = Response(status, reason, headers, b"", raw)
        if method == "HEAD" or status in (101, 204, 304) or 100 <= status < 200:
            return resp
        te = (resp.header("transfer-encoding") or "").lower()
        if "chunked" in te:
            parts = []
            while True:
                size_line = self.read_until(b"\r\n")
                size = int(size_line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.read_until(b"\r\n") != b"\r\n":
                        pass
                    break
                parts.append(self.read_exactly(size))
                assert self.read_exactly(2) == b"\r\n", "chunk not followed by CRLF"
            resp.body = b"".join(parts)
        elif resp.header("content-length") is not None:
            resp.body = self.read_exactly(int(resp.header("content-length")))
        else:
            resp.body = self.read_to_close()
        return resp

    def is_closed(self, timeout=3.0):
        """True when the peer closes (EOF or reset) within timeout with no more bytes."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        if data:
            self.buf += data
            return False
        return True


def request_bytes(method="GET", target="/", host="shop.test", headers=(), body=None, version="HTTP/1.1"):
    lines = [f"{method} {target} {version}", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body is not None and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (body or b"")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------

class GatewayTestCase(unittest.TestCase):
    """Base class: start upstreams and a gateway, all stopped in cleanups."""

    @classmethod
    def setUpClass(cls):
        if not (os.path.isfile(SKEWGATE_BIN) and os.access(SKEWGATE_BIN, os.X_OK)):
            raise RuntimeError(f"skewgate binary not found at {SKEWGATE_BIN}; build it or set SKEWGATE_BIN")

    def start_upstream(self, build_id, port=None, mode="echo"):
        upstream = Upstream(build_id, port=port, mode=mode)
        self.addCleanup(upstream.stop)
        return upstream

    def start_gateway(self, config_text=None, port=None, embedded_default=False, **config_args):
        """Start skewgate; config_text may contain {port}, or pass make_config args,
        or embedded_default=True (no -c) with the port the default config listens on."""
        port = port or free_port()
        workdir = tempfile.mkdtemp(prefix="skewgate-it-")
        if embedded_default:
            config_text = None
        elif config_text is None:
            config_text = make_config(port, **config_args)
        else:
            config_text = config_text.replace("{port}", str(port))
        gateway = Gateway(config_text, port, workdir)
        self.addCleanup(self._stop_gateway, gateway)
        return gateway

    def _stop_gateway(self, gateway):
        gateway.stop()
        # Keep logs of failing runs visible in ctest output.
        outcome = getattr(self, "_outcome", None)
        failed = outcome is not None and not getattr(outcome, "success", True)
        if failed:
            sys.stderr.write(f"\n--- skewgate stderr ({gateway.workdir}) ---\n{gateway.stderr_text()[-4000:]}\n")

    def raw(self, gateway, timeout=IO_TIMEOUT):
        conn = RawConnection(gateway.port, timeout=timeout)
        self.addCleanup(conn.close)
        return conn

    def http(self, gateway, timeout=IO_TIMEOUT):
        conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=timeout)
        self.addCleanup(conn.close)
        return conn

    def get(self, gateway, target="/", host="shop.test", headers=None):
        """One request on a fresh http.client connection: (response, body)."""
        conn = self.http(gateway)
        conn.request("GET", target, headers={"Host": host, **(headers or {})})
        resp = conn.getresponse()
        return resp, resp.read()

    def get_json(self, gateway, target="/", host="shop.test", headers=None):
        resp, body = self.get(gateway, target, host, headers)
        self.assertEqual(resp.status, 200, body[:500])
        return json.loads(body)

    def wait_log(self, gateway, predicate, timeout=3.0):
        """The first access-log entry matching predicate, waiting a bounded time."""
        found = wait_for(lambda: next((e for e in gateway.access_log() if predicate(e)), None), timeout)
        self.assertIsNotNone(found, f"no matching access-log line; stdout: {gateway.stdout_text()[-2000:]}")
        return found


# An RSC navigation: the request kind on which real clients send x-deployment-id
# (design.md section 2) and that header routing serves (documents go to current).
RSC = {"rsc": "1"}


def log_path(entry):
    """The request path of an access-log entry (contract field "path"; "target" accepted
    for finding the line, so a misnamed field fails only the test that checks field names)."""
    return str(entry.get("path") or entry.get("target") or "")


def header_values(echo, name):
    """Values of header `name` (any case) as the upstream received them."""
    return [v for k, v in echo["headers"] if k.lower() == name.lower()]
