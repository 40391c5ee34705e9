"""RS256 signing keys for ID tokens, published as Google publishes its own.

The emulator generates an RSA key when it starts (not on reset: clients cache the
published keys). ``GET /oauth2/v3/certs`` serves them as a JWK Set and
``GET /oauth2/v1/certs`` as ``{kid: PEM certificate}``, the two formats Google serves
and google-auth's ``verify_token`` reads. A rotation adds a key that signs from then
on; the previous key stays published so tokens it signed still verify.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

JSON = dict[str, Any]

KEEP_PUBLISHED = 2
"""How many keys the endpoints publish: the signing key and the one before it."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class RsaKey:
    """One RSA key pair with its key id and self-signed certificate."""

    kid: str
    private: rsa.RSAPrivateKey
    certificate_pem: str

    @classmethod
    def generate(cls) -> RsaKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        kid = hashlib.sha1(der, usedforsecurity=False).hexdigest()  # 40 hex, as Google's
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "accounts.emulator.local")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .sign(private, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        return cls(kid, private, pem)

    def jwk(self) -> JSON:
        numbers = self.private.public_key().public_numbers()
        return {
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": _uint(numbers.n),
            "e": _uint(numbers.e),
        }

    def sign(self, claims: JSON) -> str:
        """A compact RS256 JWS of ``claims`` with this key's ``kid`` in the header."""
        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT"}
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = self.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(signature)


class KeyRing:
    """The signing key plus recently retired ones, newest first. The first key is made
    on first use (about 0.2 s of CPU), so an emulator that never signs in pays nothing."""

    def __init__(self) -> None:
        self._keys: list[RsaKey] = []
        self._lock = threading.Lock()

    @property
    def keys(self) -> list[RsaKey]:
        with self._lock:
            if not self._keys:
                self._keys = [RsaKey.generate()]
            return list(self._keys)

    @property
    def current(self) -> RsaKey:
        return self.keys[0]

    def rotate(self) -> RsaKey:
        fresh = RsaKey.generate()
        with self._lock:
            self._keys = [fresh, *self._keys][:KEEP_PUBLISHED]
        return fresh

    def jwks(self) -> JSON:
        """``/oauth2/v3/certs``: ``{"keys": [JWK, ...]}``."""
        return {"keys": [k.jwk() for k in self.keys]}

    def pem_certs(self) -> dict[str, str]:
        """``/oauth2/v1/certs``: ``{kid: PEM certificate}``."""
        return {k.kid: k.certificate_pem for k in self.keys}
