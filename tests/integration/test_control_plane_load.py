"""The control plane under load (issue 9): clients keep sending requests (several threads,
keep-alive and new connections, some with bodies) while 100 promotes, rollbacks and
reloads happen, and, when the binary supports the socket takeover, 5 binary restarts.

Passes when no request failed or was reset, every request got a 200, every body arrived
intact, and every response came from a build that was valid at that moment:
  - document GET and POST without an id: a build that was current at some moment between
    sending the request and reading its response (a change counts as in flight from just
    before it was sent until it was acknowledged, or seen applied for SIGHUP);
  - rsc GET and POST with x-deployment-id X: X itself (X stays kept all along).
The counts are printed (run ctest with -V, or see the failure message).

Apps: `shop` (registry: api, builds dpl-a/b/c; promotes and rollbacks through the admin
API and the CLI) and `blog` (registry: config, builds dpl-x/y; each reload flips its
current in the YAML; reloads through POST /api/v1/reload, the CLI and SIGHUP).
"""

import json
import os
import random
import signal
import stat
import sys
import time
import unittest

from control_support import TOKEN, Skewgate, Timeline, Traffic, render, takeover, wait_until
from harness import GatewayTestCase

OPS = 100
RESTARTS = 5
OP_PAUSE = 0.12  # seconds between control-plane operations


class ControlPlaneUnderLoad(GatewayTestCase):
    def setUp(self):
        self.up = {b: self.start_upstream(f"dpl-{b}") for b in ("a", "b", "c", "x", "y")}
        self.blog_current = "dpl-x"
        self.sg = Skewgate(self, self.render, token=TOKEN, config_dir="etc")
        self.sg.start()

    def render(self, sg):
        return render(sg.port, sg.admin_port, sg.state_dir, [
            {"name": "shop", "hosts": ["shop.test"], "registry": "api"},
            {"name": "blog", "hosts": ["blog.test"], "current": self.blog_current,
             "builds": [{"id": "dpl-x", "upstreams": [self.up["x"].address]},
                        {"id": "dpl-y", "upstreams": [self.up["y"].address]}]},
        ], token_file=sg.token_file, workers=2)

    def admin_ok(self, method, path, body=None):
        r = self.sg.admin(method, path, body)
        self.assertEqual(r.status // 100, 2, f"{method} {path}: {r!r}")
        return r.json()

    def test_100_changes_and_restarts_under_load(self):
        sg = self.sg
        for b in ("a", "b", "c"):
            self.admin_ok("POST", "/api/v1/apps/shop/builds", {"id": f"dpl-{b}", "upstreams": [self.up[b].address]})
        for b in ("a", "b", "c"):
            self.admin_ok("POST", f"/api/v1/apps/shop/builds/dpl-{b}/promote")
        # Model of the registry: current and the rollback history (newest last).
        current, previous = "dpl-c", ["dpl-a", "dpl-b"]
        self.assertEqual(sg.current(), current)

        # Binary restart: tried under load when the running process offers the handover
        # socket in state_dir; each restart must then print "took over" (takeover()).
        handover = os.path.join(sg.state_dir, "handover.sock")
        restart_ok = os.path.exists(handover) and stat.S_ISSOCK(os.stat(handover).st_mode)
        restart_detail = "" if restart_ok else f"no handover socket at {handover}"
        restart_failures = []
        restarts_done = 0

        timeline = Timeline({"shop": current, "blog": self.blog_current})
        traffic = Traffic(sg.port, "shop", "shop.test", ["dpl-a", "dpl-b", "dpl-c"], extra_hosts={"blog.test": "blog"},
                          keepalive=3, fresh=2).start()
        done = {"promote": 0, "rollback": 0, "reload_api": 0, "reload_cli": 0, "reload_sighup": 0,
                "promote_cli": 0, "restart": 0}
        restart_at = {15, 35, 55, 75, 95} if restart_ok else set()
        rng = random.Random(7)
        started = time.monotonic()
        try:
            time.sleep(0.5)
            for i in range(OPS):
                kind = ("reload", "promote", "rollback", "promote")[i % 4]
                if kind == "rollback" and not previous:
                    kind = "promote"
                if kind == "promote":
                    target = rng.choice([b for b in ("dpl-a", "dpl-b", "dpl-c") if b != current])
                    via_cli = i % 5 == 1
                    t0 = time.monotonic()
                    if via_cli:
                        rc, out, err = sg.cli("promote", "--app", "shop", "--build", target, json_out=True)
                        self.assertEqual(rc, 0, f"op {i}: CLI promote {target}: {rc} {out} {err}")
                        answer = json.loads(out)
                        done["promote_cli"] += 1
                    else:
                        answer = self.admin_ok("POST", f"/api/v1/apps/shop/builds/{target}/promote")
                    t1 = time.monotonic()
                    self.assertEqual(answer["current"], target, f"op {i}: promote {target}: {answer}")
                    if current in previous:
                        previous.remove(current)
                    previous.append(current)
                    if target in previous:
                        previous.remove(target)
                    timeline.change("shop", t0, t1, current, target)
                    current = target
                    done["promote"] += 1
                elif kind == "rollback":
                    expected = previous[-1]
                    t0 = time.monotonic()
                    answer = self.admin_ok("POST", "/api/v1/apps/shop/rollback")
                    t1 = time.monotonic()
                    self.assertEqual(answer["current"], expected, f"op {i}: rollback: {answer}")
                    previous.pop()
                    timeline.change("shop", t0, t1, current, expected)
                    current = expected
                    done["rollback"] += 1
                else:
                    old = self.blog_current
                    self.blog_current = "dpl-y" if old == "dpl-x" else "dpl-x"
                    sg.write_config(self.render(sg))
                    how = ("api", "sighup", "api", "cli")[(i // 4) % 4]
                    t0 = time.monotonic()
                    if how == "api":
                        answer = self.admin_ok("POST", "/api/v1/reload")
                        self.assertIs(answer["reloaded"], True)
                    elif how == "cli":
                        rc, out, err = sg.cli("reload")
                        self.assertEqual(rc, 0, f"op {i}: CLI reload: {rc} {out} {err}")
                    else:
                        sg.signal(signal.SIGHUP)
                        self.assertTrue(wait_until(lambda: sg.current("blog") == self.blog_current, 5.0),
                                        f"op {i}: SIGHUP reload not applied within 5 s")
                    t1 = time.monotonic()
                    timeline.change("blog", t0, t1, old, self.blog_current)
                    done["reload_" + how] += 1
                if i in restart_at and not restart_failures:
                    ok, detail = takeover(sg)
                    if ok and not detail:
                        done["restart"] += 1
                        restarts_done += 1
                    else:
                        # Recorded, not raised: the traffic verdict is still wanted. No
                        # further restarts are tried after a failed one.
                        restart_failures.append(f"restart #{done['restart'] + 1} (after op {i}): {detail}")
                time.sleep(OP_PAUSE)
            time.sleep(0.5)
        finally:
            stopped = traffic.stop()
        elapsed = time.monotonic() - started
        self.assertTrue(stopped, "client threads did not stop")
        verdict = traffic.judge(timeline)
        report = {"ops": done, "restarts": restarts_done, "restart_failures": len(restart_failures),
                  "restart": "supported" if restart_ok else f"skipped: {restart_detail}",
                  "seconds": round(elapsed, 1),
                  **{k: v for k, v in verdict.items() if k != "examples"}}
        sys.stderr.write(f"\n[control-plane load] {json.dumps(report)}\n")
        sys.stderr.flush()

        self.assertEqual(done["promote"] + done["rollback"] + sum(v for k, v in done.items() if k.startswith("reload_")),
                         OPS)
        self.assertGreater(verdict["answered"], 1000, report)
        problems = {k: verdict["examples"][k2] for k, k2 in (("failed", "failed"), ("resets", "resets"),
                                                              ("non_200", "non_200"), ("wrong_build", "wrong_build"),
                                                              ("altered_bodies", "altered")) if verdict[k]}
        if restart_failures:
            problems["restart_failures"] = restart_failures
        self.assertEqual(problems, {}, f"under load: {json.dumps(report)}")
        self.assertEqual(verdict["sent"], verdict["answered"] + verdict["failed"] + verdict["resets"], report)
        if restart_ok:
            self.assertEqual(restarts_done, RESTARTS)
        self.assertEqual(sg.current(), current, "final current build (admin API) vs the acknowledged sequence")
        self.assertEqual(sg.current("blog"), self.blog_current)
        self.assertEqual(sg.served(), current)
        self.assertEqual(sg.served("blog.test"), self.blog_current)
        if not restart_ok:
            self.skipTest(f"load passed with {OPS} changes; the {RESTARTS} binary restarts were skipped: {restart_detail}")


if __name__ == "__main__":
    unittest.main()
