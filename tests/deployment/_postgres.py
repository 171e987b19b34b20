"""A private, throw-away PostgreSQL cluster for the deployment's metadata database.

SQLite cannot take a multi-process Airflow (api-server, scheduler, dag-processor, triggerer and
task processes writing at once): it answers "database is locked" and the API returns 500s. So the
suite runs its own cluster from Debian's ``postgresql`` package: ``initdb`` in a temp dir,
listening only on a loopback port, trust authentication (nothing else can reach it), stopped
with ``pg_ctl stop -m immediate`` when the session ends.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path

INSTALL_HINT = (
    "The deployment tests need PostgreSQL's server binaries (initdb, pg_ctl). On Debian/Ubuntu: "
    "apt-get install postgresql (`make test` installs it as root)."
)
USER = "airflow"
DATABASE = "airflow"


def bin_dir() -> Path:
    """Where initdb and pg_ctl are: Debian keeps them out of PATH, under /usr/lib/postgresql/<version>/bin."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if not versions:
        raise RuntimeError(INSTALL_HINT)
    return Path(versions[-1]).parent


class PostgresCluster:
    """initdb + pg_ctl, run as the ``postgres`` user when we are root (PostgreSQL refuses root)."""

    def __init__(self, root: Path, port: int) -> None:
        self.bin = bin_dir()
        self.root = root
        self.data = root / "data"
        self.port = port
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")  # created by Debian's postgresql package
            os.chown(root, owner.pw_uid, owner.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *argv: str) -> None:
        subprocess.run([*self._as_user, *argv], check=True, capture_output=True, cwd=self.root, timeout=120)

    def start(self) -> None:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        )
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, DATABASE)

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(
                [*self._as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                check=False,
                capture_output=True,
                cwd=self.root,
                timeout=60,
            )
