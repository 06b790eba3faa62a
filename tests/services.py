"""Real services for the tests: a PostgreSQL server and a local Ray cluster of two nodes.

PostgreSQL comes from the system packages (`.ci/run` installs `postgresql`); it refuses to
run as root, so as root the server runs as the `postgres` user. Both are started by the
fixtures in conftest.py and stopped at the end of the session. Where the binaries are
missing the tests skip, except under LICBENCH_REQUIRE_SERVICES=1 (CI), where they fail.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def missing(what: str) -> None:
    """Skip a test whose service is absent; in CI (LICBENCH_REQUIRE_SERVICES=1) fail."""
    if os.environ.get("LICBENCH_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is required here (LICBENCH_REQUIRE_SERVICES=1)", False)
    pytest.skip(f"{what} is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return (found if isinstance(found, str) else found[-1]) if found else None


class Postgres:
    """A throwaway PostgreSQL server on 127.0.0.1; :meth:`database` makes a fresh one."""

    def __init__(self) -> None:
        initdb, self.pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not initdb or not self.pg_ctl:
            missing("PostgreSQL (initdb, pg_ctl)")
        self.root = Path(tempfile.mkdtemp(prefix="licbench-pg-"))
        self.data, self.port = self.root / "data", free_port()
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        if os.geteuid() == 0:
            os.chown(self.root, pwd.getpwnam("postgres").pw_uid, -1)
        self._as_user([initdb, "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8"])
        opts = f"-h 127.0.0.1 -p {self.port} -k {self.root}"
        log = str(self.root / "log")
        self._as_user([self.pg_ctl, "-D", str(self.data), "-o", opts, "-l", log, "-w", "start"])
        self.count = 0

    def _as_user(self, cmd: list[str]) -> None:
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, cwd=self.root)

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{db}"

    def database(self) -> str:
        """The plain ``postgresql://`` URL of a new, empty database."""
        import psycopg

        self.count += 1
        name = f"t{self.count}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        self._as_user([str(self.pg_ctl), "-D", str(self.data), "-m", "immediate", "stop"])
        shutil.rmtree(self.root, ignore_errors=True)


def postgres() -> Iterator[Postgres]:
    server = Postgres()
    try:
        yield server
    finally:
        server.stop()


def ray_cluster(root: Path) -> Iterator[tuple[str, list[Path]]]:
    """A local Ray cluster: a head with no CPUs and two one-CPU nodes, each with its own
    LICBENCH_CACHE (as machines that share no filesystem) and one declared GPU. Yields its
    address and caches."""
    try:
        import ray
        from ray.cluster_utils import Cluster
    except ImportError:
        missing("Ray (pip install 'licbench[ray]')")
    caches = [root / "node-a", root / "node-b"]
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        for cache in caches:
            env = {"LICBENCH_CACHE": str(cache)}  # a GPU each: Ray hands out ids, no hardware
            cluster.add_node(num_cpus=1, num_gpus=1, env_vars=env)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        yield cluster.address, caches
    finally:
        ray.shutdown()
        cluster.shutdown()
