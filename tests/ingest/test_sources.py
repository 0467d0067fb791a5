"""Sources: a real S3-compatible server (SeaweedFS) and a local folder, listed recursively and streamed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from copyloom.errors import InvalidInput, SourceUnavailable
from copyloom.ingest import currents_writer as cw
from copyloom.ingest.currents_avro import read_currents_file
from copyloom.ingest.currents_schemas import EMAIL_EVENT_KINDS
from copyloom.ingest.sources import LocalSource, S3Source, open_source
from tests.currents_samples import Samples
from tests.s3server import SeaweedS3


@pytest.fixture
def bucket(s3_server: SeaweedS3) -> str:
    return s3_server.create_bucket(f"currents-{uuid.uuid4().hex[:10]}")


def aws_env(s3_server: SeaweedS3, **overrides: str) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ENDPOINT_URL": s3_server.endpoint_url,
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_REGION": s3_server.region,
        **overrides,
    }


def test_s3_listing_is_recursive_and_pages_past_1000_keys(s3_server: SeaweedS3, bucket: str) -> None:
    client = s3_server.client()
    keys = [cw.key_for("Click", offset=i, schema_id=12 + i % 3) for i in range(1_050)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=b"x"), keys))
    client.put_object(Bucket=bucket, Key="elsewhere/not-listed.avro", Body=b"x")

    listed = [o.key for o in S3Source(bucket, "currents/", client).list_objects()]

    assert sorted(listed) == sorted(keys)


def test_s3_objects_stream_into_the_avro_reader(s3_server: SeaweedS3, bucket: str) -> None:
    client = s3_server.client()
    data = cw.to_bytes("Click", [cw.record("Click", f"u{i}", "d") for i in range(3_000)], codec="deflate")
    client.put_object(Bucket=bucket, Key="currents/one.avro", Body=data)
    source = S3Source(bucket, "currents/", client)

    with source.open("currents/one.avro") as stream:
        events = [e for chunk in read_currents_file(stream, "currents/one.avro", lambda r: r) for e in chunk]  # type: ignore[arg-type, return-value]

    assert len(events) == 3_000


def test_wrong_credentials_name_the_bucket(s3_server: SeaweedS3, bucket: str) -> None:
    client = s3_server.client(secret_key="not-the-secret")

    with pytest.raises(SourceUnavailable) as caught:
        list(S3Source(bucket, "currents/", client).list_objects())

    assert caught.value.message == f"s3://{bucket}: access denied: wrong secret key (SignatureDoesNotMatch)"


def test_a_missing_bucket_is_a_clear_error(s3_server: SeaweedS3) -> None:
    with pytest.raises(SourceUnavailable, match=r"s3://no-such-bucket-here: no such bucket \(NoSuchBucket\)"):
        list(S3Source("no-such-bucket-here", "", s3_server.client()).list_objects())


def test_uris_pick_the_source(tmp_path: Path) -> None:
    assert isinstance(open_source(str(tmp_path)), LocalSource)
    with pytest.raises(InvalidInput, match="names no bucket"):
        open_source("s3:///prefix")


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="no such folder"):
        list(LocalSource(tmp_path / "absent").list_objects())


def test_the_samples_ingest_through_s3_with_the_cli(
    s3_server: SeaweedS3, bucket: str, tmp_path: Path, samples: Samples
) -> None:
    client = s3_server.client()
    for kind in EMAIL_EVENT_KINDS:
        client.put_object(Bucket=bucket, Key=cw.key_for(kind), Body=samples.avro(kind))
    env = aws_env(
        s3_server, COPYLOOM_DATABASE_URL=f"sqlite:///{tmp_path / 'c.db'}", COPYLOOM_LOG_LEVEL="WARNING"
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "copyloom", *args], env=env, capture_output=True, text=True, check=False
        )

    assert cli("init").returncode == 0
    assert cli("tenant", "create", "acme").returncode == 0
    first = cli("ingest", f"s3://{bucket}/currents", "--tenant", "acme", "--once", "--json")
    again = cli("ingest", f"s3://{bucket}/currents", "--tenant", "acme", "--once", "--json")
    status = cli("ingest", "status", "--tenant", "acme", "--json")

    assert first.returncode == 0, first.stderr
    assert (json.loads(first.stdout)["files"], json.loads(first.stdout)["received"]) == (11, 11)
    assert json.loads(again.stdout)["files"] == 0
    assert json.loads(status.stdout)["files"] == 11


def test_wrong_credentials_through_the_cli_give_a_message_not_a_traceback(
    s3_server: SeaweedS3, bucket: str, tmp_path: Path
) -> None:
    env = aws_env(
        s3_server,
        AWS_SECRET_ACCESS_KEY="wrong",
        COPYLOOM_DATABASE_URL=f"sqlite:///{tmp_path / 'c.db'}",
        COPYLOOM_LOG_LEVEL="WARNING",
    )
    for args in (["init"], ["tenant", "create", "acme"]):
        subprocess.run([sys.executable, "-m", "copyloom", *args], env=env, check=True, capture_output=True)

    result = subprocess.run(
        [sys.executable, "-m", "copyloom", "ingest", f"s3://{bucket}/currents", "--tenant", "acme", "--once"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f"error: s3://{bucket}: access denied: wrong secret key (SignatureDoesNotMatch)"
    )
