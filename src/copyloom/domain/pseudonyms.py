"""Pseudonymisation: the keyed HMAC under which a recipient id is the only form a recipient is kept in.

Pure: the key comes in as an argument.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from copyloom.domain.values import IdTransform, RecipientKey


def pseudonymise(key: bytes, raw_id: str, transform: IdTransform = "none") -> RecipientKey:
    """Keyed HMAC-SHA-256 of a recipient id, the only form in which a recipient is ever kept.

    Args:
        key: the tenant's secret pseudonymisation key.
        raw_id: the id as the caller holds it.
        transform: "sha256" when Braze's Currents field transformation hashes user ids, so that the
            id given to the content endpoint must be hashed the same way before keying; the ids in
            events are then already hashed and must be passed with transform "none".

    Returns:
        64 lower-case hex characters.
    """
    value = hashlib.sha256(raw_id.encode()).hexdigest() if transform == "sha256" else raw_id
    return RecipientKey(hmac.new(key, value.encode(), hashlib.sha256).hexdigest())


def pseudonymiser(key: bytes, transform: IdTransform = "none") -> Callable[[str], RecipientKey]:
    """`pseudonymise` under one key and transform, for many ids: the key is set up once.

    HMAC (RFC 2104) is H((K ^ opad) || H((K ^ ipad) || m)); the two keyed SHA-256 states are computed
    once and copied per id, half the work of `hmac.new` per id.

    Args:
        key: the tenant's secret pseudonymisation key.
        transform: as for `pseudonymise`.

    Returns:
        A function from a raw id to the same 64 hex characters as `pseudonymise(key, raw_id, transform)`.
    """
    block = (hashlib.sha256(key).digest() if len(key) > _SHA256_BLOCK_BYTES else key).ljust(
        _SHA256_BLOCK_BYTES, b"\0"
    )
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def pseudonymise_one(raw_id: str) -> RecipientKey:
        value = hashlib.sha256(raw_id.encode()).hexdigest() if transform == "sha256" else raw_id
        inner_mac = inner.copy()
        inner_mac.update(value.encode())
        outer_mac = outer.copy()
        outer_mac.update(inner_mac.digest())
        return RecipientKey(outer_mac.hexdigest())

    return pseudonymise_one


_SHA256_BLOCK_BYTES = 64
