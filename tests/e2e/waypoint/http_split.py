#!/usr/bin/python3
"""Sends N HTTP/1.1 GETs over one keep-alive connection and counts the answers.

usage: http_split.py HOST PORT PATH COUNT [HEADER:VALUE ...]
prints one JSON object: {"versions": {"v1": n, ...}, "statuses": {"200": n, ...},
"errors": n} where versions come from the sample app's JSON body ("version").
"""
import http.client
import json
import sys


def main():
    host, port, path, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    headers = dict(h.split(":", 1) for h in sys.argv[5:])
    versions, statuses, errors = {}, {}, 0
    conn = None
    for _ in range(count):
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=10)
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            statuses[str(resp.status)] = statuses.get(str(resp.status), 0) + 1
            if resp.status == 200:
                v = json.loads(body).get("version", "?")
                versions[v] = versions.get(v, 0) + 1
            if resp.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException, ValueError):
            errors += 1
            if conn is not None:
                conn.close()
            conn = None
    print(json.dumps({"versions": versions, "statuses": statuses, "errors": errors}))


if __name__ == "__main__":
    main()
