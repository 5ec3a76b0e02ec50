"""Upstreams by DNS name (issue 17 section 1), against a real resolver.

A dnsmasq on 127.0.0.1 (an ephemeral port) answers from a hosts file that the tests
rewrite (dnsmasq reads --addn-hosts again on SIGHUP); skewgate is pointed at it with
`dns: {servers: [...]}`. Upstreams listen on distinct loopback addresses (127.0.0.2,
127.0.0.3, ...) on one port, so the addresses of a name are told apart by which upstream
process counted a request.

Proves: a build reached by name serves; every address of a name gets traffic (round
robin), IPv4 and IPv6 alike (A and AAAA of one name); a rewritten record moves traffic within the refresh (the vanished address gets
none); a resolver that stops answering keeps the last good set and counts
skewgate_dns_failures_total; a name that never resolved makes its build unhealthy
(current: 503 JSON, a stale client of a retained build: the reload answer), never a
hang; --check accepts a name without resolving it and refuses bad syntax with
file:line:col; the admin API and the CLI register a build by name, and registry.json
keeps the name, not its addresses.

dnsmasq is Debian's (scripts/test.sh installs it); without it every test is skipped
with that reason. Every process is started here and stopped by PID.
"""

import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

from control_support import Skewgate, render, wait_until
from harness import SKEWGATE_BIN, START_TIMEOUT, UPSTREAM_PY, free_port, stop_process

DNSMASQ = shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if os.access("/usr/sbin/dnsmasq", os.X_OK) else None)
SKIP_REASON = "dnsmasq not found (Debian package dnsmasq; scripts/test.sh installs it)"
REFRESH = "1s"


def free_udp_and_tcp_port():
    """A port free for both UDP and TCP on 127.0.0.1 (dnsmasq binds both)."""
    for _ in range(50):
        port = free_port()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            u.close()
    raise RuntimeError("no free port for dnsmasq")


def dns_query(port, name, timeout=1.0):
    """The IPv4 addresses dnsmasq answers for `name` (A query), or None on no answer."""
    qname = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    query = struct.pack(">HHHHHH", 0x5347, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(query, ("127.0.0.1", port))
        data = s.recv(4096)
    except OSError:
        return None
    finally:
        s.close()
    _, flags, qd, an, _, _ = struct.unpack(">HHHHHH", data[:12])
    offset = 12 + len(qname) + 4
    out = []
    for _ in range(an):
        if data[offset] & 0xC0 == 0xC0:
            offset += 2
        else:
            while data[offset] != 0:
                offset += data[offset] + 1
            offset += 1
        rtype, _, _, rdlength = struct.unpack(">HHIH", data[offset:offset + 10])
        offset += 10
        if rtype == 1 and rdlength == 4:
            out.append(socket.inet_ntoa(data[offset:offset + 4]))
        offset += rdlength
    return sorted(out)


class Dnsmasq:
    """dnsmasq on 127.0.0.1:port answering only from a hosts file: {name: [IPv4, ...]}."""

    def __init__(self, testcase, records):
        self.dir = tempfile.mkdtemp(prefix="skewgate-dns-")
        testcase.addCleanup(shutil.rmtree, self.dir, True)
        self.hosts = os.path.join(self.dir, "hosts")
        self.port = free_udp_and_tcp_port()
        self.records = {}
        self._write(records)
        self.log = open(os.path.join(self.dir, "dnsmasq.log"), "wb")
        argv = [DNSMASQ, "--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                f"--addn-hosts={self.hosts}", f"--port={self.port}", "--listen-address=127.0.0.1",
                "--bind-interfaces", "--local-ttl=1", "--pid-file=", "--log-facility=-"]
        # As root it would switch to the user `dnsmasq` (and need it); stay who we are.
        if os.geteuid() == 0:
            argv.append("--user=root")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        testcase.addCleanup(self.stop)
        first = next(iter(records))
        v4 = lambda addresses: sorted(a for a in addresses if ":" not in a)  # dns_query asks for A only
        self.v4 = v4
        if not wait_until(lambda: dns_query(self.port, first) == v4(records[first]), START_TIMEOUT):
            raise RuntimeError(f"dnsmasq did not answer on {self.port}: {self.log_text()[-2000:]}")

    def _write(self, records):
        self.records = dict(records)
        tmp = self.hosts + ".tmp"
        with open(tmp, "w") as f:
            for name, addresses in records.items():
                for address in addresses:
                    f.write(f"{address} {name}\n")
        os.replace(tmp, self.hosts)

    def set(self, records):
        """Rewrite the hosts file and SIGHUP; returns once dnsmasq answers the new records."""
        self._write(records)
        os.kill(self.proc.pid, signal.SIGHUP)
        for name, addresses in records.items():
            if not wait_until(lambda: dns_query(self.port, name) == self.v4(addresses), 5.0):
                raise RuntimeError(f"dnsmasq still answers the old records for {name}")

    def log_text(self):
        with open(os.path.join(self.dir, "dnsmasq.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        stop_process(self.proc)
        if not self.log.closed:
            self.log.close()


class HostUpstream:
    """tests/support/upstream.py on host:port (a loopback address of its own)."""

    def __init__(self, testcase, build_id, host, port):
        self.host, self.port = host, port
        self.proc = subprocess.Popen([sys.executable, UPSTREAM_PY, "--port", str(port), "--id", build_id,
                                      "--host", host], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
        testcase.addCleanup(self.stop)
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT)
        if not ready or self.proc.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"upstream on {host}:{port} did not start")

    stats_calls = 0

    def requests(self):
        """Requests this process has seen, its own /__stats requests excluded."""
        self.stats_calls += 1
        s = socket.create_connection((self.host, self.port), timeout=5)
        try:
            s.sendall(b"GET /__stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        return json.loads(data.split(b"\r\n\r\n", 1)[1])["requests"] - self.stats_calls

    def stop(self):
        stop_process(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()


def metric(text, name, labels):
    """The value of one sample of a Prometheus text exposition, or None."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(name + "{"):
            inner = line[len(name) + 1:line.index("}")]
            if sorted(inner.split(",")) == sorted(wanted.split(",")):
                return float(line.rsplit(" ", 1)[1])
    return None


@unittest.skipUnless(DNSMASQ, SKIP_REASON)
class DnsUpstreamsTest(unittest.TestCase):
    def setUp(self):
        if not (os.path.isfile(SKEWGATE_BIN) and os.access(SKEWGATE_BIN, os.X_OK)):
            self.fail(f"skewgate binary not found at {SKEWGATE_BIN}")
        self.port = free_port()  # one port, several loopback addresses

    def upstream(self, build_id, host):
        return HostUpstream(self, build_id, host, self.port)

    def gateway(self, dns, apps, **kwargs):
        def config(sg):
            return render(sg.port, sg.admin_port, sg.state_dir, apps, workers=1,
                          extra_top={"dns": {"refresh": REFRESH, "servers": [f"127.0.0.1:{dns.port}"]}}, **kwargs)
        return Skewgate(self, config).start()

    def spread(self, sg, upstreams, n=24):
        """Send n document GETs; the requests each upstream counted meanwhile."""
        before = [u.requests() for u in upstreams]
        for _ in range(n):
            r = sg.request("GET", "/", headers=[("accept", "text/html")])
            self.assertEqual(r.status, 200, r.body[:300])
        return [u.requests() - b for u, b in zip(upstreams, before)]

    def metrics_text(self, sg):
        r = sg.admin("GET", "/metrics")
        self.assertEqual(r.status, 200)
        return r.body.decode()

    def test_a_name_with_two_addresses_round_robins_follows_changes_and_survives_a_dead_resolver(self):
        a2, a3, a4 = (self.upstream("dpl-a", f"127.0.0.{i}") for i in (2, 3, 4))
        dns = Dnsmasq(self, {"shop-a.test": ["127.0.0.2", "127.0.0.3"]})
        sg = self.gateway(dns, [{"name": "shop", "hosts": ["shop.test"], "current": "dpl-a",
                                 "builds": [{"id": "dpl-a", "upstreams": [f"shop-a.test:{self.port}"]}]}])

        # (1) reached by name.
        r = sg.request("GET", "/", headers=[("accept", "text/html")])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("x-served-by"), "dpl-a")
        # The admin view shows the name as configured and what it resolved to.
        build = sg.app()["builds"][0]
        self.assertEqual(build["upstreams"], [f"shop-a.test:{self.port}"])
        self.assertEqual(build["addresses"], [f"127.0.0.2:{self.port}", f"127.0.0.3:{self.port}"])
        self.assertEqual(build["unresolved_names"], 0)
        config = sg.admin("GET", "/api/v1/config").json()
        self.assertEqual(config["apps"][0]["builds"][0]["upstreams"], [f"shop-a.test:{self.port}"])
        self.assertEqual(config["dns"], {"refresh": "1000ms", "servers": [f"127.0.0.1:{dns.port}"]})

        # (2) both addresses get traffic.
        counts = self.spread(sg, [a2, a3, a4])
        print(f"\nround robin over 2 addresses, 24 requests: {counts}", file=sys.stderr)
        self.assertGreater(counts[0], 0, counts)
        self.assertGreater(counts[1], 0, counts)
        self.assertEqual(counts[2], 0, counts)

        # (3) the record changes: .2 vanishes, .4 appears; within the refresh (plus a
        # lookup) the new address serves and the vanished one gets nothing more.
        dns.set({"shop-a.test": ["127.0.0.3", "127.0.0.4"]})
        changed_at = time.monotonic()
        self.assertTrue(wait_until(lambda: self.spread(sg, [a4], n=4)[0] > 0, 5.0),
                        f"127.0.0.4 got no traffic; stderr: {sg.stderr_text()[-2000:]}")
        print(f"new address served {time.monotonic() - changed_at:.2f}s after the record changed "
              f"(refresh {REFRESH}, TTL 1s)", file=sys.stderr)
        counts = self.spread(sg, [a2, a3, a4])
        self.assertEqual(counts[0], 0, counts)
        self.assertGreater(counts[1], 0, counts)
        self.assertGreater(counts[2], 0, counts)
        self.assertEqual(sg.app()["builds"][0]["addresses"], [f"127.0.0.3:{self.port}", f"127.0.0.4:{self.port}"])

        # (4) the resolver dies: the last good set stays, requests succeed, failures count.
        labels = {"app": "shop", "build": "dpl-a"}
        self.assertEqual(metric(self.metrics_text(sg), "skewgate_dns_failures_total", labels), 0.0)
        dns.stop()
        self.assertTrue(wait_until(lambda: (metric(self.metrics_text(sg), "skewgate_dns_failures_total", labels)
                                            or 0) >= 2, 10.0),
                        f"no dns failures counted; stderr: {sg.stderr_text()[-2000:]}")
        counts = self.spread(sg, [a2, a3, a4])
        self.assertEqual(counts[0], 0, counts)
        self.assertGreater(counts[1], 0, counts)
        self.assertGreater(counts[2], 0, counts)
        self.assertIn("lookup failed", sg.stderr_text())
        self.assertIn("keeping its last addresses", sg.stderr_text())

    def test_a_name_with_a_and_aaaa_records_serves_from_both_families(self):
        try:
            v6 = self.upstream("dpl-a", "::1")
        except (RuntimeError, OSError) as e:
            self.skipTest(f"no IPv6 loopback here: {e}")
        v4 = self.upstream("dpl-a", "127.0.0.2")
        dns = Dnsmasq(self, {"shop-a.test": ["127.0.0.2", "::1"]})
        sg = self.gateway(dns, [{"name": "shop", "hosts": ["shop.test"], "current": "dpl-a",
                                 "builds": [{"id": "dpl-a", "upstreams": [f"shop-a.test:{self.port}"]}]}])
        self.assertEqual(sg.app()["builds"][0]["addresses"], [f"127.0.0.2:{self.port}", f"[::1]:{self.port}"])
        counts = self.spread(sg, [v4, v6], n=10)
        self.assertEqual(counts, [5, 5])

    def test_a_removed_name_keeps_its_last_addresses(self):
        a2 = self.upstream("dpl-a", "127.0.0.2")
        dns = Dnsmasq(self, {"shop-a.test": ["127.0.0.2"], "other.test": ["127.0.0.9"]})
        sg = self.gateway(dns, [{"name": "shop", "hosts": ["shop.test"], "current": "dpl-a",
                                 "builds": [{"id": "dpl-a", "upstreams": [f"shop-a.test:{self.port}"]}]}])
        dns.set({"other.test": ["127.0.0.9"]})  # shop-a.test is gone: NXDOMAIN
        labels = {"app": "shop", "build": "dpl-a"}
        self.assertTrue(wait_until(lambda: (metric(self.metrics_text(sg), "skewgate_dns_failures_total", labels)
                                            or 0) >= 1, 10.0), sg.stderr_text()[-2000:])
        self.assertEqual(self.spread(sg, [a2], n=5), [5])
        self.assertTrue(sg.app()["builds"][0]["healthy"])

    def test_a_name_that_never_resolved_makes_its_build_unhealthy_never_a_hang(self):
        b = self.upstream("dpl-b", "127.0.0.2")
        dns = Dnsmasq(self, {"shop-b.test": ["127.0.0.2"]})
        sg = self.gateway(dns, [
            # shop: current resolves; the retained dpl-a's name never does.
            {"name": "shop", "hosts": ["shop.test"], "current": "dpl-b",
             "builds": [{"id": "dpl-a", "upstreams": [f"missing-a.test:{self.port}"]},
                        {"id": "dpl-b", "upstreams": [f"shop-b.test:{self.port}"]}]},
            # blog: its current's only upstream never resolves.
            {"name": "blog", "hosts": ["blog.test"], "current": "dpl-x",
             "builds": [{"id": "dpl-x", "upstreams": [f"missing-x.test:{self.port}"]}]},
        ])
        self.assertIn("missing-a.test", sg.stderr_text())

        started = time.monotonic()
        r = sg.request("GET", "/", host="blog.test", headers=[("accept", "text/html")], timeout=5)
        self.assertLess(time.monotonic() - started, 2.0)
        self.assertEqual(r.status, 503, r.body[:300])
        self.assertEqual(r.json()["error"], "upstream_unavailable")
        self.assertEqual(r.json()["reason"], "build_unhealthy")

        # A stale client of dpl-a: an RSC navigation gets the 409 reload answer.
        started = time.monotonic()
        r = sg.rsc("dpl-a")
        self.assertLess(time.monotonic() - started, 2.0)
        self.assertEqual(r.status, 409, r.body[:300])
        self.assertIn("reason=build_unhealthy", r.header("x-skewgate-reload"))
        # ... and a JSON client's action the JSON reload answer.
        r = sg.request("POST", "/cart", headers=[("next-action", "a" * 42), ("x-deployment-id", "dpl-a"),
                                                  ("accept", "application/json"), ("origin", "http://shop.test"),
                                                  ("content-type", "text/plain;charset=UTF-8")], body=b"[]")
        self.assertEqual(r.status, 409, r.body[:300])
        self.assertEqual(r.json()["error"], "reload_required")
        # The resolvable current serves.
        self.assertEqual(sg.served(), "dpl-b")
        builds = {x["id"]: x for x in sg.app()["builds"]}
        self.assertFalse(builds["dpl-a"]["healthy"])
        self.assertEqual(builds["dpl-a"]["addresses"], [])
        self.assertEqual(builds["dpl-a"]["unresolved_names"], 1)
        self.assertTrue(builds["dpl-b"]["healthy"])
        self.assertEqual(b.requests() > 0, True)

        # When the name appears, the build serves: no reload needed. A name that never
        # resolved is asked every second (not every dns.refresh).
        dns.set({"shop-b.test": ["127.0.0.2"], "missing-x.test": ["127.0.0.2"]})
        appeared = time.monotonic()
        self.assertTrue(wait_until(lambda: sg.request("GET", "/", host="blog.test").status == 200, 3.0),
                        sg.stderr_text()[-2000:])
        print(f"\na name that appeared served after {time.monotonic() - appeared:.2f}s", file=sys.stderr)

    def test_check_accepts_a_name_without_resolving_it_and_refuses_bad_syntax(self):
        workdir = tempfile.mkdtemp(prefix="skewgate-dns-check-")
        self.addCleanup(shutil.rmtree, workdir, True)
        path = os.path.join(workdir, "skewgate.yaml")

        def check(upstream):
            # A name server nobody answers on: --check must not need one.
            with open(path, "w") as f:
                f.write(render(free_port(), free_port(), os.path.join(workdir, "state"),
                               [{"name": "shop", "hosts": ["shop.test"], "current": "dpl-a",
                                 "builds": [{"id": "dpl-a", "upstreams": [upstream]}]}],
                               extra_top={"dns": {"servers": ["127.0.0.1:9"]}}))
            started = time.monotonic()
            p = subprocess.run([SKEWGATE_BIN, "--check", "-c", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, timeout=30)
            return p.returncode, p.stderr.decode(), time.monotonic() - started

        rc, err, took = check("no-such-host.invalid:3000")
        self.assertEqual(rc, 0, err)
        self.assertLess(took, 2.0)
        for bad in ("shop_a.test:3000", "shop-a.test", "-shop.test:3000", "shop..test:3000"):
            rc, err, _ = check(bad)
            self.assertEqual(rc, 1, bad)
            self.assertRegex(err, re.escape(path) + r":\d+:\d+: apps\[0\]\.builds\[0\]\.upstreams\[0\]: expected ")

    def test_admin_api_and_cli_register_a_build_by_name(self):
        a2 = self.upstream("dpl-a", "127.0.0.2")
        b3 = self.upstream("dpl-b", "127.0.0.3")
        dns = Dnsmasq(self, {"shop-a.test": ["127.0.0.2"], "shop-b.test": ["127.0.0.3"]})
        sg = self.gateway(dns, [{"name": "shop", "hosts": ["shop.test"], "registry": "api"}])

        r = sg.admin("POST", "/api/v1/apps/shop/builds", {"id": "dpl-a", "upstreams": [f"shop-a.test:{self.port}"]})
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(sg.app()["builds"][0]["upstreams"], [f"shop-a.test:{self.port}"])
        r = sg.admin("POST", "/api/v1/apps/shop/builds", {"id": "bad", "upstreams": [f"shop_a.test:{self.port}"]})
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(r.json()["error"], "invalid_body")
        # Registration looked the name up and probed its address.
        self.assertIn(f"upstream 127.0.0.2:{self.port} reports no deployment ID", sg.stderr_text())
        r = sg.admin("POST", "/api/v1/apps/shop/builds/dpl-a/promote", {})
        self.assertEqual(r.status, 200, r.body)
        # Served at once after the promote: the name already had its address.
        self.assertEqual(sg.served(), "dpl-a")
        self.assertEqual(sg.app()["builds"][0]["addresses"], [f"127.0.0.2:{self.port}"])

        rc, out, err = sg.cli("deploy", "--app", "shop", "--build", "dpl-b", "--upstream", f"shop-b.test:{self.port}",
                              "--health-timeout", "10s")
        self.assertEqual(rc, 0, f"{out} {err}")
        self.assertEqual(sg.served(), "dpl-b")
        rc, out, err = sg.cli("builds", "--app", "shop")
        self.assertEqual(rc, 0, err)
        self.assertIn(f"shop-b.test:{self.port}", out)

        # registry.json keeps the names as written, never their addresses.
        with open(os.path.join(sg.state_dir, "registry.json")) as f:
            registry = f.read()
        self.assertIn(f"shop-a.test:{self.port}", registry)
        self.assertIn(f"shop-b.test:{self.port}", registry)
        self.assertNotIn("127.0.0.2", registry)
        self.assertGreater(a2.requests(), 0)
        self.assertGreater(b3.requests(), 0)


if __name__ == "__main__":
    unittest.main()
