"""Where Currents files live: an S3 (or S3-compatible) bucket and prefix, or a local folder laid out alike.

Objects are listed recursively under the prefix, page by page, never by a hard-coded path: Braze warns
that its key layout may change and new `<schema-id>` folders appear without notice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

import boto3
import botocore.exceptions
from botocore.config import Config

from copyloom.domain.logsafe import log_safe
from copyloom.errors import InvalidInput, SourceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SourceObject:
    key: str
    size_bytes: int


class Source(Protocol):
    @property
    def uri(self) -> str: ...

    def list_objects(self) -> Iterator[SourceObject]: ...

    def open(self, key: str) -> AbstractContextManager[BinaryIO]: ...


@dataclass(frozen=True, slots=True)
class LocalSource:
    """A folder laid out like a Currents bucket; keys are paths relative to it, with '/' separators."""

    root: Path

    @property
    def uri(self) -> str:
        return str(self.root)

    def list_objects(self) -> Iterator[SourceObject]:
        """Every regular file under the root; a symlink (file or folder) that leads outside it is skipped
        with a warning: ingestion never reads outside its root."""
        if not self.root.is_dir():
            raise SourceUnavailable(f"{self.root}: no such folder")
        root = self.root.resolve()
        for path in sorted(self.root.rglob("*")):
            relative = path.relative_to(self.root)
            if any(part.startswith(".") for part in relative.parts) or not path.is_file():
                continue
            if not path.resolve().is_relative_to(root):
                log.warning(
                    "skipped %s: a symlink that leads outside the source folder", log_safe(str(relative))
                )
                continue
            yield SourceObject(relative.as_posix(), path.stat().st_size)

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        """Raises:
        SourceUnavailable: the key leads outside the root (a symlink, or `..`)."""
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise SourceUnavailable(f"{log_safe(key)}: leads outside the source folder")
        with path.open("rb") as stream:
            yield stream


@dataclass(frozen=True, slots=True)
class S3Source:
    """A bucket and prefix, reached with boto3 and the standard AWS settings (AWS_ENDPOINT_URL, keys,
    AWS_REGION, or a named profile)."""

    bucket: str
    prefix: str
    client: S3Client

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def list_objects(self) -> Iterator[SourceObject]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        with self._errors():
            for page in pages:
                for item in page.get("Contents", []):
                    key, size = item.get("Key"), item.get("Size", 0)
                    if key and not key.endswith("/"):
                        yield SourceObject(key, int(size))

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        with self._errors():
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield body  # type: ignore[misc]  # StreamingBody reads like a binary file, as fastavro needs
        finally:
            body.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise SourceUnavailable(
                f"s3://{self.bucket}: {_S3_MESSAGES.get(code, 'request failed')} ({code})"
            ) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise SourceUnavailable(f"s3://{self.bucket}: {type(exc).__name__}: {exc}") from None


_S3_MESSAGES = {
    "InvalidAccessKeyId": "access denied: unknown access key",
    "SignatureDoesNotMatch": "access denied: wrong secret key",
    "AccessDenied": "access denied",
    "NoSuchBucket": "no such bucket",
    "NoSuchKey": "no such object",
}


def open_source(uri: str, *, credentials_ref: str | None = None) -> Source:
    """The source named by `s3://bucket/prefix` or a local folder path.

    Args:
        uri: the source.
        credentials_ref: for S3, the name of an AWS profile to use instead of the default credentials.

    Raises:
        InvalidInput: an s3:// URI without a bucket.
    """
    if not uri.startswith("s3://"):
        return LocalSource(Path(uri).expanduser())
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise InvalidInput(f"source: {uri!r} names no bucket (expected s3://bucket/prefix)")
    session = (
        boto3.session.Session(profile_name=credentials_ref) if credentials_ref else boto3.session.Session()
    )
    config = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=60)
    client = session.client("s3", config=config)  # boto3 itself reads AWS_ENDPOINT_URL
    return S3Source(bucket, prefix, client)
