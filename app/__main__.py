"""`python -m app`: serve gradlab with uvicorn on the configured host, port and workers."""

import os

# One BLAS thread per worker, unless the environment says otherwise: under concurrent requests,
# every worker starting a thread per core oversubscribes the machine (benchmarks/README.md: the
# MLP example fell from about 66 to 14 requests a second at 2 workers, unpinned). Set before NumPy
# loads, here and in the workers uvicorn starts, which inherit the environment.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import sys  # noqa: E402

import uvicorn  # noqa: E402

from app.settings import get_settings, settings_problems  # noqa: E402


def main() -> None:
    problems = settings_problems()
    if problems:
        print("gradlab: cannot start, the settings are wrong:", *problems, sep="\n  ", file=sys.stderr)
        sys.exit(2)
    settings = get_settings()
    uvicorn.run(
        "app.main:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=False,  # gradlab logs one line per request itself (app.middleware.RequestLog)
    )


if __name__ == "__main__":
    main()
