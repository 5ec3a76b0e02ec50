#!/usr/bin/python3
"""Writes the seed corpus of the h2_session fuzz target (tests/fuzz/corpus/h2_session/).

    /usr/bin/python3 tests/fuzz/h2_session_corpus.py     (Debian's python3-h2: hyperframe, hpack)
    /usr/bin/python3 tests/fuzz/h2_session_corpus.py --known-crashes DIR   (see known_crashes())

Each seed is one control byte (what h2_session_fuzz.cc's handler and feeder do with it, see
kControl* there) followed by what a client sends on the wire: the connection preface, SETTINGS
and then frames. The frames are built with hyperframe and hpack directly, not through
h2.H2Connection, so a seed can also hold what a conforming client never sends (a :authority
that differs from host, a DATA past the window). Deterministic: the same bytes every run.
"""
import os
import sys

from hpack import Encoder
from hyperframe.frame import (ContinuationFrame, DataFrame, GoAwayFrame, HeadersFrame, PingFrame, PriorityFrame,
                              RstStreamFrame, SettingsFrame, WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# The control byte, as h2_session_fuzz.cc reads it.
FEED_WHOLE, FEED_BYTES, FEED_SMALL, FEED_FRAMES = 0, 1, 2, 3   # bits 0-1: how the bytes are split into reads
ANSWER_AT_HEAD, ANSWER_AFTER_BODY, STREAM_BODY, MIXED = 0, 4, 8, 12  # bits 2-3: what the handler answers
PAUSE_BODY = 0x10     # the handler pauses reading at the first request body bytes (resumed between reads)
DRAIN_HALFWAY = 0x20  # the connection is drained (graceful GOAWAY) halfway through the input
RESET_SOME = 0x40     # the handler resets every third stream at its head


class Client:
    """Frames as a client writes them, with one HPACK encoder for the connection."""

    def __init__(self):
        self.encoder = Encoder()
        self.out = bytearray(PREFACE)

    def frame(self, f):
        self.out += f.serialize()
        return self

    def settings(self, **values):
        s = SettingsFrame(0)
        for k, v in values.items():
            s.settings[getattr(SettingsFrame, k)] = v
        return self.frame(s)

    def settings_ack(self):
        return self.frame(SettingsFrame(0, flags=["ACK"]))

    def headers(self, stream, headers, end_stream=True, split=None):
        block = self.encoder.encode(headers)
        flags = ["END_STREAM"] if end_stream else []
        if split is None:
            return self.frame(HeadersFrame(stream, block, flags=flags + ["END_HEADERS"]))
        # A HEADERS frame and CONTINUATION frames of `split` bytes each.
        self.frame(HeadersFrame(stream, block[:split], flags=flags))
        rest = block[split:]
        while rest:
            piece, rest = rest[:split], rest[split:]
            self.frame(ContinuationFrame(stream, piece, flags=[] if rest else ["END_HEADERS"]))
        return self

    def data(self, stream, payload, end_stream=False):
        return self.frame(DataFrame(stream, payload, flags=["END_STREAM"] if end_stream else []))

    def window_update(self, stream, increment):
        return self.frame(WindowUpdateFrame(stream, increment))

    def bytes(self, control):
        return bytes([control]) + bytes(self.out)


def get(path="/", authority="127.0.0.1:8443", extra=()):
    return [(":method", "GET"), (":scheme", "https"), (":authority", authority), (":path", path), *extra]


def post(path, length=None, extra=()):
    h = [(":method", "POST"), (":scheme", "https"), (":authority", "127.0.0.1:8443"), (":path", path),
         ("content-type", "text/plain")]
    if length is not None:
        h.append(("content-length", str(length)))
    return h + list(extra)


def seeds():
    # The brief's four: GET /, a POST with DATA, a PING, a RST_STREAM.
    yield "get", Client().settings().settings_ack().headers(1, get("/")).bytes(FEED_WHOLE | ANSWER_AT_HEAD)
    yield "post-data", (Client().settings(INITIAL_WINDOW_SIZE=65535).settings_ack()
                        .headers(1, post("/upload", 10), end_stream=False)
                        .data(1, b"hello").data(1, b"world", end_stream=True)
                        .bytes(FEED_FRAMES | ANSWER_AFTER_BODY | PAUSE_BODY))
    yield "ping", Client().settings().frame(PingFrame(0, opaque_data=b"skewgate")).bytes(FEED_WHOLE)
    yield "rst-stream", (Client().settings().settings_ack().headers(1, post("/slow"), end_stream=False)
                         .frame(RstStreamFrame(1, error_code=8)).headers(3, get("/after"))
                         .bytes(FEED_FRAMES | ANSWER_AFTER_BODY))
    # The response path under flow control: a large answer the client opens the windows for.
    yield "stream-window", (Client().settings(INITIAL_WINDOW_SIZE=16384).settings_ack()
                            .headers(1, get("/big")).window_update(0, 1 << 20).window_update(1, 100000)
                            .frame(PingFrame(0, opaque_data=b"12345678")).window_update(1, 200000)
                            .bytes(FEED_FRAMES | STREAM_BODY))
    # Windows opened wide before the request: the whole answer may go out in one pass.
    yield "stream-open-windows", (Client().settings(INITIAL_WINDOW_SIZE=1 << 20).window_update(0, 1 << 20)
                                  .headers(1, get("/big")).bytes(FEED_WHOLE | STREAM_BODY))
    # Several streams at once: cookie crumbs, a body without content-length (goes upstream
    # chunked), a stream the handler resets, a PRIORITY frame, trailers.
    c = Client().settings(MAX_CONCURRENT_STREAMS=100).settings_ack()
    c.headers(1, get("/a", extra=[("cookie", "skewgate_pin=x"), ("cookie", "b=2")]))
    c.headers(3, post("/b"), end_stream=False).data(3, b"x" * 1000)
    c.frame(PriorityFrame(5, depends_on=3, stream_weight=10))
    c.headers(5, get("/c", extra=[("rsc", "1"), ("next-router-state-tree", "%5B%22%22%5D")]))
    c.data(3, b"y" * 1000).headers(3, [("x-trailer", "1")], end_stream=True)
    c.headers(7, post("/action", 3, extra=[("next-action", "7f00")]), end_stream=False).data(7, b"[1]", end_stream=True)
    c.window_update(0, 65535).window_update(5, 65535)
    yield "multiplexed", c.bytes(FEED_SMALL | MIXED | RESET_SOME)
    # A header block split over CONTINUATION frames.
    yield "continuation", (Client().settings().headers(1, get("/cont", extra=[("x-long", "v" * 300)]), split=40)
                           .bytes(FEED_WHOLE | ANSWER_AT_HEAD))
    # Stream errors the mapping must refuse: host differs from :authority, a connection header,
    # a non-origin :path, te other than trailers; then a good stream on the same connection.
    c = Client().settings()
    c.headers(1, get("/", extra=[("host", "other.test")]))
    c.headers(3, get("/", extra=[("connection", "close")]))
    c.headers(5, get("http://127.0.0.1/abs"))
    c.headers(7, get("/", extra=[("te", "gzip")]))
    c.headers(9, [(":method", "OPTIONS"), (":scheme", "https"), (":authority", "127.0.0.1"), (":path", "*")])
    c.headers(11, get("/ok"))
    yield "stream-errors", c.bytes(FEED_FRAMES | ANSWER_AT_HEAD)
    # Extended CONNECT (RFC 8441) for a WebSocket, then tunnel bytes as DATA.
    c = Client().settings().settings_ack()
    c.headers(1, [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"),
                  (":authority", "127.0.0.1:8443"), (":path", "/ws"), ("sec-websocket-version", "13")], end_stream=False)
    c.data(1, b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58")
    yield "extended-connect", c.bytes(FEED_FRAMES | ANSWER_AT_HEAD)
    # A graceful drain with streams in flight, and the client's own GOAWAY.
    c = Client().settings().headers(1, get("/one")).headers(3, post("/two", 4), end_stream=False)
    c.data(3, b"abcd", end_stream=True).headers(5, get("/three")).frame(GoAwayFrame(0, last_stream_id=0))
    yield "drain", c.bytes(FEED_FRAMES | MIXED | DRAIN_HALFWAY)
    # Empty DATA frames and zero-length SETTINGS in a row (the empty-frame budget).
    c = Client().settings().headers(1, post("/e"), end_stream=False)
    for _ in range(12):
        c.data(1, b"")
    yield "empty-frames", c.bytes(FEED_WHOLE | ANSWER_AFTER_BODY)
    # Found by the fuzzer on 15d9e08/ff79b43, fixed in the next commit: the 11th empty DATA
    # frame made the empty_frame_flood defence call nghttp2_session_terminate_session inside
    # on_frame_recv; libnghttp2 1.52 then went on parsing the same buffer, and a SETTINGS frame
    # whose length is not a multiple of 6 tripped its assert(iframe->state ==
    # NGHTTP2_IB_IGN_ALL): the process aborted. Now the defence fails the callback and the
    # GOAWAY is sent after nghttp2_session_mem_recv returns.
    c = Client().settings().headers(1, post("/e"), end_stream=False)
    for _ in range(11):
        c.data(1, b"")
    c.out += bytes([0, 0, 7, 4, 0, 0, 0, 0, 0]) + bytes(7)
    yield "empty-data-flood-then-bad-settings", c.bytes(FEED_WHOLE)
    # One byte per read: every frame boundary and the preface split everywhere.
    yield "bytewise-get", Client().settings().headers(1, get("/bytes")).bytes(FEED_BYTES | STREAM_BODY)


def known_crashes():
    """Inputs that crashed the target, kept out of the corpus (its replay in ctest would abort)
    until the fix lands; then they move into seeds(). None now."""
    return iter(())


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--known-crashes":
        os.makedirs(sys.argv[2], exist_ok=True)
        for name, data in known_crashes():
            with open(os.path.join(sys.argv[2], name), "wb") as f:
                f.write(data)
        return
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "h2_session")
    os.makedirs(out, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
