"""The test cluster's PKI, made with the openssl CLI (OpenSSL >= 3.0 for `req -CA`).

One CA signs the apiserver's serving certificate and the client certificates the apiserver
accepts (--client-ca-file); a separate RSA key pair signs and verifies ServiceAccount tokens.
Everything lives in one directory that the cluster root owns.
"""

import os
import subprocess
from dataclasses import dataclass

# Names the apiserver is reached by: loopback, and the in-cluster names of the kubernetes
# Service (a pod on a later real node resolves kubernetes.default.svc).
SERVING_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
VALID_DAYS = "365"


class PkiError(RuntimeError):
    pass


@dataclass(frozen=True)
class Pki:
    directory: str

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    @property
    def ca_cert(self) -> str:
        return self.path("ca.crt")

    @property
    def serving_cert(self) -> str:
        return self.path("apiserver.crt")

    @property
    def serving_key(self) -> str:
        return self.path("apiserver.key")

    @property
    def admin_cert(self) -> str:
        return self.path("admin.crt")

    @property
    def admin_key(self) -> str:
        return self.path("admin.key")

    @property
    def sa_signing_key(self) -> str:
        return self.path("sa.key")

    @property
    def sa_public_key(self) -> str:
        return self.path("sa.pub")


def _openssl(*args: str) -> None:
    try:
        result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError as e:
        raise PkiError("the openssl CLI is not installed (apt-get install openssl)") from e
    if result.returncode != 0:
        raise PkiError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _ec_key(path: str) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)


def _signed_cert(pki: Pki, name: str, subject: str, extensions: list[str]) -> None:
    _ec_key(pki.path(f"{name}.key"))
    args = ["req", "-x509", "-new", "-key", pki.path(f"{name}.key"), "-subj", subject,
            "-CA", pki.ca_cert, "-CAkey", pki.path("ca.key"), "-days", VALID_DAYS,
            "-out", pki.path(f"{name}.crt")]
    for extension in extensions:
        args += ["-addext", extension]
    _openssl(*args)


def create(directory: str, serving_ips: list[str]) -> Pki:
    """Creates the CA, the serving and admin certificates and the ServiceAccount key pair."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    pki = Pki(directory)
    _ec_key(pki.path("ca.key"))
    _openssl("req", "-x509", "-new", "-key", pki.path("ca.key"), "-subj", "/CN=ambit-test-ca",
             "-days", VALID_DAYS, "-out", pki.ca_cert,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    alt_names = [f"DNS:{n}" for n in SERVING_DNS_NAMES] + [f"IP:{ip}" for ip in serving_ips]
    _signed_cert(pki, "apiserver", "/CN=kube-apiserver", [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=serverAuth",
        "subjectAltName=" + ",".join(alt_names),
    ])
    # system:masters is bound to cluster-admin by the apiserver's bootstrap RBAC policy.
    _signed_cert(pki, "admin", "/O=system:masters/CN=ambit-test-admin", [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=clientAuth",
    ])
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
             "-out", pki.sa_signing_key)
    _openssl("pkey", "-in", pki.sa_signing_key, "-pubout", "-out", pki.sa_public_key)
    return pki


def client_cert(directory: str, name: str, common_name: str, organization: str = "") -> Pki:
    """A client certificate <name>.crt/.key signed by the CA of an existing PKI (the identity
    of a component: system:node:<node> in system:nodes, system:kube-scheduler, ...)."""
    pki = Pki(directory)
    subject = (f"/O={organization}" if organization else "") + f"/CN={common_name}"
    _signed_cert(pki, name, subject, [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=clientAuth",
    ])
    return pki
