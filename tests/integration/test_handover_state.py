"""No acknowledged admin change is lost across a restart with socket hand-over (issue 13 item 1).

A second `skewgate -c SAME_CONFIG` takes the listening sockets over from the running one
(gateway/net/handover.h). The race: the new process reads state_dir (registry.json) while the old
one still answers the admin API; a build registered and promoted in between got 201/200 from
the old process and was gone in the new one, and the next change rewrote registry.json
without it.

The test hook SKEWGATE_TEST_HOLD_HANDOVER=<file> (test-only) holds the new process at the point
where it reads state_dir until <file> exists, so the window is opened on purpose. Every change
sent in it must be either refused (503, Retry-After: 1, handover_in_progress) or present after
the hand-over, also on disk after the next change. A hand-over whose new process dies in the
window leaves the old process taking changes again.
"""

import json
import os
import signal
import subprocess
import time
import unittest

from control_support import Skewgate, read_text, render, takeover, wait_until
from harness import GatewayTestCase, stop_process, wait_for

HOLD_TIMEOUT = 10.0  # seconds for the new process to reach the hook


def api_app():
    return {"name": "shop", "hosts": ["shop.test"], "registry": "api"}


class HandoverState(GatewayTestCase):

    def setUp(self):
        self.up = {b: self.start_upstream(f"dpl-{b}") for b in ("a", "b", "c", "d")}
        self.sg = Skewgate(self, lambda sg: render(sg.port, sg.admin_port, sg.state_dir, [api_app()])).start()
        self.assertEqual(self.register("a").status, 201)
        self.assertEqual(self.promote("a").status, 200)

    def register(self, b):
        return self.sg.admin("POST", "/api/v1/apps/shop/builds", {"id": f"dpl-{b}", "upstreams": [self.up[b].address]})

    def promote(self, b):
        return self.sg.admin("POST", f"/api/v1/apps/shop/builds/dpl-{b}/promote")

    def assertRefusedOrDone(self, reply, what):
        if reply.status == 503:
            self.assertEqual(reply.headers.get("retry-after"), "1", f"{what}: {reply!r}")
            self.assertEqual(reply.json().get("error"), "handover_in_progress", f"{what}: {reply!r}")
            return False
        self.assertIn(reply.status, (200, 201), f"{what}: {reply!r}")
        return True

    def spawn_held(self):
        """A second process on the same config, held by the test hook: (proc, release file)."""
        release = os.path.join(self.sg.workdir, f"release-{self.sg.starts + 1}")
        env = dict(self.sg.env)
        self.sg.env["SKEWGATE_TEST_HOLD_HANDOVER"] = release
        try:
            new = self.sg.spawn()
        finally:
            self.sg.env = env
        held = wait_for(lambda: "test hook: holding" in read_text(new.stderr_path) or new.poll() is not None,
                        HOLD_TIMEOUT)
        self.assertTrue(held and new.poll() is None,
                        f"the new process did not reach the hook: {read_text(new.stderr_path)[-1500:]}")
        return new, release

    def registry_on_disk(self):
        with open(os.path.join(self.sg.state_dir, "registry.json")) as f:
            return json.load(f)

    def ids_on_disk(self):
        doc = self.registry_on_disk()
        text = json.dumps(doc)
        return {b for b in ("dpl-a", "dpl-b", "dpl-c", "dpl-d") if f'"{b}"' in text}

    def test_changes_sent_during_the_handover_are_refused_or_kept(self):
        old = self.sg.proc
        new, release = self.spawn_held()
        # The window: the new process is about to read state_dir, the old one still answers.
        acked = {}
        acked["register b"] = self.assertRefusedOrDone(self.register("b"), "register during the hand-over")
        acked["promote b"] = acked["register b"] and self.assertRefusedOrDone(self.promote("b"),
                                                                             "promote during the hand-over")
        # Reads still work meanwhile.
        self.assertEqual(self.sg.admin("GET", "/api/v1/apps/shop").status, 200)
        with open(release, "w"):
            pass
        said = wait_for(lambda: "took over" in read_text(new.stderr_path) or new.poll() is not None, 10.0)
        self.assertTrue(said and new.poll() is None, f"no takeover: {read_text(new.stderr_path)[-1500:]}")
        self.assertEqual(old.wait(timeout=20.0), 0, "the old process exits 0 after the hand-over")
        self.sg.proc = new
        self.assertNotIn("earlier version", read_text(new.stderr_path), "the predecessor confirmed its state flushed")

        app = self.sg.app()
        ids = {b["id"] for b in app["builds"]}
        if acked["register b"]:
            self.assertIn("dpl-b", ids, f"register acknowledged during the hand-over, lost after it: {app}")
        if acked["promote b"]:
            self.assertEqual(app["current"], "dpl-b", f"promote acknowledged during the hand-over, lost: {app}")
            self.assertEqual(self.sg.served(), "dpl-b")
        # The next change must not rewrite registry.json without what was acknowledged.
        self.assertEqual(self.register("c").status, 201)
        on_disk = self.ids_on_disk()
        expected = {"dpl-a", "dpl-c"} | ({"dpl-b"} if acked["register b"] else set())
        self.assertEqual(on_disk, expected, f"registry.json after the next change: {self.registry_on_disk()}")
        # A refused change, retried after the hand-over, goes through.
        if not acked["register b"]:
            self.assertEqual(self.register("b").status, 201)
        self.assertEqual(self.promote("b").status, 200)
        self.assertEqual(self.sg.served(), "dpl-b")
        # And everything survives a kill -9 of the new process.
        self.sg.restart_after_kill9()
        app = self.sg.app()
        self.assertEqual((app["current"], {b["id"] for b in app["builds"]}),
                         ("dpl-b", {"dpl-a", "dpl-b", "dpl-c"}), app)

    def test_changes_in_a_tight_loop_across_takeovers_are_answered_and_kept(self):
        """Without the hook: a client registering builds back to back while the binary is
        restarted twice. Every change gets an answer (201, or 503 to retry: never a closed
        connection), and every 201 is there afterwards."""
        import threading
        answers = []  # (build id, status or exception name)
        stop = threading.Event()

        def client():
            i = 0
            while not stop.is_set():
                i += 1
                bid = f"dpl-t{i}"
                try:
                    r = self.sg.admin("POST", "/api/v1/apps/shop/builds", {"id": bid, "upstreams": [self.up["a"].address]},
                                      timeout=5.0)
                    answers.append((bid, r.status))
                    if r.status == 503:
                        self.assertEqual(r.headers.get("retry-after"), "1", r)
                except Exception as e:  # noqa: BLE001 - recorded and asserted below
                    answers.append((bid, type(e).__name__))

        thread = threading.Thread(target=client)
        thread.start()
        try:
            for _ in range(2):
                time.sleep(0.3)
                supported, detail = takeover(self.sg)
                self.assertTrue(supported and detail == "", detail)
            time.sleep(0.3)
        finally:
            stop.set()
            thread.join(timeout=20.0)
        statuses = {s for _, s in answers}
        self.assertLessEqual(statuses, {201, 503}, f"answers other than 201/503: {sorted(map(str, statuses))}")
        acked = {b for b, s in answers if s == 201}
        have = {b["id"] for b in self.sg.app()["builds"]}
        self.assertEqual(acked - have, set(), "acknowledged and lost across the takeovers")
        self.assertGreater(len(acked), 10)

    def test_a_handover_whose_new_process_dies_lets_the_old_one_take_changes_again(self):
        for how, b in ((signal.SIGKILL, "c"), (signal.SIGTERM, "d")):
            with self.subTest(signal=how.name):
                new, release = self.spawn_held()
                during = self.register(b)
                # The fixed protocol refuses changes while a successor holds the hand-over.
                self.assertEqual(during.status, 503, f"a change during the hand-over: {during!r}")
                self.assertEqual(during.headers.get("retry-after"), "1", during)
                os.kill(new.pid, how)
                new.wait(timeout=10.0)
                # The old process notices the successor is gone and takes changes again.
                self.assertTrue(wait_until(lambda: self.register(b).status == 201, 5.0),
                                f"the old process still refuses changes: {self.register(b)!r}; "
                                f"stderr: {self.sg.stderr_text()[-1500:]}")
                self.assertIn(f"dpl-{b}", {x["id"] for x in self.sg.app()["builds"]})
                self.assertEqual(self.sg.admin("POST", f"/api/v1/apps/shop/builds/dpl-{b}/retire").status, 200)
                self.assertEqual(self.sg.admin("GET", "/readyz").status, 200)
                self.assertEqual(self.sg.served(), "dpl-a", "the old process still serves")
        # A later hand-over still works and keeps everything.
        supported, detail = takeover(self.sg)
        self.assertTrue(supported and detail == "", detail)
        app = self.sg.app()
        states = {b["id"]: b["state"] for b in app["builds"]}
        self.assertEqual((app["current"], states), ("dpl-a", {"dpl-a": "current", "dpl-c": "retired", "dpl-d": "retired"}), app)


if __name__ == "__main__":
    unittest.main()
