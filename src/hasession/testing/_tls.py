"""TLS for test topologies: a throw-away CA with a server and a client certificate.

:meth:`TLSFiles.generate` writes the files (it needs the ``cryptography`` package, installed with
``hasession[crypto]``); pass the result as ``tls=`` to :class:`RedisServer`, :class:`SentinelTopology`
or :class:`ClusterTopology`. Nodes then serve TLS on their client port (replication, the cluster bus
and Sentinel's own links too) while the harness keeps a plain-text port on loopback for itself.
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

if TYPE_CHECKING:  # cryptography comes with hasession[crypto]; imported only when certificates are made
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["TLSFiles"]

ClientAuth = Literal["yes", "no", "optional"]
_DAYS = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class TLSFiles:
    """PEM files for TLS tests, and how the servers use them.

    .. versionadded:: 0.1
    """

    #: The CA that signed both certificates (clients trust it through ``ssl_ca_certs``).
    ca_cert: Path
    #: The servers' certificate and key; the certificate names ``127.0.0.1`` and ``localhost``.
    server_cert: Path
    server_key: Path
    #: A client certificate and key signed by the same CA, for mutual TLS.
    client_cert: Path
    client_key: Path
    #: redis.conf ``tls-auth-clients``: ``"yes"`` requires a client certificate (mutual TLS).
    client_auth: ClientAuth = "no"

    @classmethod
    def generate(
        cls,
        directory: str | Path,
        *,
        client_auth: ClientAuth = "no",
        hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
    ) -> TLSFiles:
        """Write a new CA, a server certificate for ``hosts`` and a client certificate into ``directory``."""
        from cryptography.hazmat.primitives.asymmetric import ec

        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        # A unique CA name: peers look issuers up by name, and two test CAs must not be confused.
        ca_name = _name(f"hasession test CA {secrets.token_hex(4)}")
        ca = _certificate(ca_name, ca_key, ca_key, issuer=None, ca=True)
        server_key = ec.generate_private_key(ec.SECP256R1())
        names = [_general_name(host) for host in hosts]
        server = _certificate(_name("hasession test server"), server_key, ca_key, issuer=ca, sans=names)
        client_key = ec.generate_private_key(ec.SECP256R1())
        client = _certificate(_name("hasession test client"), client_key, ca_key, issuer=ca, client=True)
        files = cls(
            ca_cert=folder / "ca.crt",
            server_cert=folder / "server.crt",
            server_key=folder / "server.key",
            client_cert=folder / "client.crt",
            client_key=folder / "client.key",
            client_auth=client_auth,
        )
        _write(files.ca_cert, _pem_cert(ca))
        _write(files.server_cert, _pem_cert(server))
        _write(files.server_key, _pem_key(server_key))
        _write(files.client_cert, _pem_cert(client))
        _write(files.client_key, _pem_key(client_key))
        return files

    def server_config(self) -> dict[str, str]:
        """The redis.conf directives that make a node (or Sentinel) use these files."""
        return {
            "tls-cert-file": str(self.server_cert),
            "tls-key-file": str(self.server_key),
            "tls-ca-cert-file": str(self.ca_cert),
            # Replicas, Sentinels and cluster peers present the server certificate as their client one.
            "tls-client-cert-file": str(self.server_cert),
            "tls-client-key-file": str(self.server_key),
            "tls-auth-clients": self.client_auth,
            "tls-replication": "yes",
        }

    def url_query(self, *, client_cert: bool | None = None) -> str:
        """The hasession URL options that trust the CA (and present the client certificate).

        ``client_cert`` defaults to whether the servers require one.
        """
        query = {"ssl_ca_certs": self.ca_cert}
        if self.client_auth == "yes" if client_cert is None else client_cert:
            query.update(ssl_certfile=self.client_cert, ssl_keyfile=self.client_key)
        return "&".join(f"{key}={quote(str(value), safe='/')}" for key, value in query.items())

    def redis_kwargs(self) -> dict[str, object]:
        """Keyword arguments for a ``redis.Redis`` that connects to these servers over TLS."""
        return {
            "ssl": True,
            "ssl_ca_certs": str(self.ca_cert),
            "ssl_certfile": str(self.client_cert),
            "ssl_keyfile": str(self.client_key),
        }


def _name(common_name: str) -> x509.Name:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _general_name(host: str) -> x509.GeneralName:
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    signer: ec.EllipticCurvePrivateKey,
    *,
    issuer: x509.Certificate | None,
    ca: bool = False,
    client: bool = False,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_DAYS))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        usage = [ExtendedKeyUsageOID.CLIENT_AUTH] + ([] if client else [ExtendedKeyUsageOID.SERVER_AUTH])
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _pem_cert(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)
