"""nginx in front of the app's workers: its configuration, written from the list of workers, and its process.

Streamlit keeps each browser session in the memory of one process and talks to it over a websocket,
so every request of a session (the websocket, uploads to `/_stcore/upload_file`, media) must reach the
same worker. nginx (open source) has no sticky-cookie directive, so the proxy builds one from its
`map`s and upstream groups:

- a browser without a valid `sslx_worker` cookie goes to the `fresh` group, which picks the worker with
  the fewest open connections (`least_conn`, mostly websockets): a room fills the workers evenly;
- every response sets the cookie to the worker that served it (`w0`, `w1`, ...; a value nginx maps
  from `$upstream_addr`, never an address taken from the browser), so all later requests of that
  browser, its websocket and its other tabs go to the same worker's own group;
- each worker's group lists the other workers as `backup`: when a worker is dead, its participants'
  reconnections go to a live one, and the cookie follows them there.

Why a cookie and not `ip_hash`: a workshop room usually reaches the server through one NAT address,
and `ip_hash` would then put the whole room on one worker.

Health: nginx's passive checks (`max_fails`, `fail_timeout`, `proxy_next_upstream`) route around a
worker that refuses connections at once; `explorer.serving.workers` actively polls `/_stcore/health`,
marks a dead worker `down`, reloads nginx (SIGHUP: open websockets stay on the old nginx processes
until they close) and marks it up again once its restart answers.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from explorer.serving import process

COOKIE = "sslx_worker"  # a replica's nginx (serve.py --workers N --proxy): which of its workers a browser is on
# the proxy in front of replicas (`main`): which replica; its own name, or a replica meets worker ids it lacks
REPLICA_COOKIE = "sslx_replica"
READ_TIMEOUT = "24h"  # a websocket idle through a long talk is not cut
CONNECTIONS_PER_PARTICIPANT = 2  # browser -> nginx and nginx -> worker


class ProxyError(RuntimeError):
    """nginx is missing, refused its configuration or did not start; the message says which."""


@dataclass(frozen=True)
class Upstream:
    """One worker as nginx sees it."""

    port: int
    host: str = "127.0.0.1"
    down: bool = False

    @property
    def address(self) -> str:
        """host:port as nginx writes it (IPv6 in brackets), in `server` lines and in `$upstream_addr`."""
        return listen_address(self.host, self.port)

    def line(self) -> str:
        flags = " down" if self.down else " max_fails=2 fail_timeout=5s"
        return f"        server {self.address}{flags};"


def listen_address(address: str, port: int) -> str:
    """nginx's `listen` argument: IPv6 addresses in brackets."""
    if ":" in address and not address.startswith("["):
        address = f"[{address}]"
    return f"{address}:{port}"


def worker_id(index: int) -> str:
    """The cookie value (and upstream group name suffix) of worker `index`."""
    return f"w{index}"


def _groups(upstreams: list[Upstream]) -> str:
    """The `fresh` group and one group per worker: itself first, the live others as backups (`config`
    has already brought every worker up when all were down, so a group always has a live server)."""

    def group(name: str, lines: list[str], balance: str = "") -> str:
        return "\n".join(
            [
                f"    upstream {name} {{",
                *([f"        {balance};"] if balance else []),
                *lines,
                "        keepalive 16;",
                "    }",
            ]
        )

    out = [group("sslx_fresh", [u.line() for u in upstreams], "least_conn")]
    for i, u in enumerate(upstreams):
        backups = [f"        server {o.address} backup;" for j, o in enumerate(upstreams) if j != i and not o.down]
        out.append(group(f"sslx_{worker_id(i)}", [u.line(), *backups]))
    return "\n".join(out)


def config(
    upstreams: list[Upstream],
    *,
    address: str,
    port: int,
    prefix: Path,
    max_upload_mb: int = 5,
    participants: int = 4000,
    worker_processes: int = 1,
    cookie: str = COOKIE,
) -> str:
    """The whole nginx.conf for the proxy on `address:port` in front of `upstreams`; every path nginx
    writes (pid, logs, temporary files) lies under `prefix`, so no root and no system nginx is needed.
    `cookie`: the name of the cookie that keeps a browser on its upstream."""
    if not upstreams:
        raise ValueError("nginx needs at least one worker")
    if all(u.down for u in upstreams):  # nginx refuses a group with every server down
        upstreams = [Upstream(u.port, u.host, False) for u in upstreams]
    prefix = Path(prefix).resolve()
    connections = max(1024, participants * CONNECTIONS_PER_PARTICIPANT)
    temp = "\n".join(
        f"    {name}_temp_path {prefix / 'temp' / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    known = "\n".join(f"        {worker_id(i)} sslx_{worker_id(i)};" for i in range(len(upstreams)))
    served = "\n".join(
        f'        "~(^|, ){re.escape(u.address)}$" "{cookie}={worker_id(i)}; Path=/; HttpOnly; SameSite=Lax";'
        for i, u in enumerate(upstreams)
    )
    return f"""# written by explorer/serving/proxy.py; regenerated on every change of the workers
worker_processes {worker_processes};
worker_rlimit_nofile {connections * 2};
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{
    worker_connections {connections};
}}
http {{
    access_log off;
{temp}
    client_max_body_size {max_upload_mb + 1}m;
    gzip on;
    gzip_types text/css application/javascript application/json image/svg+xml;

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        "" "";
    }}
    # the browser's worker, if its cookie names one; anything else is a new browser
    map $cookie_{cookie} $sslx_group {{
        default sslx_fresh;
{known}
    }}
    # the cookie names the worker that really served the response (the last address nginx tried)
    map $upstream_addr $sslx_cookie {{
        default "";
{served}
    }}

{_groups(upstreams)}

    server {{
        listen {listen_address(address, port)};
        location / {{
            proxy_pass http://$sslx_group;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout {READ_TIMEOUT};
            proxy_send_timeout {READ_TIMEOUT};
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_buffering off;
            proxy_request_buffering off;
            add_header Set-Cookie $sslx_cookie always;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


def find_nginx() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if not found:
        raise ProxyError("nginx is not installed: `make setup` installs it (apt-get install nginx)")
    return found


class Nginx:
    """nginx as a child of the server: started in the foreground on a generated configuration, reloaded
    when the workers change, stopped with the server."""

    def __init__(self, prefix: Path, binary: str | None = None):
        self.prefix = Path(prefix).resolve()
        self.binary = binary or find_nginx()
        self.conf = self.prefix / "nginx.conf"
        self.proc: subprocess.Popen | None = None

    def _args(self, *extra: str) -> list[str]:
        return [self.binary, "-p", str(self.prefix), "-c", str(self.conf), "-e", str(self.prefix / "error.log"), *extra]

    def write(self, text: str) -> None:
        """Write and check a configuration; a refused one raises with nginx's own words."""
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.prefix / "temp" / name).mkdir(parents=True, exist_ok=True)
        self.prefix.chmod(0o755)  # nginx's workers may run as another user when started as root
        new = self.conf.with_suffix(".new")
        new.write_text(text)
        checked = subprocess.run(
            [self.binary, "-t", "-q", "-p", str(self.prefix), "-c", str(new), "-e", str(self.prefix / "error.log")],
            capture_output=True,
            text=True,
        )
        if checked.returncode != 0:
            raise ProxyError("nginx refused the configuration: " + (checked.stderr or checked.stdout).strip())
        new.replace(self.conf)

    def start(self, text: str, timeout: float = 10.0) -> None:
        self.write(text)
        log = open(self.prefix / "nginx.out", "ab")
        self.proc = subprocess.Popen(
            self._args("-g", "daemon off;"), stdout=log, stderr=subprocess.STDOUT, preexec_fn=process.die_with_parent
        )
        deadline = time.monotonic() + timeout
        while not (self.prefix / "nginx.pid").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise ProxyError("nginx did not start: " + self.log_tail())
            time.sleep(0.05)

    def reload(self, text: str) -> None:
        """Apply a new configuration without dropping open connections (SIGHUP to the master)."""
        self.write(text)
        if self.alive():
            self.proc.send_signal(signal.SIGHUP)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        process.stop(self.proc, timeout=5, sig=signal.SIGTERM)  # fast shutdown: the workers stop too

    def log_tail(self, lines: int = 5) -> str:
        text = ""
        for name in ("error.log", "nginx.out"):
            path = self.prefix / name
            if path.exists():
                text += path.read_text(errors="replace")
        return " | ".join(text.strip().splitlines()[-lines:]) or "no message"


def _parse_upstream(item: str) -> list[Upstream]:
    host, _, port = item.rpartition(":")
    if not host or not port.isdigit():
        raise ProxyError(f"--upstream needs HOST:PORT, not {item!r}")
    return [Upstream(int(port), a) for a in addresses(host.strip("[]"))]


def addresses(host: str) -> list[str]:
    """Every IPv4/IPv6 address of `host` (a compose service name resolves to one per replica), sorted."""
    import socket

    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except socket.gaierror:
        raise ProxyError(f"the upstream {host!r} does not resolve") from None
    return sorted(found)


def main(argv: list[str] | None = None) -> None:
    """`python -m explorer.serving.proxy --upstream app:8501 [--port 8080]`: nginx alone, in front of
    workers that run elsewhere (the compose file's proxy service); an `--upstream` name that resolves
    to several replicas becomes one worker per address, each with its own value of the `sslx_replica` cookie
    (each replica's own nginx keeps `sslx_worker`)."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(description="nginx with sticky sessions in front of app workers")
    ap.add_argument("--upstream", action="append", required=True, metavar="HOST:PORT")
    ap.add_argument("--address", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--prefix", type=Path, default=Path("/tmp/ssl-explorer-proxy"))
    args = ap.parse_args(argv)
    args.prefix.mkdir(parents=True, exist_ok=True)
    try:
        ups = [u for item in args.upstream for u in _parse_upstream(item)]
        nginx = Nginx(args.prefix)
        nginx.write(config(ups, address=args.address, port=args.port, prefix=args.prefix, cookie=REPLICA_COOKIE))
    except ProxyError as exc:
        sys.exit(str(exc))
    os.execv(nginx.binary, nginx._args("-g", "daemon off;"))  # nginx itself becomes the container's process


if __name__ == "__main__":
    main()
