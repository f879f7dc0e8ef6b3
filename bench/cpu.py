"""How busy the machine is, and how much of that is someone else's load (Linux /proc/stat).

On a 2-core machine any other load skews the figures badly, so the benchmark measures the CPU
time spent outside its own process tree during the run: the machine's busy time minus the time
of this process and of its reaped children (servers, wrk). Busy time includes irq and softirq:
the kernel here charges them to the interrupted task too (loopback traffic is processed in
softirqs), so leaving them out would make the benchmark's own time exceed the machine's. The
result is good to a few percent (tick sampling).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSample:
    wall_s: float
    machine_busy_s: float  # user + nice + system + irq + softirq, summed over all CPUs
    machine_idle_s: float  # idle + iowait
    own_s: float  # this process and its reaped children, user + system


def sample(live_children_s: float = 0.0) -> CpuSample:
    """Now; live_children_s is the CPU time of children not reaped yet (a running server)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    own = os.times()
    return CpuSample(
        wall_s=time.monotonic(),
        machine_busy_s=(fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / TICKS_PER_S,
        machine_idle_s=(fields[3] + fields[4]) / TICKS_PER_S,
        own_s=own.user + own.system + own.children_user + own.children_system + live_children_s,
    )


def busy_fraction(interval_s: float = 1.0) -> float | None:
    """Share of all CPUs' time spent busy over the next interval_s."""
    try:
        before = sample()
        time.sleep(interval_s)
        after = sample()
    except (OSError, ValueError, IndexError):
        return None
    busy = after.machine_busy_s - before.machine_busy_s
    idle = after.machine_idle_s - before.machine_idle_s
    return busy / (busy + idle) if busy + idle > 0 else None


def others_share(before: CpuSample, after: CpuSample) -> float:
    """Share of the machine's capacity used by processes outside the benchmark in between."""
    capacity = (after.wall_s - before.wall_s) * (os.cpu_count() or 1)
    others = (after.machine_busy_s - before.machine_busy_s) - (after.own_s - before.own_s)
    return max(0.0, others / capacity) if capacity > 0 else 0.0
