"""gradlab's benchmarks: `python -m benchmarks` runs them all and rewrites their results.

Each benchmark owns one section of `benchmarks/README.md`, between the markers
`<!-- results:NAME -->` and `<!-- /results:NAME -->`; the rest of the README is written by
hand and left as it is:

- `benchmarks.engine_bench` times the autograd engine against PyTorch, HIPS autograd and
  hand-written NumPy;
- `benchmarks.check_cost` times the finite-difference check against the tensor's size;
- `benchmarks.request_profile` splits one request's time into its steps, in-process and
  through HTTP;
- `benchmarks.load` drives the real server with concurrent clients, against the ceiling of a
  FastAPI app that does nothing (`benchmarks.hello_app`).
"""

import os

# `python -m benchmarks` pins every library of its own process to one thread (see
# __main__). This package is imported before that happens: what was found is kept here, so
# that the servers the load benchmarks start get the environment as it was, as deployed.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
FOUND_THREAD_ENV = {name: os.environ.get(name) for name in THREAD_VARIABLES}
