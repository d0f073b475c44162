"""Start and stop a throwaway PostgreSQL cluster for the tests (standard library only).

As a module::

    cluster = PgCluster()        # a new temporary directory
    url = cluster.start()        # postgresql://postgres@127.0.0.1:PORT/postgres
    cluster.restart()            # same port, same data
    cluster.remove()             # stop and delete the directory

From the shell (the server keeps running after the command returns)::

    python tests/pgcluster.py start DIR    # prints the URL
    python tests/pgcluster.py stop DIR

The server binaries are taken from ``$OMS_KIT_PG_BINDIR`` when set (and only from there, so
pointing it at an empty directory simulates a machine without PostgreSQL), else from the newest
``/usr/lib/postgresql/*/bin`` (Debian, Ubuntu), else from ``pg_config --bindir``, else from PATH.

The server refuses to run as root: as root, the cluster runs as the ``postgres`` user, which the
distribution's ``postgresql`` package creates, and its directory is owned by that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

BINDIR_VARIABLE = "OMS_KIT_PG_BINDIR"
SERVER_USER = "postgres"
NEEDED_PROGRAMS = ("initdb", "pg_ctl", "postgres")
START_TIMEOUT_SECONDS = 60


class PgClusterError(RuntimeError):
    """The cluster could not be created, started or stopped."""


class PgUnavailableError(PgClusterError):
    """This machine cannot run a PostgreSQL server: no binaries, or root without a server user.

    The tests skip on this (fail in CI); any other PgClusterError is a real error.
    """


def _has_programs(directory: str | os.PathLike[str]) -> bool:
    return all(os.access(Path(directory, name), os.X_OK) for name in NEEDED_PROGRAMS)


def _version_key(bindir: str) -> tuple[int, ...]:
    # /usr/lib/postgresql/16/bin -> (16,); "9.6" -> (9, 6). Numeric, so 10 sorts after 9.
    version = Path(bindir).parent.name
    return tuple(int(part) for part in re.findall(r"\d+", version)) or (0,)


def find_bindir() -> Path:
    """Return the directory holding initdb, pg_ctl and postgres, or raise PgUnavailableError."""
    override = os.environ.get(BINDIR_VARIABLE)
    if override is not None:
        if _has_programs(override):
            return Path(override)
        raise PgUnavailableError(
            f"no PostgreSQL server binaries ({', '.join(NEEDED_PROGRAMS)}) in {BINDIR_VARIABLE}={override}"
        )

    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for candidate in debian:
        if _has_programs(candidate):
            return Path(candidate)

    pg_config = shutil.which("pg_config")
    if pg_config:
        # pg_config comes with the client library too (libpq-dev), so check that the server is there.
        try:
            bindir = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            bindir = ""
        if bindir and _has_programs(bindir):
            return Path(bindir)

    initdb = shutil.which("initdb")
    if initdb and _has_programs(Path(initdb).parent):
        return Path(initdb).parent

    raise PgUnavailableError(
        "no PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin, pg_config --bindir "
        "and PATH); install them (Debian/Ubuntu: apt-get install postgresql) or set "
        f"{BINDIR_VARIABLE}"
    )


def _free_port() -> int:
    # The kernel picks a free port; the server binds it a moment later. Another process could take
    # it in between, which start() then reports with the server log.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or f"(log {path} is empty)"


class PgCluster:
    """A PostgreSQL cluster in one directory, listening on 127.0.0.1 only.

    Parameters
    ----------
    directory
        Where the cluster lives: ``data/`` (the data directory), ``postgres.log``, the unix
        socket and ``port``. Created when missing. None: a new temporary directory, which
        :meth:`remove` deletes.
    bindir
        The server binaries; None: :func:`find_bindir`.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None, bindir: Path | None = None) -> None:
        self._bindir = bindir
        self.directory = Path(tempfile.mkdtemp(prefix="oms_kit_pg_") if directory is None else directory)
        self.directory = self.directory.resolve()
        self.data_dir = self.directory / "data"
        self.log_file = self.directory / "postgres.log"
        self._port_file = self.directory / "port"
        self.port: int | None = int(self._port_file.read_text()) if self._port_file.exists() else None

    def __repr__(self) -> str:
        return f"PgCluster(directory={str(self.directory)!r}, port={self.port})"

    def __enter__(self) -> PgCluster:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    @property
    def url(self) -> str:
        """The connection URL of the ``postgres`` database (valid once started)."""
        if self.port is None:
            raise PgClusterError(f"{self!r} was never started: no port yet")
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/postgres"

    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            self._bindir = find_bindir()
        return self._bindir

    def start(self) -> str:
        """Create the cluster on first use, start it, wait until it accepts connections; return the URL."""
        if not (self.data_dir / "PG_VERSION").exists():
            self._init()
        if self.is_running():
            return self.url
        result = self._run(
            "pg_ctl", "start", "-w", "-t", str(START_TIMEOUT_SECONDS),
            "-D", str(self.data_dir), "-l", str(self.log_file),
            timeout=START_TIMEOUT_SECONDS + 30,
        )  # fmt: skip
        if result.returncode != 0 or not self.is_running():
            raise PgClusterError(
                f"PostgreSQL did not start in {self.directory} on port {self.port}:\n"
                f"{result.stdout}{result.stderr}\n--- last lines of {self.log_file} ---\n{_tail(self.log_file)}"
            )
        return self.url

    def stop(self, mode: str = "fast") -> None:
        """Stop the server and wait until it is gone; no-op when it is not running.

        ``mode`` is pg_ctl's: "fast" (roll back open transactions, disconnect clients, checkpoint),
        "smart" (wait for clients) or "immediate" (no checkpoint, like a crash: recovery runs at
        the next start).
        """
        if not self.is_running():
            return
        result = self._run("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.data_dir), timeout=120)
        if result.returncode != 0 and self.is_running():
            raise PgClusterError(
                f"PostgreSQL in {self.directory} did not stop:\n{result.stdout}{result.stderr}\n"
                f"--- last lines of {self.log_file} ---\n{_tail(self.log_file)}"
            )

    def restart(self, mode: str = "fast") -> str:
        """Stop and start again: same port, same data. Return the URL."""
        self.stop(mode)
        return self.start()

    def is_running(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        # pg_ctl status: 0 running, 3 not running, 4 no usable data directory.
        return self._run("pg_ctl", "status", "-D", str(self.data_dir), timeout=30).returncode == 0

    def remove(self) -> None:
        """Stop the server and delete the cluster's directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        user = self._server_user()
        if user is not None:
            # The server runs as this user: it must own the directory (data, socket, log).
            os.chown(self.directory, user.pw_uid, user.pw_gid)
        self.directory.chmod(0o700)
        result = self._run(
            "initdb", "-D", str(self.data_dir), "-A", "trust", "-U", SERVER_USER,
            # Fixed encoding and locale, so initdb does not depend on the caller's LANG.
            "-E", "UTF8", "--locale=C",
            timeout=300,
        )  # fmt: skip
        if result.returncode != 0:
            raise PgClusterError(f"initdb failed in {self.data_dir}:\n{result.stdout}{result.stderr}")
        self.port = _free_port()
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.directory}'",
            # On by default; said here because the tests check durability across restarts.
            "fsync": "on",
            "synchronous_commit": "on",
            "full_page_writes": "on",
            "logging_collector": "off",  # pg_ctl -l writes the log file
        }
        # Appending keeps the file's owner (the server user).
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# Added by tests/pgcluster.py\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        self._port_file.write_text(f"{self.port}\n")

    def _server_user(self) -> pwd.struct_passwd | None:
        """The user to run the server as: None for the current one, the server user when root."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise PgUnavailableError(
                f"PostgreSQL refuses to run as root and there is no '{SERVER_USER}' user to run it as; "
                f"install the postgresql package (it creates one) or run the tests as another user"
            ) from None

    def _run(self, program: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        user = self._server_user()
        return subprocess.run(
            [str(self.bindir / program), *args],
            # The caller's directory may be unreadable by the server user; the cluster's is not.
            cwd=self.directory,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            # Own session: the server outlives this process and ignores the terminal's Ctrl-C.
            start_new_session=True,
            # As root: switch to the server user in the child, dropping root's groups.
            user=None if user is None else user.pw_uid,
            group=None if user is None else user.pw_gid,
            extra_groups=None if user is None else [],
        )


def main(argv: list[str]) -> int:
    usage = "usage: python tests/pgcluster.py start|stop DIR"
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print(usage, file=sys.stderr)
        return 2
    command, directory = argv
    try:
        cluster = PgCluster(directory)
        if command == "start":
            print(cluster.start())
        else:
            cluster.stop()
    except PgClusterError as error:
        print(f"pgcluster: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
