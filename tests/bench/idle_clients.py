#!/usr/bin/env python3
"""Open N TCP connections to a proxy and hold them idle until SIGTERM.

Used by tests/bench/run.sh to measure memory per idle downstream connection.

Modes:
  connect  connect only, never send a byte (buffers that a proxy allocates
           lazily on first data are not counted)
  request  send one keep-alive GET, read the whole response, then hold the
           connection (counts whatever the proxy keeps per connection after a
           completed request: read buffers, parser state, pools)
  tls      (--tls) a full TLS handshake offering ALPN http/1.1, then no byte
  h2       (--tls) a full TLS handshake offering ALPN h2 (the server must pick
           it), then the HTTP/2 connection preface (RFC 9113 section 3.4): the
           client's magic and an empty SETTINGS frame, the server's SETTINGS
           ACKed, the server's ACK of ours awaited; no stream is opened. What a
           browser's connection costs the proxy between page loads.

With --tls, every connection is a full handshake (no session resumption) and
the certificate is not verified (the bench's test certificate; verifying
would only cost this client time).

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
import ssl
import struct
import sys
import time

# RFC 9113 section 3.4: the client connection preface, then our SETTINGS
# (empty: every setting at its default).
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_SETTINGS, H2_GOAWAY = 0x4, 0x7
H2_FLAG_ACK = 0x1


def h2_frame(ftype, flags=0, payload=b"", stream=0):
    """RFC 9113 section 4.1: 24-bit length, type, flags, 31-bit stream id."""
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


H2_HELLO = H2_PREFACE + h2_frame(H2_SETTINGS)
H2_SETTINGS_ACK = h2_frame(H2_SETTINGS, H2_FLAG_ACK)


class H2Hello:
    """Reads the server's frames until its SETTINGS came (answered with an
    ACK) and our SETTINGS were ACKed. Other frames (WINDOW_UPDATE, ...) are
    skipped; a GOAWAY or anything that is not HTTP/2 fails the connection."""

    def __init__(self):
        self.buf = b""
        self.got_settings = False
        self.got_ack = False
        self.failed = False

    def feed(self, data):
        """Returns the bytes to send back (SETTINGS ACK) for this data."""
        self.buf += data
        out = b""
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[0:3], "big")
            ftype, flags = self.buf[3], self.buf[4]
            if len(self.buf) < 9 + length:
                break
            self.buf = self.buf[9 + length:]
            if not self.got_settings and (ftype != H2_SETTINGS or flags & H2_FLAG_ACK):
                self.failed = True  # the server's preface is its SETTINGS frame
            elif ftype == H2_SETTINGS and flags & H2_FLAG_ACK:
                self.got_ack = True
            elif ftype == H2_SETTINGS:
                if length % 6:
                    self.failed = True
                self.got_settings = True
                out += H2_SETTINGS_ACK
            elif ftype == H2_GOAWAY:
                self.failed = True
        return out

    def done(self):
        return self.got_settings and self.got_ack


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
    ap.add_argument("--mode", choices=["connect", "request", "tls", "h2"], default="connect")
    ap.add_argument("--tls", action="store_true", help="TLS first (needed by the tls and h2 modes)")
    ap.add_argument("--host", default="localhost", help="Host header in request mode, TLS server name")
    ap.add_argument("--path", default="/")
    ap.add_argument("--inflight", type=int, default=256)
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()
    if args.mode in ("tls", "h2") and not args.tls:
        ap.error(f"--mode {args.mode} needs --tls")

    host, _, port = args.addr.rpartition(":")
    target = (host, int(port))
    request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.host}\r\n"
               f"User-Agent: skewgate-bench-idle\r\n\r\n").encode()
    tls = None
    if args.tls:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
        tls.set_alpn_protocols(["h2"] if args.mode == "h2" else ["http/1.1"])

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    sel = selectors.DefaultSelector()
    idle = []          # sockets held open
    failed = 0
    started = 0
    pending = 0
    bufs = {}          # request mode: the response so far; h2 mode: H2Hello
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

    def send_all(sock, data):
        """Small writes that fit the socket buffer at once; False on failure."""
        try:
            return sock.send(data) == len(data)
        except (OSError, ssl.SSLError):
            return False

    def receive(sock):
        """Everything readable now (a TLS socket may hold decrypted bytes the
        selector does not see); None when the peer closed or failed."""
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return data
            except (OSError, ssl.SSLError):
                return None
            if not chunk:
                return None if not data else data
            data += chunk
            if not isinstance(sock, ssl.SSLSocket) or not sock.pending():
                return data

    def after_connect(sock):
        """The connection (and its TLS handshake) is up: on to the mode."""
        if args.mode in ("connect", "tls"):
            become_idle(sock)
        elif args.mode == "request":
            if not send_all(sock, request):
                fail(sock)
                return
            bufs[sock] = b""
            sel.modify(sock, selectors.EVENT_READ, "reading")
        else:
            if sock.selected_alpn_protocol() != "h2" or not send_all(sock, H2_HELLO):
                fail(sock)
                return
            bufs[sock] = H2Hello()
            sel.modify(sock, selectors.EVENT_READ, "h2")

    def handshake(sock):
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            sel.modify(sock, selectors.EVENT_READ, "handshake")
            return
        except ssl.SSLWantWriteError:
            sel.modify(sock, selectors.EVENT_WRITE, "handshake")
            return
        except (OSError, ssl.SSLError):
            fail(sock)
            return
        after_connect(sock)

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
                if tls is None:
                    after_connect(s)
                    continue
                # the wrapped socket is a new object on the same fd
                sel.unregister(s)
                s = tls.wrap_socket(s, server_hostname=args.host, do_handshake_on_connect=False)
                sel.register(s, selectors.EVENT_WRITE, "handshake")
                handshake(s)
            elif state == "handshake":
                handshake(s)
            elif state == "reading":
                data = receive(s)
                if not data:
                    if data is None:
                        fail(s)
                    continue
                bufs[s] += data
                done, ok = parse_response_done(bufs[s])
                if done:
                    if ok:
                        become_idle(s)
                    else:
                        fail(s)
            else:  # h2
                data = receive(s)
                if not data:
                    if data is None:
                        fail(s)
                    continue
                hello = bufs[s]
                reply = hello.feed(data)
                if hello.failed or (reply and not send_all(s, reply)):
                    fail(s)
                elif hello.done():
                    become_idle(s)

    # --timeout: connections still connecting or handshaking are closed, so
    # that the proxy holds only the idle ones the line below counts
    for key in list(sel.get_map().values()):
        fail(key.fileobj)
    elapsed = time.monotonic() - t0
    print(f"READY ok={len(idle)} failed={failed + (args.conns - len(idle) - failed)} "
          f"elapsed_s={elapsed:.2f}", flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
