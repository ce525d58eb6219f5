#!/usr/bin/python3
"""Idle connections through the mesh, for the ztunnel memory row of tests/bench.

  idle_conns.py serve PORT                    sink: greets each connection with one byte and
                                              holds it until the peer closes (runs until killed)
  idle_conns.py connect HOST PORT N TIMEOUT   opens N connections (at most 200 in flight), waits
                                              for each greeting (so every one is established end
                                              to end), prints "READY <held>", holds them until a
                                              line on stdin (at most 120 s), closes them, exits.
"""

import asyncio
import resource
import sys


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, n), max(hard, n)))
    except (ValueError, OSError):  # no CAP_SYS_RESOURCE: as far as the hard limit allows
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def serve(port):
    async def handle(reader, writer):
        try:
            writer.write(b"k")
            await writer.drain()
            while await reader.read(4096):
                pass
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "0.0.0.0", port, backlog=4096)
    async with server:
        await server.serve_forever()


async def connect(host, port, n, timeout):
    sem = asyncio.Semaphore(200)
    writers = []
    errors = []

    async def one():
        async with sem:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
                await asyncio.wait_for(reader.readexactly(1), 10)
                writers.append(writer)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
                errors.append(repr(e))

    try:
        await asyncio.wait_for(asyncio.gather(*(one() for _ in range(n))), timeout)
    except asyncio.TimeoutError:
        errors.append(f"timeout after {timeout}s")
    print(f"READY {len(writers)} errors={len(errors)} {errors[:1]}", flush=True)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), 120)
    except asyncio.TimeoutError:
        pass
    for w in writers:
        w.close()
    await asyncio.sleep(0.5)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        raise_nofile(20000)
        asyncio.run(serve(int(sys.argv[2])))
    elif len(sys.argv) == 6 and sys.argv[1] == "connect":
        n = int(sys.argv[4])
        raise_nofile(n + 1000)
        asyncio.run(connect(sys.argv[2], int(sys.argv[3]), n, float(sys.argv[5])))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
