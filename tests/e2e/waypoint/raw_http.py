#!/usr/bin/python3
"""Sends raw bytes to HOST:PORT and prints everything the peer sends back until it closes
(or 5 s pass). The bytes are given as a Python string literal, so \\r\\n can be spelled out.

usage: raw_http.py HOST PORT 'POST / HTTP/1.1\\r\\n...'
"""
import ast
import socket
import sys
import time


def main():
    host, port, literal = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    payload = ast.literal_eval("'" + literal.replace("'", "\\'") + "'").encode("latin-1")
    received = b""
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(payload)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            received += chunk
    sys.stdout.write(received.decode("latin-1"))


if __name__ == "__main__":
    main()
