"""Traffic for the soak run, sent from inside the client pod (the driver runs under
`ambitctl lab exec client`, so the eBPF capture hands every connection to the node's ztunnel).

Two paced generators, each at a fixed rate with a bounded number of worker threads:
  l4    a new TCP connection per request straight to a pod IP (no waypoint): client ztunnel ->
        HBONE -> destination ztunnel -> app; round-robin over my-app-v1 and my-app-v2;
  http  HTTP/1.1 to Service my-app (bound to the waypoint) on keep-alive connections that are
        replaced every `KEEPALIVE_REQUESTS` requests; every 10th request asks for the path an L7
        policy of the churn may deny.
Every request ends as an Outcome; the caller classifies it against the expected state.
"""
import collections
import dataclasses
import http.client
import json
import socket
import threading
import time

TIMEOUT_S = 2.0
KEEPALIVE_REQUESTS = 100
L7_PATH = "/soak/l7"  # the path the churn's L7 AuthorizationPolicy denies


@dataclasses.dataclass
class Outcome:
    kind: str     # "l4" or "http"
    key: str      # what the expectation is about: "l4:v1", "l4:v2", "http:/", "http:/soak/l7"
    start: float  # wall clock, seconds
    end: float
    cause: str    # "ok", "http_<code>", "refused", "reset", "timeout", "closed", "error:<type>"
    version: str  # the answering app's version ("" when none)


def cause_of(exc):
    """A short, stable name for why a request failed."""
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "reset"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(exc, (http.client.RemoteDisconnected, http.client.IncompleteRead)):
        return "closed"
    return "error:" + type(exc).__name__


def version_of(body):
    try:
        return json.loads(body).get("version", "?")
    except ValueError:
        return "?"


def l4_request(ip, port=8080):
    """One GET on a fresh connection to ip:port: (cause, version)."""
    try:
        with socket.create_connection((ip, port), timeout=TIMEOUT_S) as s:
            s.settimeout(TIMEOUT_S)
            s.sendall(f"GET / HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        return cause_of(e), ""
    if not data:
        return "closed", ""
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/1.1 ") else "?"
    if status != "200":
        return "http_" + status, ""
    return "ok", version_of(body)


def http_get(conn, path):
    """One GET on an http.client connection: (cause, version, keep_connection)."""
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
    except (OSError, http.client.HTTPException) as e:
        return cause_of(e), "", False
    if resp.status != 200:
        return f"http_{resp.status}", "", not resp.will_close
    return "ok", version_of(body), not resp.will_close


def http_probe(host, path, port=80):
    """One GET on its own connection (for checking a configuration change)."""
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
    try:
        cause, version, _ = http_get(conn, path)
        return cause, version
    finally:
        conn.close()


class PacedLoad:
    """`rate` requests per second from `workers` threads until stop(); a request that is due while
    every worker is busy starts late (never more than `workers` in flight). Subclasses define
    _run(), a worker's loop over _slots(); outcomes go to sink."""

    def __init__(self, name, rate, workers, sink):
        self.name, self.rate, self.workers, self.sink = name, rate, workers, sink
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._next = 0
        self._begin = 0.0
        self._threads = []

    def start(self):
        self._begin = time.time() + 0.05
        self._threads = [threading.Thread(target=self._run, daemon=True)
                         for _ in range(self.workers)]
        for t in self._threads:
            t.start()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(TIMEOUT_S * 2)

    def _slots(self):
        """Yields this worker's next request number when it is due, until stop()."""
        while not self._stop.is_set():
            with self._lock:
                i = self._next
                self._next += 1
            delay = self._begin + i / self.rate - time.time()
            if delay > 0 and self._stop.wait(delay):
                return
            yield i


class L4Load(PacedLoad):
    def __init__(self, rate, targets, sink, workers=8):
        super().__init__("l4", rate, workers, sink)
        self.targets = targets  # [(key, ip)]

    def _run(self):
        for i in self._slots():
            key, ip = self.targets[i % len(self.targets)]
            start = time.time()
            cause, version = l4_request(ip)
            self.sink(Outcome("l4", key, start, time.time(), cause, version))


class HttpLoad(PacedLoad):
    def __init__(self, rate, host, sink, workers=8):
        super().__init__("http", rate, workers, sink)
        self.host = host

    def _run(self):
        conn, used = None, 0
        for i in self._slots():
            path = L7_PATH if i % 10 == 0 else "/"
            if conn is None:
                conn, used = http.client.HTTPConnection(self.host, 80, timeout=TIMEOUT_S), 0
            start = time.time()
            cause, version, keep = http_get(conn, path)
            self.sink(Outcome("http", "http:" + path, start, time.time(), cause, version))
            used += 1
            if not keep or used >= KEEPALIVE_REQUESTS:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()


class OutcomeQueue:
    """Thread-safe hand-over of outcomes from the load threads to the classifier."""

    def __init__(self):
        self._lock = threading.Lock()
        self._items = collections.deque()

    def put(self, outcome):
        with self._lock:
            self._items.append(outcome)

    def take_ended_before(self, t):
        """Removes and returns the outcomes that ended before t (in arrival order)."""
        out = []
        with self._lock:
            keep = collections.deque()
            while self._items:
                o = self._items.popleft()
                (out if o.end < t else keep).append(o)
            self._items = keep
        return out
