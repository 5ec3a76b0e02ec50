#!/usr/bin/env python3
"""An upstream that reports a deployment ID the way Next.js 16 does, for the build
verification tests (issue 14 item 6, tests/integration/test_build_verify.py).

  python3 identity_upstream.py --port N --served-by NAME --report MODE [--id ID]

Prints "ready" on stdout once listening on 127.0.0.1:N. `GET /` (the page skewgate
probes) is answered according to MODE:

  header    200 text/html with `x-nextjs-deployment-id: ID` and a page without the attribute
  html      200 text/html, chunked, streamed as Next streams a page: the first chunk holds a
            comment naming another ID and then `<html lang="en" data-dpl-id="ID">`; the rest
            of the page follows only after 20 s (the probe must decide from the prefix)
  none      200 text/html, a page without any ID (an app built without deploymentId)
  stall     read the request, never answer (the probe times out)
  garbage   bytes that are not HTTP, then close
  huge-head a response head with a 1 MiB header line
  trickle   200 text/html whose body comes one space every 10 ms, for 60 s
  big-body  200 text/html, Content-Length 16 MiB of whitespace and no tag

Every other path answers 200 at once. Every answer carries `x-served-by: NAME`.
`GET /__probes` answers the request heads of every `GET /` seen so far, as JSON.
"""

import argparse
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body, content_type="text/plain", extra=()):
        self.send_response(status)
        self.send_header("x-served-by", self.server.served_by)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/__probes":
            self._send(200, json.dumps(self.server.probes).encode(), "application/json")
            return
        if self.path != "/":
            self._send(200, f"served by {self.server.served_by}\n".encode())
            return
        self.server.probes.append([[k, v] for k, v in self.headers.items()])
        mode, build_id = self.server.report, self.server.build_id
        if mode == "stall":
            time.sleep(30)
            self.close_connection = True
            return
        if mode == "garbage":
            self.wfile.write(b"\x00\xffNOT HTTP AT ALL\r\n\r\n" * 100)
            self.close_connection = True
            return
        if mode == "huge-head":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * (1 << 20) + b"\r\n\r\n")
            self.close_connection = True
            return
        if mode in ("trickle", "big-body"):
            self.send_response(200)
            self.send_header("x-served-by", self.server.served_by)
            self.send_header("content-type", "text/html")
            size = 16 << 20
            self.send_header("content-length", str(size))
            self.end_headers()
            try:
                if mode == "big-body":
                    for _ in range(size // 65536):
                        self.wfile.write(b" " * 65536)
                else:
                    for _ in range(6000):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(0.01)
            except OSError:
                pass
            self.close_connection = True
            return
        if mode == "header":
            self._send(200, b'<!DOCTYPE html><html lang="en"><head></head><body>page</body></html>',
                       "text/html; charset=utf-8", [("x-nextjs-deployment-id", build_id)])
            return
        if mode == "none":
            self._send(200, b'<!DOCTYPE html><html lang="en"><head></head><body>page</body></html>',
                       "text/html; charset=utf-8")
            return
        # html: streamed, the attribute in the first chunk, the rest much later.
        self.send_response(200)
        self.send_header("x-served-by", self.server.served_by)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        first = (f'<!DOCTYPE html><!-- <html data-dpl-id="decoy"> -->'
                 f'<html lang="en" data-dpl-id="{build_id}"><head><title>page</title>').encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(first), first))
        self.wfile.flush()
        time.sleep(20)
        rest = b"</head><body>page</body></html>"
        try:
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(rest), rest))
        except OSError:
            pass

    do_HEAD = do_GET


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--served-by", required=True)
    ap.add_argument("--report", choices=["header", "html", "none", "stall", "garbage", "huge-head", "trickle",
                                         "big-body"], required=True)
    ap.add_argument("--id", default="")
    args = ap.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    server.served_by = args.served_by
    server.report = args.report
    server.build_id = args.id
    server.probes = []
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
