"""The ceiling of the load benchmark: a FastAPI app that does nothing, served like gradlab.

`/hello` is a synchronous endpoint, as `POST /backward` is (FastAPI runs both in its thread pool),
answering a small JSON object and leaving the request body unread. Served by
`python -m uvicorn benchmarks.hello_app:app` with the same host, port, worker count, log
level and access log setting as `python -m app`: what the HTTP stack itself costs a
request, with no validation, engine or answer to write.

`/hello-async` is the same as an `async def` endpoint, which FastAPI runs on the event loop:
the difference between the two is what the thread pool's hop costs a request.
"""

from fastapi import FastAPI

app = FastAPI(title="hello")


@app.api_route("/hello", methods=["GET", "POST"])
def hello() -> dict[str, str]:
    return {"hello": "world"}


@app.api_route("/hello-async", methods=["GET", "POST"])
async def hello_async() -> dict[str, str]:
    return {"hello": "world"}
