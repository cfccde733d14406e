"""gradlab's benchmarks: `python -m benchmarks` runs them all and rewrites their results.

Each benchmark owns one section of `benchmarks/README.md`, between the markers
`<!-- results:NAME -->` and `<!-- /results:NAME -->`; the rest of the README is written by
hand and left as it is. `benchmarks.engine_bench` times the autograd engine against
PyTorch, HIPS autograd and hand-written NumPy.
"""
