#!/usr/bin/python3
"""A third-party HBONE client (Python ssl + h2, not ambit code), run inside a pod netns.

Opens TLS 1.3 (ALPN h2, no SNI) to --target, sends an HTTP/2 CONNECT with :authority
--authority, and if the tunnel is accepted sends one HTTP/1.1 request through it and reads the
reply until the stream ends. Prints one JSON object:
  {"result": "ok", "status": 200, "data": "<bytes from the app>"}
  {"result": "status", "status": 400}            tunnel refused with a status
  {"result": "tls_error" | "closed" | "reset" | "timeout", "error": "..."}
"""
import argparse
import json
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events


def out(**kw):
    print(json.dumps(kw))
    sys.exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)  # ip:port
    ap.add_argument("--authority", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--path", default="/")
    ap.add_argument("--big-header", type=int, default=0, help="bytes in an extra header value")
    ap.add_argument("--timeout", type=float, default=5.0)
    a = ap.parse_args()

    host, port = a.target.rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(a.ca)
    if a.cert:
        ctx.load_cert_chain(a.cert, a.key)
    ctx.set_alpn_protocols(["h2"])
    deadline = time.monotonic() + a.timeout
    try:
        raw = socket.create_connection((host.strip("[]"), int(port)), timeout=a.timeout)
        tls = ctx.wrap_socket(raw, server_hostname=None)
    except ssl.SSLError as e:
        out(result="tls_error", error=str(e))
    except OSError as e:
        out(result="closed", error=str(e))
    if tls.selected_alpn_protocol() != "h2":
        out(result="tls_error", error="ALPN %r" % tls.selected_alpn_protocol())

    # h2 4.1 insists on :path for every request; a classic CONNECT has none (RFC 9113 8.5).
    conn = h2.connection.H2Connection(h2.config.H2Configuration(
        client_side=True, header_encoding="utf-8", validate_outbound_headers=False))
    conn.initiate_connection()
    headers = [(":method", "CONNECT"), (":authority", a.authority),
               ("forwarded", 'for="test"')]
    if a.big_header:
        headers.append(("x-big", "b" * a.big_header))
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, headers, end_stream=False)
    try:
        tls.sendall(conn.data_to_send())
    except ssl.SSLError as e:
        out(result="tls_error", error=str(e))
    except OSError as e:  # the server closed while we were still writing the header block
        out(result="closed", error=str(e))

    status = None
    data = bytearray()
    sent_request = False
    while True:
        if time.monotonic() > deadline:
            out(result="timeout", status=status, data=data.decode("latin-1"))
        tls.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = tls.recv(65536)
        except ssl.SSLError as e:
            out(result="tls_error", error=str(e), status=status)
        except socket.timeout:
            continue
        except OSError as e:
            out(result="closed", error=str(e), status=status)
        if not chunk:
            if status is not None and status != 200:
                out(result="status", status=status)
            out(result="closed", error="EOF", status=status, data=data.decode("latin-1"))
        for ev in conn.receive_data(chunk):
            if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                status = int(dict(ev.headers)[":status"])
                if status != 200:
                    out(result="status", status=status)
                conn.send_data(sid, ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                                     % (a.path, a.authority)).encode())
                sent_request = True
            elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                data += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, sid)
            elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                out(result="ok" if sent_request else "closed", status=status,
                    data=data.decode("latin-1"))
            elif isinstance(ev, h2.events.StreamReset) and ev.stream_id == sid:
                if status is None or not data:
                    out(result="reset", error="RST_STREAM %d" % ev.error_code, status=status)
                out(result="ok", status=status, data=data.decode("latin-1"))
            elif isinstance(ev, h2.events.ConnectionTerminated):
                out(result="closed", error="GOAWAY %d" % ev.error_code, status=status)
        pending = conn.data_to_send()
        try:
            if pending:
                tls.sendall(pending)
        except OSError as e:
            out(result="closed", error=str(e), status=status)


if __name__ == "__main__":
    main()
