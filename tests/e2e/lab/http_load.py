#!/usr/bin/python3
"""Bounded HTTP load for the crash-recovery e2e: `--rate` requests per second in total over
`--seconds`, each on a new TCP connection (so a request sent while a proxy is down fails instead
of riding an old connection), round-robin over the `--target host:port` list. Prints one JSON
object: per request its start and end (wall clock, seconds) and whether it got a 200."""
import argparse
import json
import socket
import threading
import time


def one_request(host, port, timeout):
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            if not data.startswith(b"HTTP/1.1 200"):
                return False
            while s.recv(65536):  # the whole reply: a reset mid-body is a failure too
                pass
            return True
    except OSError:
        return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--target", action="append", required=True)
    p.add_argument("--rate", type=float, default=1000)
    p.add_argument("--seconds", type=float, default=4)
    p.add_argument("--workers", type=int, default=32)
    p.add_argument("--timeout", type=float, default=1.0)
    a = p.parse_args()
    targets = [(t.rsplit(":", 1)[0].strip("[]"), int(t.rsplit(":", 1)[1])) for t in a.target]
    total = int(a.rate * a.seconds)
    begin = time.time() + 0.05
    next_index = [0]
    lock = threading.Lock()
    records = []

    def worker():
        while True:
            with lock:
                i = next_index[0]
                if i >= total:
                    return
                next_index[0] += 1
            due = begin + i / a.rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            start = time.time()
            ok = one_request(*targets[i % len(targets)], a.timeout)
            end = time.time()
            with lock:
                records.append((round(start, 4), round(end, 4), 1 if ok else 0))

    threads = [threading.Thread(target=worker) for _ in range(a.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records.sort()
    print(json.dumps({"begin": begin, "end": time.time(), "requests": records}))


if __name__ == "__main__":
    main()
