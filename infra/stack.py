"""Local service runner: PostgreSQL, Redis and Apache Kafka (KRaft) on loopback.

Usage::

    python3 infra/stack.py up [postgres redis kafka]   # install what is missing, start, wait until ready
    python3 infra/stack.py status                       # one line per service
    python3 infra/stack.py down                         # stop what this runner started, by pid
    python3 infra/stack.py env                          # print `export AQUA_...` lines for the shell

It is the no-Docker twin of ``infra/docker-compose.yml``: the same ports, the same credentials and
the same service configs, so the project's settings work unchanged against either. It uses only
the standard library because it runs before the project's virtualenv exists.

Every service gets its own data directory and log under the state directory (``.stack/`` at the
repository root, or ``AQUA_STACK_DIR``). ``up`` is idempotent: a service that is already running
and ready is left alone. ``down`` only signals pids this runner recorded.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parent.parent
INFRA_DIR = REPO_ROOT / "infra"
LOOPBACK = "127.0.0.1"

# Defaults shared with docker-compose.yml and with the project's settings module.
DEFAULT_POSTGRES_PORT = 55432
DEFAULT_REDIS_PORT = 56379
DEFAULT_KAFKA_PORT = 59092
DEFAULT_KAFKA_CONTROLLER_PORT = 59093
DEFAULT_POSTGRES_USER = "aqua"
DEFAULT_POSTGRES_PASSWORD = "aqua-local-only"
DEFAULT_POSTGRES_DATABASE = "aquafs"

READY_TIMEOUT_SECONDS = 90.0
KAFKA_HEAP = "-Xmx768m"


class StackError(RuntimeError):
    """A service could not be installed, started, checked or stopped."""


def log(message: str) -> None:
    print(f"[stack] {message}", flush=True)


# ---------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class StackConfig:
    state_dir: Path
    postgres_port: int
    postgres_user: str
    postgres_password: str
    postgres_database: str
    redis_port: int
    kafka_port: int
    kafka_controller_port: int

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def postgres_dir(self) -> Path:
        """Directory of the PostgreSQL cluster.

        As root, initdb refuses to run, so the server runs as the ``postgres`` system user. A
        checkout under a private home folder is not traversable by that user, so the cluster
        then lives under /var/lib/aquafs, in a folder named after the state directory.
        """
        if os.geteuid() != 0:
            return self.state_dir / "postgres"
        digest = hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:12]
        return Path("/var/lib/aquafs") / digest / "postgres"


def _port_from_env(name: str, default: int, errors: list[str]) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        port = int(raw)
    except ValueError:
        errors.append(f"{name}={raw!r} is not an integer port (example: {default})")
        return default
    if not 1 <= port <= 65535:
        errors.append(f"{name}={port} is outside 1..65535")
    return port


def load_config() -> StackConfig:
    """Read the runner's settings from AQUA_* variables, reporting every invalid one at once."""
    errors: list[str] = []
    config = StackConfig(
        state_dir=Path(os.environ.get("AQUA_STACK_DIR") or REPO_ROOT / ".stack").resolve(),
        postgres_port=_port_from_env("AQUA_POSTGRES__PORT", DEFAULT_POSTGRES_PORT, errors),
        postgres_user=os.environ.get("AQUA_POSTGRES__USER") or DEFAULT_POSTGRES_USER,
        postgres_password=os.environ.get("AQUA_POSTGRES__PASSWORD") or DEFAULT_POSTGRES_PASSWORD,
        postgres_database=os.environ.get("AQUA_POSTGRES__DATABASE") or DEFAULT_POSTGRES_DATABASE,
        redis_port=_port_from_env("AQUA_REDIS__PORT", DEFAULT_REDIS_PORT, errors),
        kafka_port=_port_from_env("AQUA_KAFKA__PORT", DEFAULT_KAFKA_PORT, errors),
        kafka_controller_port=_port_from_env(
            "AQUA_KAFKA__CONTROLLER_PORT", DEFAULT_KAFKA_CONTROLLER_PORT, errors
        ),
    )
    if errors:
        raise StackError("invalid runner settings:\n  " + "\n  ".join(errors))
    return config


# ---------------------------------------------------------------------------------------------
# Small process and network helpers


def run(cmd: list[str], *, what: str, env: dict[str, str] | None = None, user: str | None = None) -> str:
    if user is not None and os.geteuid() == 0:
        cmd = ["runuser", "-u", user, "--", *cmd]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()
        raise StackError(f"{what} failed (exit {result.returncode}): {' '.join(cmd)}\n{output}")
    return result.stdout


def port_is_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((LOOPBACK, port)) == 0


def pid_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still passes kill(0), so read its state from /proc.
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" not in status


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def raise_port_taken(service: str, port: int, env_name: str) -> None:
    raise StackError(
        f"{service}: port {port} on {LOOPBACK} is already in use by another program, so "
        f"{service} cannot start there. Stop that program or choose a free port with "
        f"{env_name}=<port>."
    )


def wait_until(check, *, service: str, port: int, log_file: Path, pid: int | None = None) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if pid is not None and not pid_is_alive(pid):
            raise StackError(
                f"{service} (pid {pid}) exited before it became ready on port {port}; "
                f"see {log_file}:\n{tail(log_file)}"
            )
        try:
            check()
            return
        except (OSError, StackError) as error:
            last_error = str(error)
        time.sleep(0.3)
    raise StackError(
        f"{service} was not ready on {LOOPBACK}:{port} after {READY_TIMEOUT_SECONDS:.0f} s "
        f"(last check: {last_error}); see {log_file}:\n{tail(log_file)}"
    )


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log written)"


_apt_updated = False


def apt_install(*packages: str) -> None:
    global _apt_updated
    if os.geteuid() != 0:
        raise StackError(
            f"missing {', '.join(packages)}; install them with apt-get (needs root) and run again"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        log("apt-get update")
        run(["apt-get", "update", "-q"], what="apt-get update", env=env)
        _apt_updated = True
    log(f"apt-get install {' '.join(packages)}")
    run(["apt-get", "install", "-y", "-q", *packages], what="apt-get install", env=env)


# ---------------------------------------------------------------------------------------------
# PostgreSQL


def postgres_bindir() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    if candidates:
        return candidates[0].parent
    found = shutil.which("pg_ctl")
    return Path(found).resolve().parent if found else None


def postgres_ready(config: StackConfig) -> None:
    bindir = postgres_bindir()
    assert bindir is not None
    run(
        [str(bindir / "pg_isready"), "-h", LOOPBACK, "-p", str(config.postgres_port), "-t", "2"],
        what="pg_isready",
    )


def postgres_up(config: StackConfig) -> None:
    if postgres_bindir() is None:
        apt_install("postgresql", "postgresql-contrib")
    bindir = postgres_bindir()
    if bindir is None:
        raise StackError("postgres: pg_ctl not found after installing postgresql")

    cluster = config.postgres_dir
    data = cluster / "data"
    log_file = cluster / "postgres.log"
    pid = read_pid(data / "postmaster.pid")
    if pid is not None and pid_is_alive(pid):
        postgres_ready(config)
        log(f"postgres already running (pid {pid}, port {config.postgres_port})")
        return
    if port_is_open(config.postgres_port):
        raise_port_taken("postgres", config.postgres_port, "AQUA_POSTGRES__PORT")

    server_user = "postgres" if os.geteuid() == 0 else None
    if server_user is not None:
        try:
            run(["id", "postgres"], what="look up the postgres system user")
        except StackError:
            run(["useradd", "--system", "--home-dir", "/var/lib/postgresql", "postgres"], what="useradd")
    cluster.mkdir(parents=True, exist_ok=True)
    if server_user is not None:
        shutil.chown(cluster, user=server_user)
        for parent in cluster.parents:
            if parent == Path("/var/lib"):
                break
            os.chmod(parent, 0o755)

    if not (data / "PG_VERSION").exists():
        pwfile = cluster / "superuser.pw"
        pwfile.write_text(config.postgres_password + "\n")
        os.chmod(pwfile, 0o600)
        if server_user is not None:
            shutil.chown(pwfile, user=server_user)
        log(f"initdb {data}")
        run(
            [
                str(bindir / "initdb"),
                "-D", str(data),
                "-U", "postgres",
                "--pwfile", str(pwfile),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            what="postgres initdb",
            user=server_user,
        )
        pwfile.unlink()
        conf = (INFRA_DIR / "postgres" / "postgresql.conf").read_text()
        (data / "postgresql.auto.conf").write_text(
            "# Written by infra/stack.py from infra/postgres/postgresql.conf\n" + conf
        )
        if server_user is not None:
            shutil.chown(data / "postgresql.auto.conf", user=server_user)

    preload = "timescaledb" if timescaledb_installed(bindir) else ""
    options = (
        f"-p {config.postgres_port} -c listen_addresses={LOOPBACK} "
        f"-k {cluster} -c shared_preload_libraries={preload or chr(39) * 2}"
    )
    log(f"starting postgres on {LOOPBACK}:{config.postgres_port}" + (" with timescaledb" if preload else ""))
    run(
        [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log_file), "-o", options, "-w", "-t", "60", "start"],
        what=f"postgres start (log: {log_file})",
        user=server_user,
    )
    wait_until(lambda: postgres_ready(config), service="postgres", port=config.postgres_port, log_file=log_file)
    postgres_bootstrap(config, bindir, server_user)
    log(f"postgres ready (pid {read_pid(data / 'postmaster.pid')}, log {log_file})")


def timescaledb_installed(bindir: Path) -> bool:
    sharedir = Path(run([str(bindir / "pg_config"), "--sharedir"], what="pg_config").strip()) if (
        bindir / "pg_config"
    ).exists() else None
    if sharedir is None:
        return False
    return (sharedir / "extension" / "timescaledb.control").exists()


def postgres_bootstrap(config: StackConfig, bindir: Path, server_user: str | None) -> None:
    """Create the application role and database; a no-op when both exist."""
    psql = [
        str(bindir / "psql"), "-h", str(config.postgres_dir), "-p", str(config.postgres_port),
        "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qAt",
        "-v", f"app_user={config.postgres_user}",
        "-v", f"app_password={config.postgres_password}",
        "-v", f"app_database={config.postgres_database}",
    ]
    # psql variables are quoted by psql itself (:'var' as a literal, :"var" as an identifier).
    script = """
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'app_user', :'app_password')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_user') \\gexec
SELECT format('ALTER ROLE %I CREATEDB PASSWORD %L', :'app_user', :'app_password') \\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'app_database', :'app_user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'app_database') \\gexec
"""
    cmd = psql
    if server_user is not None and os.geteuid() == 0:
        cmd = ["runuser", "-u", server_user, "--", *cmd]
    result = subprocess.run(cmd, input=script, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"postgres: creating role/database failed:\n{result.stderr.strip()}")


def postgres_down(config: StackConfig) -> None:
    bindir = postgres_bindir()
    data = config.postgres_dir / "data"
    pid = read_pid(data / "postmaster.pid")
    if bindir is None or pid is None or not pid_is_alive(pid):
        log("postgres not running")
        return
    server_user = "postgres" if os.geteuid() == 0 else None
    run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], what="postgres stop", user=server_user)
    log(f"postgres stopped (pid {pid})")


def postgres_status(config: StackConfig) -> str:
    pid = read_pid(config.postgres_dir / "data" / "postmaster.pid")
    if pid is None or not pid_is_alive(pid):
        return f"postgres  stopped  port {config.postgres_port}"
    try:
        postgres_ready(config)
        state = "ready"
    except StackError:
        state = "not-ready"
    return f"postgres  {state}  port {config.postgres_port}  pid {pid}  data {config.postgres_dir / 'data'}"


# ---------------------------------------------------------------------------------------------
# Redis


def redis_ping(port: int) -> None:
    with socket.create_connection((LOOPBACK, port), timeout=2) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        reply = sock.recv(64)
    if not reply.startswith(b"+PONG"):
        raise StackError(f"redis returned {reply!r} to PING, expected +PONG")


def redis_up(config: StackConfig) -> None:
    if shutil.which("redis-server") is None:
        apt_install("redis-server")
    redis_dir = config.state_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    pid_file = redis_dir / "redis.pid"
    log_file = config.log_dir / "redis.log"
    pid = read_pid(pid_file)
    if pid is not None and pid_is_alive(pid):
        redis_ping(config.redis_port)
        log(f"redis already running (pid {pid}, port {config.redis_port})")
        return
    if port_is_open(config.redis_port):
        raise_port_taken("redis", config.redis_port, "AQUA_REDIS__PORT")

    # The shared config sets memory and persistence policy; the runner adds the local parts.
    cmd = [
        "redis-server", str(INFRA_DIR / "redis" / "redis.conf"),
        "--port", str(config.redis_port),
        "--bind", LOOPBACK,
        "--dir", str(redis_dir),
        "--daemonize", "no",
        "--logfile", "",
    ]
    password = os.environ.get("AQUA_REDIS__PASSWORD")
    if password:
        cmd += ["--requirepass", password]
    log(f"starting redis on {LOOPBACK}:{config.redis_port}")
    process = spawn(cmd, log_file)
    pid_file.write_text(f"{process.pid}\n")
    wait_until(lambda: redis_ping(config.redis_port), service="redis", port=config.redis_port,
               log_file=log_file, pid=process.pid)
    log(f"redis ready (pid {process.pid}, log {log_file})")


def redis_down(config: StackConfig) -> None:
    stop_pid_file("redis", config.state_dir / "redis" / "redis.pid")


def redis_status(config: StackConfig) -> str:
    pid = read_pid(config.state_dir / "redis" / "redis.pid")
    if pid is None or not pid_is_alive(pid):
        return f"redis     stopped  port {config.redis_port}"
    try:
        redis_ping(config.redis_port)
        state = "ready"
    except (OSError, StackError):
        state = "not-ready"
    return f"redis     {state}  port {config.redis_port}  pid {pid}"


# ---------------------------------------------------------------------------------------------
# Kafka (KRaft, combined broker and controller)


def kafka_libs() -> Path:
    return INFRA_DIR / "kafka" / "target" / "kafka-libs"


def kafka_resolve_jars() -> None:
    """Resolve the broker jars from Maven Central into infra/kafka/target (cached)."""
    libs = kafka_libs()
    if any(libs.glob("kafka_2.13-*.jar")):
        return
    if shutil.which("java") is None:
        apt_install("openjdk-17-jre-headless")
    if shutil.which("mvn") is None:
        apt_install("maven")
    log("resolving the Kafka broker jars with Maven (first run only)")
    run(
        ["mvn", "-q", "-B", "-f", str(INFRA_DIR / "kafka" / "pom.xml"), "dependency:copy-dependencies",
         f"-DoutputDirectory={libs}", "-DincludeScope=runtime"],
        what="mvn dependency:copy-dependencies for the Kafka broker",
    )


def kafka_metadata_ready(port: int) -> None:
    """Send a Metadata v0 request and require at least one live broker in the response."""
    client_id = b"aquafs-stack"
    body = struct.pack(">hhih", 3, 0, 7, len(client_id)) + client_id + struct.pack(">i", 0)
    with socket.create_connection((LOOPBACK, port), timeout=2) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        header = _recv_exact(sock, 4)
        (size,) = struct.unpack(">i", header)
        payload = _recv_exact(sock, size)
    correlation_id, broker_count = struct.unpack(">ii", payload[:8])
    if correlation_id != 7 or broker_count < 1:
        raise StackError(f"kafka metadata lists {broker_count} brokers")


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = b""
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise StackError("kafka closed the connection during the metadata request")
        chunks += chunk
    return chunks


def kafka_up(config: StackConfig) -> None:
    kafka_resolve_jars()
    kafka_dir = config.state_dir / "kafka"
    kafka_dir.mkdir(parents=True, exist_ok=True)
    pid_file = kafka_dir / "kafka.pid"
    log_file = config.log_dir / "kafka.log"
    pid = read_pid(pid_file)
    if pid is not None and pid_is_alive(pid):
        kafka_metadata_ready(config.kafka_port)
        log(f"kafka already running (pid {pid}, port {config.kafka_port})")
        return
    for port, env_name in ((config.kafka_port, "AQUA_KAFKA__PORT"),
                           (config.kafka_controller_port, "AQUA_KAFKA__CONTROLLER_PORT")):
        if port_is_open(port):
            raise_port_taken("kafka", port, env_name)

    properties = kafka_dir / "server.properties"
    template = (INFRA_DIR / "kafka" / "server.properties").read_text()
    properties.write_text(
        template
        + "\n# Written by infra/stack.py\n"
        + f"listeners=PLAINTEXT://{LOOPBACK}:{config.kafka_port},CONTROLLER://{LOOPBACK}:{config.kafka_controller_port}\n"
        + f"advertised.listeners=PLAINTEXT://{LOOPBACK}:{config.kafka_port}\n"
        + f"controller.quorum.voters=1@{LOOPBACK}:{config.kafka_controller_port}\n"
        + f"log.dirs={kafka_dir / 'data'}\n"
    )
    java = ["java", KAFKA_HEAP, "-cp", f"{kafka_libs()}/*",
            f"-Dlog4j2.configurationFile={INFRA_DIR / 'kafka' / 'log4j2.yaml'}",
            f"-Dkafka.logs.dir={config.log_dir}"]
    if not (kafka_dir / "data" / "meta.properties").exists():
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        log(f"formatting kafka storage (cluster id {cluster_id})")
        run([*java, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(properties)],
            what="kafka storage format")

    log(f"starting kafka on {LOOPBACK}:{config.kafka_port} (controller {config.kafka_controller_port})")
    process = spawn([*java, "kafka.Kafka", str(properties)], log_file)
    pid_file.write_text(f"{process.pid}\n")
    wait_until(lambda: kafka_metadata_ready(config.kafka_port), service="kafka", port=config.kafka_port,
               log_file=log_file, pid=process.pid)
    log(f"kafka ready (pid {process.pid}, log {log_file})")


def kafka_down(config: StackConfig) -> None:
    stop_pid_file("kafka", config.state_dir / "kafka" / "kafka.pid", timeout_seconds=60)


def kafka_status(config: StackConfig) -> str:
    pid = read_pid(config.state_dir / "kafka" / "kafka.pid")
    if pid is None or not pid_is_alive(pid):
        return f"kafka     stopped  port {config.kafka_port}"
    try:
        kafka_metadata_ready(config.kafka_port)
        state = "ready"
    except (OSError, StackError):
        state = "not-ready"
    return f"kafka     {state}  port {config.kafka_port}  pid {pid}"


# ---------------------------------------------------------------------------------------------
# Shared start and stop


def spawn(cmd: list[str], log_file: Path) -> subprocess.Popen[bytes]:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        # A new session keeps the service alive after this script exits and out of its signals.
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def stop_pid_file(service: str, pid_file: Path, timeout_seconds: float = 20) -> None:
    pid = read_pid(pid_file)
    if pid is None or not pid_is_alive(pid):
        log(f"{service} not running")
        pid_file.unlink(missing_ok=True)
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_seconds
    while pid_is_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid_is_alive(pid):
        log(f"{service} (pid {pid}) ignored SIGTERM for {timeout_seconds:.0f} s; sending SIGKILL")
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    log(f"{service} stopped (pid {pid})")


SERVICES = {
    "postgres": (postgres_up, postgres_down, postgres_status),
    "redis": (redis_up, redis_down, redis_status),
    "kafka": (kafka_up, kafka_down, kafka_status),
}


def env_lines(config: StackConfig) -> list[str]:
    """Shell exports that point the project, and feature_store.yaml, at this stack."""
    values = {
        "AQUA_POSTGRES__HOST": LOOPBACK,
        "AQUA_POSTGRES__PORT": str(config.postgres_port),
        "AQUA_POSTGRES__USER": config.postgres_user,
        "AQUA_POSTGRES__PASSWORD": config.postgres_password,
        "AQUA_POSTGRES__DATABASE": config.postgres_database,
        "AQUA_POSTGRES__SSLMODE": "disable",
        "AQUA_REDIS__HOST": LOOPBACK,
        "AQUA_REDIS__PORT": str(config.redis_port),
        "AQUA_KAFKA__BOOTSTRAP_SERVERS": f"{LOOPBACK}:{config.kafka_port}",
        # Derived values that feature_store.yaml reads, so plain `feast` commands work too.
        "AQUA_POSTGRES__SCHEMA": "public",
        "AQUA_FEAST_REGISTRY_URL": (
            f"postgresql+psycopg://{quote(config.postgres_user, safe='')}:"
            f"{quote(config.postgres_password, safe='')}@{LOOPBACK}:{config.postgres_port}/"
            f"{quote(config.postgres_database, safe='')}?sslmode=disable"
        ),
        "AQUA_REDIS_CONNECTION_STRING": f"{LOOPBACK}:{config.redis_port},db=0",
    }
    return [f"export {name}={shlex.quote(value)}" for name, value in values.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "status", "env"])
    parser.add_argument("services", nargs="*", metavar="service",
                        help="postgres, redis or kafka (default: all three)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.services if name not in SERVICES]
    if unknown:
        parser.error(f"unknown service {unknown[0]!r}; choose from {', '.join(SERVICES)}")
    names = args.services or list(SERVICES)

    try:
        config = load_config()
        config.log_dir.mkdir(parents=True, exist_ok=True)
        if args.command == "up":
            for name in names:
                SERVICES[name][0](config)
        elif args.command == "down":
            for name in reversed(names):
                SERVICES[name][1](config)
        elif args.command == "status":
            for name in names:
                print(SERVICES[name][2](config))
        else:
            print("\n".join(env_lines(config)))
    except StackError as error:
        print(f"[stack] error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
