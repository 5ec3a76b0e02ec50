"""Issue 7: skew metrics scraped by a real Prometheus, queried with the dashboard's expressions.

A skewgate (registry: api, two workers) with two echo builds, and Debian's `prometheus`
started here on loopback (temporary config and data dir, scrape interval 1 s). The test
deploys through the CLI and sends a scripted scenario, counting what it sends:
  deploy A; documents (pins issued); deploy B; stale rsc and actions of A's tabs (served
  by A, skewed "retained"); slow and resetting requests to B; retire A; stale actions and
  rsc of A's tabs (reload-required "build_killed"); pins tampered and valid; 10,000 random
  deployment IDs (reload-required "build_unknown", and no new series); malformed requests;
  one good and one bad reload.
Then every expression of docker/grafana/skewgate.json runs against Prometheus's HTTP API
(`$app` = shop, `$__rate_interval` = the whole test) and must match what was sent. A panel
whose expression the test does not know fails the test, so the dashboard cannot drift.
"""

import json
import os
import random
import shutil
import string
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

from control_support import Skewgate, render, wait_until
from harness import RawConnection, Upstream, free_port, request_bytes, stop_process

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DASHBOARD = os.path.join(ROOT, "docker", "grafana", "skewgate.json")
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
WINDOW_S = 600          # $__rate_interval: longer than the whole scenario
RATE_TOLERANCE = 0.12   # rate()'s extrapolation to the window's end, over a ~30 s run
RANDOM_IDS = 10_000
# A browser page load (design.md section 3): only navigations are documents, and pinned.
NAVIGATE = [("accept", "text/html,application/xhtml+xml"), ("sec-fetch-mode", "navigate")]


def rand_id():
    return "dpl-" + "".join(random.choices(string.ascii_lowercase + string.digits, k=12))


class Prometheus:
    """Debian's prometheus on 127.0.0.1, scraping one target every second."""

    def __init__(self, testcase, target_port):
        self.dir = tempfile.mkdtemp(prefix="skewgate-prom-")
        self.port = free_port()
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                    "scrape_configs:\n"
                    "  - job_name: skewgate\n"
                    f"    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n")
        self.log = open(os.path.join(self.dir, "prometheus.log"), "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        testcase.addCleanup(self.stop)
        if not wait_until(lambda: self._get("/-/ready").startswith("Prometheus"), 30):
            raise RuntimeError("prometheus did not become ready: " + self.log_text()[-2000:])

    def _get(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
            return r.read().decode()

    def query(self, expr):
        """Instant query: {frozenset(labels.items()): value}."""
        body = json.loads(self._get("/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
        if body.get("status") != "success":
            raise AssertionError(f"{expr}: {body}")
        return {frozenset(s["metric"].items()): float(s["value"][1]) for s in body["data"]["result"]}

    def log_text(self):
        with open(os.path.join(self.dir, "prometheus.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        stop_process(self.proc)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def one(result, **labels):
    """The value of the series with exactly these labels (0 when absent)."""
    return result.get(frozenset(labels.items()), 0.0)


@unittest.skipUnless(PROMETHEUS and PROMTOOL, "needs Debian's prometheus package (scripts/test.sh installs it)")
class MetricsWithPrometheusTest(unittest.TestCase):
    def setUp(self):
        self.ups = {}
        for b in ("a", "b"):
            up = Upstream(f"dpl-{b}")
            self.addCleanup(up.stop)
            self.ups[b] = up
        self.sg = Skewgate(self, lambda sg: render(
            sg.port, sg.admin_port, sg.state_dir,
            [{"name": "shop", "hosts": ["shop.test"], "registry": "api"}],
            extra_top={"limits": {"header_bytes": "4KiB"}}))
        self.sg.start()
        self.prom = Prometheus(self, self.sg.admin_port)
        # (build, kind, outcome) -> requests sent; other expectations by name.
        self.requests = {}
        self.counts = {}

    # ---- sending, and counting what was sent ----

    def count(self, key, n=1):
        self.counts[key] = self.counts.get(key, 0) + n

    def sent(self, build, kind, outcome, n=1):
        key = (build, kind, outcome)
        self.requests[key] = self.requests.get(key, 0) + n

    def send(self, target="/", headers=(), method="GET", body=None):
        return self.sg.request(method, target, "shop.test", list(headers), body)

    def documents(self, n, build):
        """n page loads with no pin, each served by `build` and given a pin: the first pin."""
        pins = []
        for _ in range(n):
            r = self.send("/", NAVIGATE)
            self.assertEqual(r.header("x-served-by"), build)
            pins.append(r.header("set-cookie"))
        self.assertTrue(all(pins), pins)
        self.sent(build, "document", "served", n)
        self.count("pins_issued", n)
        return pins[0]

    def deploy(self, build):
        rc, out, err = self.sg.cli("deploy", "--app", "shop", "--build", build, "--upstream",
                                   f"127.0.0.1:{self.ups[build[-1]].port}")
        self.assertEqual(rc, 0, out + err)
        self.wait_scraped(f'skewgate_build_info{{build="{build}",state="current"}}')

    def wait_scraped(self, expr, value=None, timeout=20):
        """Until Prometheus has a sample for expr (equal to value, when given)."""
        def ok():
            result = self.prom.query(expr)
            if not result:
                return False
            return value is None or abs(sum(result.values()) - value) < 1e-9
        self.assertTrue(wait_until(ok, timeout, 0.2), f"Prometheus never saw {expr} = {value}: "
                        f"{self.prom.query(expr)}")

    def metrics_text(self):
        r = self.sg.admin("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers)
        return r.body.decode()

    def series_lines(self):
        return sorted(line.rsplit(" ", 1)[0] for line in self.metrics_text().splitlines()
                      if line and not line.startswith("#"))

    def pipelined(self, requests, batch=200):
        """Send raw requests on one keep-alive connection in pipelined batches: the responses."""
        out = []
        conn = RawConnection(self.sg.port)
        try:
            for i in range(0, len(requests), batch):
                chunk = requests[i:i + batch]
                conn.send(b"".join(chunk))
                out += [conn.read_response() for _ in chunk]
        finally:
            conn.close()
        return out

    # ---- the scenario ----

    def test_prometheus_answers_the_dashboard_queries_with_the_traffic_sent(self):
        started = time.time()
        self.deploy("dpl-a")
        pin_a = self.documents(20, "dpl-a")

        self.deploy("dpl-b")
        superseded_a = time.time()
        for _ in range(10):
            r = self.send("/page?_rsc=1", [("rsc", "1"), ("x-deployment-id", "dpl-a")])
            self.assertEqual(r.header("x-served-by"), "dpl-a")
        self.sent("dpl-a", "rsc", "served", 10)
        self.count(("skewed", "rsc", "retained"), 10)
        for _ in range(5):
            r = self.send("/", [("next-action", "7f00aa"), ("x-deployment-id", "dpl-a")], "POST", b"[]")
            self.assertEqual(r.header("x-served-by"), "dpl-a")
        self.sent("dpl-a", "action", "served", 5)
        self.count(("skewed", "action", "retained"), 5)

        pin_b = self.documents(25, "dpl-b")
        for _ in range(5):  # the slow tail of B: p99 lands in (0.1, 0.25]
            self.assertEqual(self.send("/delay?ms=200", NAVIGATE).status, 200)
        self.sent("dpl-b", "document", "served", 5)
        self.count("pins_issued", 5)
        for _ in range(3):
            self.assertEqual(self.send("/reset", NAVIGATE).status, 502)
        self.sent("dpl-b", "document", "error", 3)  # a 502 carries no pin
        self.count(("upstream_error", "dpl-b", "upstream_reset"), 3)

        rc, out, err = self.sg.cli("retire", "--app", "shop", "--build", "dpl-a")
        self.assertEqual(rc, 0, out + err)
        self.wait_scraped('skewgate_build_info{build="dpl-a",state="retired"}')
        for _ in range(4):
            r = self.send("/", [("next-action", "7f00aa"), ("x-deployment-id", "dpl-a")], "POST", b"[]")
            self.assertIn("reason=build_killed;", r.header("x-skewgate-reload"), r)
        self.sent("none", "action", "answered", 4)
        self.count(("skewed", "action", "retired"), 4)
        self.count(("reload", "action", "build_killed"), 4)
        for _ in range(6):
            r = self.send("/page?_rsc=1", [("rsc", "1"), ("x-deployment-id", "dpl-a")])
            self.assertEqual(r.status, 409, r)
        self.sent("none", "rsc", "answered", 6)
        self.count(("skewed", "rsc", "retired"), 6)
        self.count(("reload", "rsc", "build_killed"), 6)

        # Pins: 3 valid (already naming B: nothing new issued), 7 that do not verify.
        cookie_b = pin_b.split(";", 1)[0]
        name, value = cookie_b.split("=", 1)
        for _ in range(3):
            r = self.send("/", NAVIGATE + [("cookie", cookie_b)])
            self.assertIsNone(r.header("set-cookie"))
        self.sent("dpl-b", "document", "served", 3)
        self.count("pins_valid", 3)
        flipped = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
        for bad in [flipped] * 4 + ["garbage", pin_a.split(";", 1)[0].split("=", 1)[1][:-4] + "AAAA", "x.y"]:
            r = self.send("/", NAVIGATE + [("cookie", f"{name}={bad}")])
            self.assertEqual(r.header("x-served-by"), "dpl-b")
        self.sent("dpl-b", "document", "served", 7)
        self.count("pins_tampered", 7)
        self.count("pins_issued", 7)

        # Cardinality: 10,000 deployment IDs nobody registered add no series.
        self.wait_scraped("sum(skewgate_requests_total)", sum(self.requests.values()))
        series_before = self.series_lines()
        prom_series_before = self.prom.query('count({__name__=~"skewgate_.+"})')
        ids = [rand_id() for _ in range(RANDOM_IDS)]
        responses = self.pipelined([request_bytes("GET", "/page?_rsc=1", "shop.test",
                                                  [("rsc", "1"), ("x-deployment-id", i)]) for i in ids])
        self.assertEqual({r.header("x-skewgate-reload").split(";")[1] for r in responses}, {" reason=build_unknown"})
        self.sent("none", "rsc", "answered", RANDOM_IDS)
        self.count(("skewed", "rsc", "unknown"), RANDOM_IDS)
        self.count(("reload", "rsc", "build_unknown"), RANDOM_IDS)

        # Refused before routing: obs-fold (400) twice, a head over limits.header_bytes (431).
        for payload in [b"GET / HTTP/1.1\r\nHost: shop.test\r\nX-A: 1\r\n  folded\r\n\r\n"] * 2 + \
                       [b"GET / HTTP/1.1\r\nHost: shop.test\r\nX-Big: " + b"a" * 8192 + b"\r\n\r\n"]:
            conn = RawConnection(self.sg.port)
            conn.send(payload)
            status = conn.read_response().status
            conn.close()
            self.assertIn(status, (400, 431))
        self.count(("rejected", "bad_request"), 2)
        self.count(("rejected", "header_too_large"), 1)

        # Reloads: one that applies, one that is refused (the running config stays).
        rc, out, err = self.sg.cli("reload")
        self.assertEqual(rc, 0, out + err)
        with open(self.sg.config_path) as f:
            good = f.read()
        self.sg.write_config(good + "bogus_key: 1\n")
        rc, out, err = self.sg.cli("reload")
        self.assertNotEqual(rc, 0, out + err)
        self.sg.write_config(good)

        # Three keep-alive client connections held open (idle) while Prometheus looks.
        for _ in range(3):
            conn = RawConnection(self.sg.port)
            self.addCleanup(conn.close)
            conn.send(request_bytes("GET", "/", "shop.test", NAVIGATE))
            self.assertEqual(conn.read_response().status, 200)
        self.sent("dpl-b", "document", "served", 3)
        self.count("pins_issued", 3)

        # The exposition is valid, and 10,000 IDs later the series set is the same.
        text = self.metrics_text()
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertEqual(self.series_lines(), series_before)

        total = sum(self.requests.values())
        self.wait_scraped("sum(skewgate_requests_total)", total)
        self.wait_scraped("sum(skewgate_downstream_connections)", 3)
        self.wait_scraped('sum(skewgate_config_reloads_total{result="failure"})', 1)
        self.assertEqual(self.prom.query('count({__name__=~"skewgate_.+"})'), prom_series_before)
        self.check_dashboard(time.time() - started, superseded_a)

    # ---- the dashboard's expressions ----

    def check_dashboard(self, elapsed, superseded_a):
        with open(DASHBOARD) as f:
            dashboard = json.load(f)
        self.assertLess(elapsed, WINDOW_S / 2, "the scenario must fit well inside the rate window")
        exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
        self.assertGreaterEqual(len(exprs), 10)
        for expr in exprs:
            query = expr.replace("$__rate_interval", f"{WINDOW_S}s").replace("$app", "shop")
            with self.subTest(expr=expr):
                result = self.prom.query(query)
                if os.environ.get("SKEWGATE_TEST_VERBOSE"):
                    print(f"\n{query}\n  -> {sorted((sorted(k), v) for k, v in result.items())}")
                self.expect(expr, result, superseded_a)

    def counted(self, what):
        """Counts of ("what", kind, label) summed over kinds: {label: n}."""
        out = {}
        for k, v in self.counts.items():
            if isinstance(k, tuple) and k[0] == what:
                out[k[2]] = out.get(k[2], 0) + v
        return out

    def assert_rates(self, result, expected, label):
        """rate() over the window times the window = what was sent, within tolerance."""
        got = {dict(k).get(label): v * WINDOW_S for k, v in result.items() if v * WINDOW_S > 0.5}
        self.assertEqual(set(got), {k for k, v in expected.items() if v}, (got, expected))
        for key, n in expected.items():
            if n:
                self.assertAlmostEqual(got[key], n, delta=max(1.0, n * RATE_TOLERANCE), msg=(key, got, expected))

    def expect(self, expr, result, superseded_a):
        req = self.requests
        by = lambda i: {k: sum(v for kk, v in req.items() if kk[i] == k) for k in {kk[i] for kk in req}}
        if "skewgate_requests_total" in expr and "sum by (build)" in expr:
            self.assert_rates(result, by(0), "build")
        elif "skewgate_requests_total" in expr and "sum by (outcome)" in expr:
            self.assert_rates(result, by(2), "outcome")
        elif expr.startswith("sum(rate(skewgate_skewed_requests_total"):
            skewed = sum(v for k, v in self.counts.items() if isinstance(k, tuple) and k[0] == "skewed")
            (share,) = result.values()
            self.assertAlmostEqual(share, skewed / sum(req.values()), delta=0.03)
        elif "skewgate_skewed_requests_total" in expr:
            self.assert_rates(result, self.counted("skewed"), "client_build_state")
        elif "skewgate_framework_requests_total" in expr:
            # Every action sent was Next.js's (`next-action`): 5 served by A, 4 answered.
            got = {(dict(k)["framework"], dict(k)["outcome"]): round(v * WINDOW_S) for k, v in result.items()
                   if v * WINDOW_S > 0.5}
            self.assertEqual(set(got), {("next", "served"), ("next", "answered")}, got)
            self.assertAlmostEqual(got[("next", "served")], 5, delta=1)
            self.assertAlmostEqual(got[("next", "answered")], 4, delta=1)
        elif "skewgate_reload_required_total" in expr:
            self.assert_rates(result, self.counted("reload"), "reason")
        elif "skewgate_client_build_age_seconds_bucket" in expr:
            # Stale requests came seconds after A was superseded: the first bucket (<= 60 s).
            (age,) = result.values()
            self.assertGreater(age, 0)
            self.assertLessEqual(age, 60)
        elif "skewgate_upstream_request_duration_seconds_bucket" in expr:
            p99 = {dict(k)["build"]: v for k, v in result.items()}
            self.assertEqual(set(p99), {"dpl-a", "dpl-b"}, p99)
            self.assertLess(p99["dpl-a"], 0.1)
            self.assertGreater(p99["dpl-b"], 0.1)
            self.assertLessEqual(p99["dpl-b"], 0.25)
        elif "skewgate_upstream_errors_total" in expr:
            got = {(dict(k)["build"], dict(k)["reason"]): v * WINDOW_S for k, v in result.items() if v > 0}
            self.assertEqual(set(got), {("dpl-b", "upstream_reset")}, got)
            self.assertAlmostEqual(got[("dpl-b", "upstream_reset")], 3, delta=1)
        elif "skewgate_pins_total" in expr:
            self.assert_rates(result, {"issued": self.counts["pins_issued"], "valid": self.counts["pins_valid"],
                                       "tampered": self.counts["pins_tampered"]}, "result")
        elif "skewgate_rejected_requests_total" in expr:
            self.assert_rates(result, {"bad_request": 2, "header_too_large": 1}, "reason")
        elif "skewgate_downstream_connections" in expr:
            self.assertEqual(list(result.values()), [3.0], result)
        elif "skewgate_config_reloads_total" in expr:
            self.assertEqual({dict(k)["result"]: v for k, v in result.items()}, {"success": 1.0, "failure": 1.0})
        elif "skewgate_build_info" in expr:
            rows = {dict(k)["build"]: dict(k) for k in result}
            self.assertEqual(rows["dpl-a"]["state"], "retired")
            self.assertEqual(rows["dpl-b"]["state"], "current")
            self.assertEqual({r["healthy"] for r in rows.values()}, {"true"})
        elif "skewgate_build_superseded_timestamp_seconds" in expr:
            ages = {dict(k)["build"]: v for k, v in result.items()}
            self.assertEqual(set(ages), {"dpl-a"}, ages)  # B was never superseded
            self.assertAlmostEqual(ages["dpl-a"], time.time() - superseded_a, delta=5)
        elif "skewgate_dns_failures_total" in expr:
            # Every upstream here is numeric: no build has the series (test_dns_upstreams counts it).
            self.assertEqual(result, {}, result)
        else:
            self.fail(f"a dashboard expression this test does not check: {expr}")


class DashboardFilesTest(unittest.TestCase):
    """The provisioning files fit together (runs without Prometheus too)."""

    def test_dashboard_panels_and_provisioning(self):
        with open(DASHBOARD) as f:
            dashboard = json.load(f)
        titles = [p["title"] for p in dashboard["panels"]]
        for wanted in ("Traffic by build", "Skewed share", "Reload-required by reason",
                       "Client build age (stale requests)", "Upstream latency p99 by build",
                       "Upstream errors by build", "Pins by result", "Builds", "Actions by framework and outcome"):
            self.assertIn(wanted, titles)
        with open(os.path.join(ROOT, "docker", "grafana", "provisioning", "datasources", "prometheus.yml")) as f:
            datasource = f.read()
        uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
        self.assertEqual(uids, {"prometheus"})
        self.assertIn("uid: prometheus", datasource)
        ids = [p["id"] for p in dashboard["panels"]]
        self.assertEqual(len(ids), len(set(ids)))
        for p in dashboard["panels"]:
            self.assertTrue(p["targets"] and all(t["expr"].strip() for t in p["targets"]), p["title"])


if __name__ == "__main__":
    unittest.main()
