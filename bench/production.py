"""Corral as it runs in production, measured against calling Ollama directly, side by side in one run.

Starts what docker-compose runs, on this machine: PostgreSQL and Redis (the local ones), Corral under
gunicorn with deploy/gunicorn.conf.py and the production settings (DEBUG off, JSON logs, tracing to
an OTLP receiver, limits checked, audit records written), a Celery worker (gevent pool, beat inside it), and the Ollama
double as a fast upstream in its own process. Load comes from wrk (C, on loopback) and, for the
streams, from an asyncio client. Reports:

  P1  added latency, one call at a time, non-streaming: p50 and p99, Corral minus direct
  P2  requests per second at concurrency 16 and 64, Corral and direct
  P3  1,000 concurrent streams held to completion: added time to first token p50/p99; peak RSS
  P4  1,000 streams opened at the same instant (a batch job's burst): how many are served, how many
      refused and with what; time to first token; peak RSS
  P6  RSS of Corral's processes over a soak (default 10 minutes)
  floor  GET /healthz through the same server: what a request costs before Corral's own work

    apt-get install wrk
    .venv/bin/python bench/production.py                  # everything, about 15 minutes
    .venv/bin/python bench/production.py --soak-minutes 1 --only P1,P2
    .venv/bin/python bench/production.py --short          # every part, small and quick (the suite)
"""

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.load import pct, pct_of_some, refusals, streams, wrk, wrk_script  # noqa: E402
from bench.stack import UPSTREAM, Stack, production_stack  # noqa: E402
from bench.support import CpuBudget  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

QUESTION = "Why is the sky blue?"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--only", default="floor,P1,P2,P3,P4,P6")
    parser.add_argument("--seconds", type=int, default=15, help="length of each wrk run")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--soak-minutes", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (WEB_CONCURRENCY)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--ramp", type=float, default=10.0, help="P3: seconds over which streams open"
    )
    parser.add_argument(
        "--stream-seconds", type=float, default=20.0, help="P3, P4: how long each stream lasts"
    )
    parser.add_argument(
        "--short",
        action="store_true",
        help="every part, small: 1 s wrk runs, 60 streams of 1 s, a 6 s soak (the test suite)",
    )
    args = parser.parse_args()
    if args.short:
        args.seconds, args.streams, args.soak_minutes = 1, 60, 0.1
        args.ramp, args.stream_seconds = 1.0, 1.0
    only = set(args.only.split(","))
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")

    figures: dict = {"machine": f"{platform.node()}: {os.cpu_count()} cores, {platform.platform()}"}
    with production_stack(args.workers, route_cache_seconds=0.5 if args.short else 5.0) as stack:
        measure(stack, args, only, figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


def measure(stack: Stack, args, only: set[str], figures: dict) -> None:
    ollama, corral, token, rss = stack.ollama, stack.corral, stack.token, stack.rss
    direct_body = {
        "model": UPSTREAM,
        "messages": [{"role": "user", "content": QUESTION}],
        "stream": False,
    }
    corral_body = {**direct_body, "model": "llama3.2"}
    direct_url, corral_url = f"{ollama}/api/chat", f"{corral}/api/v1/chat"
    # warm up: connections, caches, JIT-less paths
    wrk(corral_url, corral_body, 4, min(5, args.seconds), token)
    wrk(direct_url, direct_body, 4, min(3, args.seconds))

    figures["rss_idle_mb"] = rss()
    if "P1" in only:
        direct = wrk(direct_url, direct_body, 1, args.seconds)
        through = wrk(corral_url, corral_body, 1, args.seconds, token)
        figures["P1"] = {
            "direct": direct,
            "corral": through,
            "added_p50_ms": round(through["p50"] - direct["p50"], 2),
            "added_p99_ms": round(through["p99"] - direct["p99"], 2),
        }
        print(f"P1 one at a time: direct p50 {direct['p50']:.2f} ms p99 {direct['p99']:.2f} ms; "
              f"Corral p50 {through['p50']:.2f} ms p99 {through['p99']:.2f} ms; added p50 "
              f"{figures['P1']['added_p50_ms']:.2f} ms, p99 {figures['P1']['added_p99_ms']:.2f} ms")  # fmt: skip
    if "floor" in only:
        # The same server, middleware, server span and access line, no database or upstream:
        # what any request costs here before Corral's own work.
        alone = wrk(f"{corral}/healthz", None, 1, args.seconds)
        busy = wrk(f"{corral}/healthz", None, 16, args.seconds)
        figures["floor"] = {"one_at_a_time": alone, "concurrency_16": busy}
        print(f"floor GET /healthz: one at a time p50 {alone['p50']:.2f} ms p99 {alone['p99']:.2f} ms; "
              f"concurrency 16 {busy['rps']:.0f}/s")  # fmt: skip
    if "P2" in only:
        figures["P2"] = {}
        for connections in (16, 64):
            direct = wrk(direct_url, direct_body, connections, args.seconds)
            with CpuBudget(stack.parts()) as budget:
                through = wrk(corral_url, corral_body, connections, args.seconds, token)
            cpu = budget.per_call_ms(through["requests"])
            figures["P2"][connections] = {
                "direct": direct,
                "corral": through,
                "cpu_ms_per_call": cpu,
            }
            print(f"P2 concurrency {connections}: direct {direct['rps']:.0f}/s, Corral "
                  f"{through['rps']:.0f}/s (p50 {through['p50']:.1f} ms, p99 {through['p99']:.1f} ms, "
                  f"{through['errors']} errors of {through['requests']})\n"
                  f"   CPU ms per call: {', '.join(f'{k} {v}' for k, v in cpu.items())}")  # fmt: skip
    streaming = only & {"P3", "P4"}
    if streaming:
        # The 20 tokens spread over the stream's length: every stream is held that long, so
        # all of them are open at once.
        slow = stack.double("ollama-slow", free_port(), args.stream_seconds / 20)
        stack.point_default_backend(slow)
    slow_url = f"{slow}/api/chat" if streaming else ""
    stream_body = {**direct_body, "stream": True}
    corral_stream = ({**corral_body, "stream": True}, {"Authorization": f"Bearer {token}"})

    def held(ramp: float, refused: list) -> tuple[list[float], dict]:
        """Corral's streams opened over `ramp` seconds, with the peak RSS while they ran."""
        peak = {"web": 0.0, "celery": 0.0, "all_pss": 0.0}

        async def watched() -> list[float]:
            async def sample() -> None:
                while True:
                    now = rss()
                    for key in peak:
                        peak[key] = max(peak[key], now[key])
                    await asyncio.sleep(0.5)

            sampler = asyncio.create_task(sample())
            try:
                return await streams(corral_url, *corral_stream, args.streams, ramp, refused)
            finally:
                sampler.cancel()

        return asyncio.run(watched()), peak

    if "P3" in only:
        ramp = args.ramp
        direct_ttft = asyncio.run(streams(slow_url, stream_body, {}, args.streams, ramp))
        corral_ttft, peak = held(ramp, [])
        figures["P3"] = {
            "streams": args.streams,
            "completed_direct": len(direct_ttft),
            "completed_corral": len(corral_ttft),
            "direct_ttft_p50": round(pct(direct_ttft, 50), 2),
            "direct_ttft_p99": round(pct(direct_ttft, 99), 2),
            "corral_ttft_p50": round(pct(corral_ttft, 50), 2),
            "corral_ttft_p99": round(pct(corral_ttft, 99), 2),
            "peak_rss_mb": {k: round(v, 1) for k, v in peak.items()},
        }
        p3 = figures["P3"]
        print(f"P3 {args.streams} streams ({ramp:g} s ramp, ~{args.stream_seconds:g} s each): TTFT direct p50 "
              f"{p3['direct_ttft_p50']} ms p99 {p3['direct_ttft_p99']} ms; Corral p50 "
              f"{p3['corral_ttft_p50']} ms p99 {p3['corral_ttft_p99']} ms; added p50 "
              f"{p3['corral_ttft_p50'] - p3['direct_ttft_p50']:.1f} ms, p99 "
              f"{p3['corral_ttft_p99'] - p3['direct_ttft_p99']:.1f} ms; peak RSS web "
              f"{peak['web']:.0f} MB, celery {peak['celery']:.0f} MB, all together "
              f"{peak['web'] + peak['celery']:.0f} MB (PSS {peak['all_pss']:.0f} MB)")  # fmt: skip
    if "P4" in only:
        direct_refused: list = []
        direct_ttft = asyncio.run(
            streams(slow_url, stream_body, {}, args.streams, 0.0, direct_refused)
        )
        refused: list = []
        corral_ttft, peak = held(0.0, refused)
        reasons = refusals(refused)
        figures["P4"] = {
            "streams": args.streams,
            "served_direct": len(direct_ttft),
            "served_corral": len(corral_ttft),
            "refused_corral": reasons,
            "corral_ttft_p50": pct_of_some(corral_ttft, 50),
            "corral_ttft_p99": pct_of_some(corral_ttft, 99),
            "direct_ttft_p99": pct_of_some(direct_ttft, 99),
            "peak_rss_mb": {k: round(v, 1) for k, v in peak.items()},
        }
        p4 = figures["P4"]
        print(f"P4 {args.streams} streams opened at once: direct served {p4['served_direct']} "
              f"(TTFT p99 {p4['direct_ttft_p99']} ms); Corral served {p4['served_corral']}, "
              f"refused {sum(reasons.values())} {reasons or ''} (TTFT p50 {p4['corral_ttft_p50']} ms, "
              f"p99 {p4['corral_ttft_p99']} ms); peak RSS web {peak['web']:.0f} MB, celery "
              f"{peak['celery']:.0f} MB (PSS of all {peak['all_pss']:.0f} MB)")  # fmt: skip
    if streaming:
        stack.point_default_backend(ollama)
    if "P6" in only:
        seconds = int(args.soak_minutes * 60)
        load = subprocess.Popen(
            ["wrk", "-t2", "-c16", f"-d{seconds}s", "-s", wrk_script(corral_body, token), corral_url],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        samples: list[tuple[float, float]] = []
        started = time.monotonic()
        every = min(10.0, seconds / 3)
        while load.poll() is None:
            samples.append((time.monotonic() - started, rss()["web"]))
            time.sleep(every)
        out = load.stdout.read()
        after_warmup = [mb for at, mb in samples if at >= min(60, seconds / 3)] or [samples[-1][1]]
        first, last = after_warmup[0], after_warmup[-1]
        figures["P6"] = {
            "minutes": args.soak_minutes,
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "rss_first_mb": round(first, 1),
            "rss_last_mb": round(last, 1),
            "rss_max_mb": round(max(after_warmup), 1),
            "growth_pct": round((last - first) / first * 100, 1),
            "samples": [(round(at), round(mb, 1)) for at, mb in samples],
        }
        p6 = figures["P6"]
        print(f"P6 soak {args.soak_minutes:g} min at concurrency 16 ({p6['requests']} calls): web RSS "
              f"{p6['rss_first_mb']} MB after the first minute -> {p6['rss_last_mb']} MB at the end "
              f"(max {p6['rss_max_mb']}), growth {p6['growth_pct']} %")  # fmt: skip
    figures["rss_end_mb"] = rss()


if __name__ == "__main__":
    main()
