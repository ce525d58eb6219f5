#!/usr/bin/python3
"""Which linked archives a running process's resident pages of its executable come from.

  rss_by_archive.py PID BINARY LINK_MAP [--members ARCHIVE,...]

LINK_MAP is the linker's map (GNU ld's or lld's) of the same link (the bytes of BINARY must be
identical; adding -Wl,-Map=FILE to the link does not change them). For the ztunnel:

  cd build && ninja -t commands bin/ambit-ztunnel | tail -1 |
    sed 's#-o bin/ambit-ztunnel#-o /tmp/zt/ambit-ztunnel -Wl,-Map=/tmp/zt/zt.map#' | bash
  cmp /tmp/zt/ambit-ztunnel bin/ambit-ztunnel
  tests/bench/rss_by_archive.py $(pgrep -f 'ambit-ztunnel.*node1') build/bin/ambit-ztunnel /tmp/zt/zt.map

Each resident page (/proc/PID/pagemap, present bit) of BINARY's mappings is split among the
input sections the map places in it, by bytes; pages or parts no input section covers are
"(unattributed)". Resident is not the same as used: the kernel maps file pages around each
fault (fault-around, 64 KiB), so a library whose used functions are spread thin costs whole
64 KiB windows. --members lists those archives by member object. Needs root (pagemap).
"""

import bisect
import collections
import os
import signal
import re
import struct
import sys

PAGE = 4096


def origin_name(origin, members):
    """libfoo.a(member.o) -> libfoo.a (or libfoo.a:member.o when listed), /x/y.o -> y.o."""
    a = re.match(r"(.*/)?([^/(]+)\((.*)\)", origin)
    if a:
        return a.group(2) + (f":{a.group(3)}" if a.group(2) in members else "")
    return origin.rsplit("/", 1)[-1]


def sections(map_file, members):
    """(address, size, origin) of every input section with an address, sorted. Reads GNU ld's
    map and lld's (the ztunnel's link: cmake/AmbitStaticLink.cmake)."""
    with open(map_file, errors="replace") as f:
        first = f.readline()
    if first.split()[:3] == ["VMA", "LMA", "Size"]:
        return lld_sections(map_file, members)
    out = []
    pending = False
    in_memory_map = False
    name_only = re.compile(r"^ (\.\S+|COMMON)\s*$")
    full = re.compile(r"^ (\.\S+|COMMON)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
    for line in open(map_file, errors="replace"):
        if line.startswith("Linker script and memory map"):
            in_memory_map = True
            continue
        if not in_memory_map:
            continue
        if name_only.match(line):
            pending = True
            continue
        m = full.match(line)
        if m and (m.group(1) or pending):
            addr, size = int(m.group(2), 16), int(m.group(3), 16)
            if size and addr:
                out.append((addr, size, origin_name(m.group(4).strip(), members)))
        pending = False
    out.sort()
    return out


def lld_sections(map_file, members):
    """lld's map: `VMA LMA Size Align` then the output section, an input section
    (`file:(section)`, indented once more) or a symbol (indented twice more)."""
    out = []
    output_re = re.compile(r"^\s*[0-9a-f]+\s+[0-9a-f]+\s+[0-9a-f]+\s+\d+ (\S+)$")
    input_re = re.compile(r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+ {9}(\S.*):\((\S+)\)$")
    loaded = False  # in an output section the process maps (not .debug_*, .symtab, ...)
    for line in open(map_file, errors="replace"):
        m = output_re.match(line)
        if m:
            loaded = not re.match(r"\.(debug|comment|symtab|strtab|shstrtab)", m.group(1))
            continue
        m = input_re.match(line)
        if m and loaded:
            addr, size = int(m.group(1), 16), int(m.group(2), 16)
            if size and addr and not m.group(3).startswith("<internal>"):
                out.append((addr, size, origin_name(m.group(3), members)))
    out.sort()
    return out


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends the listing quietly
    args = sys.argv[1:]
    members = set()
    if "--members" in args:
        i = args.index("--members")
        members = set(args[i + 1].split(","))
        del args[i:i + 2]
    if len(args) != 3:
        sys.exit(__doc__)
    pid, binary, map_file = int(args[0]), args[1], args[2]
    secs = sections(map_file, members)
    starts = [s[0] for s in secs]
    maps = []
    for line in open(f"/proc/{pid}/maps"):
        p = line.split()
        if len(p) >= 6 and p[5] == os.path.realpath(binary):
            lo, hi = (int(x, 16) for x in p[0].split("-"))
            maps.append((lo, hi, int(p[2], 16)))
    if not maps:
        sys.exit(f"{binary} is not mapped by process {pid}")
    base = min(lo - off for lo, _, off in maps if off == 0)
    resident = collections.Counter()
    total = 0
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for lo, hi, _ in maps:
            for va in range(lo, hi, PAGE):
                pagemap.seek(va // PAGE * 8)
                if not (struct.unpack("<Q", pagemap.read(8))[0] >> 63) & 1:
                    continue
                total += 1
                start, end = va - base, va - base + PAGE
                i = max(bisect.bisect_right(starts, start) - 1, 0)
                covered = 0
                while i < len(secs) and secs[i][0] < end:
                    a, size, origin = secs[i]
                    overlap = min(end, a + size) - max(start, a)
                    if overlap > 0:
                        resident[origin] += overlap
                        covered += overlap
                    i += 1
                if covered < PAGE:
                    resident["(unattributed)"] += PAGE - covered
    print(f"resident pages of {binary} in process {pid}: {total * PAGE // 1024} KiB")
    for origin, n in resident.most_common(40):
        print(f"{n / 1024:9.0f} KiB  {origin}")


if __name__ == "__main__":
    main()
