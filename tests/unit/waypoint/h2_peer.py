#!/usr/bin/python3
"""HTTP/2 (h2c, prior knowledge) peers for h2_test.cc, built on python3-h2.

client: sends requests concurrently on one connection, or one kind of bad input, and prints
        one JSON object with what came back.
backend: an h2c server (prints its port, then serves until killed): answers every request
        with "h2 backend path=<path> conn=<n> body=<bytes>" and the trailer grpc-status: 0.
"""
import argparse
import hashlib
import json
import socket
import sys
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def pattern(n):
    block = bytes(range(256))
    return (block * (n // 256 + 1))[:n]


def sha(data):
    return hashlib.sha256(data).hexdigest()


class Client:
    def __init__(self, port, validate=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        cfg = h2.config.H2Configuration(client_side=True, validate_outbound_headers=validate,
                                        normalize_outbound_headers=validate,
                                        validate_inbound_headers=False)
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(64 << 20)
        self.flush()
        self.streams = {}  # by stream id
        self.ids = {}  # request key -> stream id
        self.queue = []
        self.settled = False  # the server's SETTINGS arrived
        self.goaway = None
        self.closed = False

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path, method="GET", body=b"", headers=(), end=True):
        """Queues a request; it starts once the server's stream limit allows."""
        key = len(self.streams) + len(self.queue)
        self.queue.append((key, path, method, body, list(headers), end))
        self.start_queued()
        return key

    def start_queued(self):
        limit = self.conn.remote_settings.max_concurrent_streams if self.settled else 1
        while self.queue and self.conn.open_outbound_streams < limit:
            key, path, method, body, headers, end = self.queue.pop(0)
            sid = self.conn.get_next_available_stream_id()
            hdrs = [(":method", method), (":path", path), (":scheme", "http"),
                    (":authority", "my-app.default.svc")] + headers
            if body:
                hdrs.append(("content-length", str(len(body))))
            self.conn.send_headers(sid, hdrs, end_stream=end and not body)
            self.ids[key] = sid
            self.streams[sid] = {"path": path, "pending": body, "end": end, "status": None,
                                 "headers": {}, "body": bytearray(), "trailers": {},
                                 "reset": None, "done": False, "sent_sha": sha(body),
                                 "t0": time.time()}
        self.pump_send()
        self.flush()

    def pump_send(self):
        for sid, s in self.streams.items():
            while s["pending"] and not s["done"]:
                window = min(self.conn.local_flow_control_window(sid),
                             self.conn.max_outbound_frame_size)
                if window <= 0:
                    break
                chunk, s["pending"] = s["pending"][:window], s["pending"][window:]
                self.conn.send_data(sid, chunk, end_stream=not s["pending"] and s["end"])

    def step(self):
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            data = b""
        if not data:
            self.closed = True
            return
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            self.goaway = "client-protocol-error: %s" % e
            self.closed = True
            return
        for ev in events:
            s = self.streams.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived):
                s["headers"] = {k.decode(): v.decode() for k, v in ev.headers}
                s["status"] = int(s["headers"][":status"])
            elif isinstance(ev, h2.events.TrailersReceived):
                s["trailers"] = {k.decode(): v.decode() for k, v in ev.headers}
            elif isinstance(ev, h2.events.DataReceived):
                s["body"] += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                s["done"] = True
                s["ms"] = int((time.time() - s["t0"]) * 1000)
            elif isinstance(ev, h2.events.StreamReset):
                if s is not None:
                    s["done"] = True
                    s["reset"] = int(ev.error_code)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway = int(ev.error_code)
            elif isinstance(ev, h2.events.RemoteSettingsChanged):
                self.settled = True
        self.start_queued()

    def wait(self, keys, deadline=30):
        end = time.time() + deadline
        while not self.closed and time.time() < end and not all(
                k in self.ids and self.streams[self.ids[k]]["done"] for k in keys):
            self.step()

    def result(self, key):
        if key not in self.ids:
            return {"status": None, "reset": None, "error": "never started"}
        s = self.streams[self.ids[key]]
        return {"status": s["status"], "reset": s["reset"], "body": bytes(s["body"][:200]).decode(
            "latin-1"), "body_len": len(s["body"]), "body_sha": sha(bytes(s["body"])),
                "sent_sha": s["sent_sha"], "ms": s.get("ms"), "headers": s["headers"],
                "trailers": s["trailers"]}


def header_list(headers):
    """Headers from the spec: {"name": "value", ...} or [["name", "value"], ...]."""
    if isinstance(headers, dict):
        return list(headers.items())
    return [tuple(h) for h in headers]


def run_client(args):
    out = {}
    if args.bad == "garbage":
        sock = socket.create_connection(("127.0.0.1", args.port), timeout=20)
        sock.sendall(PREFACE + b"\x00\x00\x08\x06\x00\x00\x00\x00\x01this is not a frame" * 4)
        out["frames"] = read_raw_frames(sock)
        print(json.dumps(out))
        return
    c = Client(args.port, validate=args.bad is None)
    if args.bad is None:
        spec = json.loads(args.spec)
        sids = [c.request(r["path"], r.get("method", "GET"), pattern(r.get("body", 0)),
                          header_list(r.get("headers", {}))) for r in spec]
        c.wait(sids)
        out["results"] = [c.result(s) for s in sids]
    elif args.bad in ("uppercase", "connection", "te"):
        extra = {"uppercase": ("X-Upper", "1"), "connection": ("connection", "keep-alive"),
                 "te": ("te", "gzip")}[args.bad]
        sid = c.request("/", headers=[extra])
        c.wait([sid])
        out["bad"] = c.result(sid)
    elif args.bad == "huge-headers":
        sid = c.request("/", headers=[("x-big-%d" % i, "v" * 1000) for i in range(64)])
        c.wait([sid])
        out["bad"] = c.result(sid)
    elif args.bad == "big-body":
        sid = c.request("/echo", "POST", pattern(args.size))
        c.wait([sid])
        out["bad"] = c.result(sid)
    elif args.bad == "rst-mid-body":
        key = c.request("/echo", "POST", b"", headers=[("content-length", str(1 << 20))],
                        end=False)
        sid = c.ids[key]
        c.conn.send_data(sid, pattern(16384))
        c.conn.reset_stream(sid)
        c.streams[sid]["done"] = True
        c.flush()
        time.sleep(0.2)
    elif args.bad == "budget":
        # Three POST bodies of --size bytes each, all sent before any stream ends: together
        # they pass what the proxy holds per session, so a stream must be refused.
        keys = [c.request("/echo", "POST", pattern(args.size), end=False) for _ in range(3)]
        end = time.time() + 30
        while not c.closed and time.time() < end and any(
                c.streams[c.ids[k]]["pending"] and not c.streams[c.ids[k]]["done"] for k in keys
                if k in c.ids):
            c.step()
        for k in keys:
            s = c.streams[c.ids[k]]
            if not s["done"]:
                c.conn.end_stream(c.ids[k])
        c.flush()
        c.wait(keys)
        out["results"] = [c.result(k) for k in keys]
        sid = c.request("/")
        c.wait([sid])
        out["after"] = c.result(sid)
    elif args.bad == "stall":
        # Opens a stream, then neither sends its body nor reads: the proxy must give up.
        c.request("/echo", "POST", b"", headers=[("content-length", "100")], end=False)
        t0 = time.time()
        c.sock.settimeout(30)
        try:
            while c.sock.recv(65536):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
        print(json.dumps({"closed_after_ms": int((time.time() - t0) * 1000)}))
        return
    elif args.bad == "abrupt-close":
        c.request("/echo", "POST", b"", headers=[("content-length", "100")], end=False)
        c.sock.close()
        print(json.dumps({"closed": True}))
        return
    if args.bad in ("rst-mid-body",):
        sid = c.request("/")
        c.wait([sid])
        out["after"] = c.result(sid)
    out["goaway"] = c.goaway
    print(json.dumps(out))


def read_raw_frames(sock):
    frames, buf = [], b""
    end = time.time() + 10
    while time.time() < end:
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not data:
            break
        buf += data
        while len(buf) >= 9:
            length = int.from_bytes(buf[0:3], "big")
            if len(buf) < 9 + length:
                break
            ftype, payload = buf[3], buf[9:9 + length]
            buf = buf[9 + length:]
            frame = {"type": ftype}
            if ftype == 7:
                frame["error"] = int.from_bytes(payload[4:8], "big")
            frames.append(frame)
    return frames


def run_backend(args):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    sys.stdout.write("%d\n" % srv.getsockname()[1])
    sys.stdout.flush()
    counter = [0]
    while True:
        sock, _ = srv.accept()
        counter[0] += 1
        threading.Thread(target=serve_backend, args=(sock, counter[0]), daemon=True).start()


def serve_backend(sock, conn_id):
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    reqs = {}
    while True:
        data = sock.recv(65536)
        if not data:
            return
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.RequestReceived):
                reqs[ev.stream_id] = {"headers": dict(ev.headers), "body": 0}
            elif isinstance(ev, h2.events.DataReceived):
                reqs[ev.stream_id]["body"] += len(ev.data)
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                r = reqs.pop(ev.stream_id)
                body = ("h2 backend path=%s conn=%d body=%d" % (
                    r["headers"][b":path"].decode(), conn_id, r["body"])).encode()
                conn.send_headers(ev.stream_id, [(":status", "200"),
                                                 ("content-type", "text/plain"),
                                                 ("x-backend", "h2")])
                conn.send_data(ev.stream_id, body)
                conn.send_headers(ev.stream_id, [("grpc-status", "0")], end_stream=True)
        out = conn.data_to_send()
        if out:
            sock.sendall(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["client", "backend"])
    p.add_argument("--port", type=int)
    p.add_argument("--spec", default="[]")
    p.add_argument("--bad")
    p.add_argument("--size", type=int, default=0)
    args = p.parse_args()
    if args.mode == "backend":
        run_backend(args)
    else:
        run_client(args)


if __name__ == "__main__":
    sys.exit(main())
