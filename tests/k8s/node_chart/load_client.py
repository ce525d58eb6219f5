#!/usr/bin/env python3
"""The load of k8s_node_chart's upgrade steps, run inside a mesh pod (its network namespace and
cgroup, so the capture programs take its connections as the pod's own).

New connections: one at a time, each a fresh TCP connection with one HTTP/1.1 request
(`Connection: close`), one every --interval-ms, until at least --count were made and a line
arrived on stdin (the test's "the rollout is done"), at most --max-seconds. Each is ok (status
200) or failed, by kind: refused (ECONNREFUSED), reset, timeout, eof (closed before a status
line), status <code>, other.

Long-lived connections: --long keep-alive connections opened before the loop starts, each
asked GET / every --long-interval-ms; one that fails a request is counted broken (with the time
and kind) and not reopened.

Prints one JSON object when done: attempts, ok, failed, kinds, the first failures (seconds since
start, kind), long_opened, long_broken, long_breaks, seconds.
"""

import argparse
import errno
import json
import select
import socket
import sys
import threading
import time


def request(sock: socket.socket, host: str, close: bool) -> str:
    """Sends GET / and reads one response; its status code, or raises."""
    sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\n"
                 f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("closed before the response head")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ")[1]
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length is None:
        raise EOFError("response without Content-Length")
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("closed in the body")
        body += chunk
    return status


def kind_of(e: BaseException) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, ConnectionResetError) or getattr(e, "errno", None) == errno.EPIPE:
        return "reset"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(e, EOFError):
        return "eof"
    return f"other {type(e).__name__}: {e}"


def one_connection(target: tuple[str, int], host: str, timeout: float) -> str:
    """'ok' or the failure's kind."""
    try:
        with socket.create_connection(target, timeout=timeout) as s:
            status = request(s, host, close=True)
            return "ok" if status == "200" else f"status {status}"
    except (OSError, EOFError, ValueError, IndexError) as e:
        return kind_of(e)


class LongLived:
    def __init__(self, target: tuple[str, int], host: str, count: int, interval: float,
                 started: float):
        self.breaks: list[tuple[float, str]] = []
        self.socks: list[socket.socket] = []
        self.stop = threading.Event()
        self.host, self.interval, self.started = host, interval, started
        for _ in range(count):
            s = socket.create_connection(target, timeout=5)
            if request(s, host, close=False) != "200":
                raise AssertionError("a long-lived connection's first request failed")
            self.socks.append(s)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        alive = list(self.socks)
        while alive and not self.stop.wait(self.interval):
            for s in list(alive):
                try:
                    status = request(s, self.host, close=False)
                    if status == "200":
                        continue
                    kind = f"status {status}"
                except (OSError, EOFError, ValueError, IndexError) as e:
                    kind = kind_of(e)
                self.breaks.append((round(time.monotonic() - self.started, 3), kind))
                alive.remove(s)
                s.close()

    def finish(self) -> None:
        self.stop.set()
        self.thread.join()
        for s in self.socks:
            s.close()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--target", required=True, help="ip:port")
    p.add_argument("--host", default="my-app")
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--interval-ms", type=float, default=10)
    p.add_argument("--timeout", type=float, default=3)
    p.add_argument("--long", type=int, default=0)
    p.add_argument("--long-interval-ms", type=float, default=500)
    p.add_argument("--max-seconds", type=float, default=240)
    a = p.parse_args()
    ip, port = a.target.rsplit(":", 1)
    target = (ip, int(port))
    started = time.monotonic()
    long_lived = LongLived(target, a.host, a.long, a.long_interval_ms / 1000, started)
    print("ready", file=sys.stderr, flush=True)  # the test starts its change on this line
    attempts, ok, kinds, failures, last_failure = 0, 0, {}, [], None
    stop_asked = False
    while time.monotonic() - started < a.max_seconds:
        if not stop_asked and select.select([sys.stdin], [], [], 0)[0]:
            stop_asked = True
        if stop_asked and attempts >= a.count:
            break
        at = time.monotonic()
        result = one_connection(target, a.host, a.timeout)
        attempts += 1
        if result == "ok":
            ok += 1
        else:
            kinds[result] = kinds.get(result, 0) + 1
            if len(failures) < 10:
                failures.append((round(at - started, 3), result))
            last_failure = (round(at - started, 3), result)
        time.sleep(max(0.0, at + a.interval_ms / 1000 - time.monotonic()))
    long_lived.finish()
    print(json.dumps({
        "attempts": attempts, "ok": ok, "failed": attempts - ok, "kinds": kinds,
        "failures": failures, "last_failure": last_failure, "long_opened": a.long,
        "long_broken": len(long_lived.breaks),
        "long_breaks": long_lived.breaks, "seconds": round(time.monotonic() - started, 2),
        "stopped_by_test": stop_asked}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
