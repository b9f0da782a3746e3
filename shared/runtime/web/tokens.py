"""Unguessable tokens for links and sessions. Only the digest is stored: a copy of the database opens nothing."""

import hashlib
import secrets

TOKEN_BYTES = 32  # 256 bits


def new_token() -> str:
    """A random 256-bit token, URL-safe (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> bytes:
    """SHA-256 of the token: what tables keep and look tokens up by. A plain hash suffices because the token is
    random and 256 bits long: there is nothing to guess, so no salt or slow hash is needed."""
    return hashlib.sha256(token.encode()).digest()
