"""The secret ballot's keys: voters as keyed hashes, sealed choices; nothing readable without the service key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class SealBroken(ValueError):
    """A sealed value that does not open with this key (another key, or tampered with)."""


class Keyring:
    """Two keys derived from the service's secret: one to hash voters, one to seal what they chose."""

    def __init__(self, secret: bytes):
        if len(secret) < 16:
            raise ValueError("the secret key must be at least 16 bytes")
        self._hash_key = hmac.new(secret, b"kaohe voter hash", hashlib.sha256).digest()
        self._aead = AESGCM(hmac.new(secret, b"kaohe ballot seal", hashlib.sha256).digest())

    def voter_hash(self, vote_id: int, voter: str) -> str:
        """Per vote, so the same person's rows in two votes do not match without the key."""
        return hmac.new(self._hash_key, f"{vote_id}\x00{voter}".encode(), hashlib.sha256).hexdigest()

    def seal(self, value, context: str = "") -> str:
        nonce = os.urandom(12)
        data = json.dumps(value, ensure_ascii=False).encode()
        return base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, data, context.encode())).decode()

    def unseal(self, token: str, context: str = ""):
        try:
            raw = base64.urlsafe_b64decode(token.encode())
            return json.loads(self._aead.decrypt(raw[:12], raw[12:], context.encode()))
        except (InvalidTag, ValueError) as exc:
            raise SealBroken("sealed value does not open with this key") from exc
