"""The ceiling of the load benchmark: a FastAPI app that does nothing, served like gradlab.

One synchronous endpoint, as `POST /backward` is (FastAPI runs both in its thread pool),
answering a small JSON object and leaving the request body unread. Served by
`python -m uvicorn benchmarks.hello_app:app` with the same host, port, worker count, log
level and access log setting as `python -m app`: what the HTTP stack itself costs a
request, with no validation, engine or answer to write.
"""

from fastapi import FastAPI

app = FastAPI(title="hello")


@app.api_route("/hello", methods=["GET", "POST"])
def hello() -> dict[str, str]:
    return {"hello": "world"}
