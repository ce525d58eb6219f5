#!/usr/bin/python3
"""Third-party HBONE client for the interop test: Python's ssl module + hyper-h2.

Opens an mTLS (TLS 1.3, ALPN h2, no SNI) connection, sends one request and, for a CONNECT
answered with 200, streams a payload through the tunnel, half-closes and checks that the
echo upstream returned it byte for byte. Exit status 0 and a line starting with "OK" on
success; anything else is a failure with the reason on stderr.
"""
import argparse
import socket
import ssl
import sys

import h2.config
import h2.connection
import h2.events


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True, help="host:port of the HBONE server")
    p.add_argument("--authority", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--method", default="CONNECT")
    p.add_argument("--payload-size", type=int, default=1 << 20)
    p.add_argument("--expect-status", type=int, default=200)
    return p.parse_args()


def tls_connect(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False  # HBONE: identity is the SPIFFE URI SAN, not a host name
    ctx.load_verify_locations(args.ca)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.set_alpn_protocols(["h2"])
    host, port = args.server.rsplit(":", 1)
    raw = socket.create_connection((host, int(port)), timeout=20)
    tls = ctx.wrap_socket(raw, server_hostname=None)  # no SNI
    if tls.selected_alpn_protocol() != "h2":
        sys.exit("ALPN h2 not selected: %r" % tls.selected_alpn_protocol())
    return tls


def request_headers(args):
    if args.method == "CONNECT":
        return [(":method", "CONNECT"), (":authority", args.authority),
                ("forwarded", 'for="10.9.8.7"'),
                ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
    return [(":method", args.method), (":scheme", "https"), (":path", "/"),
            (":authority", args.authority)]


class Tunnel:
    def __init__(self, conn, sid, payload):
        self.conn, self.sid, self.pending, self.open = conn, sid, payload, False

    def pump(self):
        """Sends as much of the payload as the peer's flow-control window allows."""
        while self.open and self.pending:
            window = self.conn.local_flow_control_window(self.sid)
            n = min(window, self.conn.max_outbound_frame_size, len(self.pending))
            if n <= 0:
                return
            self.conn.send_data(self.sid, self.pending[:n])
            self.pending = self.pending[n:]
        if self.open and not self.pending:
            self.conn.end_stream(self.sid)
            self.open = False


def main():
    args = parse_args()
    tls = tls_connect(args)
    conn = h2.connection.H2Connection(
        # h2 4.1 insists on :path even for classic CONNECT (RFC 9113 §8.5 forbids it there).
        config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                         validate_outbound_headers=False))
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, request_headers(args), end_stream=args.method != "CONNECT")
    tls.sendall(conn.data_to_send())
    payload = bytes((i * 7 + 3) % 251 for i in range(args.payload_size))
    tunnel = Tunnel(conn, sid, payload)
    status, received, ended = None, bytearray(), False
    while not ended:
        data = tls.recv(65536)
        if not data:
            sys.exit("connection closed before the stream ended (status %r)" % status)
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                status = int(dict(ev.headers)[":status"])
                tunnel.open = status == 200 and args.method == "CONNECT"
            elif isinstance(ev, h2.events.DataReceived):
                received += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                ended = True
            elif isinstance(ev, h2.events.StreamReset):
                sys.exit("stream reset with code %r" % ev.error_code)
        tunnel.pump()
        tls.sendall(conn.data_to_send())
    if status != args.expect_status:
        sys.exit("status %r, expected %r" % (status, args.expect_status))
    if status == 200 and bytes(received) != payload:
        sys.exit("echo mismatch: sent %d bytes, received %d" % (len(payload), len(received)))
    print("OK status=%d bytes=%d cipher=%s" % (status, len(received), tls.cipher()[0]))
    conn.close_connection()
    tls.sendall(conn.data_to_send())
    tls.close()


if __name__ == "__main__":
    main()
