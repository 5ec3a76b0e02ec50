#!/usr/bin/env python3
"""An upstream that answers the way an @lazarv/react-server build does (issue 15's wire
facts, measured with 0.0.0-experimental-ea7a06c-20251214 in Chromium), for skewgate's
react-server tests.

  python3 react_server_upstream.py --port N --id rs-a [--functions ID,ID...]

Prints "ready" on stdout once listening on 127.0.0.1:N. Keep-alive HTTP/1.1.

- POST <page>/rsc.x-component with `React-Server-Action: <encodeURIComponent(id)>`:
    a known id (after percent-decoding): 200 `text/x-component` + `react-server-data: rsc`,
    a flight row naming the build, the function and the body's sha256 (the call ran);
    an unknown id: 200 `text/x-component` WITHOUT react-server-data, the GlobalError
    render ("Server Function Not Found"): the bug skewgate exists for.
- POST <page>/rsc.x-component without the header (a client navigation): 200
  `text/x-component`, the page's flight naming the build.
- POST <page> with a `$ACTION_ID_<id>` form field (a no-JS call): 200 text/html, the page.
- GET/HEAD: 200 text/html, the page (any path: a build never has skewgate's reload module,
  so a request for it that reached a build shows in the log and in x-served-by).
- GET /__log: JSON list of every request handled before it (method, path, action, status,
  body_sha256), read by the tests directly (not through skewgate).
Every answer carries `x-served-by: <id>`.
"""

import argparse
import asyncio
import hashlib
import json
import signal
import sys

from http1_request import read_request
import urllib.parse


def page(build_id):
    return f"<!DOCTYPE html><html data-build=\"{build_id}\"><body>page of {build_id}</body></html>".encode()


GLOBAL_ERROR = (b'0:["$","html",null,{"children":["$","body",null,{"children":'
                b'"Server Function Not Found"}]}]\n')


class Upstream:
    def __init__(self, build_id, functions):
        self.id = build_id
        self.functions = set(functions)
        self.log = []

    def respond(self, method, path, headers, body):
        """(status, reason, [(name, value)], body bytes)."""
        if path == "/__log":
            return 200, "OK", [("content-type", "application/json")], json.dumps(self.log).encode()
        flight = [("content-type", "text/x-component; charset=utf-8")]
        if method == "POST" and path.endswith("rsc.x-component"):
            raw = headers.get("react-server-action")
            if raw is None:
                row = json.dumps({"build": self.id, "navigation": path}).encode()
                return 200, "OK", flight, b"0:" + row + b"\n"
            function = urllib.parse.unquote(raw)
            if function in self.functions:
                row = json.dumps({"build": self.id, "function": function,
                                  "body_sha256": hashlib.sha256(body).hexdigest()}).encode()
                return 200, "OK", flight + [("react-server-data", "rsc")], b"0:" + row + b"\n"
            return 200, "OK", flight, GLOBAL_ERROR
        return 200, "OK", [("content-type", "text/html; charset=utf-8")], page(self.id)

    async def serve(self, reader, writer):
        try:
            while True:
                request = await read_request(reader)
                if request is None:
                    return
                method, target, headers, body = request
                path = target.split("?", 1)[0]
                status, reason, out_headers, out_body = self.respond(method, path, headers, body)
                if path != "/__log":
                    self.log.append({"method": method, "path": path, "action": headers.get("react-server-action"),
                                     "status": status, "body_sha256": hashlib.sha256(body).hexdigest()})
                out = [f"HTTP/1.1 {status} {reason}"] + [f"{n}: {v}" for n, v in out_headers]
                out.append(f"x-served-by: {self.id}")
                out.append(f"content-length: {len(out_body)}")
                data = ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")
                if method != "HEAD":
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
    parser.add_argument("--functions", default="")
    args = parser.parse_args()
    upstream = Upstream(args.id, [f for f in args.functions.split(",") if f])
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
