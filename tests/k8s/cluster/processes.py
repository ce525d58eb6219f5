"""Daemons the harness starts, recorded so that any later process can stop exactly them.

A daemon runs in its own session with its output in a log file, so it outlives the process
that started it (a test, or `cluster.py up`, even when that one is killed with SIGKILL). Its
record holds the PID and the kernel's start time of that PID: a PID reused by an unrelated
process after the daemon died never matches, so `stop` cannot hit a stranger.
"""

import os
import signal
import time
from dataclasses import asdict, dataclass


@dataclass
class Daemon:
    name: str
    pid: int
    start_time: int  # field 22 of /proc/<pid>/stat, clock ticks after boot
    argv: list[str]
    log: str

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(data: dict) -> "Daemon":
        return Daemon(**data)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) is in parentheses and may hold spaces; fields follow the ')'.
    return stat[stat.rindex(")") + 2:].split()


def start_time_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


# Exit codes of daemons this process started and reaped, for error messages.
_exit_codes: dict[int, int] = {}


def _reap(pid: int) -> None:
    """Collects the exit status if this process is the daemon's parent (else init does)."""
    try:
        reaped, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return
    if reaped == pid:
        _exit_codes[pid] = os.waitstatus_to_exitcode(status)


def is_running(daemon: Daemon) -> bool:
    _reap(daemon.pid)
    fields = _stat_fields(daemon.pid)
    if fields is None or int(fields[19]) != daemon.start_time:
        return False
    return fields[0] != "Z"  # a zombie has exited; only its parent's wait is missing


def start(name: str, argv: list[str], log: str, env: dict[str, str]) -> Daemon:
    """Starts argv as a session leader with stdin from /dev/null and its output in `log`."""
    # No O_CLOEXEC: the opened descriptor is the daemon's stdout itself (with it, fd 1 was
    # closed at exec and only stderr reached the log; a later open() could then become fd 1).
    output = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    pid = os.posix_spawnp(argv[0], argv, {**os.environ, **env}, setsid=True, file_actions=[
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, log, output, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ])
    start_time = start_time_of(pid)
    if start_time is None:  # exited before we could look: a record that matches nothing
        start_time = -1
    return Daemon(name, pid, start_time, argv, log)


def exit_code(daemon: Daemon) -> int | None:
    """The exit code if this process started the daemon and it has exited, else None."""
    _reap(daemon.pid)
    return _exit_codes.get(daemon.pid)


def stop(daemon: Daemon, grace_seconds: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after the grace period; returns once the daemon is gone."""
    for sig, wait in ((signal.SIGTERM, grace_seconds), (signal.SIGKILL, 5.0)):
        if not is_running(daemon):
            return
        os.kill(daemon.pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not is_running(daemon):
                return
            time.sleep(0.05)
    if is_running(daemon):
        raise RuntimeError(f"{daemon.name} (pid {daemon.pid}) survived SIGKILL")


def log_tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:])
