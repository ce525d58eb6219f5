"""Removes what a real node (node.py) put on the host, working from its recorded state alone.

Every step is idempotent and runs even when earlier ones failed, so a teardown after a failed
start, a watchdog's teardown after the test was killed, and the next start's cleanup of a
stale root all do the same thing. What the node leaves on the host, and where it goes:

  pod sandboxes and containers   crictl rmp (CNI DEL, runc delete) while containerd runs;
                                 then SIGKILL to every process in the node's cgroups and to
                                 the shims whose -address is the node's containerd socket
  mounts (rootfs, netns, shm,    all under the root (netns_mounts_under_state_dir, the shims'
  projected volumes)             socket_dir too): unmounted deepest first; the root is refused
                                 removal while one remains
  cgroups                        all below the kubelet's cgroupRoot in every hierarchy
  network                        the node's bridge and the veths on it; the bridge plugin adds
                                 no iptables/nft rules (ipMasq false, no portmap); kube-proxy's
                                 nftables tables (node_services.py)
  BPF pins                       what an agent of the node left pinned under /sys/fs/bpf (its
                                 attached programs go with the pins and the cgroups)
  sysctls                        the kubelet's kernel tunables and ip_forward, restored
  files outside the root         /var/log/containers links into the root; the registry entry
"""

import ctypes
import glob
import hashlib
import json
import os
import signal
import subprocess
import time

MNT_DETACH = 2
SHIM = "containerd-shim-runc-v2"
# A machine-wide directory naming every node root that may still hold host state.
REGISTRY = "/run/ambit-k8s-node"


def _unescape(path: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    out, i = [], 0
    while i < len(path):
        code = path[i + 1:i + 4]
        if path[i] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def mountinfo() -> list[tuple[str, str]]:
    """(mount point, filesystem type) of every mount in this mount namespace."""
    mounts = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            separator = fields.index("-")
            mounts.append((_unescape(fields[4]), fields[separator + 1]))
    return mounts


def mounts_under(root: str) -> list[str]:
    root = os.path.abspath(root)
    return sorted({m for m, _ in mountinfo() if m == root or m.startswith(root + "/")},
                  key=lambda m: m.count("/"), reverse=True)


def unmount_all_under(root: str) -> list[str]:
    """Detaches every mount under root, deepest first; returns those that would not go."""
    libc = ctypes.CDLL(None, use_errno=True)
    for _ in range(5):
        remaining = mounts_under(root)
        if not remaining:
            return []
        for mount in remaining:
            libc.umount2(mount.encode(), MNT_DETACH)
    return mounts_under(root)


def cgroup_mounts() -> list[str]:
    """Mount points of every cgroup hierarchy (v1 controllers, named ones, the v2 one)."""
    return sorted({m for m, fstype in mountinfo() if fstype in ("cgroup", "cgroup2")})


def cgroup_dirs(cgroup_root: str) -> list[str]:
    """The directories of cgroup_root (a path like /ambit-k8s-node) in every hierarchy."""
    relative = cgroup_root.strip("/")
    if not relative:
        raise ValueError("refusing to treat the cgroup root '/' as the node's")
    return [d for d in (os.path.join(m, relative) for m in cgroup_mounts()) if os.path.isdir(d)]


def pids_in_cgroups(cgroup_root: str) -> set[int]:
    pids = set()
    for top in cgroup_dirs(cgroup_root):
        for directory, _, files in os.walk(top):
            if "cgroup.procs" in files:
                try:
                    with open(os.path.join(directory, "cgroup.procs"), encoding="ascii") as f:
                        pids.update(int(p) for p in f.read().split())
                except OSError:
                    pass
    return pids


def shim_pids(containerd_socket: str) -> set[int]:
    """The runc shims of the node's containerd: their -address is the node's socket."""
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if os.path.basename(argv[0].decode(errors="replace")) != SHIM:
            continue
        args = [a.decode(errors="replace") for a in argv]
        if "-address" in args and args[args.index("-address") + 1:][:1] == [containerd_socket]:
            pids.add(int(entry))
    return pids


def kill_all(pids_of, what: str, attempts: int = 50) -> str | None:
    """SIGKILLs what pids_of() returns until it returns nothing; an error text if it never does."""
    pids: set[int] = set()
    for _ in range(attempts):
        pids = pids_of()
        if not pids:
            return None
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    return f"{what} still running after SIGKILL: {sorted(pids)}"


def remove_cgroups(cgroup_root: str) -> str | None:
    """rmdir of every cgroup below (and at) cgroup_root, deepest first, in every hierarchy."""
    left = []
    for _ in range(20):
        left = []
        for top in cgroup_dirs(cgroup_root):
            for directory, _, _ in os.walk(top, topdown=False):
                try:
                    os.rmdir(directory)
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(directory)
        if not left:
            return None
        time.sleep(0.25)  # a cgroup whose last process is still exiting is busy for a moment
    return f"cgroups not removable: {left}"


def remove_bpf_pins(directory: str) -> str | None:
    """Unpins everything below directory (bpffs: unlink/rmdir), then its parent if empty."""
    if not os.path.isdir(directory):
        try:
            os.rmdir(os.path.dirname(directory))  # the agent removed its own: only the parent
        except OSError:
            pass
        return None
    for path, dirs, files in os.walk(directory, topdown=False):
        for name in files:
            try:
                os.unlink(os.path.join(path, name))
            except FileNotFoundError:
                pass
        for name in dirs:
            try:
                os.rmdir(os.path.join(path, name))
            except FileNotFoundError:
                pass
    try:
        os.rmdir(directory)
        os.rmdir(os.path.dirname(directory))  # only when no other node's pins are there
    except OSError:
        pass
    return f"BPF pins not removable under {directory}" if os.path.isdir(directory) else None


def links_on_bridge(bridge: str) -> list[str]:
    result = subprocess.run(["ip", "-j", "link", "show", "master", bridge],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return []
    return [link["ifname"] for link in json.loads(result.stdout or "[]")]


def link_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def remove_bridge(bridge: str) -> str | None:
    for link in links_on_bridge(bridge):
        subprocess.run(["ip", "link", "del", link], capture_output=True, check=False)
    if link_exists(bridge):
        result = subprocess.run(["ip", "link", "del", bridge], capture_output=True, text=True,
                                check=False)
        if result.returncode != 0:
            return f"ip link del {bridge}: {result.stderr.strip()}"
    return None


def read_sysctl(name: str) -> str:
    with open("/proc/sys/" + name.replace(".", "/"), encoding="ascii") as f:
        return f.read().strip()


def restore_sysctls(values: dict[str, str]) -> str | None:
    errors = []
    for name, value in values.items():
        try:
            if read_sysctl(name) != value:
                with open("/proc/sys/" + name.replace(".", "/"), "w", encoding="ascii") as f:
                    f.write(value)
        except OSError as e:
            errors.append(f"{name}={value}: {e}")
    return "sysctls not restored: " + "; ".join(errors) if errors else None


def remove_container_log_links(root: str) -> None:
    """The kubelet links /var/log/containers/<pod>_<ns>_<container>-<id>.log to its pod logs."""
    for link in glob.glob("/var/log/containers/*.log"):
        try:
            if os.path.islink(link) and os.readlink(link).startswith(root + "/"):
                os.unlink(link)
        except OSError:
            pass


def registry_entries() -> list[str]:
    """Roots of nodes that were started and not yet torn down (maybe by a killed process)."""
    roots = []
    for entry in glob.glob(os.path.join(REGISTRY, "*.root")):
        try:
            with open(entry, encoding="utf-8") as f:
                roots.append(f.read().strip())
        except OSError:
            pass
    return roots


def registry_path(root: str) -> str:
    return os.path.join(REGISTRY, hashlib.sha256(root.encode()).hexdigest()[:16] + ".root")


def register(root: str) -> None:
    os.makedirs(REGISTRY, exist_ok=True)
    with open(registry_path(root), "w", encoding="utf-8") as f:
        f.write(root)


def unregister(root: str) -> None:
    try:
        os.unlink(registry_path(root))
        os.rmdir(REGISTRY)  # the last node's entry: nothing of ambit's stays in /run
    except OSError:  # no entry, or other nodes' entries remain
        pass
