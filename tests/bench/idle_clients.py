#!/usr/bin/env python3
"""Open N TCP connections to a proxy and hold them idle until SIGTERM.

Used by tests/bench/run.sh to measure memory per idle downstream connection.

Modes:
  connect  connect only, never send a byte (buffers that a proxy allocates
           lazily on first data are not counted)
  request  send one keep-alive GET, read the whole response, then hold the
           connection (counts whatever the proxy keeps per connection after a
           completed request: read buffers, parser state, pools)

At most --inflight handshakes/requests are pending at a time so the listener's
accept queue (somaxconn) never overflows. Prints one line
  READY ok=<n> failed=<n> elapsed_s=<s>
on stdout when every connection is idle (or failed, or --timeout passed), then
sleeps until it is killed.
"""
import argparse
import errno
import selectors
import signal
import socket
import sys
import time


def parse_response_done(buf):
    """Returns (done, ok) for one HTTP/1.1 response in buf."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False, False
    head = buf[:end].decode("latin-1").split("\r\n")
    ok = len(head[0]) >= 12 and head[0][9:12] == "200"
    body = buf[end + 4:]
    length = None
    chunked = False
    for line in head[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        return body.endswith(b"0\r\n\r\n"), ok
    if length is None:
        length = 0
    return len(body) >= length, ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", default="127.0.0.1:18080")
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--mode", choices=["connect", "request"], default="connect")
    ap.add_argument("--host", default="localhost", help="Host header in request mode")
    ap.add_argument("--path", default="/")
    ap.add_argument("--inflight", type=int, default=256)
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()

    host, _, port = args.addr.rpartition(":")
    target = (host, int(port))
    request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.host}\r\n"
               f"User-Agent: skewgate-bench-idle\r\n\r\n").encode()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    sel = selectors.DefaultSelector()
    idle = []          # sockets held open
    failed = 0
    started = 0
    pending = 0
    bufs = {}
    t0 = time.monotonic()

    def fail(sock):
        nonlocal failed, pending
        failed += 1
        pending -= 1
        try:
            sel.unregister(sock)
        except (KeyError, ValueError):
            pass
        bufs.pop(sock, None)
        sock.close()

    def become_idle(sock):
        nonlocal pending
        pending -= 1
        sel.unregister(sock)
        bufs.pop(sock, None)
        idle.append(sock)

    while len(idle) + failed < args.conns:
        if time.monotonic() - t0 > args.timeout:
            break
        while started < args.conns and pending < args.inflight:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex(target)
            started += 1
            pending += 1
            if rc not in (0, errno.EINPROGRESS):
                failed += 1
                pending -= 1
                s.close()
                continue
            sel.register(s, selectors.EVENT_WRITE, "connecting")
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            state = key.data
            if state == "connecting":
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    fail(s)
                    continue
                if args.mode == "connect":
                    become_idle(s)
                    continue
                try:
                    s.send(request)  # tiny; fits the socket buffer at once
                except OSError:
                    fail(s)
                    continue
                bufs[s] = b""
                sel.modify(s, selectors.EVENT_READ, "reading")
            else:
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    fail(s)
                    continue
                if not data:
                    fail(s)
                    continue
                bufs[s] += data
                done, ok = parse_response_done(bufs[s])
                if done:
                    if ok:
                        become_idle(s)
                    else:
                        fail(s)

    elapsed = time.monotonic() - t0
    print(f"READY ok={len(idle)} failed={failed + (args.conns - len(idle) - failed)} "
          f"elapsed_s={elapsed:.2f}", flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
