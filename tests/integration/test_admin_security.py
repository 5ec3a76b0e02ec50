"""A web page cannot drive the admin API (issue 13 item 2).

With no token on loopback (the default), a browser on any site can still send requests to
127.0.0.1:9901: a "simple" cross-site POST (text/plain, a form) needs no CORS preflight, and a
DNS-rebinding page reaches the listener under its own host name. So, on the wire, for every
admin request:
- `Host` must be an IP literal (v4, or bracketed v6), `localhost` (both with an optional port)
  or a name in `admin.allowed_hosts` (any case): else 403 host_not_allowed;
- a request carrying `Origin` (any value: the admin API has no web origin of its own) or a
  `Sec-Fetch-Site` other than same-origin/none is refused 403 cross_origin_request;
- a mutation (any method but GET/HEAD) needs `Content-Type: application/json`: else 415;
- the bearer scheme is case-insensitive (RFC 9110 section 11.1).
The CLI, which sends all that, keeps working.
"""

import json
import os
import unittest

from control_support import TOKEN, Skewgate, render
from harness import GatewayTestCase, RawConnection

REGISTER = "/api/v1/apps/shop/builds"
ALLOWED_NAME = "Admin.Internal.Example"  # in admin.allowed_hosts; matched in any case


def api_app():
    return {"name": "shop", "hosts": ["shop.test"], "registry": "api"}


def raw_admin(port, method, path, headers, body=b""):
    """Exactly these header lines (no Host unless given): the Response."""
    head = f"{method} {path} HTTP/1.1\r\n"
    for name, value in headers:
        head += f"{name}: {value}\r\n"
    if method not in ("GET", "HEAD"):
        head += f"Content-Length: {len(body)}\r\n"
    head += "Connection: close\r\n\r\n"
    conn = RawConnection(port)
    try:
        conn.send(head.encode("latin-1") + body)
        return conn.read_response(method)
    finally:
        conn.close()


class AdminSecurityCase(GatewayTestCase):
    token = None

    def setUp(self):
        self.up = self.start_upstream("dpl-a")
        self.sg = Skewgate(self, lambda sg: render(sg.port, sg.admin_port, sg.state_dir, [api_app()],
                                                    token_file=sg.token_file,
                                                    admin_extra={"allowed_hosts": [ALLOWED_NAME.lower()]}),
                           token=self.token).start()
        self.host = f"127.0.0.1:{self.sg.admin_port}"
        self.n = 0

    def body(self):
        """A valid registration with a fresh build id each time."""
        self.n += 1
        return json.dumps({"id": f"dpl-x{self.n}", "upstreams": [self.up.address]}).encode()

    def send(self, method, path, headers, body=b""):
        return raw_admin(self.sg.admin_port, method, path, headers, body)

    def assertRefused(self, r, status, code, what):
        self.assertEqual(r.status, status, f"{what}: {r!r}")
        self.assertEqual(r.json().get("error"), code, f"{what}: {r!r}")

    def registered(self):
        return [b["id"] for b in self.sg.app()["builds"]]


class NoToken(AdminSecurityCase):
    """The default: loopback, no token. Every check here is all that stands between a web page
    and the registry."""

    def test_cross_site_and_form_posts_are_refused_and_register_nothing(self):
        json_ct = ("Content-Type", "application/json")
        cases = [
            # (what, headers besides Host, expected status, error code)
            ("cross-site text/plain POST (no preflight)",
             [("Content-Type", "text/plain"), ("Origin", "https://evil.example")], 403, "cross_origin_request"),
            ("text/plain POST without Origin", [("Content-Type", "text/plain")], 415, "unsupported_media_type"),
            ("text/plain;charset=UTF-8", [("Content-Type", "text/plain;charset=UTF-8")], 415, "unsupported_media_type"),
            ("urlencoded form POST", [("Content-Type", "application/x-www-form-urlencoded")], 415,
             "unsupported_media_type"),
            ("multipart form POST", [("Content-Type", "multipart/form-data; boundary=x")], 415,
             "unsupported_media_type"),
            ("cross-site form POST", [("Content-Type", "application/x-www-form-urlencoded"),
                                      ("Origin", "https://evil.example"), ("Sec-Fetch-Site", "cross-site")], 403,
             "cross_origin_request"),
            ("no Content-Type", [], 415, "unsupported_media_type"),
            ("application/jsonp", [("Content-Type", "application/jsonp")], 415, "unsupported_media_type"),
            ("a list of types", [("Content-Type", "text/plain, application/json")], 415, "unsupported_media_type"),
            ("two Content-Type lines", [json_ct, ("Content-Type", "text/plain")], 415, "unsupported_media_type"),
            ("JSON with Origin: null (sandboxed frame, file:)", [json_ct, ("Origin", "null")], 403,
             "cross_origin_request"),
            ("JSON with the admin's own origin", [json_ct, ("Origin", f"http://{self.host}")], 403,
             "cross_origin_request"),
            ("JSON with Sec-Fetch-Site: cross-site", [json_ct, ("Sec-Fetch-Site", "cross-site")], 403,
             "cross_origin_request"),
            ("JSON with Sec-Fetch-Site: same-site", [json_ct, ("Sec-Fetch-Site", "same-site")], 403,
             "cross_origin_request"),
        ]
        for what, headers, status, code in cases:
            with self.subTest(what):
                r = self.send("POST", REGISTER, [("Host", self.host)] + headers, self.body())
                self.assertRefused(r, status, code, what)
        # The promote route too (no body needed, still a mutation).
        r = self.send("POST", "/api/v1/apps/shop/builds/dpl-x1/promote",
                      [("Host", self.host), ("Content-Type", "text/plain")])
        self.assertRefused(r, 415, "unsupported_media_type", "text/plain promote")
        self.assertEqual(self.registered(), [], "a refused request registered a build")

    def test_json_posts_from_tools_are_accepted(self):
        for what, headers in [
            ("application/json", [("Content-Type", "application/json")]),
            ("with charset", [("Content-Type", "application/json; charset=utf-8")]),
            ("any case", [("Content-Type", "Application/JSON")]),
            ("Sec-Fetch-Site: same-origin", [("Content-Type", "application/json"), ("Sec-Fetch-Site", "same-origin")]),
            ("Sec-Fetch-Site: none (typed in the address bar)",
             [("Content-Type", "application/json"), ("Sec-Fetch-Site", "none")]),
        ]:
            with self.subTest(what):
                r = self.send("POST", REGISTER, [("Host", self.host)] + headers, self.body())
                self.assertEqual(r.status, 201, f"{what}: {r!r}")
        self.assertEqual(len(self.registered()), 5)

    def test_host_must_be_an_ip_literal_localhost_or_allowed(self):
        port = self.sg.admin_port
        refused = ["evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", f"127.0.0.1.evil.example:{port}",
                   "localhost.evil", f"localhost.evil:{port}", "localhost.", "127.0.0.1.", "127.1", "0x7f.0.0.1",
                   "[::1", "::1", f"127.0.0.1:{port}x", "127.0.0.1:", "[::1]x", "admin.internal.example.evil",
                   "user@127.0.0.1", "127.0.0.1 evil", ""]
        accepted = [f"127.0.0.1:{port}", "127.0.0.1", "localhost", f"LocalHost:{port}", "[::1]", f"[::1]:{port}",
                    "10.1.2.3", ALLOWED_NAME, f"{ALLOWED_NAME.upper()}:{port}"]
        paths = [("GET", "/api/v1/config"), ("GET", "/metrics"), ("GET", "/healthz"), ("GET", "/api/v1/apps"),
                 ("POST", REGISTER)]
        for method, path in paths:
            for host in refused:
                with self.subTest(method=method, path=path, host=host):
                    headers = [("Host", host), ("Content-Type", "application/json")]
                    r = self.send(method, path, headers, self.body() if method == "POST" else b"")
                    self.assertRefused(r, 403, "host_not_allowed", f"{method} {path} Host {host!r}")
            with self.subTest(method=method, path=path, host=None):
                r = self.send(method, path, [("Content-Type", "application/json")],
                              self.body() if method == "POST" else b"")
                self.assertRefused(r, 403, "host_not_allowed", f"{method} {path} without Host")
            with self.subTest(method=method, path=path, host="twice"):
                r = self.send(method, path, [("Host", self.host), ("Host", "evil.example"),
                                             ("Content-Type", "application/json")],
                              self.body() if method == "POST" else b"")
                self.assertIn(r.status, (400, 403), f"two Host lines: {r!r}")
        self.assertEqual(self.registered(), [], "a misdirected request registered a build")
        for host in accepted:
            with self.subTest(host=host):
                r = self.send("GET", "/api/v1/config", [("Host", host)])
                self.assertEqual(r.status, 200, f"Host {host!r}: {r!r}")

    def test_allowed_hosts_apply_at_a_reload(self):
        other = "skewgate-admin.svc.example"
        self.assertRefused(self.send("GET", "/api/v1/config", [("Host", other)]), 403, "host_not_allowed", other)
        self.sg.write_config(render(self.sg.port, self.sg.admin_port, self.sg.state_dir, [api_app()],
                                    admin_extra={"allowed_hosts": [ALLOWED_NAME.lower(), other]}))
        r = self.sg.admin("POST", "/api/v1/reload")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.send("GET", "/api/v1/config", [("Host", f"{other}:{self.sg.admin_port}")]).status, 200)
        self.assertNotIn("admin changed", self.sg.stderr_text(), "allowed_hosts applies at once, not at a restart")

    def test_reads_with_origin_are_refused_too(self):
        # /metrics and /api/v1/config tell a page every build and upstream.
        for path in ("/api/v1/config", "/metrics", "/api/v1/apps/shop", "/readyz"):
            for headers in ([("Origin", "https://evil.example")], [("Origin", "null")],
                            [("Sec-Fetch-Site", "cross-site")], [("Sec-Fetch-Site", "same-site")]):
                with self.subTest(path=path, headers=headers):
                    r = self.send("GET", path, [("Host", self.host)] + headers)
                    self.assertRefused(r, 403, "cross_origin_request", f"GET {path} {headers}")
            r = self.send("GET", path, [("Host", self.host), ("Sec-Fetch-Site", "none")])
            self.assertEqual(r.status, 200, f"GET {path}: {r!r}")

    def test_cli_still_works(self):
        rc, out, err = self.sg.cli("deploy", "--app", "shop", "--build", "dpl-a", "--upstream", self.up.address,
                                   "--health-timeout", "10s")
        self.assertEqual(rc, 0, f"deploy: {rc} {out} {err}")
        rc, out, err = self.sg.cli("rollback", "--app", "shop")
        self.assertEqual(rc, 1, f"rollback with nothing to roll back to is refused by the server: {rc} {out} {err}")
        rc, out, err = self.sg.cli("builds", "--app", "shop")
        self.assertEqual(rc, 0, f"builds: {rc} {out} {err}")
        self.assertIn("dpl-a", out)
        rc, out, err = self.sg.cli("builds", "--app", "shop", admin=f"http://localhost:{self.sg.admin_port}")
        self.assertEqual(rc, 0, f"builds via localhost: {rc} {out} {err}")
        self.assertEqual(self.sg.served(), "dpl-a")


class WithToken(AdminSecurityCase):
    token = TOKEN

    def test_bearer_scheme_is_case_insensitive_and_token_exact(self):
        ok = [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER {TOKEN}", f"bEaReR {TOKEN}", f"Bearer   {TOKEN}"]
        bad = [f"Basic {TOKEN}", f"Bearer{TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer ",
               f"Bearer x{TOKEN}", f"Token {TOKEN}", TOKEN, f"Bearer {TOKEN} {TOKEN}", ""]
        for value in ok:
            with self.subTest(value=value):
                r = self.send("POST", REGISTER, [("Host", self.host), ("Content-Type", "application/json"),
                                                 ("Authorization", value)], self.body())
                self.assertEqual(r.status, 201, f"Authorization {value!r}: {r!r}")
                r = self.send("GET", "/api/v1/config", [("Host", self.host), ("Authorization", value)])
                self.assertEqual(r.status, 200, f"GET with Authorization {value!r}: {r!r}")
        for value in bad:
            with self.subTest(value=value):
                r = self.send("POST", REGISTER, [("Host", self.host), ("Content-Type", "application/json"),
                                                 ("Authorization", value)], self.body())
                self.assertRefused(r, 401, "unauthorized", f"Authorization {value!r}")
        r = self.send("POST", REGISTER, [("Host", self.host), ("Content-Type", "application/json"),
                                         ("Authorization", f"Bearer {TOKEN}"), ("Authorization", "Bearer wrong")],
                      self.body())
        self.assertIn(r.status, (400, 401), f"two Authorization lines: {r!r}")
        self.assertEqual(len(self.registered()), len(ok))

    def test_origin_is_refused_even_with_a_valid_token(self):
        # A token in a page's script is still a page driving the API.
        r = self.send("POST", REGISTER, [("Host", self.host), ("Content-Type", "application/json"),
                                         ("Authorization", f"Bearer {TOKEN}"), ("Origin", "https://evil.example")],
                      self.body())
        self.assertRefused(r, 403, "cross_origin_request", "Origin with a valid token")

    def test_cli_still_works_with_a_token(self):
        rc, out, err = self.sg.cli("deploy", "--app", "shop", "--build", "dpl-a", "--upstream", self.up.address,
                                   "--health-timeout", "10s")
        self.assertEqual(rc, 0, f"deploy: {rc} {out} {err}")
        self.assertEqual(self.sg.served(), "dpl-a")


if __name__ == "__main__":
    unittest.main()
