"""What each request of the soak traffic should see, over time, and the tally of what it saw.

The churn changes the expected state of a few keys (`l4:v2` allow/deny, `http:/soak/l7`
allow/deny, the route of `http:*`: split80 / v2only / v1only). Each change opens a *churn window*
from the moment its file is written until the change was seen to take effect plus GRACE_S. A
request overlapping a window is tolerated (counted apart) only where the change concerns it: any
outcome for a key whose access the change flips, and the version that answered when the change
is a route change. Everything else must match the state in force, inside a window or not:
allowed -> 200 from a version the route allows, denied -> refused/reset/closed (L4) or 403 (L7).
So a request allowed before and after a change never fails unseen. Anything else is an
unexpected failure.
"""
import collections
import threading

GRACE_S = 1.0
DENIED_L4 = {"refused", "reset", "closed"}


class Expectations:
    def __init__(self, initial):
        self._lock = threading.Lock()
        self._changes = {k: [(0.0, v)] for k, v in initial.items()}  # key -> [(since, state)]
        self._windows = []  # [begin, end, keys changed], end None while open
        self.counts = collections.Counter()        # (kind, verdict) -> n, whole run
        self.minute = collections.Counter()        # the same since the last sample
        self.causes = collections.Counter()        # (kind, verdict, cause) -> n
        self.versions = collections.Counter()      # version -> n, under split80 outside windows
        self.unexpected_examples = []              # a few, for the report

    def open_window(self, t, keys):
        with self._lock:
            self._windows.append([t, None, frozenset(keys)])

    def close_window(self, t):
        with self._lock:
            self._windows[-1][1] = t + GRACE_S

    def set_state(self, key, state, t):
        with self._lock:
            self._changes[key].append((t, state))

    def state(self, key, t):
        with self._lock:
            return self._state_locked(key, t)

    def _state_locked(self, key, t):
        for since, state in reversed(self._changes.get(key, [])):
            if since <= t:
                return state
        return None

    def _window_keys(self, o):
        """The keys changed by the windows request `o` overlaps (empty: none)."""
        keys = set()
        for begin, end, changed in reversed(self._windows):  # one after another: newest first
            if end is not None and end < o.start:
                break
            if o.end >= begin:
                keys |= changed
        return keys

    def classify(self, outcomes):
        with self._lock:
            for o in outcomes:
                verdict, cause = self._verdict(o)
                self.counts[(o.kind, verdict)] += 1
                self.minute[(o.kind, verdict)] += 1
                if verdict != "ok":
                    self.causes[(o.kind, verdict, cause)] += 1
                if verdict == "unexpected" and len(self.unexpected_examples) < 20:
                    self.unexpected_examples.append(o)

    def _verdict(self, o):
        changed = self._window_keys(o)
        if o.key in changed:
            return ("ok", "") if o.cause == "ok" else ("churn-window", o.cause)
        access = self._state_locked(o.key, o.start) or "allow"
        if access == "deny":
            denied = o.cause in DENIED_L4 if o.kind == "l4" else o.cause == "http_403"
            return ("denied", o.cause) if denied else ("unexpected", "not denied: " + o.cause)
        if o.cause != "ok":
            return "unexpected", o.cause
        if o.kind == "http":
            route = self._state_locked("route", o.start)
            if route == "split80" and o.key == "http:/" and "route" not in changed:
                self.versions[o.version] += 1
            wrong = {"v2only": "v1", "v1only": "v2"}.get(route)
            if o.version == wrong:
                if "route" in changed:
                    return "churn-window", f"routed to {o.version} while the route changed"
                return "unexpected", f"routed to {o.version} under {route}"
        return "ok", ""

    def take_minute(self):
        with self._lock:
            m, self.minute = self.minute, collections.Counter()
            return m
