"""Throughput as web nodes are added behind nginx, in one run on one machine.

    .venv/bin/python bench/scale_out.py              # 1, 2 and 3 nodes, 10 s per wrk run
    .venv/bin/python bench/scale_out.py --short      # 1 and 2 nodes, 1 s runs (the test suite)

One production stack (bench/stack.py: PostgreSQL, Redis, Celery, spans) with N gunicorn nodes of one
worker each; for k = 1..N an nginx with deploy/nginx/corral-proxy.conf balances over the first k
nodes, and wrk sends the same chat call through it at concurrency 16. Every node shares one
PostgreSQL and one Redis, as docker-compose's `--scale web=N` does. On this 2-core machine the load
generator, nginx, PostgreSQL, Redis and the double share the same cores, so throughput rises while
there is a free core and flattens after; on separate hosts each node brings its own cores.
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.load import wrk  # noqa: E402
from bench.stack import production_stack  # noqa: E402
from tests.support.load_balancer import load_balancer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=3, help="the most web nodes")
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--short", action="store_true", help="1 s runs, up to 2 nodes (the suite)")
    args = parser.parse_args()
    if args.short:
        args.nodes, args.seconds = 2, 1
    if not shutil.which("wrk") or not shutil.which("nginx"):
        raise SystemExit("wrk and nginx are needed: apt-get install wrk nginx-light")

    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "Why is the sky blue?"}]}
    results = {}
    with production_stack(workers=1, nodes=args.nodes, route_cache_seconds=0.5) as stack:
        for count in range(1, args.nodes + 1):
            logs = Path(tempfile.mkdtemp(prefix=f"corral-nginx-{count}-", dir=stack.logs))
            with load_balancer(stack.nodes[:count], logs) as balancer:
                url = f"{balancer}/api/v1/chat"
                wrk(url, body, args.connections, min(2, args.seconds), stack.token)  # warm
                results[count] = wrk(url, body, args.connections, args.seconds, stack.token)

    print(
        f"\nweb nodes behind nginx (one gunicorn worker each), wrk c{args.connections}, "
        f"{args.seconds} s, {os.cpu_count()} cores:"
    )
    print(
        f"{'nodes':>6s}{'calls/s':>10s}{'x one node':>12s}{'p50 ms':>9s}{'p99 ms':>9s}{'non-2xx':>9s}"
    )
    for count, row in results.items():
        print(
            f"{count:6d}{row['rps']:10.0f}{row['rps'] / results[1]['rps']:12.2f}"
            f"{row['p50']:9.1f}{row['p99']:9.1f}{row['errors']:9d}"
        )


if __name__ == "__main__":
    main()
