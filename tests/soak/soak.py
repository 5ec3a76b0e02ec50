#!/usr/bin/env python3
"""Soak: abusive clients against steady normal traffic (issue 13). Not run in CI.

Started by tests/soak/run.sh, which sets ulimit -n. Starts two upstream.py
processes (one build, two upstreams) and skewgate with short timeouts, then
for --duration seconds keeps, at all times:

  slowloris    N connections sending one header line a second, never ending
               the head                          (expect close at client_header)
  slow-body    N POSTs that send the head and a few body bytes, then nothing
                                                  (expect 408 + close at client_body)
  non-reading  N GETs of a 1 GB response that never read a byte
                                                  (expect close at client_send)
  idle tunnel  N WebSocket upgrades that go quiet after the 101
                                                  (expect close at tunnel_idle)

Each abusive connection that ends is replaced by a new one. The slowloris class runs
in a child process of its own, so one Python event loop's lag does not become the
close times it measures (the lag of the main one is printed). Meanwhile a few
normal clients send GETs in a loop (keep-alive and one connection per
request). Printed: the share of normal requests served, and for each abusive
class how many connections were closed within their timeout + 1 s.

When a class's deadline starts, from the client's side:
  slowloris    the first byte of the head        (client_header runs from there)
  slow-body    the last body byte sent           (client_body is between reads)
  idle tunnel  the 101 received                  (no byte either way since)
  non-reading  skewgate's last write progress: the last time the send queue of
               its socket to this client grew (`ss`, polled every 0.2 s; with
               the client's window shut, bytes only enter it). The client's
               own receive queue stops growing seconds earlier: skewgate's
               kernel send buffer (autotuned to MBs) still takes what the
               upstream produces, and that is progress, as for nginx's
               send_timeout. The close itself is not visible to a client that
               never reads (the FIN waits behind unread bytes), so it comes
               from skewgate's access log: the entry's duration, added to the
               request's send time.
"""

import argparse
import asyncio
import fcntl
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time

HERE = os.path.dirname(os.path.abspath(__file__))
UPSTREAM = os.path.join(HERE, "..", "support", "upstream.py")
SIOCINQ = termios.FIONREAD

TIMEOUTS = {"client_header": 5.0, "client_body": 5.0, "client_send": 5.0, "tunnel_idle": 10.0}
SLACK = 1.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(proc, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    line = proc.stdout.readline()
    if "ready" not in line or time.monotonic() > deadline:
        raise SystemExit(f"{what} did not start: {line!r}")


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("skewgate did not start listening")


class Stats:
    def __init__(self):
        self.normal_ok = 0
        self.normal_failed = 0
        self.failures = {}
        # class -> list of (seconds from deadline start to close) ; None = not closed
        self.closes = {"slowloris": [], "slow-body": [], "non-reading": [], "idle tunnel": []}
        self.unexpected = {k: 0 for k in self.closes}
        self.lags = []


async def open_conn(port):
    return await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)


async def read_until_eof(reader, limit_s):
    """Reads until EOF; returns the monotonic time of EOF, or None."""
    deadline = time.monotonic() + limit_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            data = await asyncio.wait_for(reader.read(65536), left)
        except (asyncio.TimeoutError,):
            return None
        except (ConnectionError, OSError):
            return time.monotonic()
        if not data:
            return time.monotonic()


def close_writer(writer):
    try:
        writer.transport.abort()
    except Exception:
        pass


async def slowloris(port, stats, stop):
    while not stop.is_set():
        try:
            reader, writer = await open_conn(port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        start = time.monotonic()
        writer.write(b"GET /loris HTTP/1.1\r\nHost: shop.test\r\n")
        eof_task = asyncio.ensure_future(read_until_eof(reader, TIMEOUTS["client_header"] + 20))
        i = 0
        while not eof_task.done():
            await asyncio.sleep(1.0)
            if eof_task.done():
                break
            try:
                writer.write(b"X-Loris-%d: x\r\n" % i)
            except Exception:
                break
            i += 1
        closed = await eof_task
        stats.closes["slowloris"].append(None if closed is None else closed - start)
        close_writer(writer)


async def slow_body(port, stats, stop, pending, serial):
    while not stop.is_set():
        try:
            reader, writer = await open_conn(port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        serial[0] += 1
        target = f"/upload?id={serial[0]}"
        sent_at = time.monotonic()
        writer.write(f"POST {target} HTTP/1.1\r\nHost: shop.test\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Length: 1000000\r\n\r\n".encode())
        await writer.drain()
        await asyncio.sleep(0.3)
        writer.write(b"x" * 10)
        await writer.drain()
        last_byte = time.monotonic()
        head = b""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUTS["client_body"] + 20)
        except Exception:
            pass
        closed = await read_until_eof(reader, 20) if head else time.monotonic()
        if not head.startswith(b"HTTP/1.1 408"):
            stats.unexpected["slow-body"] += 1
        stats.closes["slow-body"].append(None if closed is None else closed - last_byte)
        pending[target] = (sent_at, last_byte)
        close_writer(writer)


def make_non_reading_socket(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.setblocking(False)
    return s


async def send_queue_monitor(port, progress, stop):
    """client port -> monotonic time skewgate's send queue to it last grew."""
    sizes = {}
    while not stop.is_set() or progress.get("_drain", 0) > 0:
        proc = await asyncio.create_subprocess_exec(
            "ss", "-tnH", "state", "established", f"( sport = :{port} )",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        out, _ = await proc.communicate()
        now = time.monotonic()
        seen = set()
        for line in out.decode().splitlines():
            f = line.split()
            if len(f) < 4:
                continue
            peer = int(f[3].rsplit(":", 1)[1])
            send_q = int(f[1])
            seen.add(peer)
            if send_q > sizes.get(peer, -1):
                sizes[peer] = send_q
                progress[peer] = now
        for peer in [p for p in sizes if p not in seen]:
            del sizes[peer]  # that connection ended: its port may come back for a new one
        await asyncio.sleep(0.2)


async def non_reading(port, stats, stop, pending, serial, progress):
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        s = make_non_reading_socket(port)
        try:
            await loop.sock_connect(s, ("127.0.0.1", port))
        except OSError:
            s.close()
            await asyncio.sleep(0.5)
            continue
        serial[0] += 1
        target = f"/repeat?bytes=1000000000&id={serial[0]}"
        client_port = s.getsockname()[1]
        sent_at = time.monotonic()
        await loop.sock_sendall(s, f"GET {target} HTTP/1.1\r\nHost: shop.test\r\n\r\n".encode())
        queued, grew_at = 0, time.monotonic()
        # Watch the receive queue until it has not grown for client_send + 3 s.
        while time.monotonic() - grew_at < TIMEOUTS["client_send"] + 3:
            await asyncio.sleep(0.1)
            now_queued = struct.unpack("i", fcntl.ioctl(s.fileno(), SIOCINQ, b"\0\0\0\0"))[0]
            if now_queued > queued:
                queued, grew_at = now_queued, time.monotonic()
        progress["_drain"] = progress.get("_drain", 0) + 1
        # Long enough for skewgate's deadline to pass whatever happened.
        await asyncio.sleep(TIMEOUTS["client_send"] + 3)
        progress["_drain"] -= 1
        # A connection that was reused by a later one cannot be confused:
        # the port is in use until we close it here.
        pending[target] = (sent_at, max(grew_at, progress.get(client_port, grew_at)))
        s.close()


async def idle_tunnel(port, stats, stop, pending, serial):
    while not stop.is_set():
        try:
            reader, writer = await open_conn(port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        serial[0] += 1
        target = f"/ws?id={serial[0]}"
        sent_at = time.monotonic()
        writer.write(f"GET {target} HTTP/1.1\r\nHost: shop.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode())
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except Exception:
            head = b""
        got_101 = time.monotonic()
        if not head.startswith(b"HTTP/1.1 101"):
            stats.unexpected["idle tunnel"] += 1
            close_writer(writer)
            await asyncio.sleep(0.5)
            continue
        closed = await read_until_eof(reader, TIMEOUTS["tunnel_idle"] + 20)
        stats.closes["idle tunnel"].append(None if closed is None else closed - got_101)
        pending[target] = (sent_at, got_101)
        close_writer(writer)


async def normal_keepalive(port, stats, stop):
    reader = writer = None
    while not stop.is_set():
        try:
            if writer is None:
                reader, writer = await open_conn(port)
            writer.write(b"GET /normal HTTP/1.1\r\nHost: shop.test\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await asyncio.wait_for(reader.readexactly(length), 5)
            if head.startswith(b"HTTP/1.1 200"):
                stats.normal_ok += 1
            else:
                stats.normal_failed += 1
                key = head.split(b"\r\n")[0].decode(errors="replace")
                stats.failures[key] = stats.failures.get(key, 0) + 1
        except Exception as e:
            stats.normal_failed += 1
            key = type(e).__name__
            stats.failures[key] = stats.failures.get(key, 0) + 1
            if writer is not None:
                close_writer(writer)
            reader = writer = None
        await asyncio.sleep(0.002)


async def normal_new_connection(port, stats, stop):
    while not stop.is_set():
        try:
            reader, writer = await open_conn(port)
            writer.write(b"GET /normal-new HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n")
            data = await asyncio.wait_for(reader.read(-1), 5)
            close_writer(writer)
            if data.startswith(b"HTTP/1.1 200"):
                stats.normal_ok += 1
            else:
                stats.normal_failed += 1
                key = data.split(b"\r\n")[0].decode(errors="replace")
                stats.failures[key] = stats.failures.get(key, 0) + 1
        except Exception as e:
            stats.normal_failed += 1
            key = type(e).__name__
            stats.failures[key] = stats.failures.get(key, 0) + 1
        await asyncio.sleep(0.005)


async def lag_monitor(stats, stop):
    """How late this client's own event loop runs: its close times are that late too."""
    while not stop.is_set():
        before = time.monotonic()
        await asyncio.sleep(0.05)
        stats.lags.append(time.monotonic() - before - 0.05)


async def run(args, port):
    stats = Stats()
    stop = asyncio.Event()
    pending = {"slow-body": {}, "non-reading": {}, "idle tunnel": {}}
    serial = [0]
    progress = {}
    tasks = [asyncio.ensure_future(lag_monitor(stats, stop)),
             asyncio.ensure_future(send_queue_monitor(port, progress, stop))]

    async def ramp(count, make):
        # Open the abusive connections over ~2 s, not in one burst.
        for _ in range(count):
            tasks.append(asyncio.ensure_future(make()))
            await asyncio.sleep(2.0 / max(count, 1))

    for _ in range(args.normal):
        tasks.append(asyncio.ensure_future(normal_keepalive(port, stats, stop)))
    tasks.append(asyncio.ensure_future(normal_new_connection(port, stats, stop)))
    await asyncio.gather(
        ramp(args.slowloris, lambda: slowloris(port, stats, stop)),
        ramp(args.slow_body, lambda: slow_body(port, stats, stop, pending["slow-body"], serial)),
        ramp(args.non_reading, lambda: non_reading(port, stats, stop, pending["non-reading"], serial, progress)),
        ramp(args.tunnels, lambda: idle_tunnel(port, stats, stop, pending["idle tunnel"], serial)),
    )
    await asyncio.sleep(args.duration)
    stop.set()
    # Connections already open run to their close (bounded by their own waits).
    await asyncio.wait(tasks, timeout=40)
    for t in tasks:
        t.cancel()
    return stats, pending


DETAILS = {"slow-body": "client_body_timeout", "non-reading": "client_send_timeout",
           "idle tunnel": "tunnel_idle_timeout"}


def logged_closes(log_path, pending):
    """Per class, seconds from each connection's deadline start to skewgate's close as
    its access log has it (the entry's duration added to the request's send time):
    free of this client's own event-loop lag. None: no such entry."""
    closes = {name: {} for name in pending}
    by_target = {t: name for name, p in pending.items() for t in p}
    with open(log_path, errors="replace") as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            name = by_target.get(e.get("target", ""))
            if name and e.get("detail") == DETAILS[name]:
                sent_at, deadline_start = pending[name][e["target"]]
                closes[name][e["target"]] = sent_at + e.get("duration_ms", 0) / 1000.0 - deadline_start
    return {name: [closes[name].get(t) for t in p] for name, p in pending.items()}


async def slowloris_only(args):
    """The slowloris class in a process of its own (--slowloris-port): one Python
    event loop serving 500 of them besides everything else would add its own lag."""
    stats = Stats()
    stop = asyncio.Event()
    tasks = []
    for _ in range(args.slowloris):
        tasks.append(asyncio.ensure_future(slowloris(args.slowloris_port, stats, stop)))
        await asyncio.sleep(2.0 / max(args.slowloris, 1))
    await asyncio.sleep(args.duration)
    stop.set()
    await asyncio.wait(tasks, timeout=40)
    print(json.dumps(stats.closes["slowloris"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skewgate")
    ap.add_argument("--slowloris-port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--duration", type=float, default=90)
    ap.add_argument("--slowloris", type=int, default=500)
    ap.add_argument("--slow-body", type=int, default=200)
    ap.add_argument("--non-reading", type=int, default=200)
    ap.add_argument("--tunnels", type=int, default=100)
    ap.add_argument("--normal", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    if args.slowloris_port:
        asyncio.run(slowloris_only(args))
        return 0
    if not args.skewgate:
        ap.error("--skewgate is required")

    work = tempfile.mkdtemp(prefix="skewgate-soak-")
    procs = []
    try:
        up_ports = [free_port(), free_port()]
        for i, p in enumerate(up_ports):
            proc = subprocess.Popen([sys.executable, UPSTREAM, "--port", str(p), "--id", "dpl-a"],
                                    stdout=subprocess.PIPE, text=True)
            procs.append(proc)
            wait_ready(proc, f"upstream {i}")
        port = free_port()
        log_path = os.path.join(work, "access.log")
        t = TIMEOUTS
        config = (
            f"listeners: [{{address: 127.0.0.1:{port}}}]\n"
            f"workers: {args.workers}\n"
            f"state_dir: {work}\n"
            f"access_log: {{path: {log_path}, format: json}}\n"
            f"timeouts: {{client_header: {t['client_header']:g}s, client_body: {t['client_body']:g}s, "
            f"client_send: {t['client_send']:g}s, tunnel_idle: {t['tunnel_idle']:g}s, "
            f"upstream_connect: 1s, upstream_response: 30s, drain: 2s}}\n"
            "apps:\n  - name: shop\n    hosts: [shop.test]\n    current: dpl-a\n    builds:\n"
            f"      - {{id: dpl-a, upstreams: [127.0.0.1:{up_ports[0]}, 127.0.0.1:{up_ports[1]}]}}\n")
        config_path = os.path.join(work, "skewgate.yaml")
        with open(config_path, "w") as f:
            f.write(config)
        admin_port = free_port()
        config += f"admin: {{address: 127.0.0.1:{admin_port}}}\n"
        with open(config_path, "w") as f:
            f.write(config)
        gw = subprocess.Popen([args.skewgate, "--config", config_path],
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "stderr"), "w"))
        procs.append(gw)
        wait_port(port)

        started = time.monotonic()
        loris = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--slowloris-port", str(port),
                                  "--slowloris", str(args.slowloris), "--duration", str(args.duration)],
                                 stdout=subprocess.PIPE, text=True)
        procs.append(loris)
        slowloris_count, args.slowloris = args.slowloris, 0
        stats, pending = asyncio.run(run(args, port))
        loris_out, _ = loris.communicate(timeout=120)
        stats.closes["slowloris"] = json.loads(loris_out)
        args.slowloris = slowloris_count
        elapsed = time.monotonic() - started
        gw.send_signal(signal.SIGTERM)
        try:
            gw.wait(15)
        except subprocess.TimeoutExpired:
            gw.kill()
        logged = logged_closes(log_path, pending)
        stats.closes["non-reading"] = logged["non-reading"]

        total = stats.normal_ok + stats.normal_failed
        share = 100.0 * stats.normal_ok / total if total else 0.0
        print(f"soak: {elapsed:.0f} s, skewgate workers {args.workers}, timeouts "
              + ", ".join(f"{k} {v:g}s" for k, v in TIMEOUTS.items()))
        print(f"normal requests: {stats.normal_ok}/{total} served ({share:.3f}%)"
              + (f"; failures: {stats.failures}" if stats.failures else ""))
        lags = sorted(stats.lags) or [0.0]
        print(f"this client's event-loop lag: p99 {lags[int(len(lags) * 0.99)]:.2f} s, max {lags[-1]:.2f} s "
              "(client-side close times include it)")
        limits = {"slowloris": t["client_header"], "slow-body": t["client_body"],
                  "non-reading": t["client_send"], "idle tunnel": t["tunnel_idle"]}
        ok_all = share >= 99.9
        for name, closes in stats.closes.items():
            limit = limits[name] + SLACK
            within = sum(1 for c in closes if c is not None and c <= limit)
            done = [c for c in closes if c is not None]
            worst = f", slowest {max(done):.2f} s" if done else ""
            extra = f", unexpected answers {stats.unexpected[name]}" if stats.unexpected[name] else ""
            side = "skewgate's access log" if name == "non-reading" else "seen by the client"
            print(f"{name:12s}: {within}/{len(closes)} closed within {limit:g} s{worst} ({side}){extra}")
            ok_all = ok_all and within == len(closes) and len(closes) > 0
            if name in ("slow-body", "idle tunnel"):
                server = logged[name]
                s_within = sum(1 for c in server if c is not None and c <= limit)
                s_done = [c for c in server if c is not None]
                s_worst = f", slowest {max(s_done):.2f} s" if s_done else ""
                print(f"{'':12s}  {s_within}/{len(server)} closed within {limit:g} s{s_worst} (skewgate's access log)")
        print("PASS" if ok_all else "FAIL")
        return 0 if ok_all else 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()


if __name__ == "__main__":
    sys.exit(main())
