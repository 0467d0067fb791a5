"""Pseudonymisation: keyed HMAC-SHA-256, one id at a time or many under one key."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from copyloom.domain.pseudonyms import pseudonymise, pseudonymiser


def test_pseudonymise_is_keyed_hmac_sha256() -> None:
    key = b"k" * 32

    assert pseudonymise(key, "user-1") == hmac.new(key, b"user-1", hashlib.sha256).hexdigest()
    assert pseudonymise(key, "user-1") != pseudonymise(b"j" * 32, "user-1")


@pytest.mark.parametrize("key", [b"", b"k" * 32, b"k" * 64, b"k" * 65, bytes(range(256))], ids=len)
def test_the_pseudonymiser_for_many_ids_is_the_same_keyed_hmac(key: bytes) -> None:
    many = pseudonymiser(key)

    for raw in ["", "user-1", "ü" * 100]:
        assert many(raw) == pseudonymise(key, raw) == hmac.new(key, raw.encode(), hashlib.sha256).hexdigest()


def test_sha256_transform_matches_ids_braze_already_hashed() -> None:
    key = b"k" * 32
    hashed_by_braze = hashlib.sha256(b"user-1").hexdigest()

    assert pseudonymise(key, "user-1", "sha256") == pseudonymise(key, hashed_by_braze)


def test_the_pseudonymiser_applies_the_sha256_transform_too() -> None:
    key = b"k" * 32

    assert pseudonymiser(key, "sha256")("user-1") == pseudonymise(key, "user-1", "sha256")
