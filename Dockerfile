# gradlab: the FastAPI service and its NumPy autograd engine, served by uvicorn.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    GRADLAB_HOST=0.0.0.0 \
    GRADLAB_PORT=8000 \
    GRADLAB_WORKERS=2

# One BLAS thread per worker: two workers with a thread per core each oversubscribe two
# cores (the MLP example took about 5 times the CPU per answer under load; benchmarks/README.md).
ENV OPENBLAS_NUM_THREADS=1

# The server runs as this unprivileged user; it owns nothing in the image.
RUN groupadd --system --gid 10001 gradlab \
    && useradd --system --no-log-init --uid 10001 --gid gradlab \
        --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin gradlab

WORKDIR /srv/gradlab

# Dependencies get their own layer: it is rebuilt only when pyproject.toml changes.
# They are read from [project].dependencies, so pyproject.toml stays their one list.
COPY pyproject.toml ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > requirements.txt \
    && pip install --no-cache-dir --requirement requirements.txt \
    && rm requirements.txt

COPY README.md ./
COPY app/ app/
COPY engine/ engine/
RUN pip install --no-cache-dir --no-deps .

USER 10001:10001

EXPOSE 8000

# app.healthcheck asks GET /healthz on GRADLAB_PORT with the standard library: no curl needed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-m", "app.healthcheck"]

# `python -m app` serves on GRADLAB_HOST:GRADLAB_PORT with GRADLAB_WORKERS uvicorn workers.
CMD ["python", "-m", "app"]
