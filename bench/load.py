"""Load for the benches: wrk (C, on loopback) for calls, an asyncio client for streams."""

import asyncio
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from collections import Counter

import httpx

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [[%s]]
wrk.headers["Content-Type"] = "application/json"
%s
"""


def wrk_script(body: dict | None, token: str = "") -> str:
    """A wrk script file: a POST of the JSON body (with the token), or a plain GET without one."""
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"' if token else ""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % (json.dumps(body), auth) if body is not None else "")
    return script.name


def wrk(url: str, body: dict | None, connections: int, seconds: int, token: str = "") -> dict:
    """wrk against the URL: a POST of the JSON body, or a plain GET without one."""
    script = wrk_script(body, token)
    threads = min(2, connections)
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            script,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script)

    def ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    percentiles = {
        int(p): ms(v) for p, v in re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", out, re.MULTILINE)
    }
    if 99 not in percentiles:
        raise SystemExit(f"wrk said:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": percentiles[50],
        "p99": percentiles[99],
        "errors": int(errors.group(1)) if errors else 0,
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
    }


async def streams(
    url: str, body: dict, headers: dict, count: int, ramp: float, refused: list | None = None
) -> list[float]:
    """Open `count` streams over `ramp` seconds (0: all at once), hold each to its end; time to
    first token of each served one. What was refused goes to `refused` (status and error code)."""
    ttft: list[float] = []
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:

        async def one(delay: float) -> None:
            await asyncio.sleep(delay)
            started = time.perf_counter()
            async with client.stream("POST", url, json=body, headers=headers) as response:
                if response.status_code != 200:
                    await response.aread()
                    code = response.json().get("error", {}) if response.content else {}
                    code = code.get("code", "") if isinstance(code, dict) else str(code)
                    if refused is not None:
                        refused.append((response.status_code, code))
                    raise RuntimeError(f"stream answered {response.status_code} {code}")
                first = None
                async for line in response.aiter_lines():
                    if first is None and line.strip() and not line.startswith("event:"):
                        first = (time.perf_counter() - started) * 1000
                        ttft.append(first)

        results = await asyncio.gather(
            *(one(ramp * i / count) for i in range(count)), return_exceptions=True
        )
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        print(f"  {len(failed)} streams failed: {failed[0]!r}")
    return ttft


def refusals(refused: list[tuple[int, str]]) -> dict[str, int]:
    """How many streams were refused with each status and error code."""
    return dict(Counter(f"{status} {code}" for status, code in refused))


def pct_of_some(values: list[float], q: int) -> float | None:
    """The percentile in ms, rounded, or None when there are too few values to have one."""
    return round(pct(values, q), 1) if len(values) > 1 else None


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]
