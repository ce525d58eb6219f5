#!/usr/bin/python3
"""Raw TCP probes run inside a pod (or node) netns by the ztunnel e2e tests. Prints one JSON
object. Modes:
  loop    --count N [--duration S]: N sequential new connections, each an HTTP/1.1 GET with
          Connection: close; counts 200 replies and failures (first errors kept).
  exact   --send-body B --path P: one POST with a body of B bytes; reports exactly how many
          bytes were written and read.
  hold    --path P: one GET held open; reports when and how it ended.
  garbage --hex H | --text T: writes the bytes, waits for the peer to close, reports after
          how long and what came back.
"""
import argparse
import json
import socket
import sys
import time


def http_get(host, port, path, timeout):
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)).encode())
        buf = bytearray()
        while True:
            b = s.recv(65536)
            if not b:
                break
            buf += b
        return buf
    finally:
        s.close()


def mode_loop(a, host, port):
    ok, failed, errors = 0, 0, []
    start = time.monotonic()
    i = 0
    while i < a.count and (a.duration == 0 or time.monotonic() - start < a.duration):
        i += 1
        try:
            r = http_get(host, port, a.path, a.timeout)
            if r.startswith(b"HTTP/1.1 200"):
                ok += 1
            else:
                failed += 1
                errors.append("#%d: %r" % (i, bytes(r[:40])))
        except OSError as e:
            failed += 1
            errors.append("#%d at %.2fs: %s" % (i, time.monotonic() - start, e))
        if a.interval:
            time.sleep(a.interval / 1000.0)
    return dict(attempts=i, ok=ok, failed=failed, errors=errors[:10],
                seconds=time.monotonic() - start)


def mode_exact(a, host, port):
    s = socket.create_connection((host, port), timeout=a.timeout)
    body = b"p" * a.send_body
    req = ("POST %s HTTP/1.1\r\nHost: app\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
           % (a.path, len(body))).encode() + body
    s.sendall(req)
    buf = bytearray()
    while True:
        b = s.recv(65536)
        if not b:
            break
        buf += b
    s.close()
    return dict(sent=len(req), received=len(buf), status=bytes(buf[:12]).decode("latin-1"))


def mode_hold(a, host, port):
    s = socket.create_connection((host, port), timeout=a.timeout)
    s.sendall(("GET %s HTTP/1.1\r\nHost: app\r\n\r\n" % a.path).encode())
    opened = time.time()
    print(json.dumps(dict(event="open", at=opened)), file=sys.stderr, flush=True)
    buf = bytearray()
    how = "eof"
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            buf += b
            if b"\r\n\r\n" in buf:
                how = "response"
                break
    except socket.timeout:
        how = "timeout"
    except OSError as e:
        how = "error: %s" % e
    return dict(ended=how, opened_at=opened, ended_at=time.time(), bytes=len(buf))


def mode_garbage(a, host, port):
    data = bytes.fromhex(a.hex) if a.hex else a.text.encode().decode("unicode_escape").encode("latin-1")
    s = socket.create_connection((host, port), timeout=a.timeout)
    start = time.monotonic()
    s.sendall(data)
    buf = bytearray()
    how = "eof"
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            buf += b
    except socket.timeout:
        how = "timeout"
    except OSError as e:
        how = "error: %s" % e
    return dict(ended=how, after=time.monotonic() - start, received=len(buf),
                head=bytes(buf[:64]).decode("latin-1"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["loop", "exact", "hold", "garbage"])
    ap.add_argument("--target", required=True)
    ap.add_argument("--path", default="/")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--duration", type=float, default=0)
    ap.add_argument("--interval", type=float, default=0, help="ms between loop connections")
    ap.add_argument("--send-body", type=int, default=0)
    ap.add_argument("--hex", default="")
    ap.add_argument("--text", default="")
    ap.add_argument("--timeout", type=float, default=5.0)
    a = ap.parse_args()
    host, port = a.target.rsplit(":", 1)
    host = host.strip("[]")
    port = int(port)
    try:
        r = {"loop": mode_loop, "exact": mode_exact, "hold": mode_hold,
             "garbage": mode_garbage}[a.mode](a, host, port)
    except OSError as e:
        r = dict(error=str(e))
    print(json.dumps(r))


if __name__ == "__main__":
    main()
