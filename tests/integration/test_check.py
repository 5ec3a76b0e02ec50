"""`skewgate --check -c FILE` and `--version`.

Contract (issue 3, design.md section 8): --check validates and exits 0 when valid,
1 when not; errors go to stderr as "file:line:col: key: message", one per line,
all of them at once; unknown keys carry a "did you mean" hint.
"""

import os
import re
import subprocess
import tempfile
import textwrap
import unittest

from harness import SKEWGATE_BIN, GatewayTestCase

ERROR_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<key>[^:]+): (?P<message>.+)$")

GOOD = textwrap.dedent("""\
    listeners: [{address: 127.0.0.1:18080}]
    workers: 2
    access_log: {path: stdout, format: json}
    timeouts: {upstream_connect: 1s, upstream_response: 2s, drain: 5s, client_header: 2s}
    limits: {header_bytes: 32KiB, headers: 100, uri_bytes: 8KiB, body_bytes: 10MiB}
    trusted_proxies: [10.0.0.0/8]
    apps:
      - name: shop
        hosts: [shop.test, "*.shop.test"]
        current: dpl-b
        builds:
          - {id: dpl-a, upstreams: [127.0.0.1:13001]}
          - {id: dpl-b, upstreams: [127.0.0.1:13002, 127.0.0.1:13003]}
      - name: other
        hosts: [other.test]
        current: o1
        builds: [{id: o1, upstreams: [127.0.0.1:13004]}]
    """)

# Three independent mistakes, on known lines.
BAD = textwrap.dedent("""\
    listeners: [{address: 127.0.0.1:18080}]
    workers: 2
    timeouts: {upstream_connect: 1sec, drain: 5s}
    apps:
      - name: shop
        hosts: [shop.test]
        current: dpl-b
        builds:
          - {id: dpl-a, upstreams: [127.0.0.1:13001], stat: retired}
          - {id: dpl-b, upstreams: [127.0.0.1:notaport]}
    """)
BAD_DURATION_LINE = 3
BAD_KEY_LINE = 9
BAD_ADDRESS_LINE = 10


class CheckTest(GatewayTestCase):
    def write(self, text, name="skewgate.yaml"):
        d = tempfile.mkdtemp(prefix="skewgate-check-")
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def check(self, path):
        return subprocess.run([SKEWGATE_BIN, "--check", "-c", path], capture_output=True,
                              text=True, timeout=20, stdin=subprocess.DEVNULL)

    def errors(self, stderr):
        return [m.groupdict() for m in map(ERROR_LINE.match, stderr.splitlines()) if m]

    def test_version(self):
        out = subprocess.run([SKEWGATE_BIN, "--version"], capture_output=True, text=True, timeout=20)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout.strip(), r"^skewgate \S+$")

    def test_good_file_exits_0(self):
        out = self.check(self.write(GOOD))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.errors(out.stderr), [])

    def test_api_app_with_no_builds_yet_is_valid(self):
        # Its builds come from the admin API at run time; the file lists none.
        out = self.check(self.write("listeners: [{address: 127.0.0.1:18080}]\n"
                                    "apps:\n  - {name: shop, hosts: [shop.test], registry: api}\n"))
        self.assertEqual(out.returncode, 0, out.stderr)

    def test_long_option_and_check_does_not_start(self):
        path = self.write(GOOD)
        out = subprocess.run([SKEWGATE_BIN, "--check", "--config", path], capture_output=True,
                             text=True, timeout=20, stdin=subprocess.DEVNULL)
        self.assertEqual(out.returncode, 0, out.stderr)

    def test_bad_file_reports_all_errors(self):
        path = self.write(BAD)
        out = self.check(path)
        self.assertEqual(out.returncode, 1, out.stderr)
        errors = self.errors(out.stderr)
        self.assertGreaterEqual(len(errors), 3, out.stderr)
        for e in errors:
            self.assertEqual(e["file"], path, out.stderr)
            self.assertGreaterEqual(int(e["col"]), 1)

        by_line = {}
        for e in errors:
            by_line.setdefault(int(e["line"]), []).append(e)

        duration = by_line.get(BAD_DURATION_LINE, [])
        self.assertTrue(any("upstream_connect" in e["key"] for e in duration), out.stderr)

        unknown = by_line.get(BAD_KEY_LINE, [])
        self.assertTrue(any(e["key"].endswith("stat") for e in unknown), out.stderr)
        hint = [e for e in unknown if e["key"].endswith("stat")]
        self.assertTrue(any("did you mean" in e["message"].lower() and "state" in e["message"] for e in hint),
                        out.stderr)

        address = by_line.get(BAD_ADDRESS_LINE, [])
        self.assertTrue(any("upstreams" in e["key"] for e in address), out.stderr)

        # No spurious errors on lines that are fine.
        self.assertEqual({int(e["line"]) for e in errors},
                         {BAD_DURATION_LINE, BAD_KEY_LINE, BAD_ADDRESS_LINE}, out.stderr)

    def test_current_naming_no_build(self):
        path = self.write(GOOD.replace("current: dpl-b", "current: dpl-z"))
        out = self.check(path)
        self.assertEqual(out.returncode, 1, out.stderr)
        errors = self.errors(out.stderr)
        self.assertTrue(any(int(e["line"]) == 10 and "current" in e["key"] for e in errors), out.stderr)

    def test_several_unknown_keys_at_once(self):
        text = GOOD.replace("workers: 2", "wokers: 2").replace("trusted_proxies:", "trusted_proxy:")
        path = self.write(text)
        out = self.check(path)
        self.assertEqual(out.returncode, 1, out.stderr)
        errors = self.errors(out.stderr)
        keys = {(int(e["line"]), e["key"].split(".")[-1]) for e in errors}
        self.assertIn((2, "wokers"), keys, out.stderr)
        self.assertIn((6, "trusted_proxy"), keys, out.stderr)

    def test_yaml_syntax_error(self):
        path = self.write("listeners: [{address: 127.0.0.1:1}\napps:\n  - name: [\n")
        out = self.check(path)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn(path, out.stderr)
        self.assertRegex(out.stderr, re.escape(path) + r":\d+:\d+: ")

    def test_missing_file(self):
        out = self.check("/nonexistent/skewgate.yaml")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("/nonexistent/skewgate.yaml", out.stderr)

    def test_running_with_bad_file_fails(self):
        path = self.write(BAD)
        out = subprocess.run([SKEWGATE_BIN, "-c", path], capture_output=True, text=True, timeout=20,
                             stdin=subprocess.DEVNULL)
        self.assertNotEqual(out.returncode, 0)
        self.assertTrue(self.errors(out.stderr), out.stderr)

    # Issue 13 item 12: `tls:` was once accepted and ignored (the listener served plain
    # HTTP). Since issue 16 a TLS listener is served, and its certificate is read by
    # --check and at start-up: one that cannot be read is refused, naming the file.
    TLS_LISTENERS = [
        ("flow mapping", "listeners: [{address: 127.0.0.1:18080}, {address: 127.0.0.1:18443, "
                         "tls: {cert: /etc/c.pem, key: /etc/k.pem}}]\n",
         [(1, "listeners[1].tls.cert", "cannot read /etc/c.pem: No such file or directory")]),
        ("block mapping", "listeners:\n  - address: 127.0.0.1:18443\n    tls:\n      cert: /etc/c.pem\n"
                          "      key: /etc/k.pem\n",
         [(4, "listeners[0].tls.cert", "cannot read /etc/c.pem: No such file or directory")]),
        ("empty", "listeners: [{address: 127.0.0.1:18443, tls: {}}]\n",
         [(1, "listeners[0].tls.cert", "is required"), (1, "listeners[0].tls.key", "is required")]),
    ]

    def tls_config(self, listeners):
        return listeners + GOOD[GOOD.index("workers:"):]

    def test_tls_listener_without_its_files_is_refused_by_check(self):
        for name, listeners, expected in self.TLS_LISTENERS:
            with self.subTest(name):
                path = self.write(self.tls_config(listeners))
                out = self.check(path)
                self.assertEqual(out.returncode, 1, out.stderr)
                errors = self.errors(out.stderr)
                self.assertEqual([(e["file"], int(e["line"]), e["key"], e["message"]) for e in errors],
                                 [(path, line, key, message) for line, key, message in expected], out.stderr)

    def test_tls_listener_without_its_files_is_refused_at_start(self):
        for name, listeners, expected in self.TLS_LISTENERS:
            with self.subTest(name):
                path = self.write(self.tls_config(listeners))
                out = subprocess.run([SKEWGATE_BIN, "-c", path], capture_output=True, text=True, timeout=20,
                                     stdin=subprocess.DEVNULL)
                self.assertNotEqual(out.returncode, 0, out.stderr)
                errors = self.errors(out.stderr)
                for line, key, message in expected:
                    self.assertTrue(any(e["key"] == key and int(e["line"]) == line and e["message"] == message
                                        for e in errors), out.stderr)


if __name__ == "__main__":
    unittest.main()
