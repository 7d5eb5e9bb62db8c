"""Data-parallel scaling of LeNet-5 training over MPI: images/s, the allreduce's share, a projection.

Two ways to run it:

* ``python -m apps.bench.ddp_scaling --ranks 1,2,4`` launches ``mpiexec -n N`` for each N and
  prints a table (and writes JSON with ``--json``);
* ``mpiexec -n N python -m apps.bench.ddp_scaling --worker`` is one measurement: rank 0
  prints one JSON line.

Each rank trains on batch ``--batch-size`` (random images, so the data pipeline is not
measured) with SGD; minigrad.distributed pins threads so ranks x threads <= cores. Measured:
step time, images/s of the whole job, the time backward waited for gradient reductions
that had not finished (the *exposed* communication: buckets reduce while backward still
runs), and a separate blocking allreduce of the gradient's bytes (the full cost, and the
bandwidth it implies).

The projection to N machines uses the ring-allreduce cost 2(N-1)/N x bytes / bandwidth
(+ 2(N-1) x latency) added to the measured one-rank compute time, without counting any
overlap: a conservative estimate.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

# (name, bandwidth bytes/s, per-message latency s) for the projection
NETWORKS = [("10 GbE", 1.25e9, 30e-6), ("100 Gb InfiniBand", 12.5e9, 2e-6)]


def worker(batch_size, steps, warmup):
    import minigrad as mg
    import minigrad.distributed as dist
    import minigrad.functional as F
    from minigrad import optim
    from models import lenet5

    mg.manual_seed(0)
    model = dist.DistributedDataParallel(lenet5(activation="relu", pooling="max"))
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(dist.rank())
    x = mg.tensor(rng.random((batch_size, 1, 32, 32), dtype=np.float32))
    y = mg.tensor(rng.integers(0, 10, batch_size))

    def one_step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(warmup):
        one_step()
    dist.barrier()
    model.wait_seconds = 0.0
    start = time.perf_counter()
    for _ in range(steps):
        one_step()
    elapsed = float(dist.allreduce_(np.array([time.perf_counter() - start]), op="max")[0])
    waited = float(dist.allreduce_(np.array([model.wait_seconds]), op="mean")[0])
    numel = sum(p.numel() for p in model.parameters())
    flat = np.ones(numel, dtype=np.float32)
    times = []
    for _ in range(20):
        dist.barrier()
        t = time.perf_counter()
        dist.allreduce_(flat)
        times.append(time.perf_counter() - t)
    allreduce = float(dist.allreduce_(np.array([np.median(times)]), op="max")[0])
    if dist.rank() == 0:
        world = dist.world_size()
        print(json.dumps({
            "ranks": world, "threads_per_rank": dist.threads_per_rank(), "batch_per_rank": batch_size,
            "steps": steps, "step_s": elapsed / steps, "images_per_s": world * batch_size * steps / elapsed,
            "exposed_wait_s": waited / steps, "exposed_share": waited / elapsed,
            "allreduce_s": allreduce, "allreduce_share": allreduce / (elapsed / steps) if world > 1 else 0.0,
            "gradient_bytes": numel * 4,
            "bandwidth_Bps": 2 * (world - 1) / world * numel * 4 / allreduce if world > 1 else None,
        }), flush=True)


def launch(ranks, batch_size, steps, warmup):
    command = [shutil.which("mpiexec") or "mpiexec", "--oversubscribe", "-n", str(ranks)]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-run-as-root")
    command += [sys.executable, "-m", "apps.bench.ddp_scaling", "--worker", "--batch-size", str(batch_size),
                "--steps", str(steps), "--warmup", str(warmup)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise SystemExit(f"mpiexec -n {ranks} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(lines[-1])


def projection(compute_s, batch_size, gradient_bytes, machines=(1, 2, 4, 8, 16, 64)):
    rows = []
    for name, bandwidth, latency in NETWORKS:
        for n in machines:
            comm = 2 * (n - 1) / n * gradient_bytes / bandwidth + 2 * (n - 1) * latency
            rows.append({"network": name, "machines": n, "allreduce_s": comm,
                         "images_per_s": n * batch_size / (compute_s + comm),
                         "efficiency": compute_s / (compute_s + comm)})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", action="store_true", help="one measurement (run under mpiexec)")
    parser.add_argument("--ranks", default="1,2,4", help="comma-separated rank counts (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per rank per step (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (default: %(default)s)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.batch_size, args.steps, args.warmup)
    load = os.getloadavg()
    runs = [launch(int(n), args.batch_size, args.steps, args.warmup) for n in args.ranks.split(",")]
    print(f"LeNet-5, batch {args.batch_size} per rank, {os.cpu_count()} cores, load average before "
          f"{load[0]:.1f} and after {os.getloadavg()[0]:.1f}")
    print("ranks  threads/rank  step ms  images/s  exposed wait  blocking allreduce ms (share of step)")
    for r in runs:
        print(f"{r['ranks']:5d}  {str(r['threads_per_rank']):>12}  {1e3 * r['step_s']:7.1f}  {r['images_per_s']:8.0f}  "
              f"{100 * r['exposed_share']:11.1f}%  {1e3 * r['allreduce_s']:8.2f} ({100 * r['allreduce_share']:.1f}%)")
    base = runs[0]
    rows = projection(base["step_s"], args.batch_size, base["gradient_bytes"])
    print(f"projection from the 1-rank step ({1e3 * base['step_s']:.1f} ms) and {base['gradient_bytes']} gradient bytes:")
    for row in rows:
        print(f"  {row['network']:<18} {row['machines']:3d} machines: allreduce {1e3 * row['allreduce_s']:.2f} ms, "
              f"{row['images_per_s']:.0f} images/s, efficiency {100 * row['efficiency']:.0f}%")
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump({"runs": runs, "projection": rows, "load_before": load, "load_after": os.getloadavg()}, f, indent=1)
        os.replace(args.json + ".tmp", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
