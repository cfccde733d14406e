"""`python -m app.healthcheck`: exit 0 when `/healthz` answers ok, 1 otherwise.

The container's HEALTHCHECK runs this, so that the image needs no curl.
"""

import os
import sys
import urllib.request


def main() -> int:
    given = {name.upper(): value for name, value in os.environ.items()}  # any case, as the settings read them
    port = given.get("GRADLAB_PORT", "8000")
    host = given.get("GRADLAB_HOST", "127.0.0.1")
    # Every address: its loopback one (an IPv6 socket of asyncio's takes IPv6 alone).
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 0 if response.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
