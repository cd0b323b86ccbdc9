"""The Docker image, built and run for real with podman (no Docker engine needed).

Every test here is marked ``slow``: it builds a Debian base image with
debootstrap (once; it is kept and reused), the service's image on top of it,
and runs containers against a real Redis Cluster and the embedded store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.slow)
