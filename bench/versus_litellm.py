"""Corral beside LiteLLM's proxy, in one run, against the same upstream with the same request.

    .venv/bin/python bench/versus_litellm.py               # 3 rounds of 15 s wrk runs, 1,000 streams at once
    .venv/bin/python bench/versus_litellm.py --short       # seconds (the test suite runs it)

LiteLLM's proxy is installed, pinned, in a virtualenv of its own (~/.cache/corral/litellm-<version>/,
kept between checkouts; never in Corral's requirements) and run in its lightest setup: one worker, no database, no auth. Corral runs as
production does (bench/stack.py: PostgreSQL, Redis limits, audit records, spans, Celery). Both call the
same Ollama double; the same OpenAI-shaped chat request goes to LiteLLM's /v1/chat/completions,
Corral's /v1/chat/completions and (in Ollama's shape) straight to the double. Reported: one call at a
time (p50, and what each adds to the direct call), calls per second at concurrency 16 and 64, the
CPU each gateway's own processes spent per call at concurrency 1 and 16 (LiteLLM's process; Corral's
gunicorn master and workers, its PostgreSQL and Redis work not included), the whole machine's CPU
per call at concurrency 16 and where it went (a gateway that keeps every core busy serves the cores'
milliseconds a second divided by it), then N streams opened at the same instant against each (served,
refused, time to first token, peak memory of all the processes of each), and the ratios.
The wrk runs are repeated in interleaved rounds (`--rounds`, every door at one level back to back in
each), and the medians are shown with each round's ratio: the shared machine's speed drifts by a
fifth within minutes, and a ratio of two runs minutes apart compares the machine as much as the
gateways.
"""

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.load import pct_of_some, refusals, streams, wrk  # noqa: E402
from bench.stack import UPSTREAM, production_stack  # noqa: E402
from bench.support import CpuBudget, rss_mb, tree, wait_up  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

LITELLM = "1.80.0"
QUESTION = [{"role": "user", "content": "Why is the sky blue?"}]


def litellm_venv(version: str) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    venv = cache / "corral" / f"litellm-{version}"
    if not (venv / "bin" / "litellm").exists():
        print(f"installing litellm[proxy]=={version} into {venv} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", f"litellm[proxy]=={version}"], check=True
        )
    return venv


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=15, help="length of each wrk run")
    parser.add_argument("--streams", type=int, default=1000, help="opened at the same instant")
    parser.add_argument("--stream-seconds", type=float, default=3.0, help="how long each lasts")
    parser.add_argument("--litellm", default=LITELLM, help="LiteLLM's version")
    parser.add_argument(
        "--rounds", type=int, default=3, help="each door's wrk runs, interleaved; medians shown"
    )
    parser.add_argument("--short", action="store_true", help="1 s runs, 50 streams (the suite)")
    args = parser.parse_args()
    if args.short:
        args.seconds, args.streams, args.stream_seconds, args.rounds = 1, 50, 1.0, 1
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    venv = litellm_venv(args.litellm)

    with production_stack(route_cache_seconds=0.5 if args.short else 5.0) as stack:
        slow = stack.double("ollama-slow", free_port(), args.stream_seconds / 20)
        config = stack.logs / "litellm.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "model_list": [
                        {
                            "model_name": name,
                            "litellm_params": {"model": f"ollama_chat/{UPSTREAM}", "api_base": url},
                        }
                        for name, url in (("llama3.2", stack.ollama), ("llama3.2-slow", slow))
                    ]
                }
            )
        )
        port = free_port()
        proxy = stack.start(
            "litellm",
            [str(venv / "bin" / "litellm"), "--config", str(config), "--port", str(port),
             "--host", "127.0.0.1", "--num_workers", "1"],
            # its own environment: with Corral's DATABASE_URL it would want a database of its own
            env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
                 "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False"},
        )  # fmt: skip
        litellm = f"http://127.0.0.1:{port}"
        wait_up(f"{litellm}/health/liveliness", timeout=180)

        body = {"model": "llama3.2", "messages": QUESTION, "stream": False}
        # each door, and which of the parts is the gateway's own CPU (the direct call has none)
        parts = {**stack.parts(), "LiteLLM": lambda: tree(proxy.pid)}
        doors = {
            "direct": (f"{stack.ollama}/api/chat", {**body, "model": UPSTREAM}, "", None),
            "LiteLLM": (f"{litellm}/v1/chat/completions", body, "", "LiteLLM"),
            "Corral /v1": (f"{stack.corral}/v1/chat/completions", body, stack.token, "Corral web"),
            "Corral /api/v1/chat": (f"{stack.corral}/api/v1/chat", body, stack.token, "Corral web"),
        }
        for url, request, token, _ in doors.values():  # warm up
            wrk(url, request, 4, min(3, args.seconds), token)
        # The shared machine's speed drifts by a fifth within minutes: each round runs every door
        # at one level back to back, so a round's ratios compare runs minutes apart at most.
        runs: dict[str, dict] = {name: {"one": [], 16: [], 64: []} for name in doors}
        for _ in range(args.rounds):
            for level, connections in (("one", 1), (16, 16), (64, 64)):
                for name, (url, request, token, gateway) in doors.items():
                    runs[name][level].append(
                        _measured(url, request, connections, args.seconds, token, parts, gateway)
                    )
        rows = {
            name: {level: _median(done) for level, done in levels.items()}
            for name, levels in runs.items()
        }

        stack.point_default_backend(slow)
        stream_body = {"messages": QUESTION, "stream": True}
        burst = {
            "LiteLLM": (
                f"{litellm}/v1/chat/completions",
                {**stream_body, "model": "llama3.2-slow"},
                {},
                lambda: tree(proxy.pid),
            ),
            "Corral /v1": (
                f"{stack.corral}/v1/chat/completions",
                {**stream_body, "model": "llama3.2"},
                {"Authorization": f"Bearer {stack.token}"},
                lambda: stack.corral_pids()["web"] + stack.corral_pids()["celery"],
            ),
        }
        bursts = {}
        for name, (url, request, headers, pids) in burst.items():
            bursts[name] = asyncio.run(_burst(url, request, headers, args.streams, pids))

    direct = rows["direct"]
    print(
        f"\nSide by side, one run, {args.seconds} s per wrk run (LiteLLM {args.litellm}, one worker)"
        + (f", the median of {args.rounds} interleaved rounds:" if args.rounds > 1 else ":")
    )
    print(
        f"{'':24s}{'one at a time p50':>20s}{'added p50':>12s}{'calls/s c16':>14s}{'calls/s c64':>14s}"
        f"{'gateway CPU/call c1, c16':>28s}"
    )
    for name, row in rows.items():
        added = "" if name == "direct" else f"{row['one']['p50'] - direct['one']['p50']:.2f} ms"
        cpu = "" if name == "direct" else f"{row['one']['cpu_ms']:.2f}, {row[16]['cpu_ms']:.2f} ms"
        errors = sum(row[k]["errors"] for k in ("one", 16, 64))
        print(f"{name:24s}{row['one']['p50']:>17.2f} ms{added:>12s}{row[16]['rps']:>14.0f}"
              f"{row[64]['rps']:>14.0f}{cpu:>28s}" + (f"   ({errors} non-2xx)" if errors else ""))  # fmt: skip
    litellm_row = rows["LiteLLM"]
    for name in ("Corral /v1", "Corral /api/v1/chat"):
        print(f"{name} / LiteLLM: calls/s c16 {rows[name][16]['rps'] / litellm_row[16]['rps']:.2f}x, "
              f"c64 {rows[name][64]['rps'] / litellm_row[64]['rps']:.2f}x")  # fmt: skip
    if args.rounds > 1:
        for level in (16, 64):
            ratios = [
                corral["rps"] / litellm["rps"]
                for corral, litellm in zip(
                    runs["Corral /v1"][level], runs["LiteLLM"][level], strict=True
                )
            ]
            print(f"  round by round, Corral /v1 / LiteLLM at c{level}: "
                  + ", ".join(f"{ratio:.2f}x" for ratio in ratios))  # fmt: skip
    print(
        "\nThe whole machine's CPU per call at c16, part by part, and how busy it kept the machine:"
    )
    for name in ("LiteLLM", "Corral /v1"):
        used = rows[name][16]["machine"]
        shown = ", ".join(f"{part} {ms:.2f}" for part, ms in used.items() if ms >= 0.05)
        print(
            f"{name:12s} {sum(used.values()):.2f} ms ({rows[name][16]['busy']:.0f} % busy): {shown}"
        )
    cores = os.cpu_count() or 1
    target = 2 * litellm_row[16]["rps"]
    corral = rows["Corral /v1"][16]["machine"]
    beside = sum(corral[part] for part in ("PostgreSQL", "Redis", "Ollama double"))
    own = corral["Corral web"] + corral["Celery worker (and beat)"]
    print(f"Twice LiteLLM's calls/s at c16, {target:.0f}/s on {cores} cores, leaves a Corral call "
          f"{cores * 1000 / target:.2f} ms of the machine: its PostgreSQL, Redis and upstream take "
          f"{beside:.2f} ms, its own processes {own:.2f} ms")  # fmt: skip
    print(f"\n{args.streams} streams opened at the same instant (~{args.stream_seconds:g} s each):")
    for name, result in bursts.items():
        print(f"{name:12s} served {result['served']}/{args.streams}, refused {result['refused']} "
              f"{result['reasons'] or ''}; all done in {result['seconds']:.1f} s; TTFT p50 "
              f"{result['ttft_p50']} ms p99 {result['ttft_p99']} ms; peak RSS {result['rss']:.0f} MB "
              f"(PSS {result['pss']:.0f} MB)")  # fmt: skip


def _measured(
    url: str, body: dict, connections: int, seconds: int, token: str, parts, gateway: str | None
) -> dict:
    """A wrk run, with the CPU every part of the machine spent per call during it (user + system;
    the parts add up to the machine's busy time), the gateway's own processes (`gateway`, one of
    the parts) apart: unlike calls per second, it hardly moves with what else the shared machine
    is doing."""
    with CpuBudget(parts) as budget:
        result = wrk(url, body, connections, seconds, token)
    spent = budget.per_call_ms(max(result["requests"], 1))
    result["busy"] = spent.pop("machine busy %")
    result["machine"] = spent
    if gateway:
        result["cpu_ms"] = spent[gateway]
    return result


def _median(done: list[dict]) -> dict:
    """The median of each figure over a door's rounds at one level (the CPU parts each apart);
    the non-2xx answers of all of them."""
    figures = {
        key: statistics.median(run[key] for run in done)
        for key, value in done[0].items()
        if isinstance(value, int | float)
    }
    figures["errors"] = sum(run["errors"] for run in done)
    figures["machine"] = {
        part: statistics.median(run["machine"][part] for run in done) for part in done[0]["machine"]
    }
    return figures


async def _burst(url: str, body: dict, headers: dict, count: int, pids) -> dict:
    peak = {"rss": 0.0, "pss": 0.0}

    async def sample() -> None:
        while True:
            now = pids()
            peak["rss"] = max(peak["rss"], rss_mb(now))
            peak["pss"] = max(peak["pss"], rss_mb(now, "Pss"))
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample())
    refused: list = []
    started = time.monotonic()
    try:
        ttft = await streams(url, body, headers, count, 0.0, refused)
    finally:
        sampler.cancel()
    return {
        "served": len(ttft),
        "refused": len(refused),
        "reasons": refusals(refused),
        "seconds": time.monotonic() - started,
        "ttft_p50": pct_of_some(ttft, 50),
        "ttft_p99": pct_of_some(ttft, 99),
        **peak,
    }


if __name__ == "__main__":
    main()
