#!/usr/bin/env python3
"""Scripted HTTP/1.1 upstream for skewgate's integration tests and demo.

Raw asyncio streams, so every byte on the wire is ours to choose. One process
serves many tests: the request path picks the behaviour.

  python3 upstream.py --port N --id dpl-a [--mode echo|demo]

Prints "ready" on stdout once listening on 127.0.0.1:N.

Mode echo (default): every request is answered, keep-alive, with JSON of what
arrived: build id, port, connection serial and request sequence on it, method,
target, headers as [name, value] pairs in arrival order, body length and
sha256 (after de-chunking), and whether the body came chunked. Response header
`x-served-by: <id>`. Paths with a behaviour:

  /stall                  read the request, never answer
  /hold                   read the head only; never read the body, never answer
  /reset                  RST the connection (SO_LINGER 0, close)
  /garbage                send bytes that are not HTTP, then close
  /close-early            send half a response head, then close
  /truncate?bytes=N       promise Content-Length N, send N/2 bytes, close
  /chunked?n=K&size=S     chunked response of K chunks of S bytes
  /big?bytes=N            Content-Length N, streamed in 64 KiB writes
  /repeat?bytes=N         Content-Length N of b"r" (no hashing: back-pressure tests)
  /slow-body?bytes=N&interval_ms=M   Content-Length N, one byte every M ms
  /ws                     Upgrade: websocket -> 101, then echo raw bytes
  /status/NNN             answer with status NNN (204/304 carry no body)
  /delay?ms=N             wait N ms, then answer like echo
  /__stats                {"connections", "requests", "inflight"} (for tests
                          that ask the upstream directly, not through skewgate)

The echo JSON (also of /status/NNN) goes out as content-type text/html when the
request's Accept names text/html, as a page server answers a navigation (skewgate
pins only HTML documents), else as application/json.

Bodies of /chunked and /big are deterministic; their sha256 travels in the
response header x-body-sha256 so a test can check what it received.
HEAD is answered with the head a GET would get and no body.

Mode demo: every request gets a small HTML page "served by build <id>".
"""

import argparse
import asyncio
import base64
import hashlib
import json
import signal
import socket
import struct
import sys
import urllib.parse

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEAD = 256 * 1024


class BadRequest(Exception):
    pass


class Stats:
    def __init__(self):
        self.connections = 0
        self.requests = 0
        self.inflight = 0


def pattern_bytes(n, seed=0):
    """Deterministic, non-repeating-looking bytes so reordering is caught by sha256."""
    out = bytearray()
    counter = seed
    while len(out) < n:
        out += hashlib.sha256(counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:n])


class Request:
    def __init__(self, method, target, version, headers):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers  # list of (name, value) as received
        self.body = b""
        self.chunked = False
        parsed = urllib.parse.urlsplit(target)
        self.path = parsed.path
        self.query = urllib.parse.parse_qs(parsed.query)

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_tokens(self, name):
        tokens = []
        for k, v in self.headers:
            if k.lower() == name.lower():
                tokens += [t.strip().lower() for t in v.split(",") if t.strip()]
        return tokens

    def qint(self, name, default):
        try:
            return int(self.query.get(name, [default])[0])
        except ValueError:
            return default

    def accepts_html(self):
        """Accept names text/html (with a q other than 0): a navigation gets a page."""
        for item in self.header_tokens("accept"):
            media, *params = [p.strip() for p in item.split(";")]
            if media == "text/html" and not any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000")
                                                for p in params):
                return True
        return False

    def echo_type(self):
        return "text/html; charset=utf-8" if self.accepts_html() else "application/json"

    def keep_alive(self):
        conn = self.header_tokens("connection")
        if self.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn


async def read_head(reader):
    try:
        data = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if e.partial:
            raise BadRequest("eof in head")
        return None
    except asyncio.LimitOverrunError:
        raise BadRequest("head too large")
    lines = data[:-4].split(b"\r\n")
    try:
        method, target, version = lines[0].decode("latin-1").split(" ", 2)
    except ValueError:
        raise BadRequest("bad request line")
    headers = []
    for raw in lines[1:]:
        if b":" not in raw:
            raise BadRequest("bad header line")
        name, value = raw.split(b":", 1)
        headers.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
    return Request(method, target, version, headers)


async def read_body(reader, writer, req):
    if req.header("expect") and req.header("expect").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
    if "chunked" in req.header_tokens("transfer-encoding"):
        req.chunked = True
        parts = []
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                # trailers until the empty line
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            parts.append(await reader.readexactly(size))
            if await reader.readexactly(2) != b"\r\n":
                raise BadRequest("bad chunk end")
        req.body = b"".join(parts)
    elif req.header("content-length") is not None:
        req.body = await reader.readexactly(int(req.header("content-length")))


def response_head(status, headers, reason=None):
    reasons = {100: "Continue", 101: "Switching Protocols", 200: "OK", 204: "No Content",
               304: "Not Modified", 400: "Bad Request", 404: "Not Found",
               500: "Internal Server Error", 503: "Service Unavailable"}
    reason = reason or reasons.get(status, "Status")
    out = [f"HTTP/1.1 {status} {reason}"]
    out += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")


class Upstream:
    def __init__(self, build_id, port, mode):
        self.build_id = build_id
        self.port = port
        self.mode = mode
        self.stats = Stats()

    def echo_payload(self, req, conn_id, seq):
        return {
            "build": self.build_id,
            "port": self.port,
            "conn": conn_id,
            "seq": seq,
            "method": req.method,
            "target": req.target,
            "version": req.version,
            "headers": [[k, v] for k, v in req.headers],
            "body_length": len(req.body),
            "body_sha256": hashlib.sha256(req.body).hexdigest(),
            "body_chunked": req.chunked,
        }

    async def send_simple(self, writer, req, status, body, content_type, extra=()):
        headers = [("x-served-by", self.build_id), ("content-type", content_type),
                   ("content-length", str(len(body)))]
        headers += list(extra)
        if not req.keep_alive():
            headers.append(("connection", "close"))
        writer.write(response_head(status, headers))
        if req.method != "HEAD":
            writer.write(body)
        await writer.drain()

    async def handle(self, reader, writer):
        self.stats.connections += 1
        conn_id = self.stats.connections
        seq = 0
        try:
            while True:
                req = await read_head(reader)
                if req is None:
                    return
                seq += 1
                self.stats.requests += 1
                self.stats.inflight += 1
                try:
                    keep = await self.answer(reader, writer, req, conn_id, seq)
                finally:
                    self.stats.inflight -= 1
                if not keep:
                    return
        except (BadRequest, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            try:
                writer.write(response_head(400, [("content-length", "0"), ("connection", "close")]))
                await writer.drain()
            except Exception:
                pass
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            pass  # shutting down with this connection open (keep-alive, /stall, /ws)
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def answer(self, reader, writer, req, conn_id, seq):
        """Answer one request; return whether the connection stays open."""
        if req.path == "/__stats":
            await read_body(reader, writer, req)
            body = json.dumps({"connections": self.stats.connections,
                               "requests": self.stats.requests,
                               "inflight": self.stats.inflight - 1}).encode()
            await self.send_simple(writer, req, 200, body, "application/json")
            return req.keep_alive()

        if self.mode == "demo":
            await read_body(reader, writer, req)
            body = (f"<!doctype html><title>{self.build_id}</title>"
                    f"<h1>served by build {self.build_id}</h1>"
                    f"<p>{req.method} {req.target}</p>\n").encode()
            await self.send_simple(writer, req, 200, body, "text/html; charset=utf-8")
            return req.keep_alive()

        path = req.path
        if path == "/ws" and "websocket" in req.header_tokens("upgrade"):
            key = req.header("sec-websocket-key") or ""
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            writer.write(response_head(101, [("upgrade", "websocket"), ("connection", "Upgrade"),
                                             ("sec-websocket-accept", accept),
                                             ("x-served-by", self.build_id)]))
            await writer.drain()
            while True:
                data = await reader.read(65536)
                if not data:
                    return False
                writer.write(data)
                await writer.drain()

        if path == "/hold":
            # Never read the body, so TCP flow control pushes back on the sender.
            writer.transport.pause_reading()
            await asyncio.sleep(3600)
            return False

        await read_body(reader, writer, req)

        if path == "/stall":
            await reader.read()  # until the peer gives up
            return False
        if path == "/reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if path == "/garbage":
            writer.write(b"\x00\x01\x02 this is not HTTP at all \xff\xfe\r\n\r\n")
            await writer.drain()
            return False
        if path == "/close-early":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Le")
            await writer.drain()
            return False
        if path == "/truncate":
            n = req.qint("bytes", 1000)
            writer.write(response_head(200, [("x-served-by", self.build_id),
                                             ("content-length", str(n))]))
            writer.write(pattern_bytes(n // 2))
            await writer.drain()
            return False
        if path == "/chunked":
            n, size = req.qint("n", 10), req.qint("size", 1000)
            body = pattern_bytes(n * size, seed=1)
            headers = [("x-served-by", self.build_id), ("transfer-encoding", "chunked"),
                       ("content-type", "application/octet-stream"),
                       ("x-body-sha256", hashlib.sha256(body).hexdigest())]
            writer.write(response_head(200, headers))
            if req.method != "HEAD":
                for i in range(n):
                    chunk = body[i * size:(i + 1) * size]
                    writer.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
            await writer.drain()
            return req.keep_alive()
        if path == "/big":
            n = req.qint("bytes", 1 << 20)
            body = pattern_bytes(n, seed=2)
            headers = [("x-served-by", self.build_id), ("content-length", str(n)),
                       ("content-type", "application/octet-stream"),
                       ("x-body-sha256", hashlib.sha256(body).hexdigest())]
            writer.write(response_head(200, headers))
            if req.method != "HEAD":
                for off in range(0, n, 65536):
                    writer.write(body[off:off + 65536])
                    await writer.drain()
            await writer.drain()
            return req.keep_alive()
        if path == "/repeat":
            # Large bodies without hashing: for back-pressure tests.
            n = req.qint("bytes", 1 << 20)
            block = b"r" * 65536
            writer.write(response_head(200, [("x-served-by", self.build_id), ("content-length", str(n))]))
            if req.method != "HEAD":
                left = n
                while left:
                    piece = block[:min(left, len(block))]
                    writer.write(piece)
                    left -= len(piece)
                    await writer.drain()
            await writer.drain()
            return req.keep_alive()
        if path == "/slow-body":
            n, interval = req.qint("bytes", 10), req.qint("interval_ms", 100)
            body = pattern_bytes(n, seed=3)
            headers = [("x-served-by", self.build_id), ("content-length", str(n)),
                       ("x-body-sha256", hashlib.sha256(body).hexdigest())]
            writer.write(response_head(200, headers))
            await writer.drain()
            if req.method != "HEAD":
                for i in range(n):
                    writer.write(body[i:i + 1])
                    await writer.drain()
                    await asyncio.sleep(interval / 1000)
            return req.keep_alive()
        if path.startswith("/status/"):
            status = int(path[len("/status/"):])
            if status in (204, 304) or 100 <= status < 200:
                headers = [("x-served-by", self.build_id)]
                if status == 304:
                    headers.append(("etag", '"v1"'))
                writer.write(response_head(status, headers))
                await writer.drain()
                return req.keep_alive()
            body = json.dumps(self.echo_payload(req, conn_id, seq)).encode()
            await self.send_simple(writer, req, status, body, req.echo_type())
            return req.keep_alive()
        if path == "/delay":
            await asyncio.sleep(req.qint("ms", 1000) / 1000)

        body = json.dumps(self.echo_payload(req, conn_id, seq)).encode()
        await self.send_simple(writer, req, 200, body, req.echo_type())
        return req.keep_alive()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--id", required=True, help="build id reported in answers")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--mode", choices=["echo", "demo"], default="echo")
    args = ap.parse_args()

    upstream = Upstream(args.id, args.port, args.mode)
    server = await asyncio.start_server(upstream.handle, args.host, args.port,
                                        limit=MAX_HEAD, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    # Close the listener and leave: open connections (/stall, /ws) must not hold the exit.
    server.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except OSError as e:
        print(f"upstream: {e}", file=sys.stderr)
        sys.exit(1)
