"""HTTP/2 attacks against the real binary (issue 18): rapid reset (CVE-2023-44487),
CONTINUATION flood (CVE-2024-27316), HPACK bomb, SETTINGS/PING/empty-frame floods,
stream-ID games, a zero window held forever, the concurrent-stream limit.

Each attack: the defence holds (the attacker's connection ends with a GOAWAY whose error is
not NO_ERROR, or its stream is refused), skewgate_http2_connection_errors_total{reason} moves
for the right reason, a bystander connection opened before the attack is still served after
it, and the process lives and serves h1 and h2 afterwards.

Frames the python3-h2 state machine would refuse to build are written with hyperframe and
hpack (h2client.RawH2). Every socket wait is bounded (<= 10 s).
"""

import time
import unittest

from hyperframe.frame import ContinuationFrame, DataFrame, HeadersFrame, PingFrame, RstStreamFrame, SettingsFrame

from h2client import (CANCEL, NO_ERROR, PROTOCOL_ERROR, REFUSED_STREAM, SETTINGS_INITIAL_WINDOW_SIZE,
                      H2GatewayTestCase)
from harness import wait_for
from skew_support import exchange

MAX_STREAM_ID = 2 ** 31 - 1
BUSY = "blog.test"  # app blog, build dpl-c: the target of the many-streams tests
# GET http shop.test /bomb from the static table and literals without indexing (RFC 7541
# appendix A: 2 = :method GET, 6 = :scheme http, 4 = :path, 1 = :authority).
STATIC_GET_BOMB = b"\x82\x86\x04\x05/bomb\x01\x09shop.test"


def serialize(frames):
    return b"".join(f.serialize() for f in frames)


class Http2AttackTest(H2GatewayTestCase):

    def setUp(self):
        super().setUp()
        self._stats_asked = {}

    # --- helpers ---

    def bystander(self, tls=False):
        """A well-behaved connection opened before the attack."""
        client = self.h2(tls=tls)
        self.assertEqual(client.get("/bystander-before").status, 200)
        return client

    def assertUnaffected(self, bystander):
        st = bystander.get("/bystander-after")
        self.assertEqual(st.status, 200, st)
        self.assertIsNone(bystander.goaway, "the bystander got a GOAWAY")
        self.assertServes()

    def assertServes(self):
        """The process lives and serves an h1 and an h2 request on new connections."""
        self.assertAlive()
        resp = exchange(self.port, "GET", "/after-h1")
        self.assertEqual(resp.status, 200, resp)
        st = self.h2().get("/after-h2")
        self.assertEqual((st.status, st.json()["build"]), (200, "dpl-a"), st)

    def upstream_requests(self, build_id="dpl-a"):
        """Requests the upstream has answered, not counting this question (/__stats counts itself)."""
        asked = self._stats_asked.get(build_id, 0)
        self._stats_asked[build_id] = asked + 1
        return self.up[build_id].stats()["requests"] - 1 - asked

    def flood(self, raw, frames, batch=200, seconds=8.0, read_between=False):
        """Writes `frames` (an iterable) in batches until they run out, the server closes, or
        `seconds` pass. Returns how many were written."""
        sent = 0
        deadline = time.monotonic() + seconds
        pending = []
        for f in frames:
            pending.append(f)
            if len(pending) < batch:
                continue
            if not raw.send_bytes(serialize(pending)):
                return sent
            sent += len(pending)
            pending = []
            if read_between:
                # Long enough for the gateway's answer to a batch to arrive before the next
                # batch does: writing into a closed connection turns its close into a reset
                # that takes the GOAWAY with it.
                if raw.wait(lambda: raw.goaway() is not None or raw.closed, 0.2):
                    return sent
            if time.monotonic() > deadline:
                return sent
        if pending and raw.send_bytes(serialize(pending)):
            sent += len(pending)
        return sent

    def assertConnectionEnded(self, raw, what, require_goaway=True):
        """The connection closed, after a GOAWAY with an error. require_goaway False: a flood
        written without reading may have its GOAWAY lost in the reset of the close (the
        gateway closes with our unread frames in its socket: RST)."""
        goaway, closed = raw.wait_end(timeout=5.0)
        self.assertTrue(closed or raw.reset_by_peer, f"{what}: connection still open; frames {raw.frames[-5:]}")
        if require_goaway:
            self.assertIsNotNone(goaway, f"{what}: closed without a GOAWAY; frames {raw.frames[-5:]}")
        if goaway is not None:
            self.assertNotEqual(goaway.error_code, NO_ERROR, f"{what}: GOAWAY {goaway}")
        return goaway

    # --- rapid reset (CVE-2023-44487) ---

    def test_rapid_reset_ends_the_connection(self):
        self.start_h2()
        bystander = self.bystander()
        raw = self.raw_h2()
        headers = raw.request_headers("/delay?ms=3000", authority=BUSY)

        def frames():
            for i in range(5000):
                sid = 2 * i + 1
                yield raw.headers(sid, headers, end_stream=True)
                yield RstStreamFrame(sid, error_code=CANCEL)

        self.flood(raw, frames(), batch=200, read_between=True)
        goaway = self.assertConnectionEnded(raw, "rapid reset")
        self.wait_metric(1, "skewgate_http2_connection_errors_total", reason="rapid_reset")
        self.assertUnaffected(bystander)
        print(f"\nrapid reset: GOAWAY {goaway and (goaway.error_code, goaway.last_stream_id)}")

    def test_a_few_cancels_are_not_punished(self):
        self.start_h2()
        client = self.h2()
        for round_ in range(3):
            sids = [client.request("GET", f"/delay?ms=2000&r={round_}&i={i}") for i in range(5)]
            time.sleep(0.1)
            for sid in sids[:3]:
                client.reset(sid, CANCEL)
            for sid in sids[3:]:
                self.assertEqual(client.response(sid, timeout=8).status, 200)
        self.assertEqual(client.get("/after-cancels").status, 200)
        self.assertIsNone(client.goaway)
        time.sleep(1.2)
        self.assertEqual(self.h2_errors("rapid_reset"), 0)

    # --- CONTINUATION flood (CVE-2024-27316) ---

    def continuation_flood(self, payload, batch):
        self.start_h2()
        bystander = self.bystander()
        raw = self.raw_h2()
        first = raw.headers(1, raw.block(raw.request_headers("/cont")), end_stream=True, end_headers=False)

        def frames():
            yield first
            for i in range(20000):
                f = ContinuationFrame(1)
                f.data = payload(i)
                yield f

        sent = self.flood(raw, frames(), batch=batch, read_between=True)
        # nghttp2's own CONTINUATION limit (CVE-2024-28182 fix) is a fatal error: the session
        # cannot write a GOAWAY any more, so the connection may just close.
        goaway = self.assertConnectionEnded(raw, "CONTINUATION flood", require_goaway=False)
        self.assertTrue(wait_for(lambda: self.h2_errors("continuation_flood") + self.h2_errors("hpack_bomb") >= 1,
                                 5.0, 0.2),
                        f"continuation_flood {self.h2_errors('continuation_flood')}, "
                        f"hpack_bomb {self.h2_errors('hpack_bomb')}")
        print(f"\nCONTINUATION flood: {sent} frames written, GOAWAY {goaway and goaway.error_code}; continuation_flood "
              f"{self.h2_errors('continuation_flood')}, hpack_bomb {self.h2_errors('hpack_bomb')}")
        self.assertUnaffected(bystander)

    def test_continuation_flood_of_empty_frames(self):
        self.continuation_flood(lambda i: b"", batch=100)

    def test_continuation_flood_of_header_bytes(self):
        # Each frame one literal field (never indexed, new name): 4 KiB of decoded header bytes.
        def payload(i):
            name = f"x-c{i}".encode()
            value = b"v" * 4000
            return b"\x10" + bytes([len(name)]) + name + b"\x7f" + _hpack_int(len(value) - 127) + value
        self.continuation_flood(payload, batch=4)

    # --- HPACK bomb ---

    def test_hpack_bomb_is_refused_and_memory_stays_bounded(self):
        self.start_h2()
        bystander = self.bystander()
        served_before = self.upstream_requests()
        rss_before = self.rss_kib()
        ended_with_bomb = 0
        refused_streams = 0
        for conn_i in range(10):
            raw = self.raw_h2()
            # One 3 KiB field inserted into the dynamic table (literal with incremental indexing,
            # RFC 7541 6.2.1), then referenced by index 62 (0xbe) 4000 times: 4 KiB on the wire,
            # 12 MB decoded.
            # The request's own fields from the static table only, so index 62 stays x-bomb.
            value = b"b" * 3000
            block = STATIC_GET_BOMB
            bomb = b"\x40\x06x-bomb\x7f" + _hpack_int(len(value) - 127) + value + b"\xbe" * 4000
            frames = [raw.headers(1, block + bomb, end_stream=True)]
            for k in range(1, 10):
                frames.append(raw.headers(2 * k + 1, block + b"\xbe" * 4000, end_stream=True))
            raw.send(*frames)
            raw.wait(lambda: raw.closed or raw.goaway() is not None or len(raw.frames_of(RstStreamFrame)) >= 10,
                     timeout=5.0)
            goaway = raw.goaway()
            if goaway is not None:
                self.assertNotEqual(goaway.error_code, NO_ERROR, goaway)
                ended_with_bomb += 1
            refused_streams += len(raw.frames_of(RstStreamFrame))
            # An answer from skewgate (431/400) would do too; never DATA from the upstream.
            refused_streams += len(raw.frames_of(HeadersFrame))
            raw.close()
        self.assertGreater(ended_with_bomb + refused_streams, 0, "the bomb was neither refused nor ended")
        self.assertEqual(self.upstream_requests(), served_before, "a bombed request reached the upstream")
        grown_mb = (self.rss_kib() - rss_before) / 1024
        self.assertLess(grown_mb, 50, f"RSS grew {grown_mb:.1f} MB")
        if ended_with_bomb:
            self.wait_metric(1, "skewgate_http2_connection_errors_total", reason="hpack_bomb")
        print(f"\nHPACK bomb: {ended_with_bomb} connections ended, {refused_streams} streams reset, "
              f"RSS +{grown_mb:.1f} MB")
        self.assertUnaffected(bystander)

    def test_header_list_over_header_bytes_is_refused_per_stream(self):
        # A smaller bomb: 16 references to a 3000-byte field decode to ~48 KB, over
        # limits.header_bytes (32 KiB by default, our SETTINGS_MAX_HEADER_LIST_SIZE) but far from
        # a connection-ending bomb: this stream is refused (431, as h1), the connection goes on.
        self.start_h2()
        served_before = self.upstream_requests()
        rejected_before = self.metric("skewgate_rejected_requests_total", reason="header_too_large")
        raw = self.raw_h2()
        self.assertTrue(raw.wait(lambda: raw.frames_of(SettingsFrame), 5.0))
        self.assertEqual(raw.frames_of(SettingsFrame)[0].settings.get(0x6), 32768, "SETTINGS_MAX_HEADER_LIST_SIZE")
        value = b"b" * 3000
        block = STATIC_GET_BOMB + b"\x40\x06x-bomb\x7f" + _hpack_int(len(value) - 127) + value + b"\xbe" * 15
        raw.send(raw.headers(1, block, end_stream=True))
        self.assertTrue(raw.wait(lambda: any(f.stream_id == 1 and ("END_STREAM" in f.flags or
                                                                   isinstance(f, RstStreamFrame))
                                             for f in raw.frames), 5.0), raw.frames)
        heads = raw.decode_all_headers().get(1)
        if heads:
            self.assertIn((":status", "431"), [tuple(h) for h in heads[0]])
        else:
            self.assertIsNotNone(raw.rst(1), raw.frames)
        print(f"\nheader list over header_bytes: {'431' if heads else 'RST_STREAM ' + str(raw.rst(1).error_code)}")
        self.assertIsNone(raw.goaway())
        # The same connection serves the next stream (the dynamic table entry is still there: it
        # is not referenced).
        raw.send(raw.headers(3, b"\x82\x86\x04\x06/after\x01\x09shop.test", end_stream=True))
        self.assertTrue(raw.wait(lambda: any(f.stream_id == 3 and "END_STREAM" in f.flags for f in raw.frames), 5.0))
        self.assertIn((":status", "200"), [tuple(h) for h in raw.decode_all_headers()[3][0]])
        self.assertEqual(self.upstream_requests() - served_before, 1, "only /after reached the upstream")
        self.wait_metric(rejected_before + 1, "skewgate_rejected_requests_total", reason="header_too_large")
        self.assertServes()

    # --- control-frame floods ---

    def control_flood(self, make_frame, reason, count=5000):
        self.start_h2()
        bystander = self.bystander()
        raw = self.raw_h2()
        # Without reading: the ACKs pile up on the gateway's side.
        sent = self.flood(raw, (make_frame(i) for i in range(count)), batch=500, read_between=False)
        lost = self.assertConnectionEnded(raw, reason, require_goaway=False) is None
        self.wait_metric(1, "skewgate_http2_connection_errors_total", reason=reason)
        # The same flood by a client that reads between its writes sees the GOAWAY's error.
        reader = self.raw_h2()
        self.flood(reader, (make_frame(i) for i in range(count)), batch=50, read_between=True)
        goaway = self.assertConnectionEnded(reader, reason + " (reading)")
        self.wait_metric(2, "skewgate_http2_connection_errors_total", reason=reason)
        print(f"\n{reason}: {sent} frames written before the close (GOAWAY {'lost in the reset' if lost else 'read'}); "
              f"a reading client got GOAWAY {goaway.error_code:#x}")
        self.assertUnaffected(bystander)

    def test_settings_flood(self):
        def settings(i):
            f = SettingsFrame(0)
            f.settings = {SETTINGS_INITIAL_WINDOW_SIZE: 65535 + (i % 2)}
            return f
        self.control_flood(settings, "settings_flood")

    def test_ping_flood(self):
        self.control_flood(lambda i: PingFrame(0, opaque_data=i.to_bytes(8, "big")), "ping_flood")

    def test_empty_frame_flood(self):
        self.start_h2()
        bystander = self.bystander()
        raw = self.raw_h2()
        head = raw.headers(1, raw.request_headers("/upload", method="POST"), end_stream=False)

        def frames():
            yield head
            for _ in range(5000):
                yield DataFrame(1)  # length 0, no END_STREAM

        self.flood(raw, frames(), batch=100, read_between=True)
        self.assertConnectionEnded(raw, "empty-frame flood")
        self.wait_metric(1, "skewgate_http2_connection_errors_total", reason="empty_frame_flood")
        self.assertUnaffected(bystander)

    # --- stream IDs ---

    def test_max_requests_ends_with_a_graceful_goaway(self):
        self.start_h2(http2={"max_requests": 5})
        served_before = self.upstream_requests()
        client = self.h2()
        sids = []
        for i in range(5):
            sid = client.request("GET", f"/n{i}")
            sids.append(sid)
            self.assertEqual(client.response(sid).status, 200)
        self.assertTrue(client.wait(lambda: client.goaways, 3.0), "no GOAWAY after max_requests streams")
        code, last, _ = client.goaways[-1]
        self.assertEqual(code, NO_ERROR, client.goaways)
        self.assertEqual(last, sids[-1], client.goaways)
        sixth = client.request("GET", "/n5")
        client.wait(lambda: client.stream(sixth).done or client.closed, 2.0)
        st = client.stream(sixth)
        self.assertNotEqual(st.status, 200, f"the 6th stream was served: {st!r}")
        self.assertEqual(self.upstream_requests() - served_before, 5, "the 6th stream reached the upstream")
        self.assertTrue(client.wait_closed(5.0), "connection not closed after its last stream")
        time.sleep(1.2)
        self.assertEqual(self.h2_errors("stream_id_exhausted"), 0, "max_requests is not an error")
        self.assertServes()

    def test_highest_stream_id_works_and_a_lower_id_is_a_connection_error(self):
        self.start_h2()
        raw = self.raw_h2()
        raw.send(raw.headers(MAX_STREAM_ID, raw.request_headers("/top"), end_stream=True))
        self.assertTrue(raw.wait(lambda: any("END_STREAM" in f.flags for f in raw.frames
                                             if f.stream_id == MAX_STREAM_ID), 5.0), raw.frames)
        heads = raw.decode_all_headers()
        self.assertIn((":status", "200"), [tuple(h) for h in heads[MAX_STREAM_ID][0]])
        raw.close()
        # A stream ID lower than one already used (RFC 9113 5.1.1): a connection error
        # PROTOCOL_ERROR, or (nghttp2, lib/nghttp2_session.c session_on_request_headers_received:
        # it cannot remember every closed stream, so it only ignores such a header block) never
        # served. Either way nothing on that stream reaches the upstream.
        raw = self.raw_h2()
        raw.send(raw.headers(101, raw.request_headers("/first"), end_stream=True))
        raw.wait(lambda: any(f.stream_id == 101 and "END_STREAM" in f.flags for f in raw.frames), 5.0)
        raw.send(raw.headers(51, raw.request_headers("/lower"), end_stream=True))
        raw.wait(lambda: raw.closed or raw.goaway() is not None, 1.5)
        goaway = raw.goaway()
        if goaway is not None:
            self.assertEqual((goaway.error_code, goaway.last_stream_id), (PROTOCOL_ERROR, 101), goaway)
            self.wait_metric(1, "skewgate_http2_connection_errors_total", reason="h2_protocol_error")
        else:
            self.assertEqual([f for f in raw.frames if f.stream_id == 51], [], "stream 51 was answered")
            raw.send(raw.headers(103, raw.request_headers("/next"), end_stream=True))
            self.assertTrue(raw.wait(lambda: any(f.stream_id == 103 and "END_STREAM" in f.flags
                                                 for f in raw.frames), 5.0), "the connection is not usable")
        print(f"\nlower stream ID: {'GOAWAY ' + str(goaway.error_code) if goaway else 'ignored'}")
        self.wait_log(self.gw, lambda e: e.get("target") == "/first")
        time.sleep(0.5)
        self.assertEqual([e for e in self.gw.access_log() if e.get("target") == "/lower"], [])
        self.assertServes()

    # --- zero window held forever ---

    def test_zero_window_held_forever(self):
        self.start_h2(timeouts={"client_send": "1s", "upstream_response": "10s"})
        bystander = self.bystander()
        big = 10 << 20
        cases = [("stream window 0", 0, 0), ("connection window 0 (stream window 16 MiB)", 1 << 24, 65535)]
        for n, (name, stream_window, at_most) in enumerate(cases, start=1):
            with self.subTest(name):
                client = self.h2(auto_ack=False, settings={SETTINGS_INITIAL_WINDOW_SIZE: stream_window})
                sid = client.request("GET", f"/repeat?bytes={big}")
                started = time.monotonic()
                client.wait(lambda: client.stream(sid).done or client.closed, 6.0)
                elapsed = time.monotonic() - started
                st = client.stream(sid)
                # Reset (CANCEL) or the connection ended (GOAWAY with an error, closed).
                self.assertTrue(st.reset_code is not None or client.closed, f"still open after {elapsed:.1f}s: {st!r}")
                if st.reset_code is not None:
                    self.assertEqual(st.reset_code, CANCEL, st)
                if client.goaways:
                    self.assertNotEqual(client.goaways[-1][0], NO_ERROR, client.goaways)
                self.assertGreater(elapsed, 0.8)
                self.assertLess(elapsed, 4.0)
                self.assertLessEqual(len(st.data), at_most)
                self.wait_metric(n, "skewgate_http2_connection_errors_total", reason="zero_window_timeout")
                # The upstream connection is freed: the upstream's request ends.
                self.assertTrue(wait_for(lambda: self.up["dpl-a"].stats()["inflight"] == 0, 5.0),
                                "the upstream request is still in flight")
                client.close()
        self.assertUnaffected(bystander)

    # --- concurrent streams ---

    def test_the_129th_concurrent_stream_is_refused(self):
        # The 256 slow requests go to app blog (dpl-c): its one Python upstream process is
        # slow to answer health checks under them (dpl-a would be marked unhealthy and the
        # bystander on shop answered 503).
        self.start_h2(timeouts={"upstream_response": "10s"})
        bystander = self.bystander()
        last = 2 * 128 + 1
        with self.subTest("129 streams right after the preface (our SETTINGS not yet ACKed)"):
            raw = self.raw_h2(handshake=False)
            frames = [raw.headers(2 * i + 1, raw.request_headers(f"/delay?ms=2500&i={i}", authority=BUSY),
                                  end_stream=True) for i in range(129)]
            raw.send(*frames)
            self.assertTrue(raw.wait(lambda: raw.rst(last) is not None, 5.0), f"no RST_STREAM on stream {last}")
            self.assertEqual(raw.rst(last).error_code, REFUSED_STREAM)
            self.assertEqual([f.stream_id for f in raw.frames_of(RstStreamFrame)], [last], "only the 129th is refused")
            # The 128 others are served.
            done = lambda: len({f.stream_id for f in raw.frames if "END_STREAM" in f.flags and f.stream_id != last})
            self.assertTrue(raw.wait(lambda: done() >= 128, 10.0), f"{done()} of 128 streams ended")
            self.assertIsNone(raw.goaway())
            raw.close()
        with self.subTest("the 129th after our SETTINGS were ACKed"):
            # RFC 9113 5.1.2 allows a stream error (PROTOCOL_ERROR or REFUSED_STREAM); nghttp2
            # (session_on_request_headers_received) makes it a connection error PROTOCOL_ERROR
            # once the client has acknowledged the limit.
            raw = self.raw_h2()
            frames = [raw.headers(2 * i + 1, raw.request_headers(f"/delay?ms=2500&j={i}", authority=BUSY),
                                  end_stream=True) for i in range(129)]
            raw.send(*frames)
            raw.wait(lambda: raw.rst(last) is not None or raw.goaway() is not None, 5.0)
            rst, goaway = raw.rst(last), raw.goaway()
            if goaway is not None:
                self.assertEqual((goaway.error_code, goaway.last_stream_id), (PROTOCOL_ERROR, last - 2), goaway)
                self.wait_metric(1, "skewgate_http2_connection_errors_total", reason="h2_protocol_error")
            else:
                self.assertIsNotNone(rst, raw.frames)
                self.assertIn(rst.error_code, (REFUSED_STREAM, PROTOCOL_ERROR))
            print(f"\n129th stream after the SETTINGS ACK: "
                  f"{'GOAWAY %#x last %d' % (goaway.error_code, goaway.last_stream_id) if goaway else rst}")
            raw.close()
        self.assertUnaffected(bystander)


def _hpack_int(n):
    """The continuation bytes of an HPACK integer whose prefix is all ones (RFC 7541 5.1)."""
    out = bytearray()
    while n >= 128:
        out.append((n % 128) + 128)
        n //= 128
    out.append(n)
    return bytes(out)


if __name__ == "__main__":
    unittest.main()
