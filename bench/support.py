"""What the benchmarks share: running manage.py for a Corral process environment, waiting for a
server to answer, and reading the memory and CPU time of processes from /proc."""

import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def manage(env: dict, *args: str) -> str:
    """Run a management command in the given environment; its stdout."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def wait_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def rss_mb(pids: list[int], field: str = "Rss") -> float:
    """Resident memory of the processes, summed. Rss counts a page shared by several processes
    (the interpreter, the libraries' code) in each of them; Pss splits it among them."""
    total = 0
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        match = re.search(rf"^{field}:\s+(\d+) kB", rollup, re.MULTILINE)
        total += int(match.group(1)) if match else 0
    return total / 1024


def tree(root: int) -> list[int]:
    """A process and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int(
                    Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (FileNotFoundError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def pids_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == name:
                found.append(int(entry.name))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK"), sum(ticks) / os.sysconf("SC_CLK_TCK")


class CpuBudget:
    """CPU seconds each part of the stack used during a run, and the machine's busy share: where
    a call's cost goes when the two cores are shared by everything."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]):
        self.groups = groups

    def __enter__(self) -> "CpuBudget":
        self.before = {name: cpu_seconds(pids()) for name, pids in self.groups.items()}
        self.children_before = children_cpu()
        self.machine_before = machine_busy_seconds()
        return self

    def __exit__(self, *exc) -> None:
        self.used = {
            name: cpu_seconds(pids()) - self.before[name] for name, pids in self.groups.items()
        }
        self.used["load generator (wrk)"] = children_cpu() - self.children_before
        busy, total = machine_busy_seconds()
        self.machine_busy = busy - self.machine_before[0]
        self.machine_total = total - self.machine_before[1]

    def per_call_ms(self, calls: int) -> dict:
        budget = {name: round(seconds * 1000 / calls, 2) for name, seconds in self.used.items()}
        budget["everything else on the machine"] = round(
            (self.machine_busy - sum(self.used.values())) * 1000 / calls, 2
        )
        budget["machine busy %"] = round(100 * self.machine_busy / self.machine_total, 1)
        return budget


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
