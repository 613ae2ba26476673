"""Password hashing, session tokens and CSRF tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import CHEAPEST, RFC_9106_LOW_MEMORY

_hashers = {"strong": PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY), "cheap": PasswordHasher.from_parameters(CHEAPEST)}
_active = "strong"
_DUMMY_HASH: str | None = None


def use_cheap_hashing() -> None:
    """Tests only: argon2's cheapest profile keeps a suite that creates many users fast."""
    global _active, _DUMMY_HASH
    _active = "cheap"
    _DUMMY_HASH = None


def hash_password(password: str) -> str:
    return _hashers[_active].hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the user exists, so timing does not reveal usernames."""
    global _DUMMY_HASH
    if password_hash is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password("not-a-real-password")
        password_hash = _DUMMY_HASH
        password = password + "\x00"
    try:
        return _hashers[_active].verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token_for(secret_key: str, binding: str) -> str:
    """A CSRF token bound to the session (or, before sign-in, to the anonymous cookie)."""
    return hmac.new(secret_key.encode(), f"csrf:{binding}".encode(), hashlib.sha256).hexdigest()
