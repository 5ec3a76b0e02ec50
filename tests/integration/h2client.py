"""HTTP/2 clients and gateway setup for the HTTP/2 wire tests (issue 18).

Two clients, both on plain sockets (optionally wrapped in TLS with ALPN h2):

- H2Client: Debian's python3-h2 state machine with header validation and normalisation
  off, so a test can send what a browser never would (a `host` that differs from
  :authority, `connection:`, `te: gzip`, a :path that is not origin-form, cookie crumbs as
  separate fields). Flow control is automatic by default; `auto_ack=False` leaves
  WINDOW_UPDATEs to the test (slow reader, zero window).
- RawH2: frames written with hyperframe and HPACK blocks with hpack (both come with
  python3-h2), for attacks the h2 state machine refuses to build (CONTINUATION floods,
  stream-ID games, floods sent without reading).

H2GatewayTestCase starts upstreams and a skewgate with an h2c listener, a TLS listener
(h2 offered by ALPN) and optionally more, from a test CA made by test_tls.Certs.

Every socket has a timeout (<= 10 s); every wait is bounded.
"""

import json
import os
import re
import shutil
import socket
import ssl
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import hpack
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame,
                              RstStreamFrame, SettingsFrame, WindowUpdateFrame)

from harness import GatewayTestCase, free_port, wait_for

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# RFC 9113 section 7 error codes.
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
FLOW_CONTROL_ERROR = 0x3
REFUSED_STREAM = 0x7
CANCEL = 0x8
COMPRESSION_ERROR = 0x9
ENHANCE_YOUR_CALM = 0xb

# RFC 9113 section 6.5.2 / RFC 8441 section 3.
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
SETTINGS_MAX_HEADER_LIST_SIZE = 0x6
SETTINGS_ENABLE_CONNECT_PROTOCOL = 0x8


def tls_context(ca, alpn=("h2", "http/1.1")):
    ctx = ssl.create_default_context(cafile=ca)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def connect(port, ca=None, server_name="shop.test", alpn=("h2",), timeout=10.0):
    """A TCP socket to 127.0.0.1:port, wrapped in TLS (SNI server_name) when ca is given."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if ca:
        sock = tls_context(ca, alpn).wrap_socket(sock, server_hostname=server_name)
    return sock


class StreamState:
    """What came back on one stream."""

    def __init__(self, stream_id):
        self.stream_id = stream_id
        self.informational = []   # header lists of 1xx
        self.headers = None       # final response header list [(name, value)] (str)
        self.trailers = None
        self.data = bytearray()
        self.ended = False
        self.reset_code = None    # RST_STREAM error code from the server

    @property
    def done(self):
        return self.ended or self.reset_code is not None

    @property
    def status(self):
        return int(self.header(":status")) if self.headers else None

    def header(self, name):
        for k, v in self.headers or ():
            if k.lower() == name:
                return v
        return None

    def header_list(self, name):
        return [v for k, v in self.headers or () if k.lower() == name]

    def json(self):
        return json.loads(bytes(self.data))

    def __repr__(self):
        return (f"<stream {self.stream_id} headers={self.headers} reset={self.reset_code} ended={self.ended} "
                f"data={bytes(self.data[:300])!r}>")


class H2Client:
    """python3-h2 client over one socket. `settings`: our SETTINGS (sent with the preface)."""

    def __init__(self, port, ca=None, server_name="shop.test", settings=None, auto_ack=True, timeout=10.0,
                 alpn=("h2",)):
        self.sock = connect(port, ca, server_name, alpn, timeout)
        self.alpn = self.sock.selected_alpn_protocol() if ca else None
        self.timeout = timeout
        self.auto_ack = auto_ack
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                           validate_outbound_headers=False, normalize_outbound_headers=False,
                                           validate_inbound_headers=False, normalize_inbound_headers=False)
        self.conn = h2.connection.H2Connection(config=config)
        if settings:
            self.conn.local_settings = h2.settings.Settings(client=True, initial_values=settings)
        self.streams = {}
        self.goaway = None          # (error_code, last_stream_id, additional_data)
        self.closed = False         # the server closed the TCP connection (EOF or reset)
        self.remote_settings = {}   # every setting the server sent, by code
        self.pings_acked = 0
        self.ended_order = []       # stream IDs in the order their END_STREAM arrived
        self.goaways = []           # every GOAWAY in order (error_code, last_stream_id, debug data)
        self._inbuf = bytearray()  # the server's preface is a SETTINGS frame: frames from byte 0
        self.conn.initiate_connection()
        self.flush()

    # --- sending ---

    def flush(self):
        data = self.conn.data_to_send()
        if data and not self.closed:
            try:
                self.sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                self.closed = True

    def stream(self, stream_id):
        return self.streams.setdefault(stream_id, StreamState(stream_id))

    def request(self, method="GET", path="/", authority="shop.test", headers=(), body=None, end_stream=None,
                scheme=None, stream_id=None, extra_pseudo=(), content_length=True):
        """Open a stream; headers are sent as given (lower-case them yourself). Returns its ID.
        With a body the DATA follows within the flow-control window (send_body pumps), with a
        content-length unless content_length=False. end_stream None: the request ends after
        the body (or with HEADERS without a body); False: the stream stays open."""
        scheme = scheme or ("https" if self.alpn else "http")
        stream_id = stream_id or self.conn.get_next_available_stream_id()
        fields = [(":method", method), (":scheme", scheme), (":authority", authority), (":path", path)]
        fields = [f for f in fields if f[1] is not None] + list(extra_pseudo)
        fields += list(headers)
        if body is not None and content_length and not any(k == "content-length" for k, _ in headers):
            fields.append(("content-length", str(len(body))))
        ends_with_headers = body is None and end_stream is not False
        self.stream(stream_id)
        self.conn.send_headers(stream_id, fields, end_stream=ends_with_headers)
        self.flush()
        if body is not None:
            self.send_body(stream_id, body, end_stream=end_stream is not False)
        return stream_id

    def send_body(self, stream_id, body, end_stream=True, deadline=None):
        """DATA frames within the peer's windows, reading (WINDOW_UPDATE) while they are 0."""
        deadline = deadline or time.monotonic() + self.timeout
        view = memoryview(body)
        while True:
            st = self.streams.get(stream_id)
            if st is not None and st.reset_code is not None:
                return False
            window = self.conn.local_flow_control_window(stream_id)
            size = min(window, self.conn.max_outbound_frame_size, len(view))
            if size > 0 or (len(view) == 0):
                last = size == len(view)
                self.conn.send_data(stream_id, bytes(view[:size]), end_stream=end_stream and last)
                self.flush()
                view = view[size:]
                if last:
                    return True
                continue
            if time.monotonic() > deadline or self.closed:
                raise TimeoutError(f"stream {stream_id}: window 0 with {len(view)} bytes left")
            self.read_once(0.5)

    def reset(self, stream_id, code=CANCEL):
        self.conn.reset_stream(stream_id, code)
        self.flush()

    def ping(self, opaque=b"12345678"):
        self.conn.ping(opaque)
        self.flush()

    def window_update(self, increment, stream_id=None):
        """WINDOW_UPDATE for the stream (and the connection when stream_id is None)."""
        try:
            self.conn.increment_flow_control_window(increment, stream_id)
        except h2.exceptions.StreamClosedError:
            return  # ended meanwhile: nothing to open
        self.flush()

    # --- receiving ---

    def read_once(self, timeout):
        """Reads what arrives within timeout (one recv) and handles its events. False at EOF."""
        if self.closed:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            return True
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
            data = b""
        if not data:
            self.closed = True
            return False
        try:
            events = self.conn.receive_data(self._without_goaway(data))
        except h2.exceptions.ProtocolError as e:
            raise AssertionError(f"the server broke HTTP/2 (python3-h2 says {e!r})")
        for event in events:
            self.handle(event)
        self.flush()
        return True

    def _without_goaway(self, data):
        """The bytes for python3-h2 minus GOAWAY frames, which are recorded here instead:
        python3-h2 closes its state machine on any GOAWAY and would refuse the DATA of the
        streams a graceful GOAWAY lets finish (RFC 9113 section 6.8)."""
        self._inbuf += data
        out = bytearray()
        while True:
            if len(self._inbuf) < 9:
                break
            length = int.from_bytes(self._inbuf[:3], "big")
            if len(self._inbuf) < 9 + length:
                break
            frame = bytes(self._inbuf[:9 + length])
            del self._inbuf[:9 + length]
            if frame[3] == 0x7:  # GOAWAY
                last = int.from_bytes(frame[9:13], "big") & 0x7fffffff
                code = int.from_bytes(frame[13:17], "big")
                self.goaways.append((code, last, frame[17:]))
                self.goaway = self.goaways[-1]
            else:
                out += frame
        return bytes(out)

    def handle(self, event):
        if isinstance(event, h2.events.ResponseReceived):
            self.stream(event.stream_id).headers = list(event.headers)
        elif isinstance(event, h2.events.InformationalResponseReceived):
            self.stream(event.stream_id).informational.append(list(event.headers))
        elif isinstance(event, h2.events.TrailersReceived):
            self.stream(event.stream_id).trailers = list(event.headers)
        elif isinstance(event, h2.events.DataReceived):
            self.stream(event.stream_id).data += event.data
            if self.auto_ack and event.flow_controlled_length:
                try:
                    self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                except h2.exceptions.StreamClosedError:
                    pass
        elif isinstance(event, h2.events.StreamEnded):
            self.stream(event.stream_id).ended = True
            self.ended_order.append(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            self.stream(event.stream_id).reset_code = int(event.error_code)
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            for code, change in event.changed_settings.items():
                self.remote_settings[int(code)] = change.new_value
        elif isinstance(event, h2.events.PingAckReceived):
            self.pings_acked += 1

    def wait(self, predicate, timeout=None):
        """Reads until predicate() holds, the connection closes, or timeout; predicate()'s value."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                break
            self.read_once(min(left, 0.5))
        return predicate()

    def response(self, stream_id, timeout=None):
        """The stream once it ended or was reset (AssertionError if neither within timeout)."""
        st = self.stream(stream_id)
        if not self.wait(lambda: st.done, timeout):
            raise AssertionError(f"stream {stream_id} not done within {timeout or self.timeout}s "
                                 f"(goaway {self.goaway}, closed {self.closed}): {st!r}")
        return st

    def get(self, path="/", authority="shop.test", headers=(), method="GET", body=None, timeout=None):
        return self.response(self.request(method, path, authority, headers, body), timeout)

    def wait_closed(self, timeout=5.0):
        return self.wait(lambda: self.closed, timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class RawH2:
    """Frames by hand: hyperframe for frames, hpack for header blocks."""

    def __init__(self, port, ca=None, server_name="shop.test", settings=None, timeout=10.0, preface=True,
                 auto_window=True, handshake=True):
        self.sock = connect(port, ca, server_name, ("h2",), timeout)
        self.alpn = self.sock.selected_alpn_protocol() if ca else None
        self.timeout = timeout
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = 1 << 24
        self.buf = b""
        self.frames = []          # every frame received, in order
        self.closed = False
        self.reset_by_peer = False
        self.auto_window = auto_window  # WINDOW_UPDATE for every DATA frame read
        if preface:
            self.send_bytes(PREFACE + self.settings_frame(settings or {}).serialize())
            # The server's SETTINGS read and ACKed now: an ACK sent later could land in the
            # middle of a header block the test is writing (a connection error). Without
            # handshake the test writes before it has read them (nghttp2 applies our limits
            # softly until they are ACKed).
            if handshake:
                self.wait(lambda: self.frames_of(SettingsFrame), timeout)

    @staticmethod
    def settings_frame(settings, ack=False):
        f = SettingsFrame(0, flags=["ACK"] if ack else [])
        if not ack:
            f.settings = dict(settings)
        return f

    def send_bytes(self, data):
        """False once the server has closed (EPIPE / reset)."""
        if self.closed:
            return False
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.closed = True
            self.reset_by_peer = True
            return False

    def send(self, *frames):
        return self.send_bytes(b"".join(f.serialize() for f in frames))

    def block(self, headers):
        return self.encoder.encode(headers)

    def request_headers(self, path="/", method="GET", authority="shop.test", scheme="http", extra=()):
        return [(":method", method), (":scheme", scheme), (":authority", authority), (":path", path)] + list(extra)

    def headers(self, stream_id, headers, end_stream=True, end_headers=True):
        flags = (["END_STREAM"] if end_stream else []) + (["END_HEADERS"] if end_headers else [])
        f = HeadersFrame(stream_id, flags=flags)
        f.data = self.block(headers) if not isinstance(headers, (bytes, bytearray)) else bytes(headers)
        return f

    def read(self, timeout=0.5):
        """One recv; parses every complete frame into self.frames; answers SETTINGS with an ACK."""
        if self.closed and not self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 16)
        except (socket.timeout, ssl.SSLWantReadError):
            return True
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
            self.reset_by_peer = True
            data = b""
        if not data:
            self.closed = True
            return False
        self.buf += data
        while len(self.buf) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
            if len(self.buf) < 9 + length:
                break
            frame.parse_body(memoryview(self.buf[9:9 + length]))
            self.buf = self.buf[9 + length:]
            self.frames.append(frame)
            if isinstance(frame, SettingsFrame) and "ACK" not in frame.flags:
                self.send(self.settings_frame({}, ack=True))
            elif isinstance(frame, DataFrame) and frame.flow_controlled_length and self.auto_window:
                n = frame.flow_controlled_length
                updates = [WindowUpdateFrame(0, window_increment=n)]
                if "END_STREAM" not in frame.flags:
                    updates.append(WindowUpdateFrame(frame.stream_id, window_increment=n))
                self.send(*updates)
        return True

    def wait(self, predicate, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                break
            self.read(min(left, 0.5))
        return predicate()

    def drain(self, timeout=0.3):
        """Reads whatever is already there (bounded)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and not self.closed:
            self.read(0.05)

    def goaway(self):
        return next((f for f in self.frames if isinstance(f, GoAwayFrame)), None)

    def frames_of(self, kind, stream_id=None):
        return [f for f in self.frames if isinstance(f, kind) and (stream_id is None or f.stream_id == stream_id)]

    def rst(self, stream_id):
        return next((f for f in self.frames_of(RstStreamFrame, stream_id)), None)

    def response_headers(self, stream_id):
        """Decoded header list of the first HEADERS on stream_id (no CONTINUATION from us)."""
        for f in self.frames_of(HeadersFrame, stream_id):
            return self.decoder.decode(f.data)
        return None

    def decode_all_headers(self):
        """Keeps the HPACK decoder in step: decodes every HEADERS in order, {stream: [lists]}."""
        out = {}
        for f in self.frames_of(HeadersFrame):
            out.setdefault(f.stream_id, []).append(self.decoder.decode(f.data))
        return out

    def wait_end(self, timeout=5.0):
        """Waits for GOAWAY or close; (goaway frame or None, closed)."""
        self.wait(lambda: self.goaway() is not None and self.closed, timeout)
        return self.goaway(), self.closed

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------
# Gateway setup shared by test_http2 and test_http2_attacks.

class H2GatewayTestCase(GatewayTestCase):
    """Upstreams dpl-a and dpl-b (app shop, current dpl-a, dpl-b retained) and dpl-c (app
    blog); a gateway with listeners: h2c (the harness port), TLS, and plain without h2c."""

    certs = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        from test_tls import Certs  # the test CA of issue 16
        cls.certs = Certs()
        cls.listener_cert = cls.certs.leaf("listener", "shop.test", ["shop.test", "blog.test", "localhost"])

    @classmethod
    def tearDownClass(cls):
        if cls.certs:
            shutil.rmtree(cls.certs.dir, ignore_errors=True)

    @property
    def ca(self):
        return self.certs.ca

    def upstreams(self):
        self.up = {b: self.start_upstream(b) for b in ("dpl-a", "dpl-b", "dpl-c")}

    def config(self, port, tls_http2=None, h2c=True, http2=None, timeouts=None, limits=None, workers=1,
               extra="", shop_extra="", extra_apps="", manifests=False, current="dpl-a"):
        """extra: top-level YAML; shop_extra: keys of app shop; extra_apps: more `  - name:` items;
        manifests: builds dpl-a/dpl-b with tests/integration/data/manifest-{a,b}.json."""
        cert, key, _ = self.listener_cert

        def manifest(b):
            return f", manifest: {os.path.join(DATA, f'manifest-{b}.json')}" if manifests else ""

        t = {"upstream_connect": "1s", "upstream_response": "5s", "drain": "5s", "client_header": "5s"}
        t.update(timeouts or {})
        plain = f"  - {{address: 127.0.0.1:{port}" + (", h2c: true" if h2c else "") + "}\n"
        tls = f"  - address: 127.0.0.1:{self.tls_port}\n    tls: {{cert: {cert}, key: {key}}}\n"
        if tls_http2 is not None:
            tls += f"    http2: {'true' if tls_http2 else 'false'}\n"
        text = ("listeners:\n" + plain + tls + f"  - {{address: 127.0.0.1:{self.plain_port}}}\n"
                f"workers: {workers}\n"
                "access_log: {path: stdout, format: json}\n"
                "timeouts: {" + ", ".join(f"{k}: {v}" for k, v in t.items()) + "}\n")
        if limits:
            text += "limits: {" + ", ".join(f"{k}: {v}" for k, v in limits.items()) + "}\n"
        if http2:
            text += "http2: {" + ", ".join(f"{k}: {v}" for k, v in http2.items()) + "}\n"
        text += (f"apps:\n"
                 f"  - name: shop\n"
                 f"    hosts: [shop.test]\n"
                 f"    current: {current}\n"
                 f"{shop_extra}"
                 f"    builds:\n"
                 f"      - {{id: dpl-a, upstreams: [{self.up['dpl-a'].address}]{manifest('a')}}}\n"
                 f"      - {{id: dpl-b, upstreams: [{self.up['dpl-b'].address}]{manifest('b')}}}\n"
                 f"  - name: blog\n"
                 f"    hosts: [blog.test]\n"
                 f"    current: dpl-c\n"
                 f"    builds: [{{id: dpl-c, upstreams: [{self.up['dpl-c'].address}]}}]\n"
                 f"{extra_apps}"
                 f"{extra}")
        return text

    def start_h2(self, **kw):
        """The gateway; self.port (h2c or plain), self.tls_port, self.plain_port (never h2c)."""
        if not getattr(self, "up", None):
            self.upstreams()
        # Three different ports: free_port() may hand out a port it handed out a moment ago.
        ports = set()
        while len(ports) < 3:
            ports.add(free_port())
        self.port, self.tls_port, self.plain_port = sorted(ports)
        self.gw = self.start_gateway(self.config(self.port, **kw), port=self.port)
        for p in (self.tls_port, self.plain_port):
            self.assertTrue(wait_for(lambda p=p: _accepts(p), 10.0), f"port {p}: {self.gw.stderr_text()[-2000:]}")
        return self.gw

    def h2(self, tls=False, **kw):
        client = H2Client(self.tls_port if tls else self.port, ca=self.ca if tls else None, **kw)
        self.addCleanup(client.close)
        return client

    def raw_h2(self, tls=False, **kw):
        client = RawH2(self.tls_port if tls else self.port, ca=self.ca if tls else None, **kw)
        self.addCleanup(client.close)
        return client

    # --- metrics (workers publish their counters about once a second) ---

    def metrics_text(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.gw.admin_port, timeout=10)
        try:
            conn.request("GET", "/metrics")
            return conn.getresponse().read().decode()
        finally:
            conn.close()

    def metric(self, name, **labels):
        """Sum of the samples of `name` whose labels include `labels`."""
        total = 0.0
        for m in re.finditer(rf"^{re.escape(name)}(?:\{{([^}}]*)\}})? (\S+)$", self.metrics_text(), re.M):
            have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1) or ""))
            if all(have.get(k) == v for k, v in labels.items()):
                total += float(m.group(2))
        return total

    def h2_errors(self, reason):
        return self.metric("skewgate_http2_connection_errors_total", reason=reason)

    def wait_metric(self, at_least, name, timeout=5.0, **labels):
        ok = wait_for(lambda: self.metric(name, **labels) >= at_least, timeout, interval=0.2)
        self.assertTrue(ok, f"{name}{labels} = {self.metric(name, **labels)}, expected >= {at_least}")

    def rss_kib(self):
        with open(f"/proc/{self.gw.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def assertAlive(self):
        self.assertIsNone(self.gw.proc.poll(), f"skewgate died: {self.gw.stderr_text()[-2000:]}")


def _accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False
