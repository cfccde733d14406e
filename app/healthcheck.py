"""`python -m app.healthcheck`: exit 0 when `/healthz` answers ok, 1 otherwise.

The container's HEALTHCHECK runs this, so that the image needs no curl.
"""

import os
import sys
import urllib.request


def main() -> int:
    port = os.environ.get("GRADLAB_PORT", "8000")
    host = os.environ.get("GRADLAB_HOST", "127.0.0.1")
    if host in ("", "0.0.0.0", "::"):  # every address: the loopback one among them
        host = "127.0.0.1"
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 0 if response.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
