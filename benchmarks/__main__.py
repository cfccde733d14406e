"""`python -m benchmarks`: run every benchmark, print its results, write them to the README.

python -m benchmarks                  # all of them, about three and a half minutes
python -m benchmarks --budget 0.2     # quicker and noisier
python -m benchmarks --no-write       # print only, leave README.md alone
python -m benchmarks --only load      # one benchmark (engine, check-cost, request or load)
python -m benchmarks --profile seed   # cProfile of the engine on one workload
"""

import os
import sys

# One thread for every library. OpenBLAS reads this when NumPy loads it, so it is set
# before anything imports NumPy; PyTorch is pinned by torch.set_num_threads(1).
# (The package, imported first, has kept what it found, for the servers it starts.)
from benchmarks import THREAD_VARIABLES

for _name in THREAD_VARIABLES:
    os.environ[_name] = "1"

import argparse  # noqa: E402
import importlib  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

README = Path(__file__).with_name("README.md")

# Each benchmark's README section and its module, whose `run(budget, log)` gives the section.
# In this order: the load benchmark, which starts servers and client processes, comes last.
BENCHMARKS = {
    "engine": "benchmarks.engine_bench",
    "check-cost": "benchmarks.check_cost",
    "request": "benchmarks.request_profile",
    "load": "benchmarks.load",
}


def main(argv: list[str] | None = None) -> None:
    numpy_was_loaded = "numpy" in sys.modules
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--budget", type=float, default=0.6, help="seconds of timing per implementation")
    parser.add_argument("--no-write", action="store_true", help="leave README.md unchanged")
    parser.add_argument("--only", choices=BENCHMARKS, action="append", help="run this one (may be repeated)")
    parser.add_argument("--profile", metavar="WORKLOAD", help="profile the engine on one")
    args = parser.parse_args(argv)
    if numpy_was_loaded:
        print("warning: NumPy was loaded before OPENBLAS_NUM_THREADS=1 was set", file=sys.stderr)

    from benchmarks.harness import write_section

    if args.profile:
        from benchmarks import engine_bench

        print(engine_bench.profile(args.profile))
        return

    started = time.perf_counter()
    for name in args.only or BENCHMARKS:
        run: Callable[..., str] = importlib.import_module(BENCHMARKS[name]).run
        print(f"{name}:", flush=True)
        start = time.perf_counter()
        section = run(budget=args.budget, log=lambda line: print(line, flush=True))
        print(f"  ({time.perf_counter() - start:.0f} s)\n")
        print(section)
        if not args.no_write:
            write_section(README, name, section)
            print(f"written to {README}")
    print(f"all done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
