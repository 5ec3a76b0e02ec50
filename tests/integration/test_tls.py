"""TLS termination (issue 16 step 2) against the real binary and real upstream processes.

Certificates are made here with the openssl CLI in a temp dir: a local CA, a listener
certificate and one certificate per app. Clients are `openssl s_client`, curl and Python's
ssl module, all trusting only that CA. Covered: SNI picks the app's certificate (exact and
wildcard), an unknown or absent SNI gets the listener's; TLS 1.0/1.1 refused, 1.2/1.3
served; session resumption with tickets, also after a ticket key rotation and across
workers; garbage, plain HTTP and silence on the TLS port closed and counted in
skewgate_tls_handshake_errors_total; certificate rotation under load (reload and file
watch); certificate errors named with file and OpenSSL's reason, the running config kept;
no key text anywhere; X-Forwarded-Proto https upstream, Secure pins, redirect_https.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from harness import SKEWGATE_BIN, GatewayTestCase, free_port, header_values, wait_for

OPENSSL = shutil.which("openssl")
CURL = shutil.which("curl")
NAVIGATE = {"accept": "text/html,application/xhtml+xml", "sec-fetch-mode": "navigate",
            "sec-fetch-dest": "document"}


def run(args, input=None, timeout=20):
    return subprocess.run(args, input=input, capture_output=True, timeout=timeout)


class Certs:
    """A CA and leaf certificates signed by it, in one temp dir."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="skewgate-tls-certs-")
        self.ca_key = self.path("ca.key")
        self.ca = self.path("ca.crt")
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                      "-keyout", self.ca_key, "-out", self.ca, "-subj", "/CN=skewgate test CA", "-days", "2")
        self.serial = 0x1000

    def path(self, name):
        return os.path.join(self.dir, name)

    def _openssl(self, *args):
        out = run([OPENSSL, *args])
        if out.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(args)}: {out.stderr.decode()}")
        return out.stdout

    def leaf(self, name, cn, dns, days="1", directory=None):
        """(cert path, key path, serial as openssl prints it) of a new certificate for `dns` names."""
        directory = directory or self.dir
        key = os.path.join(directory, f"{name}.key")
        cert = os.path.join(directory, f"{name}.crt")
        csr = self.path(f"{name}.csr")
        ext = self.path(f"{name}.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=" + ",".join(f"DNS:{d}" for d in dns) + "\n")
        self._openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                      "-out", csr, "-subj", f"/CN={cn}")
        self.serial += 1
        self._openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                      "-set_serial", str(self.serial), "-days", days, "-extfile", ext, "-out", cert)
        return cert, key, format(self.serial, "X")

    @staticmethod
    def key_body(key_path):
        """The base64 lines of a PEM key: what must never be printed anywhere."""
        with open(key_path) as f:
            return [line.strip() for line in f if line.strip() and not line.startswith("-----")]


def s_client(port, *args, servername=None, send=b"", ca=None):
    """openssl s_client output (stdout + stderr as text) and its exit code. With `send`, the
    bytes go to the server and the client reads until the server closes (-ign_eof), so
    TLS 1.3 session tickets (sent after the handshake) are always read."""
    cmd = [OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}"]
    cmd += ["-servername", servername] if servername else ["-noservername"]
    if ca:
        cmd += ["-CAfile", ca, "-verify_return_error"]
    if send:
        cmd.append("-ign_eof")
    out = run(cmd + list(args), input=send, timeout=20)
    return out.stdout.decode("utf-8", "replace") + out.stderr.decode("utf-8", "replace"), out.returncode


def served_serial(output):
    """The serial of the certificate in s_client's output."""
    pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", output, re.S)
    if not pem:
        return None
    out = run([OPENSSL, "x509", "-noout", "-serial"], input=pem.group(0).encode())
    return out.stdout.decode().strip().split("=", 1)[1] if out.returncode == 0 else None


def ticket_key_name(session_file):
    """The first 16 bytes of the session ticket (the server's key name), hex."""
    out = run([OPENSSL, "sess_id", "-in", session_file, "-noout", "-text"]).stdout.decode()
    lines = out.split("TLS session ticket:", 1)
    if len(lines) < 2:
        return None
    first = lines[1].strip().splitlines()[0]  # "0000 - 8c 52 ... -..."
    return "".join(first.split(" - ", 1)[1].split()[:16]).replace("-", "")


class HTTPSTo(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1:port with `host` as SNI, certificate name and Host."""

    def __init__(self, host, port, context, timeout=10.0):
        super().__init__(host, port, context=context, timeout=timeout)

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


@unittest.skipUnless(OPENSSL, "the openssl CLI is needed to make certificates")
class TlsTest(GatewayTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.certs = Certs()
        cls.listener = cls.certs.leaf("listener", "default.test", ["default.test", "localhost"])
        cls.shop = cls.certs.leaf("shop", "shop.test", ["shop.test"])
        cls.blog = cls.certs.leaf("blog", "blog.test", ["blog.test", "*.blog.test"])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.certs.dir, ignore_errors=True)

    def setUp(self):
        self.a = self.start_upstream("dpl-a")
        self.b = self.start_upstream("dpl-b")
        self.context = ssl.create_default_context(cafile=self.certs.ca)

    def config(self, tls_port, listener=None, extra="", timeouts="", workers=2, tls_settings=""):
        cert, key, _ = listener or self.listener
        return (f"listeners:\n"
                f"  - {{address: 127.0.0.1:{{port}}, redirect_https: true}}\n"
                f"  - address: 127.0.0.1:{tls_port}\n"
                f"    tls: {{cert: {cert}, key: {key}}}\n"
                f"workers: {workers}\n"
                f"access_log: {{path: stdout, format: json}}\n"
                f"timeouts: {{upstream_connect: 1s, upstream_response: 3s, drain: 2s{timeouts}}}\n"
                f"{tls_settings}"
                f"apps:\n"
                f"  - name: shop\n"
                f"    hosts: [shop.test]\n"
                f"    tls: {{cert: {self.shop[0]}, key: {self.shop[1]}}}\n"
                f"    current: dpl-a\n"
                f"    builds: [{{id: dpl-a, upstreams: [{self.a.address}]}}]\n"
                f"  - name: blog\n"
                f"    hosts: [blog.test, \"*.blog.test\"]\n"
                f"    tls: {{cert: {self.blog[0]}, key: {self.blog[1]}}}\n"
                f"    current: dpl-b\n"
                f"    builds: [{{id: dpl-b, upstreams: [{self.b.address}]}}]\n"
                f"{extra}")

    def start(self, **kw):
        self.tls_port = free_port()
        gateway = self.start_gateway(self.config(self.tls_port, **kw))
        self.assertTrue(wait_for(lambda: self._tls_accepts(), 10.0), gateway.stderr_text())
        return gateway

    def _tls_accepts(self):
        try:
            socket.create_connection(("127.0.0.1", self.tls_port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def https(self, host, target="/", headers=None, method="GET"):
        conn = HTTPSTo(host, self.tls_port, self.context)
        try:
            conn.request(method, target, headers={"Host": host, **(headers or {})})
            resp = conn.getresponse()
            return resp, resp.read(), conn.sock.getpeercert(binary_form=True)
        finally:
            conn.close()

    def admin(self, gateway, method, path):
        conn = http.client.HTTPConnection("127.0.0.1", gateway.admin_port, timeout=10)
        try:
            if method == "POST":
                conn.request(method, path, body=b"{}", headers={"content-type": "application/json"})
            else:
                conn.request(method, path)
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    def handshake_errors(self, gateway):
        _, text = self.admin(gateway, "GET", "/metrics")
        return {m.group(1): float(m.group(2)) for m in
                re.finditer(r'^skewgate_tls_handshake_errors_total\{reason="([a-z_]+)"\} (\S+)$', text, re.M)}

    def wait_errors(self, gateway, reason, at_least):
        """Workers publish their counters once a second."""
        ok = wait_for(lambda: self.handshake_errors(gateway).get(reason, 0) >= at_least, 5.0)
        self.assertTrue(ok, f"{reason}: {self.handshake_errors(gateway)}")

    def der(self, cert_path):
        return run([OPENSSL, "x509", "-in", cert_path, "-outform", "DER"]).stdout

    # --- certificates by SNI ---

    def test_sni_picks_the_app_certificate_else_the_listener_one(self):
        self.start()
        cases = [("shop.test", self.shop), ("blog.test", self.blog), ("www.blog.test", self.blog),
                 ("SHOP.TEST", self.shop), ("unknown.test", self.listener), (None, self.listener)]
        for name, (_, _, serial) in cases:
            with self.subTest(name):
                out, _ = s_client(self.tls_port, servername=name)
                self.assertEqual(served_serial(out), serial, out[-1500:])

    def test_curl_over_https_reaches_the_build_with_forwarded_proto_https(self):
        self.start()
        if CURL:
            out = run([CURL, "-sS", "--cacert", self.certs.ca, "--resolve", f"shop.test:{self.tls_port}:127.0.0.1",
                       f"https://shop.test:{self.tls_port}/hello?x=1"])
            self.assertEqual(out.returncode, 0, out.stderr)
            echo = json.loads(out.stdout)
            self.assertEqual(echo["build"], "dpl-a")
            self.assertEqual(header_values(echo, "x-forwarded-proto"), ["https"])
        resp, body, _ = self.https("www.blog.test", "/post")
        self.assertEqual(resp.status, 200)
        echo = json.loads(body)
        self.assertEqual(echo["build"], "dpl-b")
        self.assertEqual(header_values(echo, "x-forwarded-proto"), ["https"])
        # A client that says https itself is not believed (not a trusted hop)
        # but the answer is the same: https.
        resp, body, _ = self.https("shop.test", "/", headers={"x-forwarded-proto": "http"})
        self.assertEqual(header_values(json.loads(body), "x-forwarded-proto"), ["https"])

    def test_document_pin_cookie_is_secure_over_tls(self):
        self.start()
        resp, _, _ = self.https("shop.test", "/", headers=NAVIGATE)
        pins = [v for k, v in resp.getheaders() if k.lower() == "set-cookie" and v.startswith("skewgate_pin=")]
        self.assertEqual(len(pins), 1, resp.getheaders())
        self.assertIn("; Secure", pins[0])

    def test_redirect_https_on_the_plain_listener(self):
        gateway = self.start()
        conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
        self.addCleanup(conn.close)
        conn.request("POST", "/cart?item=1", body=b"x=1", headers={"Host": "Shop.Test:8080"})
        resp = conn.getresponse()
        resp.read()
        self.assertEqual(resp.status, 308)
        self.assertEqual(resp.getheader("location"), "https://shop.test/cart?item=1")
        self.assertEqual(resp.getheader("cache-control"), "no-store")
        # Answered by skewgate, never proxied.
        entry = self.wait_log(gateway, lambda e: e.get("status") == 308)
        self.assertEqual(entry.get("outcome"), "answered")
        self.assertEqual(entry.get("detail"), "redirect_https")

    # --- protocol versions and resumption ---

    def test_tls_1_0_and_1_1_are_refused_1_2_and_1_3_served(self):
        gateway = self.start()
        # SECLEVEL=0: OpenSSL 3's own client refuses TLS 1.0/1.1 otherwise and
        # would never ask; the refusal must come from skewgate.
        for flag in ("-tls1", "-tls1_1"):
            with self.subTest(flag):
                out, code = s_client(self.tls_port, flag, "-cipher", "DEFAULT@SECLEVEL=0", servername="shop.test")
                self.assertNotEqual(code, 0, out[-1500:])
                self.assertNotIn("BEGIN CERTIFICATE", out)
        self.wait_errors(gateway, "protocol_version", 2)
        for flag, name in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
            with self.subTest(flag):
                out, code = s_client(self.tls_port, flag, servername="shop.test", ca=self.certs.ca)
                self.assertEqual(code, 0, out[-1500:])
                self.assertIn(f"New, {name}, Cipher is", out)
                self.assertIn("Verify return code: 0 (ok)", out)
                self.assertRegex(out, r"ALPN protocol|No ALPN negotiated")

    def test_alpn_prefers_h2_then_http_1_1(self):
        gateway = self.start()
        # The server's order (RFC 7301 section 3.2): h2 when offered (http2 is on by default).
        out, code = s_client(self.tls_port, "-alpn", "http/1.1,h2", servername="shop.test")
        self.assertIn("ALPN protocol: h2", out)
        # An HTTP/1.1-only client is unaffected.
        out, code = s_client(self.tls_port, "-alpn", "http/1.1", servername="shop.test")
        self.assertIn("ALPN protocol: http/1.1", out)
        # RFC 7301 section 3.2: nothing in common is a no_application_protocol alert.
        out, code = s_client(self.tls_port, "-alpn", "spdy/3.1", servername="shop.test")
        self.assertNotEqual(code, 0, out[-1500:])
        self.assertIn("no application protocol", out)
        self.wait_errors(gateway, "no_application_protocol", 1)

    def resume(self, gateway, *flags):
        session = os.path.join(gateway.workdir, "session.pem")
        request = b"GET / HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n"
        out, code = s_client(self.tls_port, *flags, "-sess_out", session, servername="shop.test", send=request)
        self.assertEqual(code, 0, out[-1500:])
        self.assertIn("New,", out)
        return session, request

    def test_session_resumption_with_tickets_across_workers(self):
        gateway = self.start(workers=2)
        for flags in (("-tls1_3",), ("-tls1_2",)):
            with self.subTest(flags):
                session, request = self.resume(gateway, *flags)
                # Several times: connections spread over both workers.
                for _ in range(4):
                    out, code = s_client(self.tls_port, *flags, "-sess_in", session, servername="shop.test",
                                         send=request)
                    self.assertEqual(code, 0, out[-1500:])
                    self.assertIn("Reused,", out, out[-1500:])
                    self.assertIn('"build": "dpl-a"', out.replace('":"', '": "'))

    def test_each_tls13_resumption_brings_a_fresh_ticket(self):
        # A TLS 1.3 client uses each ticket once and resumes its next connection with the
        # session of its last one (browsers, OpenSSL's own client). So every resumption must
        # issue a new ticket, or every second connection is a full handshake.
        gateway = self.start()
        session, request = self.resume(gateway, "-tls1_3")
        for i in range(4):
            following = os.path.join(gateway.workdir, f"session-{i}.pem")
            out, code = s_client(self.tls_port, "-tls1_3", "-sess_in", session, "-sess_out", following,
                                 servername="shop.test", send=request)
            self.assertEqual(code, 0, out[-1500:])
            self.assertIn("Reused,", out, f"connection {i + 2}: " + out[-1500:])
            self.assertTrue(os.path.exists(following), f"connection {i + 2} brought no ticket")
            session = following

    def test_old_ticket_resumes_after_a_rotation(self):
        gateway = self.start(tls_settings="tls: {ticket_rotation: 3s}\n")
        session, request = self.resume(gateway)
        first_key = ticket_key_name(session)
        self.assertTrue(first_key)
        # New handshakes until their tickets come under a new key: a rotation.
        probe = os.path.join(gateway.workdir, "probe.pem")
        deadline = time.monotonic() + 10
        rotated = False
        while time.monotonic() < deadline and not rotated:
            time.sleep(0.3)
            out, _ = s_client(self.tls_port, "-sess_out", probe, servername="shop.test", send=request)
            rotated = ticket_key_name(probe) not in (None, first_key)
        self.assertTrue(rotated, "no ticket key rotation within 10s")
        out, code = s_client(self.tls_port, "-sess_in", session, servername="shop.test", send=request)
        self.assertIn("Reused,", out, out[-1500:])

    # --- what is not a handshake ---

    def test_garbage_and_plain_http_are_closed_and_counted(self):
        gateway = self.start()
        for data in (b"GET / HTTP/1.1\r\nHost: shop.test\r\n\r\n", b"\x00\x01garbage" * 20):
            with self.subTest(data[:10]):
                sock = socket.create_connection(("127.0.0.1", self.tls_port), timeout=5)
                try:
                    sock.sendall(data)
                    received = b""
                    while True:
                        chunk = sock.recv(4096)
                        if not chunk:
                            break
                        received += chunk
                    # At most a TLS alert record (content type 21), never HTTP.
                    self.assertNotIn(b"HTTP/", received)
                    if received:
                        self.assertEqual(received[0], 21, received)
                finally:
                    sock.close()
        self.wait_errors(gateway, "not_tls", 2)

    def test_a_silent_client_is_closed_after_tls_handshake_and_counted(self):
        gateway = self.start(timeouts=", tls_handshake: 1s")
        sock = socket.create_connection(("127.0.0.1", self.tls_port), timeout=10)
        started = time.monotonic()
        try:
            self.assertEqual(sock.recv(100), b"")
        finally:
            sock.close()
        elapsed = time.monotonic() - started
        self.assertGreater(elapsed, 0.8)
        self.assertLess(elapsed, 5.0)
        self.wait_errors(gateway, "handshake_timeout", 1)

    # --- certificate rotation and reload ---

    def replace_listener_cert(self, cert_path, key_path, name):
        """New certificate and key written beside the old ones, then renamed over them."""
        new_cert, new_key, serial = self.certs.leaf(name, "default.test", ["default.test", "localhost", "shop.test"],
                                                    directory=os.path.dirname(cert_path))
        os.replace(new_key, key_path + ".new")
        os.replace(new_cert, cert_path + ".new")
        os.replace(key_path + ".new", key_path)
        os.replace(cert_path + ".new", cert_path)
        return serial

    def own_listener_cert(self, directory):
        cert, key, serial = self.certs.leaf("own", "default.test", ["default.test", "localhost", "shop.test"],
                                            directory=directory)
        return cert, key, serial

    def test_certificate_rotation_under_load_drops_nothing(self):
        directory = tempfile.mkdtemp(prefix="skewgate-tls-rotate-")
        self.addCleanup(shutil.rmtree, directory, True)
        cert, key, old_serial = self.own_listener_cert(directory)
        # The test client asks for a name no app has: the listener's certificate.
        context = ssl.create_default_context(cafile=self.certs.ca)
        self.der_of_serial_cert = self.der(cert)
        gateway = self.start(listener=(cert, key, old_serial))
        failures, seen = [], set()
        stop = threading.Event()

        def load():
            while not stop.is_set():
                try:
                    conn = HTTPSTo("localhost", self.tls_port, context)
                    conn.request("GET", "/", headers={"Host": "shop.test"})
                    resp = conn.getresponse()
                    resp.read()
                    seen.add(conn.sock.getpeercert(binary_form=True))
                    if resp.status != 200:
                        failures.append(resp.status)
                    conn.close()
                except Exception as e:  # noqa: BLE001 - every failure counts
                    failures.append(repr(e))

        threads = [threading.Thread(target=load) for _ in range(3)]
        for t in threads:
            t.start()
        # A keep-alive connection made before the reload.
        kept = HTTPSTo("localhost", self.tls_port, context)
        self.addCleanup(kept.close)
        kept.request("GET", "/before", headers={"Host": "shop.test"})
        self.assertTrue(kept.getresponse().read())
        try:
            time.sleep(0.5)
            new_serial = self.replace_listener_cert(cert, key, "own2")
            status, body = self.admin(gateway, "POST", "/api/v1/reload")
            self.assertEqual(status, 200, body)
            # Established connections are untouched: same connection, old certificate.
            kept.request("GET", "/after", headers={"Host": "shop.test"})
            resp = kept.getresponse()
            self.assertEqual(resp.status, 200)
            self.assertEqual(json.loads(resp.read())["target"], "/after")
            self.assertEqual(kept.sock.getpeercert(binary_form=True), self.der_of_serial_cert)
            time.sleep(0.5)
            gateway.signal(signal.SIGHUP)  # the same files again: nothing changes
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        self.assertEqual(failures, [])
        # Both certificates were served: the old before the reload, the new after.
        self.assertIn(self.der_of_serial_cert, seen)
        self.assertIn(self.der(cert), seen)
        out, _ = s_client(self.tls_port, servername="localhost")
        self.assertEqual(served_serial(out), new_serial)

    def test_watch_true_reloads_when_a_certificate_file_is_replaced(self):
        directory = tempfile.mkdtemp(prefix="skewgate-tls-watch-")
        self.addCleanup(shutil.rmtree, directory, True)
        cert, key, old_serial = self.own_listener_cert(directory)
        gateway = self.start(listener=(cert, key, old_serial), extra="watch: true\n")
        out, _ = s_client(self.tls_port, servername="localhost")
        self.assertEqual(served_serial(out), old_serial)
        new_serial = self.replace_listener_cert(cert, key, "watched")
        self.assertTrue(wait_for(lambda: served_serial(s_client(self.tls_port, servername="localhost")[0]) ==
                                 new_serial, 10.0), gateway.stderr_text()[-2000:])

    def bad_certificates(self, directory):
        """(name, cert, key, what the error must say) for each kind of bad certificate."""
        expired = self.certs.leaf("expired", "default.test", ["default.test"], days="-1", directory=directory)
        garbage = os.path.join(directory, "garbage.crt")
        with open(garbage, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
        return [
            ("missing file", os.path.join(directory, "missing.crt"), self.listener[1],
             [os.path.join(directory, "missing.crt"), "No such file or directory"]),
            ("key of another certificate", self.listener[0], self.shop[1],
             [self.shop[1], "does not match", "key values mismatch"]),
            ("expired", expired[0], expired[1], [expired[0], "expired"]),
            ("garbage PEM", garbage, self.listener[1], [garbage, "not a PEM certificate", "error:"]),
            ("certificate as key", self.listener[0], self.listener[0], [self.listener[0], "not a PEM private key"]),
        ]

    def test_bad_certificates_fail_check_and_start_with_file_and_reason(self):
        directory = tempfile.mkdtemp(prefix="skewgate-tls-bad-")
        self.addCleanup(shutil.rmtree, directory, True)
        keys = [line for k in (self.listener[1], self.shop[1], self.blog[1]) for line in Certs.key_body(k)]
        for name, cert, key, expected in self.bad_certificates(directory):
            with self.subTest(name):
                path = os.path.join(directory, "bad.yaml")
                with open(path, "w") as f:
                    f.write(self.config(free_port(), listener=(cert, key, None)).replace("{port}", str(free_port())))
                for args in ([SKEWGATE_BIN, "--check", "-c", path], [SKEWGATE_BIN, "-c", path]):
                    out = run(args, timeout=20)
                    text = (out.stdout + out.stderr).decode()
                    self.assertEqual(out.returncode, 1, text)
                    self.assertIn("listeners[1].tls", text)
                    for part in expected:
                        self.assertIn(part, text)
                    for line in keys:
                        self.assertNotIn(line, text)

    def test_a_bad_certificate_on_reload_keeps_the_running_one(self):
        gateway = self.start()
        directory = tempfile.mkdtemp(prefix="skewgate-tls-reload-")
        self.addCleanup(shutil.rmtree, directory, True)
        with open(gateway.config_path) as f:
            good = f.read()
        for name, cert, key, expected in self.bad_certificates(directory):
            with self.subTest(name):
                with open(gateway.config_path, "w") as f:
                    f.write(good.replace(f"cert: {self.listener[0]}, key: {self.listener[1]}",
                                         f"cert: {cert}, key: {key}"))
                status, body = self.admin(gateway, "POST", "/api/v1/reload")
                self.assertNotEqual(status, 200, body)
                for part in expected:
                    self.assertIn(part, body)
                out, _ = s_client(self.tls_port, servername="unknown.test")
                self.assertEqual(served_serial(out), self.listener[2])

    def test_no_key_text_in_config_api_logs_or_errors(self):
        gateway = self.start()
        self.https("shop.test")
        status, body = self.admin(gateway, "GET", "/api/v1/config")
        self.assertEqual(status, 200, body)
        config = json.loads(body)
        self.assertEqual(config["listeners"][1]["tls"], {"cert": self.listener[0], "key": self.listener[1]})
        self.assertTrue(config["listeners"][0]["redirect_https"])
        self.assertEqual(config["tls"]["ticket_rotation"], "43200000ms")
        self.assertEqual(config["tls"]["ciphersuites"], "")
        self.assertEqual(config["timeouts"]["tls_handshake"], "10000ms")
        self.assertEqual(config["apps"][0]["tls"], {"cert": self.shop[0], "key": self.shop[1]})
        everything = body + gateway.stdout_text() + gateway.stderr_text()
        for key in (self.listener[1], self.shop[1], self.blog[1]):
            for line in Certs.key_body(key):
                self.assertNotIn(line, everything)


if __name__ == "__main__":
    unittest.main()
