"""Open-pixel tokens: an assignment id with a truncated HMAC, opaque to whoever reads the email."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Callable
from hashlib import sha256

from copyloom.storage import tenants as settings_repo
from copyloom.storage.db import Store

_MAC_BYTES = 12
_ID_BYTES = 8
_SECRET_KEY = "pixel_secret"  # noqa: S105 - the name of a setting, not its value


def make_pixel_token(secret: bytes, assignment_id: int) -> str:
    return pixel_signer(secret)(assignment_id)


def pixel_signer(secret: bytes) -> Callable[[int], str]:
    """`make_pixel_token` with the keyed HMAC set up once: the content path signs every new assignment,
    and copying a keyed HMAC costs about two thirds of building one."""
    keyed = hmac.new(secret, b"pixel:", sha256)

    def sign(assignment_id: int) -> str:
        payload = assignment_id.to_bytes(_ID_BYTES, "big")
        mac = keyed.copy()
        mac.update(payload)
        return _b64(payload + mac.digest()[:_MAC_BYTES])

    return sign


def read_pixel_token(secret: bytes, token: str) -> int | None:
    """The assignment id of a valid token, or None for anything forged, truncated or garbled."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _ID_BYTES + _MAC_BYTES:
        return None
    payload, mac = raw[:_ID_BYTES], raw[_ID_BYTES:]
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        return None
    return int.from_bytes(payload, "big")


def install_pixel_secret(store: Store) -> bytes:
    """The install-wide pixel signing secret, created on first use and shared by every worker."""
    with store.write() as conn:
        settings_repo.put_setting_if_absent(conn, _SECRET_KEY, secrets.token_hex(32))
        value = settings_repo.get_setting(conn, _SECRET_KEY)
    assert value is not None
    return bytes.fromhex(value)


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, b"pixel:" + payload, sha256).digest()[:_MAC_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
