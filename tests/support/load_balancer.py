"""nginx (Debian's) in front of several Corral web nodes on this machine, with the proxy rules of
deploy/nginx/corral-proxy.conf: what docker-compose runs, with the nodes' addresses written in."""

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.support.processes import free_port, wait_until_healthy

ROOT = Path(__file__).resolve().parent.parent.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def nginx_config(nodes: list[str], port: int, prefix: Path) -> str:
    servers = "\n".join(
        f"        server {node.removeprefix('http://')} max_fails=2 fail_timeout=5s;"
        for node in nodes
    )
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
daemon off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 4096; }}
http {{
    access_log {prefix / "access.log"};
{temp}
    upstream corral {{
        least_conn;
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        include {ROOT / "deploy" / "nginx" / "corral-proxy.conf"};
    }}
}}
"""


@contextlib.contextmanager
def load_balancer(nodes: list[str], log_dir: Path) -> Iterator[str]:
    """nginx balancing over `nodes` (base URLs); yields its own base URL once it answers."""
    prefix = log_dir / "nginx"
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = prefix / "nginx.conf"
    config.write_text(nginx_config(nodes, port, prefix))
    command = [NGINX, "-e", str(prefix / "error.log"), "-p", str(prefix), "-c", str(config)]
    with (prefix / "stderr.log").open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until_healthy(base, timeout=15), (prefix / "error.log").read_text()
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)
