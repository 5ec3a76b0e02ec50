#!/usr/bin/env python3
"""An upstream that answers Server Actions and static files the way a Next.js build does,
for skewgate's replay tests (issue 14 items 3 and 4).

  python3 next_upstream.py --port N --id dpl-a --next 16.4|15.4|15.1 \
      [--actions ID,ID...] [--static /path,/path...]

Prints "ready" on stdout once listening on 127.0.0.1:N. Keep-alive HTTP/1.1.

- POST with `next-action: <id>` (any case):
    a known id: 200 `text/x-component` flight naming the build, the action and the body's
    sha256 (the call ran);
    an unknown id, as the version answers it (measured, design.md section 2):
      16.4  409 `text/plain` "Server Action unavailable." + `x-nextjs-action-not-found: 1`
      15.4  404 + `x-nextjs-action-not-found: 1`
      15.1  200 `text/html; charset=utf-8`, chunked: the page (the bug skewgate exists for)
- POST without `next-action` (a no-JS form post): 200 text/html, the page (as Next.js does
  whether it knows the action or not).
- GET/HEAD of a path listed in --static: 200 `application/javascript` naming the build;
  any other /_next/ path: 404 with `cache-control: public, max-age=31536000, immutable`.
- any other GET/HEAD: 200 text/html, the page.
- GET /__log: JSON list of every request handled before it (method, path, action, status,
  body_sha256, conn: the number of the connection it came on, from 1): the upstream's log,
  read by the tests directly (not through skewgate).
Every answer carries `x-served-by: <id>`.
"""

import argparse
import asyncio
import hashlib
import json
import signal
import sys

from http1_request import read_request


def page(build_id):
    return f"<!DOCTYPE html><html data-build=\"{build_id}\"><body>page of {build_id}</body></html>".encode()


class Upstream:
    def __init__(self, build_id, version, actions, static):
        self.id = build_id
        self.version = version
        self.actions = set(actions)
        self.static = set(static)
        self.log = []
        self.connections = 0

    def respond(self, method, path, headers, body):
        """(status, reason, [(name, value)], body bytes, chunked)."""
        action = headers.get("next-action")
        if path == "/__log":
            return 200, "OK", [("content-type", "application/json")], json.dumps(self.log).encode(), False
        if method == "POST" and action is not None:
            if action in self.actions:
                flight = json.dumps({"build": self.id, "action": action,
                                     "body_sha256": hashlib.sha256(body).hexdigest()}).encode()
                return 200, "OK", [("content-type", "text/x-component")], b"0:" + flight + b"\n", False
            if self.version == "16.4":
                return (409, "Conflict", [("content-type", "text/plain"), ("x-nextjs-action-not-found", "1")],
                        b"Server Action unavailable.", False)
            if self.version == "15.4":
                return (404, "Not Found", [("content-type", "text/plain; charset=utf-8"),
                                           ("x-nextjs-action-not-found", "1")], b"Not Found", False)
            return 200, "OK", [("content-type", "text/html; charset=utf-8")], page(self.id), True
        if method in ("GET", "HEAD") and path.startswith("/_next/"):
            if path in self.static:
                return (200, "OK", [("content-type", "application/javascript"),
                                    ("cache-control", "public, max-age=31536000, immutable")],
                        f"/* {self.id} {path} */".encode(), False)
            return (404, "Not Found", [("content-type", "text/plain"),
                                       ("cache-control", "public, max-age=31536000, immutable")],
                    b"not found", False)
        return 200, "OK", [("content-type", "text/html; charset=utf-8")], page(self.id), False

    async def serve(self, reader, writer):
        self.connections += 1
        conn = self.connections
        try:
            while True:
                request = await read_request(reader)
                if request is None:
                    return
                method, target, headers, body = request
                path = target.split("?", 1)[0]
                status, reason, out_headers, out_body, chunked = self.respond(method, path, headers, body)
                if path != "/__log":
                    self.log.append({"method": method, "path": path, "action": headers.get("next-action"),
                                     "status": status, "body_sha256": hashlib.sha256(body).hexdigest(),
                                     "conn": conn})
                out = [f"HTTP/1.1 {status} {reason}"] + [f"{n}: {v}" for n, v in out_headers]
                out.append(f"x-served-by: {self.id}")
                out.append("transfer-encoding: chunked" if chunked else f"content-length: {len(out_body)}")
                data = ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")
                if method != "HEAD":
                    if chunked:
                        half = len(out_body) // 2
                        for part in (out_body[:half], out_body[half:]):
                            data += b"%x\r\n" % len(part) + part + b"\r\n"
                        data += b"0\r\n\r\n"
                    else:
                        data += out_body
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument("--next", choices=["16.4", "15.4", "15.1"], required=True)
    parser.add_argument("--actions", default="")
    parser.add_argument("--static", default="")
    args = parser.parse_args()
    upstream = Upstream(args.id, args.next, [a for a in args.actions.split(",") if a],
                        [s for s in args.static.split(",") if s])
    server = await asyncio.start_server(upstream.serve, "127.0.0.1", args.port, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
