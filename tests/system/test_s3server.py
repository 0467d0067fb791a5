"""The SeaweedFS test server: real S3 with authentication, on loopback only."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.s3server import SeaweedError, SeaweedS3

REPO = Path(__file__).resolve().parents[2]
MANY = 1_100  # > 1000 so ListObjectsV2 needs a second page


def _bucket(server: SeaweedS3, stem: str) -> str:
    return server.create_bucket(f"{stem}-{secrets.token_hex(4)}")


def test_put_list_get_with_the_right_credentials(s3_server: SeaweedS3) -> None:
    client = s3_server.client()
    bucket = _bucket(s3_server, "roundtrip")
    client.put_object(
        Bucket=bucket, Key="exports/2026/a.json", Body=b'{"a": 1}', ContentType="application/json"
    )
    client.put_object(Bucket=bucket, Key="other/b.json", Body=b"{}")

    listed = client.list_objects_v2(Bucket=bucket, Prefix="exports/")
    assert [obj["Key"] for obj in listed["Contents"]] == ["exports/2026/a.json"]
    assert listed["Contents"][0]["Size"] == 8

    got = client.get_object(Bucket=bucket, Key="exports/2026/a.json")
    assert got["Body"].read() == b'{"a": 1}'
    assert got["ContentType"] == "application/json"
    assert bucket in {b["Name"] for b in client.list_buckets()["Buckets"]}


def test_paginator_lists_more_than_1000_keys(s3_server: SeaweedS3) -> None:
    client = s3_server.client(max_pool_connections=16)
    bucket = _bucket(s3_server, "paging")
    keys = {f"many/{i:05d}.txt" for i in range(MANY)}
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=key.encode()), sorted(keys)))
    client.put_object(Bucket=bucket, Key="outside.txt", Body=b"x")
    upload_seconds = time.monotonic() - started

    pages = list(client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="many/"))
    listed = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
    assert len(pages) >= 2, [page["KeyCount"] for page in pages]
    assert pages[0]["KeyCount"] == 1000
    assert pages[0]["IsTruncated"] is True
    assert listed == sorted(keys)
    assert upload_seconds < 60, f"uploading {MANY} objects took {upload_seconds:.1f} s"


@pytest.mark.parametrize(
    ("which", "expected"),
    [
        ("unknown access key", "InvalidAccessKeyId"),
        ("wrong secret key", "SignatureDoesNotMatch"),
    ],
)
def test_wrong_credentials_are_refused(s3_server: SeaweedS3, which: str, expected: str) -> None:
    bucket = _bucket(s3_server, "auth")
    if which == "unknown access key":
        bad = s3_server.client(
            access_key="NOSUCHKEY" + secrets.token_hex(4), secret_key="whatever", retries=1
        )
    else:
        bad = s3_server.client(secret_key=s3_server.secret_key + "x", retries=1)

    with pytest.raises(ClientError) as listing:
        bad.list_objects_v2(Bucket=bucket)
    assert listing.value.response["Error"]["Code"] == expected
    assert listing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    with pytest.raises(ClientError) as putting:
        bad.put_object(Bucket=bucket, Key="intruder.txt", Body=b"x")
    assert putting.value.response["Error"]["Code"] == expected
    assert s3_server.client().list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_anonymous_requests_are_refused(s3_server: SeaweedS3) -> None:
    bucket = _bucket(s3_server, "anon")
    s3_server.client().put_object(Bucket=bucket, Key="secret.txt", Body=b"x")
    anonymous = boto3.session.Session().client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        region_name=s3_server.region,
        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as excinfo:
        anonymous.get_object(Bucket=bucket, Key="secret.txt")
    assert excinfo.value.response["Error"]["Code"] == "AccessDenied"


def _listening(pid: int) -> list[tuple[str, str, int]]:
    """(family, address hex, port) of every TCP socket the process listens on, read from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = []
    for family in ("tcp", "tcp6"):
        lines = Path(f"/proc/net/{family}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            address, port = fields[1].split(":")
            if fields[3] == "0A" and fields[9] in inodes:  # 0A = LISTEN
                found.append((family, address, int(port, 16)))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_listens_on_loopback_only(s3_server: SeaweedS3) -> None:
    assert s3_server.process is not None
    listening = _listening(s3_server.process.pid)
    ports = {port for _, _, port in listening}
    assert s3_server.ports["s3"] in ports
    assert all(family == "tcp" and address == "0100007F" for family, address, _ in listening), listening
    assert ports <= s3_server.listen_ports, (
        f"listeners on ports we did not choose: {ports - s3_server.listen_ports}"
    )


def test_context_manager_starts_fresh_and_cleans_up(tmp_path: Path) -> None:
    server = SeaweedS3(tmp_path / "run")
    with server as s3:
        assert s3.startup_seconds is not None
        assert s3.startup_seconds < 30
        s3.client().put_object(Bucket=s3.create_bucket("lifecycle"), Key="k", Body=b"v")
        options = tmp_path / "run" / "data" / "mini.options"
        deadline = time.monotonic() + 10
        while not options.is_file() and time.monotonic() < deadline:  # weed writes it after it answers
            time.sleep(0.1)
        assert options.is_file()
        process = s3.process
        ports = s3.listen_ports
    assert process is not None
    assert process.poll() is not None
    assert server.process is None
    leftovers = [p for port in ports for p in Path("/tmp").glob(f"seaweedfs-*-{port}.sock")]
    assert leftovers == []
    with pytest.raises(SeaweedError, match="not empty"):
        SeaweedS3(tmp_path / "run").start()


def test_startup_failure_reports_the_log_tail(tmp_path: Path) -> None:
    fake = tmp_path / "weed"
    fake.write_text("#!/bin/sh\necho 'boom: cannot start' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(SeaweedError, match=r"(?s)exited with code 3.*boom: cannot start"):
        SeaweedS3(tmp_path / "run", weed=str(fake)).start()


def _run_pytest(folder: Path, env_changes: dict[str, str | None]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(REPO)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-ra", "-s", "-p", "no:cacheprovider", str(folder)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


USES_FIXTURE = """
from tests.s3server import s3_server  # noqa: F401

def test_uses_it(s3_server):
    print("PID", s3_server.process.pid)
"""


# pytest.fail() in a fixture reports an error (a failing run), not a skip.
@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), (None, "1 skipped")])
def test_missing_binary_fails_under_ci_and_skips_elsewhere(
    tmp_path: Path, ci: str | None, outcome: str
) -> None:
    (tmp_path / "test_inner.py").write_text(USES_FIXTURE)
    result = _run_pytest(tmp_path, {"CI": ci, "COPYLOOM_WEED": str(tmp_path / "no-such-weed")})
    output = result.stdout + result.stderr
    assert outcome in output, output
    assert (result.returncode == 0) == (ci is None), output
    assert "`weed` binary not found" in output, output
    assert ("CI=true" in output) == (ci == "true"), output


def test_session_fixture_is_shared_by_importing_modules(tmp_path: Path) -> None:
    """pytest makes one FixtureDef per importing module; the fixture still starts a single server."""
    for name in ("test_one.py", "test_two.py"):
        (tmp_path / name).write_text(USES_FIXTURE)
    result = _run_pytest(tmp_path, {"COPYLOOM_WEED": None})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    pids = {line.split()[-1] for line in output.splitlines() if "PID " in line}
    assert len(pids) == 1, output
