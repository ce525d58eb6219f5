#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets that need structured inputs (tests/fuzz/*/corpus).

Run: tests/fuzz/make_seeds.py (Debian python3). Needs python3-h2 (hpack, h2),
python3-cryptography, openssl and protoc. The EC key that signs the JWT seeds is derived from a
fixed number, so tests/fuzz/support/waypoint_mesh.yaml (which carries its JWKS) stays valid.
"""
import base64
import json
import os
import struct
import subprocess
import tempfile

import h2.config
import h2.connection
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
import datetime
import hpack

ROOT = os.path.dirname(os.path.abspath(__file__))
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def write(target, name, data):
    d = os.path.join(ROOT, target, "corpus")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def frame(ftype, flags, stream, payload=b""):
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xFFFF, ftype, flags, stream) + payload


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


# --- JWT -------------------------------------------------------------------------------------
EC_KEY = ec.derive_private_key(0x616D6269742D66757A7A2D6A7774, ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_jwk(kid):
    n = EC_KEY.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256",
            "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}


def rsa_jwk(kid):
    n = RSA_KEY.public_key().public_numbers()
    return {"kty": "RSA", "kid": kid, "alg": "RS256", "e": b64u(n.e.to_bytes(3, "big")),
            "n": b64u(n.n.to_bytes(256, "big"))}


def sign(alg, header, claims):
    signing_input = b64u(json.dumps(header).encode()) + "." + b64u(json.dumps(claims).encode())
    if alg == "ES256":
        r, s = decode_dss_signature(EC_KEY.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        sig = RSA_KEY.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64u(sig)


def claims(**extra):
    c = {"iss": "https://issuer.example", "sub": "alice", "aud": "my-app", "iat": 1700000000,
         "exp": 4102444800, "groups": ["dev", "ops"], "nested": {"role": "admin", "n": 3}}
    c.update(extra)
    return c


def jwt_seeds():
    jwks = json.dumps({"keys": [ec_jwk("ec-1"), rsa_jwk("rsa-1")]})
    tokens = {
        "es256": sign("ES256", {"alg": "ES256", "kid": "ec-1", "typ": "JWT"}, claims()),
        "rs256": sign("RS256", {"alg": "RS256", "kid": "rsa-1"}, claims(aud=["my-app", "x"])),
        "no_kid": sign("ES256", {"alg": "ES256"}, claims()),
        "expired": sign("ES256", {"alg": "ES256", "kid": "ec-1"}, claims(exp=1000000000)),
        "not_before": sign("ES256", {"alg": "ES256", "kid": "ec-1"}, claims(nbf=4102444000)),
        "wrong_aud": sign("RS256", {"alg": "RS256", "kid": "rsa-1"}, claims(aud="other")),
        "alg_none": b64u(b'{"alg":"none"}') + "." + b64u(json.dumps(claims()).encode()) + ".",
        "hs256": b64u(b'{"alg":"HS256"}') + "." + b64u(json.dumps(claims()).encode()) + ".c2ln",
    }
    for name, tok in tokens.items():
        write("jwt", name, jwks + "\n" + tok)
    write("jwt", "jwks_oct_okp", json.dumps({"keys": [
        {"kty": "oct", "k": "c2VjcmV0"}, {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"},
        {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}, ec_jwk("")]}) + "\n" + tokens["no_kid"])
    return tokens


# --- waypoint HTTP/1.1 and HTTP/2 ------------------------------------------------------------
def http1_seeds(tokens):
    reqs = {
        "get": "GET / HTTP/1.1\r\nHost: my-app\r\n\r\n",
        "admin_dotdot": "GET /public/../admin HTTP/1.1\r\nHost: my-app\r\n\r\n",
        "admin_encoded": "GET /%61dmin;x?y=1#f HTTP/1.1\r\nHost: my-app:80\r\n\r\n",
        "pipelined": "GET /a HTTP/1.1\r\nHost: my-app\r\n\r\nPOST /b HTTP/1.1\r\nHost: my-app\r\n"
                     "Content-Length: 5\r\n\r\nhelloGET /c HTTP/1.1\r\nHost: my-app\r\n\r\n",
        "chunked": "POST /upload HTTP/1.1\r\nHost: my-app\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\r\nhello\r\n0\r\nx-trailer: 1\r\n\r\n",
        "smuggle_cl_te": "POST / HTTP/1.1\r\nHost: my-app\r\nContent-Length: 4\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "header_match": "GET /v2 HTTP/1.1\r\nHost: my-app\r\nx-canary: yes\r\nend-user: jason\r\n"
                        "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n",
        "fault": "GET /fault HTTP/1.1\r\nHost: my-app\r\n\r\n",
        "rewrite": "GET /old/path?q=1 HTTP/1.1\r\nHost: my-app\r\nx-b3-traceid: 463ac35c9f6413ad\r\n"
                   "x-b3-spanid: 0020000000000001\r\n\r\n",
        "jwt_valid": "GET /secure HTTP/1.1\r\nHost: my-app\r\nAuthorization: Bearer " + tokens["es256"]
                     + "\r\n\r\n",
        "jwt_expired": "GET /secure HTTP/1.1\r\nHost: my-app\r\nAuthorization: Bearer "
                       + tokens["expired"] + "\r\n\r\n",
        "http10_close": "GET / HTTP/1.0\r\nConnection: close\r\n\r\n",
        "head_options": "HEAD / HTTP/1.1\r\nHost: my-app\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        "bare_lf": "GET / HTTP/1.1\nHost: my-app\n\n",
        "redirect_query": "GET /redirect HTTP/1.1\r\nHost: my-app\r\n\r\n"
                          "POST /x?v=2 HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 0\r\n\r\n",
    }
    for name, r in reqs.items():
        write("waypoint_http1", name, r)


def h2_client(requests, settings=True):
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    for i, (headers, body) in enumerate(requests):
        sid = 1 + 2 * i
        conn.send_headers(sid, headers, end_stream=body is None)
        if body is not None:
            conn.send_data(sid, body, end_stream=True)
    data = conn.data_to_send()
    assert data.startswith(PREFACE)
    return data[len(PREFACE):]


def h2_seeds(tokens):
    base = [(":method", "GET"), (":scheme", "http"), (":authority", "h2-app"), (":path", "/")]
    def req(path, method="GET", extra=()):
        return [(":method", method), (":scheme", "http"), (":authority", "h2-app"),
                (":path", path)] + list(extra)
    write("waypoint_h2", "get", h2_client([(base, None)]))
    write("waypoint_h2", "post_body", h2_client([(req("/echo", "POST",
          [("content-type", "application/grpc"), ("te", "trailers")]), b"\0\0\0\0\x05hello")]))
    write("waypoint_h2", "several", h2_client([(req("/a"), None), (req("/admin"), None),
                                                (req("/public/../admin"), None),
                                                (req("/secure", extra=[("authorization", "Bearer "
                                                 + tokens["es256"])]), None)]))
    # Rapid reset: HEADERS then RST_STREAM on the same stream, several times.
    enc = hpack.Encoder()
    block = enc.encode(base)
    out = frame(0x4, 0, 0)
    for sid in (1, 3, 5, 7):
        out += frame(0x1, 0x5, sid, block) + frame(0x3, 0, sid, struct.pack(">I", 8))
    write("waypoint_h2", "rapid_reset", out)
    # CONTINUATION, PING, WINDOW_UPDATE, PRIORITY, GOAWAY.
    half = len(block) // 2
    out = frame(0x4, 0, 0) + frame(0x6, 0, 0, b"12345678") + frame(0x8, 0, 0, struct.pack(">I", 1000))
    out += frame(0x1, 0x1, 1, block[:half]) + frame(0x9, 0x4, 1, block[half:])
    out += frame(0x2, 0, 3, struct.pack(">IB", 1, 16)) + frame(0x7, 0, 0, struct.pack(">II", 1, 0))
    write("waypoint_h2", "frames_mix", out)
    return base


def hbone_seeds():
    enc = hpack.Encoder()
    def connect(authority, extra=()):
        return enc.encode([(":method", "CONNECT"), (":authority", authority)] + list(extra))
    settings = frame(0x4, 0, 0, struct.pack(">HI", 0x4, 1 << 20)) + frame(0x4, 0x1, 0)
    write("hbone_server", "echo", settings + frame(0x1, 0x4, 1, connect("10.1.2.4:8080",
          [("forwarded", "for=10.1.2.3"), ("baggage", "k=v")])) + frame(0x0, 0, 1, b"hello")
          + frame(0x0, 0x1, 1))
    write("hbone_server", "splice", settings + frame(0x1, 0x4, 1, connect("[fd00::4]:15001"))
          + frame(0x0, 0, 1, b"GET / HTTP/1.1\r\n\r\n"))
    write("hbone_server", "refused", settings + frame(0x1, 0x4, 1, connect("10.1.2.4:15002")))
    write("hbone_server", "bad_requests", settings
          + frame(0x1, 0x5, 1, enc.encode([(":method", "GET"), (":scheme", "https"),
                                            (":authority", "x"), (":path", "/")]))
          + frame(0x1, 0x4, 3, connect("not-an-ip:80"))
          + frame(0x1, 0x5, 5, connect("10.1.2.4:8080")))
    write("hbone_server", "many_streams", settings + b"".join(
        frame(0x1, 0x4, sid, connect("10.1.2.4:%d" % (8000 + sid))) + frame(0x3, 0, sid, b"\0\0\0\x08")
        for sid in range(1, 40, 2)))
    write("hbone_server", "ping_window_goaway", settings + frame(0x6, 0, 0, b"abcdefgh")
          + frame(0x8, 0, 0, struct.pack(">I", 65535)) + frame(0x7, 0, 0, struct.pack(">II", 0, 0)))


# --- SPIFFE ids and certificates --------------------------------------------------------------
def spiffe_seeds():
    # Mode byte: 0 id, 1 certificate DER, 2 PEM bundle, 3 CSR DER (see spiffe_cert/fuzz.cc).
    for i, uri in enumerate(["spiffe://cluster.local/ns/default/sa/my-app",
                             "spiffe://a.b-c_d/ns/x/sa/y", "spiffe://Cluster.local/ns/a/sa/b",
                             "spiffe://td/ns/a/sa/b/extra", "spiffe://td/ns//sa/b"]):
        write("spiffe_cert", "id_%d" % i, b"\0" + uri.encode())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime(2025, 1, 1)
    def cert(uris, ca=False):
        b = (x509.CertificateBuilder().subject_name(x509.Name([]))
             .issuer_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ambit")]))
             .public_key(key.public_key()).serial_number(12345)
             .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if uris:
            b = b.add_extension(x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(u) for u in uris] + [x509.DNSName("my-app")]),
                critical=True)
        return b.sign(key, hashes.SHA256())
    leaf = cert(["spiffe://cluster.local/ns/default/sa/my-app"])
    write("spiffe_cert", "cert_leaf", b"\1" + leaf.public_bytes(serialization.Encoding.DER))
    write("spiffe_cert", "cert_two_uris", b"\1" + cert(["spiffe://td/ns/a/sa/b",
          "spiffe://td/ns/a/sa/c"]).public_bytes(serialization.Encoding.DER))
    write("spiffe_cert", "cert_no_san", b"\1" + cert([], ca=True).public_bytes(serialization.Encoding.DER))
    write("spiffe_cert", "bundle", b"\2" + leaf.public_bytes(serialization.Encoding.PEM)
          + cert([], ca=True).public_bytes(serialization.Encoding.PEM))
    def csr(uris, k=key):
        b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
        if uris:
            b = b.add_extension(x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(u) for u in uris]), critical=True)
        return b.sign(k, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    write("spiffe_cert", "csr_ok", b"\3" + csr(["spiffe://cluster.local/ns/default/sa/my-app"]))
    write("spiffe_cert", "csr_other_td", b"\3" + csr(["spiffe://evil.example/ns/a/sa/b"]))
    write("spiffe_cert", "csr_rsa", b"\3" + csr(["spiffe://cluster.local/ns/a/sa/b"],
                                               rsa.generate_private_key(65537, 2048)))


# --- hand-off messages ------------------------------------------------------------------------
def handoff_seeds():
    # Input: packets, each [flags u8][length u16 BE][bytes]; flags bit 0 attaches an fd, bit 1
    # sends the packet to the agent side (an ack) instead of the ztunnel side.
    repo = os.path.dirname(os.path.dirname(ROOT))
    proto = os.path.join(repo, "proto")
    def encode(kind, text):
        return subprocess.run(["protoc", "--proto_path=" + proto, "--encode=ambit.v1." + kind,
                               "ambit/v1/handoff.proto"], input=text.encode(), check=True,
                              capture_output=True).stdout
    def pkt(flags, data):
        return struct.pack(">BH", flags, len(data)) + data
    pod = ('pod { uid: "u-1" name: "my-app-v1" namespace: "default" service_account: "my-app" '
           'addresses: "10.244.1.2" addresses: "fd00:10:244:1::2" trust_domain: "cluster.local" '
           'node: "node1" preserve_source: true }')
    snapshot = (pkt(1, encode("HandoffMessage", "seq: 1 add { %s }" % pod))
                + pkt(1, encode("HandoffMessage", 'seq: 2 keep { uid: "u-1" %s }' % pod))
                + pkt(0, encode("HandoffMessage", "seq: 3 snapshot_done {}"))
                + pkt(0, encode("HandoffMessage", 'seq: 4 del { uid: "u-1" }')))
    write("handoff", "snapshot", snapshot)
    write("handoff", "add_without_fd", pkt(0, encode("HandoffMessage", "seq: 7 add { %s }" % pod)))
    write("handoff", "no_payload", pkt(0, encode("HandoffMessage", "seq: 9")))
    write("handoff", "acks", pkt(2, encode("HandoffAck", "seq: 1 ok: true"))
          + pkt(2, encode("HandoffAck", 'seq: 2 ok: false error: "no netns"')))
    write("handoff", "garbage", pkt(0, b"\xff\xff\xff") + pkt(2, b"\x08"))


# --- path normalisation, watch events, configuration ----------------------------------------
def text_seeds():
    paths = ["/", "/a/b/c", "/public/../admin", "/%61dmin", "//admin//x/", "/a/./b/../../c",
             "/..;/admin", "/admin;jsessionid=1?x#y", "/%2e%2E/%2Fadmin%5c", "\\admin\\x",
             "/%41%zz", "/%00", "/a%3Bb%3F%23", "/x/..", "/x/.", "*", "http://h/abs",
             "[fd00::1]:8080", "my-app.default.svc.cluster.local.:80"]
    for i, p in enumerate(paths):
        write("path_normalize", "path_%02d" % i, p)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "my-app-v1", "namespace": "default", "resourceVersion": "12345",
        "labels": {"app": "my-app"}, "uid": "u-1"}, "status": {"podIP": "10.244.1.2"}}
    events = {
        "added": {"type": "ADDED", "object": pod},
        "modified": {"type": "MODIFIED", "object": pod},
        "deleted": {"type": "DELETED", "object": pod},
        "cluster_scoped": {"type": "ADDED", "object": {"kind": "Namespace", "metadata": {
            "name": "default", "resourceVersion": "7"}}},
        "bookmark": {"type": "BOOKMARK", "object": {"kind": "Pod", "metadata": {
            "resourceVersion": "12346", "annotations": {"k8s.io/initial-events-end": "true"}}}},
        "error_410": {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1",
            "status": "Failure", "message": "too old resource version: 1 (2)", "reason": "Expired",
            "code": 410}},
        "no_name": {"type": "ADDED", "object": {"metadata": {"resourceVersion": "1"}}},
    }
    for name, e in events.items():
        write("kube_watch_event", name, json.dumps(e))
    write("kube_watch_event", "status_body", json.dumps(events["error_410"]["object"]))
    repo = os.path.dirname(os.path.dirname(ROOT))
    sources = [os.path.join(repo, "tests", "data"), os.path.join(repo, "deploy", "samples", "ambient-demo"),
               os.path.join(ROOT, "support")]
    for d in sources:
        for f in sorted(os.listdir(d)):
            if f.endswith(".yaml"):
                with open(os.path.join(d, f), "rb") as src:
                    write("config_translate", f, src.read())


if __name__ == "__main__":
    text_seeds()
    tokens = jwt_seeds()
    http1_seeds(tokens)
    h2_seeds(tokens)
    hbone_seeds()
    spiffe_seeds()
    handoff_seeds()
    print(json.dumps({"keys": [ec_jwk("ec-1")]}))
