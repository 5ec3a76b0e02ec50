"""A build is what it claims (issue 14 item 6), on the wire.

Before a build is registered or promoted (admin API, CLI) and before the builds of the
config file are used (start, reload), skewgate sends `GET /` as a navigation to the
build's upstreams and reads the deployment ID the answer reports: the header
`x-nextjs-deployment-id`, else `<html data-dpl-id>`. Another ID than the build's is
refused (409 deployment_id_mismatch; the CLI exits 1; a reload keeps the running
configuration; a start exits 1) and nothing reaches registry.json. The build's own ID
and no ID pass; an upstream that does not answer passes (logged: health checks own
reachability). `verify: false` (YAML, API body) and `--no-verify` (CLI) skip the probe.

Real binary, real upstream processes (identity_upstream.py), all on 127.0.0.1.
"""

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from control_support import TOKEN, Skewgate, render, wait_until
from harness import HERE, START_TIMEOUT, GatewayTestCase, free_port, stop_process

IDENTITY_PY = os.path.join(HERE, "identity_upstream.py")
SNAKE_ERROR = "deployment_id_mismatch"
# The html upstream holds the rest of its page for 20 s: an answer within this bound
# proves the probe decided from the prefix.
PREFIX_BOUND = 5.0


class IdentityUpstream:
    """One identity_upstream.py process: reports `build_id` by `report`, answers as `served_by`."""

    def __init__(self, testcase, served_by, report, build_id="", port=None):
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, IDENTITY_PY, "--port", str(self.port), "--served-by", served_by, "--report", report,
             "--id", build_id],
            stdout=subprocess.PIPE, stderr=self.stderr, stdin=subprocess.DEVNULL)
        testcase.addCleanup(self.stop)
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT)
        line = self.proc.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            self.stop()
            raise RuntimeError(f"identity upstream on {self.port} did not start: {line!r}")

    def probes(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/__probes")
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def stop(self):
        stop_process(self.proc, sig=signal.SIGKILL)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.stderr.close()


# (name, how the upstream reports, what it reports: the build's own ID, another build's
# (dpl-a) or none, expected outcome, the `source` a refusal names)
CASES = [
    ("own id by header", "header", "own", "pass", None),
    ("own id by html", "html", "own", "pass", None),
    ("no id", "none", "", "pass", None),
    ("other id by header", "header", "dpl-a", "refuse", "header"),
    ("other id by html", "html", "dpl-a", "refuse", "html"),
]


def reported_for(kind, build):
    return build if kind == "own" else kind


def api_config(sg):
    return render(sg.port, sg.admin_port, sg.state_dir,
                  [{"name": "shop", "hosts": ["shop.test"], "registry": "api"}], token_file=sg.token_file,
                  workers=1)


class VerifyCase(GatewayTestCase):

    def api_gateway(self):
        """A `registry: api` gateway with build dpl-a (its own ID, by header) current."""
        a = IdentityUpstream(self, "dpl-a", "header", "dpl-a")
        sg = Skewgate(self, api_config, token=TOKEN).start()
        self.assertEqual(sg.admin("POST", "/api/v1/apps/shop/builds", {"id": "dpl-a", "upstreams": [a.address]}).status,
                         201)
        self.assertEqual(sg.admin("POST", "/api/v1/apps/shop/builds/dpl-a/promote", {}).status, 200)
        return sg, a

    def registry_json(self, sg):
        path = os.path.join(sg.state_dir, "registry.json")
        with open(path) as f:
            return json.load(f)

    def registered_ids(self, sg):
        return [b["id"] for b in self.registry_json(sg)["apps"]["shop"]["builds"]]

    def assertMismatch(self, reply, build, reported, source, upstream):
        self.assertEqual(reply.status, 409, reply)
        body = reply.json()
        self.assertEqual(body["error"], SNAKE_ERROR, body)
        self.assertEqual((body["registered"], body["reported"], body["source"], body["upstream"]),
                         (build, reported, source, upstream), body)
        self.assertIn(f"reports deployment ID '{reported}'", body["message"])
        self.assertIn("not '" + build + "'", body["message"])
        return body


class TestRegisterAndPromote(VerifyCase):

    def test_register_table(self):
        """Register dpl-b on an upstream reporting each way: own ID and no ID are registered (201),
        another ID is refused with 409 and never reaches registry.json; the probe is a navigation."""
        sg, _ = self.api_gateway()
        for i, (name, report, kind, expected, source) in enumerate(CASES):
            with self.subTest(name):
                build = f"dpl-b{i}"
                reported_id = reported_for(kind, build)
                up = IdentityUpstream(self, build, report, reported_id)
                started = time.monotonic()
                reply = sg.admin("POST", "/api/v1/apps/shop/builds", {"id": build, "upstreams": [up.address]})
                elapsed = time.monotonic() - started
                self.assertLess(elapsed, PREFIX_BOUND, f"{name}: the answer took {elapsed:.1f}s")
                if expected == "pass":
                    self.assertEqual(reply.status, 201, reply)
                    self.assertIn(build, self.registered_ids(sg))
                else:
                    self.assertMismatch(reply, build, reported_id, source, up.address)
                    self.assertNotIn(build, self.registered_ids(sg))
                    self.assertNotIn(build, [b["id"] for b in sg.app()["builds"]])
                heads = up.probes()
                self.assertEqual(len(heads), 1, heads)
                head = {k.lower(): v for k, v in heads[0]}
                self.assertEqual(head.get("sec-fetch-mode"), "navigate", head)
                self.assertEqual(head.get("sec-fetch-dest"), "document", head)
                self.assertIn("text/html", head.get("accept", ""), head)
                self.assertEqual(head.get("host"), "shop.test", head)

    def test_register_verify_false_skips_the_probe(self):
        sg, _ = self.api_gateway()
        up = IdentityUpstream(self, "wrong", "header", "dpl-a")
        reply = sg.admin("POST", "/api/v1/apps/shop/builds",
                         {"id": "dpl-b", "upstreams": [up.address], "verify": False})
        self.assertEqual(reply.status, 201, reply)
        self.assertEqual(up.probes(), [])
        bad = sg.admin("POST", "/api/v1/apps/shop/builds", {"id": "dpl-c", "upstreams": [up.address], "verify": "no"})
        self.assertEqual(bad.status, 400, bad)
        self.assertEqual(bad.json()["error"], "invalid_body")

    def test_promote_probes_again(self):
        """Registered while its process was down (passes, logged), then started on the wrong
        code: the promote is refused, current and registry.json stay; {"verify": false} promotes."""
        sg, a = self.api_gateway()
        port = free_port()
        reply = sg.admin("POST", "/api/v1/apps/shop/builds", {"id": "dpl-b", "upstreams": [f"127.0.0.1:{port}"]})
        self.assertEqual(reply.status, 201, reply)
        self.assertTrue(wait_until(lambda: "could not be verified (unreachable" in sg.stderr_text(), 5),
                        sg.stderr_text())
        wrong = IdentityUpstream(self, "wrong", "html", "dpl-a", port=port)
        before = self.registry_json(sg)
        refused = sg.admin("POST", "/api/v1/apps/shop/builds/dpl-b/promote", {})
        self.assertMismatch(refused, "dpl-b", "dpl-a", "html", wrong.address)
        self.assertEqual(sg.current(), "dpl-a")
        self.assertEqual(self.registry_json(sg), before)
        self.assertEqual(sg.served(target="/page"), "dpl-a")
        # An empty body is {}: verified too.
        self.assertEqual(sg.admin("POST", "/api/v1/apps/shop/builds/dpl-b/promote").status, 409)
        forced = sg.admin("POST", "/api/v1/apps/shop/builds/dpl-b/promote", {"verify": False})
        self.assertEqual(forced.status, 200, forced)
        self.assertEqual(sg.current(), "dpl-b")
        self.assertEqual(self.registry_json(sg)["apps"]["shop"]["current"], "dpl-b")

    def test_promote_own_id_passes_and_routes(self):
        sg, a = self.api_gateway()
        b = IdentityUpstream(self, "dpl-b", "html", "dpl-b")
        self.assertEqual(sg.admin("POST", "/api/v1/apps/shop/builds", {"id": "dpl-b", "upstreams": [b.address]}).status,
                         201)
        started = time.monotonic()
        reply = sg.admin("POST", "/api/v1/apps/shop/builds/dpl-b/promote", {})
        self.assertEqual(reply.status, 200, reply)
        self.assertLess(time.monotonic() - started, PREFIX_BOUND)
        self.assertEqual(sg.served(target="/page"), "dpl-b")
        self.assertEqual(len(b.probes()), 2)  # register and promote

    def test_unanswered_probe_passes_and_is_logged(self):
        """A build that accepts but never answers passes after the probe timeout (3 s), logged."""
        sg, _ = self.api_gateway()
        stall = IdentityUpstream(self, "slow", "stall")
        started = time.monotonic()
        reply = sg.admin("POST", "/api/v1/apps/shop/builds", {"id": "dpl-b", "upstreams": [stall.address]})
        elapsed = time.monotonic() - started
        self.assertEqual(reply.status, 201, reply)
        self.assertGreater(elapsed, 2.5)
        self.assertLess(elapsed, 6.0)
        self.assertTrue(wait_until(lambda: "could not be verified (timed_out" in sg.stderr_text(), 5),
                        sg.stderr_text())

    def test_hostile_upstreams_pass_within_bounds(self):
        """Answers skewgate cannot read (not HTTP, a 1 MiB head, a body trickled byte by byte, a
        16 MiB body without a tag) pass as "no ID", each within the probe's bounds, and the
        gateway keeps serving."""
        sg, _ = self.api_gateway()
        for i, mode in enumerate(["garbage", "huge-head", "trickle", "big-body"]):
            with self.subTest(mode):
                up = IdentityUpstream(self, mode, mode)
                started = time.monotonic()
                reply = sg.admin("POST", "/api/v1/apps/shop/builds", {"id": f"dpl-h{i}", "upstreams": [up.address]})
                elapsed = time.monotonic() - started
                self.assertEqual(reply.status, 201, reply)
                self.assertLess(elapsed, 4.5, f"{mode}: {elapsed:.1f}s")
                self.assertEqual(sg.served(target="/page"), "dpl-a")

    def test_every_upstream_is_probed(self):
        """A build whose second upstream runs another build is refused."""
        sg, a = self.api_gateway()
        b = IdentityUpstream(self, "dpl-b", "header", "dpl-b")
        reply = sg.admin("POST", "/api/v1/apps/shop/builds", {"id": "dpl-b", "upstreams": [b.address, a.address]})
        self.assertMismatch(reply, "dpl-b", "dpl-a", "header", a.address)


class TestCli(VerifyCase):

    def test_deploy_and_promote(self):
        sg, a = self.api_gateway()
        wrong = IdentityUpstream(self, "wrong", "header", "dpl-a")
        code, out, err = sg.cli("deploy", "--app", "shop", "--build", "dpl-b", "--upstream", wrong.address,
                                "--health-timeout", "5s")
        self.assertEqual(code, 1, (out, err))
        self.assertIn("reports deployment ID 'dpl-a'", err)
        self.assertIn("(deployment_id_mismatch, HTTP 409)", err)
        self.assertNotIn("dpl-b", self.registered_ids(sg))
        self.assertEqual(len(wrong.probes()), 1)
        code, out, err = sg.cli("deploy", "--app", "shop", "--build", "dpl-b", "--upstream", wrong.address,
                                "--health-timeout", "5s", "--no-verify")
        self.assertEqual(code, 0, (out, err))
        self.assertEqual(sg.current(), "dpl-b")
        self.assertEqual(len(wrong.probes()), 1, "--no-verify sent a probe")
        # promote: back to a passes (own ID); to b again is refused, --no-verify forces it.
        code, out, err = sg.cli("promote", "--app", "shop", "--build", "dpl-a")
        self.assertEqual(code, 0, (out, err))
        code, out, err = sg.cli("promote", "--app", "shop", "--build", "dpl-b")
        self.assertEqual(code, 1, (out, err))
        self.assertIn("deployment_id_mismatch", err)
        self.assertEqual(sg.current(), "dpl-a")
        code, out, err = sg.cli("promote", "--app", "shop", "--build", "dpl-b", "--no-verify")
        self.assertEqual(code, 0, (out, err))
        self.assertEqual(sg.current(), "dpl-b")

    def test_deploy_own_id(self):
        sg, _ = self.api_gateway()
        b = IdentityUpstream(self, "dpl-b", "html", "dpl-b")
        code, out, err = sg.cli("deploy", "--app", "shop", "--build", "dpl-b", "--upstream", b.address,
                                "--health-timeout", "5s")
        self.assertEqual(code, 0, (out, err))
        self.assertEqual(sg.served(target="/page"), "dpl-b")


def config_app(current, builds):
    return {"name": "shop", "hosts": ["shop.test"], "current": current, "builds": builds}


class TestConfigFile(VerifyCase):

    def file_gateway(self, builds, current="dpl-a"):
        holder = {"apps": [config_app(current, builds)]}
        sg = Skewgate(self, lambda s: render(s.port, s.admin_port, s.state_dir, holder["apps"],
                                             token_file=s.token_file, workers=1), token=TOKEN)
        sg.holder = holder
        return sg

    def rewrite(self, sg, current, builds):
        sg.holder["apps"] = [config_app(current, builds)]
        sg.write_config(sg.render_fn(sg))

    def test_start_table(self):
        """At start: a build of the file that reports another ID stops the process (exit 1,
        the message on stderr); own ID, no ID and verify: false start."""
        a = IdentityUpstream(self, "dpl-a", "header", "dpl-a")
        for name, report, kind, expected, source in CASES + [("other id, verify: false", "header", "dpl-a",
                                                               "pass", None)]:
            with self.subTest(name):
                up = IdentityUpstream(self, "dpl-b", report, reported_for(kind, "dpl-b"))
                build = {"id": "dpl-b", "upstreams": [up.address]}
                if "verify: false" in name:
                    build["verify"] = False
                sg = self.file_gateway([{"id": "dpl-a", "upstreams": [a.address]}, build])
                if expected == "pass":
                    sg.start()
                    self.assertEqual(sg.served(target="/page"), "dpl-a")
                    self.assertEqual(sg.stop(), 0)
                else:
                    code, err = sg.start_expect_exit(timeout=PREFIX_BOUND + 5)
                    self.assertEqual(code, 1, err)
                    self.assertIn("build 'dpl-b' of app 'shop' reports deployment ID 'dpl-a'", err)
                    self.assertIn("x-nextjs-deployment-id header" if source == "header"
                                  else "<html data-dpl-id> attribute", err)
                    self.assertIn("deployment_id_mismatch: not starting", err)

    def test_reload_refused_keeps_running_config(self):
        """SIGHUP, POST /api/v1/reload and `skewgate reload` with a file that makes a build
        reporting another ID current: refused, the running config stays; verify: false applies."""
        a = IdentityUpstream(self, "dpl-a", "header", "dpl-a")
        wrong = IdentityUpstream(self, "wrong", "html", "dpl-a")
        sg = self.file_gateway([{"id": "dpl-a", "upstreams": [a.address]}]).start()
        self.assertEqual(sg.served(target="/page"), "dpl-a")
        self.rewrite(sg, "dpl-b", [{"id": "dpl-a", "upstreams": [a.address]},
                                   {"id": "dpl-b", "upstreams": [wrong.address]}])
        sg.signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "reload refused" in sg.stderr_text(), 10), sg.stderr_text())
        self.assertIn("build 'dpl-b' of app 'shop' reports deployment ID 'dpl-a'", sg.stderr_text())
        self.assertEqual(sg.current(), "dpl-a")
        self.assertEqual(sg.served(target="/page"), "dpl-a")

        reply = sg.admin("POST", "/api/v1/reload", {})
        self.assertEqual(reply.status, 409, reply)
        body = reply.json()
        self.assertEqual(body["error"], SNAKE_ERROR)
        self.assertEqual(body["mismatches"], [{"app": "shop", "build": "dpl-b", "registered": "dpl-b",
                                               "reported": "dpl-a", "source": "html", "upstream": wrong.address}])
        code, out, err = sg.cli("reload")
        self.assertEqual(code, 1, (out, err))
        self.assertIn("reports deployment ID 'dpl-a'", err)
        self.assertEqual(sg.current(), "dpl-a")

        self.rewrite(sg, "dpl-b", [{"id": "dpl-a", "upstreams": [a.address]},
                                   {"id": "dpl-b", "upstreams": [wrong.address], "verify": False}])
        reply = sg.admin("POST", "/api/v1/reload", {})
        self.assertEqual(reply.status, 200, reply)
        self.assertEqual(sg.current(), "dpl-b")
        self.assertEqual(sg.served(target="/page"), "wrong")

    def test_reload_own_id_and_unchanged_builds(self):
        """A promote written in the file probes the new current; builds already running are not
        probed again on every reload."""
        a = IdentityUpstream(self, "dpl-a", "header", "dpl-a")
        b = IdentityUpstream(self, "dpl-b", "html", "dpl-b")
        builds = [{"id": "dpl-a", "upstreams": [a.address]}, {"id": "dpl-b", "upstreams": [b.address]}]
        sg = self.file_gateway(builds).start()
        self.assertEqual((len(a.probes()), len(b.probes())), (1, 1))
        self.rewrite(sg, "dpl-b", builds)
        started = time.monotonic()
        self.assertEqual(sg.admin("POST", "/api/v1/reload", {}).status, 200)
        self.assertLess(time.monotonic() - started, PREFIX_BOUND)
        self.assertEqual(sg.served(target="/page"), "dpl-b")
        self.assertEqual((len(a.probes()), len(b.probes())), (1, 2))
        self.assertEqual(sg.admin("POST", "/api/v1/reload", {}).status, 200)
        self.assertEqual((len(a.probes()), len(b.probes())), (1, 2))


if __name__ == "__main__":
    unittest.main()
