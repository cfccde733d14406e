"""`python -m app`: serve gradlab with uvicorn on the configured host, port and workers."""

import uvicorn

from app.settings import get_settings


def main() -> None:
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
