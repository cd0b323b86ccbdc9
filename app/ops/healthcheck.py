"""``python -m app.ops.healthcheck``: exit 0 if the local service answers /healthz.

The container's HEALTHCHECK runs this, so the image needs no curl.
"""

from __future__ import annotations

import sys
import urllib.request

from app.settings import ConfigError, Settings


def main() -> int:
    """Probe the service on this host at the configured port."""
    try:
        port = Settings.from_env().port
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 1
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return 0 if response.status == 200 else 1
    except OSError as error:
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
