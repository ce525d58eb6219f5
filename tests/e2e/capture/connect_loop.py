"""Opens N new TCP connections one after another (each: HTTP/1.1 GET with Connection: close,
reply read to EOF) and prints a JSON summary. Runs inside a lab pod (capture applies).

usage: connect_loop.py HOST PORT COUNT DEADLINE_S PACE_S PROGRESS_FILE
"""
import json
import socket
import sys
import time


def one(host, port, i):
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"GET /loop/%d HTTP/1.1\r\nHost: my-app\r\nConnection: close\r\n\r\n" % i)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    status = data.split(b"\r\n", 1)[0]
    if not status.startswith(b"HTTP/1.1 200"):
        raise RuntimeError("bad reply %r" % data[:120])


def main():
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    deadline = time.monotonic() + float(sys.argv[4])
    pace, progress = float(sys.argv[5]), sys.argv[6]
    ok, failures, attempted = 0, [], 0
    for i in range(count):
        if time.monotonic() > deadline:
            failures.append("deadline passed after %d connections" % i)
            break
        attempted += 1
        try:
            one(host, port, i)
            ok += 1
        except Exception as e:  # every failure is reported, none is retried
            failures.append("%d: %s" % (i, e))
        if i % 20 == 0:
            with open(progress, "w") as f:
                f.write(str(i))
        time.sleep(pace)
    print(json.dumps({"attempted": attempted, "ok": ok, "failed": len(failures),
                      "failures": failures[:20]}))


main()
