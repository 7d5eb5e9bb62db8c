"""Timing on a shared, noisy machine: warm-up, interleaved rounds, median and spread, busy detection.

Peers (minigrad, PyTorch, numpy, ...) are timed in the same process and interleaved:
each round times every peer once, in a rotated order, so a burst of noise from
another process lands on all of them alike instead of on whichever ran last. A
sample is ``number`` back-to-back calls, with ``number`` chosen so a sample lasts at
least ``min_time`` (tiny ops would otherwise measure the clock). The figure reported
is the median over rounds, with min and max beside it.

Busy detection compares the machine's busy CPU time (/proc/stat, all cores) with the
CPU time of this process over the same interval: the difference is what other
processes used, in cores. A short single-thread spin probe also checks whether this
process gets a whole core when it asks for one.
"""

import gc
import math
import os
import statistics
import time
from dataclasses import asdict, dataclass, field

# Other processes using more than this many cores on average mark a measurement busy.
BUSY_CORES = 0.25


@dataclass
class Stats:
    """Seconds per call for one peer on one workload."""

    median: float
    min: float
    max: float
    number: int  # calls per sample
    rounds: int
    first_call: float  # the first call, which includes any JIT compilation and caching
    samples: list = field(default_factory=list)

    def to_dict(self):
        return asdict(self)


def _sample(fn, number):
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def measure(callables, rounds=5, min_time=0.05, warmup=1, max_number=10_000, budget=None, min_rounds=3):
    """Time each zero-argument callable of ``callables`` ({peer: fn}); return {peer: Stats}.

    The first call of each peer is timed on its own (it includes compilation), then
    ``warmup`` untimed calls, then ``rounds`` interleaved samples. With ``budget``
    (seconds), fewer rounds (never below ``min_rounds``) are taken when ``rounds``
    would not fit: it keeps the whole suite's length bounded on a slow machine.
    """
    first, number, warm = {}, {}, {}
    for peer, fn in callables.items():
        first[peer] = _sample(fn, 1)
        for _ in range(warmup):
            fn()
        warm[peer] = _sample(fn, 1)  # a warm call sizes the sample
        number[peer] = max(1, min(max_number, math.ceil(min_time / max(warm[peer], 1e-9))))
    if budget is not None:
        per_round = sum(number[p] * warm[p] for p in callables)
        rounds = max(min(rounds, min_rounds), min(rounds, int(budget / max(per_round, 1e-9))))
    samples = {peer: [] for peer in callables}
    peers = list(callables)
    gc_was_enabled = gc.isenabled()
    try:
        for r in range(rounds):
            order = peers[r % len(peers):] + peers[:r % len(peers)]
            gc.collect()
            gc.disable()  # a collection inside a sample would be charged to whichever peer ran
            for peer in order:
                samples[peer].append(_sample(callables[peer], number[peer]))
            if gc_was_enabled:
                gc.enable()
    finally:
        if gc_was_enabled:
            gc.enable()
    return {
        peer: Stats(statistics.median(s), min(s), max(s), number[peer], rounds, first[peer], s)
        for peer, s in samples.items()
    }


def _proc_stat_busy_seconds():
    """Busy CPU seconds of the whole machine since boot (all cores), or None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait.
    ticks = [int(v) for v in fields[1:]]
    busy = sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)
    return busy / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds():
    t = os.times()
    return t.user + t.system  # every thread of this process


class LoadMonitor:
    """Measures how many cores other processes used between ``start()`` and ``stop()``."""

    def start(self):
        self.wall = time.perf_counter()
        self.machine = _proc_stat_busy_seconds()
        self.own = _own_cpu_seconds()
        return self

    def stop(self):
        """{'other_cores': float or None, 'loadavg': float or None, 'busy': bool}."""
        wall = time.perf_counter() - self.wall
        machine = _proc_stat_busy_seconds()
        own = _own_cpu_seconds() - self.own
        other = None
        if machine is not None and self.machine is not None and wall > 0:
            # Clock ticks are coarse (10 ms), so clamp the small negative noise to zero.
            other = max(0.0, (machine - self.machine - own) / wall)
        load = _loadavg()
        if other is not None:
            busy = other > BUSY_CORES
        else:  # no /proc/stat: fall back on the load average against the core count
            busy = load is not None and load > 0.5 * (os.cpu_count() or 1)
        return {"other_cores": other, "loadavg": load, "busy": busy}


def _loadavg():
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def spin_probe(seconds=0.2):
    """Fraction of a core one busy thread of this process gets (1.0 on an idle machine)."""
    start_wall, start_cpu = time.perf_counter(), time.thread_time()
    x = 0
    while time.perf_counter() - start_wall < seconds:
        x += 1
    wall = time.perf_counter() - start_wall
    return min(1.0, (time.thread_time() - start_cpu) / wall) if wall > 0 else 1.0


def machine_load(seconds=0.5):
    """A standalone check before a run: other processes' cores over ``seconds`` and the spin probe."""
    monitor = LoadMonitor().start()
    time.sleep(max(0.0, seconds - 0.2))
    probe = spin_probe(0.2)
    result = monitor.stop()
    result["spin_probe"] = probe
    result["busy"] = result["busy"] or probe < 0.9
    return result
