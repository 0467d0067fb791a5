"""Open-pixel tokens: signed assignment ids that read back, and nothing forged does."""

from __future__ import annotations

from copyloom.services.pixel import make_pixel_token, pixel_signer, read_pixel_token

SECRET = bytes(range(32))


def test_the_prepared_signer_makes_the_same_tokens_as_make_pixel_token() -> None:
    sign = pixel_signer(SECRET)

    for assignment_id in (1, 255, 2**40 + 7, 2**63 - 1):
        assert sign(assignment_id) == make_pixel_token(SECRET, assignment_id)
        assert read_pixel_token(SECRET, sign(assignment_id)) == assignment_id


def test_a_token_of_another_secret_or_altered_reads_as_none() -> None:
    token = pixel_signer(SECRET)(42)

    assert read_pixel_token(bytes(32), token) is None
    assert read_pixel_token(SECRET, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert read_pixel_token(SECRET, "not a token") is None
