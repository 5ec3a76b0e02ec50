"""The CLI (`skewgate builds ...`) against a scripted admin server on the wire.

Contract (design.md section 11, gateway/cli/response_reader.h): whatever framing the
answer uses and however it is split across TCP segments, the CLI reads it with the
gateway's HTTP/1 parser; an answer that is malformed, too large or cut short is a clear
error with exit status 2, never a hang (connect and read are bounded by 5 s each).
"""

import json
import os
import socket
import subprocess
import threading
import time
import unittest

from harness import SKEWGATE_BIN, GatewayTestCase, free_port

CLI_TIMEOUT = 20.0  # the CLI's own bound is 5 s; this only stops a hung test
APP = {"name": "shop", "current": "dpl-a",
       "builds": [{"id": "dpl-a", "state": "current", "healthy": True, "upstreams": ["127.0.0.1:9"],
                   "age_seconds": 5}]}
BODY = json.dumps(APP).encode()


class ScriptedServer:
    """Accepts one connection at a time on 127.0.0.1:0, reads the request head, then plays
    `script`: a list of byte strings (written with a short pause between them), then closes
    unless `hold` (then it keeps the connection open until stop())."""

    def __init__(self, script, hold=False, pause=0.01):
        self.script, self.hold, self.pause = script, hold, pause
        self.requests = []
        self.stopped = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                head = b""
                try:
                    while b"\r\n\r\n" not in head and len(head) < 65536:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        head += chunk
                    self.requests.append(head)
                    for piece in self.script:
                        conn.sendall(piece)
                        time.sleep(self.pause)
                    if self.hold:
                        self.stopped.wait(CLI_TIMEOUT)
                except OSError:
                    pass  # the CLI gave up and closed: expected in the error cases

    def stop(self):
        self.stopped.set()
        self.sock.close()
        self.thread.join(timeout=CLI_TIMEOUT)


def split(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


class CliWire(unittest.TestCase):
    # The environment as given (ASAN_OPTIONS and its log_path included), without the
    # CLI's own variables.
    env = {k: v for k, v in os.environ.items() if k not in ("SKEWGATE_ADMIN", "SKEWGATE_ADMIN_TOKEN")}

    def run_cli(self, script, hold=False, pause=0.01):
        server = ScriptedServer(script, hold=hold, pause=pause)
        self.addCleanup(server.stop)
        p = subprocess.run([SKEWGATE_BIN, "builds", "--app", "shop", "--admin", f"http://127.0.0.1:{server.port}"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           env=self.env, timeout=CLI_TIMEOUT)
        self.assertTrue(server.requests and server.requests[0].startswith(b"GET /api/v1/apps/shop HTTP/1.1\r\n"),
                        server.requests)
        return p.returncode, p.stdout.decode(), p.stderr.decode(), None

    def assert_table(self, rc, out, err):
        self.assertEqual(rc, 0, f"stdout: {out}\nstderr: {err}")
        self.assertIn("app shop", out)
        self.assertIn("dpl-a", out)

    def assert_error(self, rc, err, text):
        # Where the server holds the connection open, the error text (not a
        # "no response within 5s") shows the CLI refused at once.
        self.assertEqual(rc, 2, err)
        self.assertIn(text, err)
        self.assertNotIn("no response within", err)

    # ---- framings, split across segments ----

    def test_chunked_answer_trickled_in_small_segments(self):
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in split(BODY, 7)) + b"0\r\n\r\n"
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        self.assert_table(*self.run_cli(split(head + chunks, 5), pause=0.002)[:3])

    def test_content_length_body_split_across_segments(self):
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY)
        self.assert_table(*self.run_cli([head[:10], head[10:]] + split(BODY, 3), pause=0.002)[:3])

    def test_missing_content_length_body_ends_at_the_close(self):
        self.assert_table(*self.run_cli([b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", BODY])[:3])

    def test_interim_responses_are_skipped(self):
        head = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY)
        self.assert_table(*self.run_cli([head, BODY])[:3])

    # ---- clear errors, never a hang ----

    def test_missing_content_length_and_no_close_times_out(self):
        rc, _, err, _ = self.run_cli([b"HTTP/1.1 200 OK\r\n\r\n", BODY], hold=True)
        self.assertEqual(rc, 2, err)
        self.assertIn("no response within 5s", err)

    def test_oversized_head_is_refused_without_waiting(self):
        head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Filler-%d: %s\r\n" % (i, b"v" * 1000) for i in range(100))
        rc, _, err, _ = self.run_cli([head], hold=True)
        self.assert_error(rc, err, "response head too large")

    def test_oversized_body_is_refused_at_its_content_length(self):
        rc, _, err, _ = self.run_cli([b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n{"], hold=True)
        self.assert_error(rc, err, "response body too large")

    def test_body_cut_short_by_the_close(self):
        rc, _, err, _ = self.run_cli([b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY), BODY[:10]])
        self.assert_error(rc, err, "connection closed before the end of the response body")

    def test_chunked_body_cut_short_by_the_close(self):
        rc, _, err, _ = self.run_cli([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":"])
        self.assert_error(rc, err, "connection closed before the end of the response body")

    def test_not_http_is_refused_without_waiting(self):
        rc, _, err, _ = self.run_cli([b"SSH-2.0-OpenSSH_9.2\r\n"], hold=True)
        self.assert_error(rc, err, "invalid response from http://127.0.0.1:")
        self.assertIn("malformed response", err)

    def test_bare_lf_head_is_refused_without_waiting(self):
        rc, _, err, _ = self.run_cli([b"HTTP/1.1 200 OK\nContent-Length: 2\n\n{}"], hold=True)
        self.assert_error(rc, err, "malformed response")


class CliHealthWire(GatewayTestCase):
    """`skewgate health` (the container image's HEALTHCHECK): 0 when /healthz answers 200,
    1 with one line on stderr for anything else, no answer and a hung server included, within
    its --timeout (connect and answer each)."""

    env = CliWire.env

    def health(self, port, *extra, timeout=CLI_TIMEOUT):
        started = time.monotonic()
        p = subprocess.run([SKEWGATE_BIN, "health", "--admin", f"http://127.0.0.1:{port}", *extra],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           env=self.env, timeout=timeout)
        return p.returncode, p.stdout.decode(), p.stderr.decode(), time.monotonic() - started

    def scripted(self, script, hold=False):
        server = ScriptedServer(script, hold=hold)
        self.addCleanup(server.stop)
        return server

    def test_a_running_gateway_is_healthy_and_no_token_is_sent(self):
        upstream = self.start_upstream("dpl-a")
        gateway = self.start_gateway(apps=[{"name": "shop", "hosts": ["shop.test"], "current": "dpl-a",
                                            "builds": [("dpl-a", [upstream.address])]}])
        rc, out, err, _ = self.health(gateway.admin_port)
        self.assertEqual((rc, out, err), (0, "healthy: /healthz answered 200\n", ""))
        # What the CLI sent: a GET of /healthz, without the token of the environment.
        server = self.scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}"])
        p = subprocess.run([SKEWGATE_BIN, "health", "--admin", f"http://127.0.0.1:{server.port}"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           env={**self.env, "SKEWGATE_ADMIN_TOKEN": "sekret-token"}, timeout=CLI_TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(server.requests[0].startswith(b"GET /healthz HTTP/1.1\r\n"), server.requests)
        self.assertNotIn(b"sekret-token", server.requests[0])
        self.assertNotIn(b"authorization", server.requests[0].lower())

    def test_nothing_listening_is_unhealthy_exit_1(self):
        port = free_port()
        rc, out, err, _ = self.health(port)
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, "")
        self.assertEqual(err, f"skewgate: unhealthy: cannot connect to http://127.0.0.1:{port}: Connection refused\n")

    def test_an_error_status_is_unhealthy_in_one_line(self):
        server = self.scripted([b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\nno"])
        rc, _, err, _ = self.health(server.port)
        self.assertEqual(rc, 1, err)
        self.assertEqual(err, "skewgate: unhealthy: /healthz: the server answered HTTP 503 Service Unavailable: no\n")

    def test_a_hung_server_is_unhealthy_within_the_timeout(self):
        server = self.scripted([b"HTTP/1.1 200 OK\r\n"], hold=True)
        rc, _, err, elapsed = self.health(server.port, "--timeout", "1s")
        self.assertEqual(rc, 1, err)
        self.assertIn("no response within 1s", err)
        self.assertLess(elapsed, 4.0)
        self.assertEqual(err.count("\n"), 1, err)

    def test_garbage_is_unhealthy_not_a_crash(self):
        server = self.scripted([b"SSH-2.0-OpenSSH_9.2\r\n"], hold=True)
        rc, _, err, elapsed = self.health(server.port, "--timeout", "2s")
        self.assertEqual(rc, 1, err)
        self.assertIn("skewgate: unhealthy: invalid response from http://127.0.0.1:", err)
        self.assertLess(elapsed, 2.0)

    def test_usage_errors_exit_2(self):
        rc, _, err, _ = self.health(free_port(), "--timeout", "forever")
        self.assertEqual(rc, 2, err)
        self.assertIn("--timeout: expected a duration", err)


if __name__ == "__main__":
    unittest.main()
