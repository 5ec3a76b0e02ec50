"""The container image (docker/Dockerfile) run for real with podman: tests/container/run.sh
builds it and runs this with SKEWGATE_IMAGE set.

Contract (issue 17 section 2): only runtime libraries in the image; a config mounted at
/etc/skewgate/skewgate.yaml fronting two builds proxies to each; the process runs as
uid/gid 10001 and writes its state to the /var/lib/skewgate volume; the HEALTHCHECK
(`skewgate health`) passes; `podman stop` (SIGTERM) drains: an in-flight request completes
and the container exits 0 within the stop timeout. Without a config the embedded default
runs and says so.

This sandbox's container facts (issue 17): runc, not crun; explicit ulimits (the defaults
are refused); `--network host` for reaching the test's upstreams on 127.0.0.1, or
`--network none` (a private loopback) where nothing outside is needed. Containers and
volumes get unique names with this PID and are removed by name at the end.
"""

import http.client
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import RSC, Upstream, free_port, wait_for  # noqa: E402

IMAGE = os.environ.get("SKEWGATE_IMAGE", "localhost/skewgate:test")
PODMAN = ["podman"]
CMD_TIMEOUT = 60.0    # any single podman command
START_TIMEOUT = 30.0  # container start to /readyz 200
STOP_GRACE = 30       # podman stop -t: SIGTERM, then SIGKILL after this many seconds
DRAIN = "10s"         # timeouts.drain in the test config: the drain ends well before STOP_GRACE
SLOW_MS = 3000        # the in-flight request's upstream delay


def rlimit_arg(name, which, cap=None):
    _, hard = resource.getrlimit(which)
    if cap is not None and (hard == resource.RLIM_INFINITY or hard > cap):
        hard = cap
    return f"--ulimit={name}={hard}:{hard}"


# Within this process's hard limits (runc may not raise them; crun is refused here).
# nproc capped at 4096: the sandbox refused values above 32768 even under the hard limit.
RUN_ARGS = ["--runtime", "runc", rlimit_arg("nofile", resource.RLIMIT_NOFILE),
            rlimit_arg("nproc", resource.RLIMIT_NPROC, cap=4096)]


def podman(*args, check=True, timeout=CMD_TIMEOUT):
    p = subprocess.run(PODMAN + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} -> {p.returncode}: {p.stderr.decode()[-2000:]}")
    return p.returncode, p.stdout.decode(), p.stderr.decode()


class Container:
    """`podman run --rm` in the foreground of a child process: its exit status is the
    container's, its output goes to files."""

    serial = 0

    def __init__(self, workdir, args, image_args=()):
        Container.serial += 1
        self.name = f"skewgate-test-{os.getpid()}-{Container.serial}"
        self.out_path = os.path.join(workdir, f"{self.name}.out")
        self.err_path = os.path.join(workdir, f"{self.name}.err")
        self._out, self._err = open(self.out_path, "wb"), open(self.err_path, "wb")
        self.proc = subprocess.Popen(PODMAN + ["run", "--rm", "--name", self.name] + RUN_ARGS + list(args) +
                                     [IMAGE] + list(image_args),
                                     stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL)

    def stderr_text(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def running(self):
        return self.proc.poll() is None

    def remove(self):
        if self.running():
            podman("rm", "-f", "-t", "0", self.name, check=False)
            try:
                self.proc.wait(timeout=CMD_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        self._err.close()


def http_get(port, target, host="shop.test", headers=None, timeout=10.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", target, headers={"Host": host, **(headers or {})})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def answers(port, target, host, status=200):
    try:
        return http_get(port, target, host=host, timeout=1.0)[0] == status
    except OSError:
        return False


class ImageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        podman("image", "exists", IMAGE)

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="skewgate-container-")

    def container(self, args, image_args=()):
        c = Container(self.workdir, args, image_args)
        self.addCleanup(self._remove, c)
        return c

    def _remove(self, c):
        c.remove()
        outcome = getattr(self, "_outcome", None)
        if outcome is not None and not getattr(outcome, "success", True):
            sys.stderr.write(f"\n--- {c.name} stderr ---\n{c.stderr_text()[-4000:]}\n")

    def exec(self, c, *command):
        return podman("exec", c.name, *command)[1]

    def wait_ready(self, c, admin_port):
        def ready():
            if not c.running():
                raise AssertionError(f"container exited with {c.proc.returncode}: {c.stderr_text()[-2000:]}")
            return answers(admin_port, "/readyz", "127.0.0.1")
        self.assertTrue(wait_for(ready, START_TIMEOUT), c.stderr_text())

    # ---- the image itself ----

    def test_only_runtime_libraries_and_a_stripped_binary(self):
        binary = subprocess.run(PODMAN + ["run", "--rm", "--network", "none", *RUN_ARGS, "--entrypoint", "cat",
                                          IMAGE, "/usr/local/bin/skewgate"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=CMD_TIMEOUT).stdout
        self.assertEqual(binary[:4], b"\x7fELF")
        self.assertNotIn(b".symtab", binary)  # strip removes the symbol table and debug sections
        self.assertNotIn(b".debug_info", binary)
        _, out, _ = podman("run", "--rm", "--network", "none", *RUN_ARGS, "--entrypoint", "ldd", IMAGE,
                           "/usr/local/bin/skewgate")
        self.assertNotIn("not found", out)
        for lib in ("libuv.so.1", "libyaml-cpp.so.0.7", "libprometheus-cpp-core.so", "libssl.so.3"):
            self.assertIn(lib, out)
        # No toolchain, no curl, no debug info; skewgate on PATH.
        _, out, _ = podman("run", "--rm", "--network", "none", *RUN_ARGS, "--entrypoint", "bash", IMAGE, "-c",
                           "for t in gcc cc c++ cmake curl wget; do command -v $t; done; "
                           "command -v skewgate; skewgate --version")
        words = out.split()
        self.assertEqual(words[:2], ["/usr/local/bin/skewgate", "skewgate"], out)  # nothing else found
        self.assertEqual(len(words), 3, out)
        _, out, _ = podman("image", "inspect", IMAGE, "--format",
                           "{{json .Config.User}} {{json .Config.Healthcheck}} {{json .Config.StopSignal}} "
                           "{{json .Config.ExposedPorts}} {{json .Config.Volumes}} {{json .Config.Entrypoint}}")
        self.assertIn('"10001:10001"', out)
        self.assertIn('["CMD","skewgate","health","--timeout","2s"]', out.replace(" ", ""))
        self.assertIn('"SIGTERM"', out)
        self.assertIn('"8080/tcp"', out)
        self.assertIn('"/var/lib/skewgate"', out)
        _, size, _ = podman("image", "inspect", IMAGE, "--format", "{{.Size}}")
        print(f"\ncontainer: image {IMAGE} size {int(size) / 1e6:.1f} MB ({int(size)} bytes)", file=sys.stderr)

    # ---- a config that fronts two builds ----

    def test_fronts_two_builds_as_non_root_healthy_and_drains_on_stop(self):
        a, b = Upstream("dpl-a"), Upstream("dpl-b")
        self.addCleanup(a.stop)
        self.addCleanup(b.stop)
        port, admin_port = free_port(), free_port()
        config = os.path.join(self.workdir, "skewgate.yaml")
        with open(config, "w") as f:
            f.write(f"""\
listeners: [{{address: 127.0.0.1:{port}}}]
admin: {{address: 127.0.0.1:{admin_port}}}
workers: 2
state_dir: /var/lib/skewgate
access_log: {{path: stdout, format: json}}
timeouts: {{drain: {DRAIN}, upstream_response: 20s}}
apps:
  - name: shop
    hosts: [shop.test]
    current: dpl-b
    builds:
      - {{id: dpl-a, upstreams: [{a.address}]}}
      - {{id: dpl-b, upstreams: [{b.address}]}}
""")
        os.chmod(config, 0o644)
        volume = f"skewgate-test-state-{os.getpid()}"
        self.addCleanup(podman, "volume", "rm", "-f", volume, check=False)
        c = self.container(["--network", "host", "-v", f"{config}:/etc/skewgate/skewgate.yaml:ro",
                            "-v", f"{volume}:/var/lib/skewgate",
                            # the HEALTHCHECK's admin address (default 127.0.0.1:9901)
                            "-e", f"SKEWGATE_ADMIN=http://127.0.0.1:{admin_port}"])
        self.wait_ready(c, admin_port)

        # One request to each build, and a document to current.
        for build in ("dpl-a", "dpl-b"):
            status, body = http_get(port, "/page", headers={**RSC, "x-deployment-id": build})
            self.assertEqual(status, 200, body)
            self.assertEqual(json.loads(body)["build"], build)
        status, body = http_get(port, "/_next/static/chunks/app.js?dpl=dpl-a")
        self.assertEqual((status, json.loads(body)["build"]), (200, "dpl-a"))
        self.assertEqual(json.loads(http_get(port, "/")[1])["build"], "dpl-b")

        # Not root, inside and as the host sees the main process.
        self.assertEqual(self.exec(c, "id", "-u").strip(), "10001")
        self.assertEqual(self.exec(c, "id", "-g").strip(), "10001")
        pid = podman("inspect", c.name, "--format", "{{.State.Pid}}")[1].strip()
        with open(f"/proc/{pid}/status") as f:
            ids = {line.split(":")[0]: line.split()[1:] for line in f if line.startswith(("Uid:", "Gid:"))}
        self.assertEqual(ids, {"Uid": ["10001"] * 4, "Gid": ["10001"] * 4})
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            self.assertEqual(f.read().split(b"\0")[0], b"skewgate")  # PID 1 is skewgate itself
        # The state volume is the process's own: the generated pin secret is in it.
        listing = self.exec(c, "ls", "-ln", "/var/lib/skewgate")
        self.assertRegex(listing, r"-rw------- +1 10001 10001 .* pin-secret\n")

        # The image's HEALTHCHECK (skewgate health) passes.
        rc, out, err = podman("healthcheck", "run", c.name, check=False)
        self.assertEqual(rc, 0, out + err)

        # SIGTERM with a request in flight: it completes, then the process exits 0.
        result = {}

        def slow():
            try:
                result["answer"] = http_get(port, f"/delay?ms={SLOW_MS}",
                                            headers={**RSC, "x-deployment-id": "dpl-a"}, timeout=30)
            except OSError as e:
                result["error"] = e

        t = threading.Thread(target=slow)
        t.start()
        self.assertTrue(wait_for(lambda: a.stats().get("inflight") == 1, 10.0), a.stats())
        started = time.monotonic()
        podman("stop", "-t", str(STOP_GRACE), c.name, timeout=STOP_GRACE + CMD_TIMEOUT)
        code = c.proc.wait(timeout=CMD_TIMEOUT)
        elapsed = time.monotonic() - started
        t.join(timeout=30)
        self.assertNotIn("error", result, result)
        self.assertEqual(result["answer"][0], 200, result)
        self.assertEqual(json.loads(result["answer"][1])["build"], "dpl-a")
        self.assertEqual(code, 0, c.stderr_text())
        self.assertLess(elapsed, STOP_GRACE - 5, "podman stop waited for SIGKILL")
        err = c.stderr_text()
        self.assertIn("skewgate: SIGTERM received, draining", err)
        self.assertIn("skewgate: stopped", err)
        print(f"\ncontainer: podman stop with a {SLOW_MS} ms request in flight: exit {code} after "
              f"{elapsed:.1f} s", file=sys.stderr)

    # ---- no config ----

    def test_without_a_config_the_embedded_default_runs(self):
        # Its own loopback (--network none): the embedded default listens on the fixed
        # 127.0.0.1:8080 and 9901, which must not collide with anything on the host.
        c = self.container(["--network", "none"])

        def demo_app():
            if not c.running():
                raise AssertionError(f"container exited with {c.proc.returncode}: {c.stderr_text()[-2000:]}")
            rc, out, _ = podman("exec", c.name, "skewgate", "builds", "--app", "demo", check=False)
            return rc == 0 and out
        out = wait_for(demo_app, START_TIMEOUT, interval=0.5)
        self.assertTrue(out, c.stderr_text())
        self.assertIn("app demo (registry: api), current: none", out)
        self.assertIn("skewgate: no configuration at /etc/skewgate/skewgate.yaml (No such file or directory): "
                      "running the embedded default", c.stderr_text())
        # Its listener answers, over bash's /dev/tcp (no curl in the image).
        answer = self.exec(c, "bash", "-c",
                           "exec 3<>/dev/tcp/127.0.0.1/8080; "
                           "printf 'GET / HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3; "
                           "head -c 12 <&3")
        self.assertRegex(answer, r"^HTTP/1\.1 \d{3}")
        # The HEALTHCHECK as shipped (default admin address) passes.
        rc, out, err = podman("healthcheck", "run", c.name, check=False)
        self.assertEqual(rc, 0, out + err)
        podman("stop", "-t", str(STOP_GRACE), c.name, timeout=STOP_GRACE + CMD_TIMEOUT)
        self.assertEqual(c.proc.wait(timeout=CMD_TIMEOUT), 0, c.stderr_text())

    # ---- docker/compose.yaml's skewgate configuration ----

    def test_the_compose_config_passes_the_images_check(self):
        # Mounted as compose.yaml mounts it (the directory at /etc/skewgate), checked
        # without -c: the image's default configuration path.
        compose_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docker", "compose")
        p = subprocess.run(PODMAN + ["run", "--rm", "--network", "none", *RUN_ARGS,
                                     "-v", f"{os.path.realpath(compose_dir)}:/etc/skewgate:ro",
                                     "-e", "SKEWGATE_ADMIN_TOKEN=container-test", IMAGE, "--check"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=CMD_TIMEOUT)
        out, err = p.stdout.decode(), p.stderr.decode()
        if p.returncode == 0:
            self.assertIn("/etc/skewgate/skewgate.yaml: configuration is valid", out)
            return
        # Until upstreams by DNS name land (issue 17 section 1), the names are the one
        # refusal allowed: the builds are reached as next-a:3000 and next-b:3000.
        # (podman's own lines, time="..." level=error, about systemd timers for health checks, aside)
        lines = [line for line in err.splitlines() if line.strip() and not re.match(r'time="[^"]*" level=', line)]
        self.assertTrue(lines, err)
        for line in lines:
            self.assertRegex(line, r"^/etc/skewgate/skewgate\.yaml:\d+:\d+: apps\[0\]\.builds\[\d\]\.upstreams\[0\]: "
                                   r".*'next-[ab]:3000' \(host names are not resolved", err)
        print("\ncontainer: docker/compose/skewgate.yaml: valid but for its upstream names, which this "
              "skewgate does not resolve yet", file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
