"""The Docker image, built from the repository's Dockerfile and run with podman.

No Docker engine runs here and Docker Hub cannot be reached, so the base image
is Debian bookworm made with debootstrap, with Debian's python3 (3.11) in place
of the official python image; it is imported as ``localhost/customers-base``
and kept between runs (rebuilt only when its recipe changes). The service's
image is built on top of it as ``docker build`` would, in the docker format so
that HEALTHCHECK is kept, and run:

- against a real 6-node Redis Cluster, as the least-privilege ACL user of the
  integration suite, on the host network: the nodes listen on 127.0.0.1 and
  announce 127.0.0.1 in the slot map, which only the host's own network
  namespace can reach;
- with no database, read-only, on the host network (loopback only), the
  embedded store on the ``/data`` volume.

Every container is removed at the end, whatever happens; the images are kept.
Without podman, runc or debootstrap these tests are skipped, and fail under CI
(``CI=true``): ``scripts/bootstrap --dev`` installs them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.backends import APP_PASSWORD, LEAST_PRIVILEGE, cluster_env
from tests.support.figures import record
from tests.support.redis_servers import LocalCluster, free_port
from tests.support.service import REPO, Http

IMAGE = "localhost/customers:test"
BASE_REPOSITORY = "localhost/customers-base"
BASE_LABEL = "customers.base.recipe"
# What goes into the base image; its hash names the image, so a change rebuilds it.
BASE_RECIPE = {
    "suite": "bookworm",
    "variant": "minbase",
    "include": ["python3", "python3-venv", "ca-certificates"],
    "mirror": "http://deb.debian.org/debian",
    "steps": 1,  # bump when _build_base changes what it does
}
# Left out of the base image: device nodes (the runtime makes its own), the
# package cache and lists, as the official Debian images do.
BASE_EXCLUDES = ("./dev/*", "./proc/*", "./sys/*", "./var/cache/apt/archives/*.deb", "./var/lib/apt/lists/*")
# crun fails on this machine's limits and cgroups; runc works with these limits.
RUNTIME = ("--runtime", "runc")
LIMITS = ("--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096")
# Outbound HTTPS goes through a proxy whose CA only the host's bundle has.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
TOOLS = ("podman", "runc", "debootstrap")

PODMAN_TIMEOUT = 120
DEBOOTSTRAP_TIMEOUT = 900
BUILD_TIMEOUT = 900
START_TIMEOUT = 30
STOP_GRACE = 10
FIGURES = "container image"


# --- podman -----------------------------------------------------------------


def _which(tool: str) -> str | None:
    """Also look in the sbin directories, where Debian puts runc and debootstrap."""
    return shutil.which(tool, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")


def podman(
    *args: str, timeout: float = PODMAN_TIMEOUT, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``podman ARGS`` with runc; on failure (when ``check``) raise with its output."""
    command = [_which("podman") or "podman", *RUNTIME, *args]
    result = subprocess.run(
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        output = result.stdout[-4000:] + result.stderr[-4000:]
        raise RuntimeError(f"{' '.join(command)} exited with {result.returncode}:\n{output}")
    return result


def inspect(kind: str, name: str) -> dict | None:
    """``podman KIND inspect NAME`` as a dict, or None when there is no such object."""
    result = podman(kind, "inspect", name, check=False)
    return json.loads(result.stdout)[0] if result.returncode == 0 else None


def container_state(name: str) -> dict:
    return inspect("container", name)["State"]


def container_log(name: str) -> str:
    result = podman("logs", name, check=False)
    return result.stdout + result.stderr


# --- the images ---------------------------------------------------------------


@pytest.fixture(scope="session")
def container_tools() -> None:
    missing = [tool for tool in TOOLS if _which(tool) is None]
    if missing:
        message = f"{', '.join(missing)} not found: scripts/bootstrap --dev installs them (Debian packages)"
        if os.environ.get("CI", "").lower() in {"true", "1", "yes"}:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def base_image(container_tools) -> str:
    """The debootstrapped Debian base, built once and reused while its recipe holds."""
    recipe = hashlib.sha256(json.dumps(BASE_RECIPE, sort_keys=True).encode()).hexdigest()[:12]
    name = f"{BASE_REPOSITORY}:{recipe}"
    existing = inspect("image", name)
    if existing and (existing.get("Labels") or {}).get(BASE_LABEL) == recipe:
        record(FIGURES, f"base image {name}: reused")
        return name
    started = time.monotonic()
    _build_base(name, recipe)
    record(FIGURES, f"base image {name}: built with debootstrap in {time.monotonic() - started:.0f} s")
    return name


def _build_base(name: str, recipe: str) -> None:
    if os.geteuid() != 0:
        raise RuntimeError(f"building {name} needs root (debootstrap); run the tests as root")
    root = Path(tempfile.mkdtemp(prefix="customers-base-", dir="/var/tmp"))
    try:
        result = subprocess.run(
            [
                _which("debootstrap"),
                f"--variant={BASE_RECIPE['variant']}",
                f"--include={','.join(BASE_RECIPE['include'])}",
                BASE_RECIPE["suite"],
                str(root),
                BASE_RECIPE["mirror"],
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=DEBOOTSTRAP_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"debootstrap failed:\n{(result.stdout + result.stderr)[-4000:]}")
        excludes = [f"--exclude={pattern}" for pattern in BASE_EXCLUDES]
        tar = subprocess.Popen(
            ["tar", "--numeric-owner", "-C", str(root), *excludes, "-c", "."],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
        )
        changes = ["--change", f"LABEL {BASE_LABEL}={recipe}", "--change", 'CMD ["python3"]']
        try:
            imported = subprocess.run(
                [_which("podman"), *RUNTIME, "import", *changes, "-", name],
                stdin=tar.stdout,
                capture_output=True,
                text=True,
                timeout=PODMAN_TIMEOUT,
                check=False,
            )
        finally:
            tar.stdout.close()
            tar.wait(PODMAN_TIMEOUT)
        if imported.returncode != 0 or tar.returncode != 0:
            raise RuntimeError(f"importing the base image failed (tar {tar.returncode}):\n{imported.stderr}")
        podman("tag", name, BASE_REPOSITORY)  # :latest, for PYTHON_IMAGE=localhost/customers-base by hand
    finally:
        _remove_root(root)


def _remove_root(root: Path) -> None:
    """Delete the debootstrap tree, but never through a mount (a bind-mounted /dev, say)."""
    for mount in sorted(_mounts_under(root), key=len, reverse=True):
        subprocess.run(["umount", mount], capture_output=True, timeout=30, check=False)
    if _mounts_under(root):
        print(f"left {root} in place: something is still mounted under it")
        return
    shutil.rmtree(root, ignore_errors=True)


def _mounts_under(root: Path) -> list[str]:
    mounts = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].encode().decode("unicode_escape")  # \040 for spaces
        if Path(point) == root or root in Path(point).parents:
            mounts.append(point)
    return mounts


def _pip_build_options() -> list[str]:
    """What pip in the build stage needs from this host: its CA bundle and index, if any.

    The bundle is mounted read-only (a RUN-time mount, not part of any layer) and
    named with a build argument, which only the build stage declares.
    """
    options: list[str] = []
    if HOST_CA_BUNDLE.is_file():
        directory = HOST_CA_BUNDLE.parent
        options += ["--volume", f"{directory}:{directory}:ro", "--build-arg", f"PIP_CERT={HOST_CA_BUNDLE}"]
    index = _host_index_url()
    if index:
        options += ["--build-arg", f"PIP_INDEX_URL={index}"]
    return options


def _host_index_url() -> str | None:
    """The host's pip index URL, when it sets one that a build could reach (http or https)."""
    index = os.environ.get("PIP_INDEX_URL")
    if not index:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        settings = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        for variant in (":env:", "site", "user", "global"):
            if f"{variant}.index-url" in settings:
                index = settings[f"{variant}.index-url"].strip("'\"")
                break
    return index if index and index.startswith(("http://", "https://")) else None


@pytest.fixture(scope="session")
def image(base_image) -> str:
    """``localhost/customers:test``, built from the repository on the local base."""
    previous = (inspect("image", IMAGE) or {}).get("Id")
    started = time.monotonic()
    podman(
        "build",
        "--format",
        "docker",  # the OCI format has no HEALTHCHECK
        "--pull=never",
        *LIMITS,
        "--build-arg",
        f"PYTHON_IMAGE={base_image}",
        *_pip_build_options(),
        "--tag",
        IMAGE,
        str(REPO),
        timeout=BUILD_TIMEOUT,
    )
    elapsed = time.monotonic() - started
    built = inspect("image", IMAGE)
    if previous and previous != built["Id"]:
        podman("rmi", previous, check=False)  # the image this build replaced, now untagged
    record(FIGURES, f"{IMAGE}: built in {elapsed:.0f} s, {built['Size'] / 1e6:.0f} MB")
    return IMAGE


def run_once(image: str, *command: str, user: str | None = None) -> str:
    """Run ``command`` in a throwaway container of ``image``; return its output."""
    options = ["--user", user] if user else []
    entrypoint, *args = command
    return podman(
        "run", "--rm", "--no-healthcheck", *LIMITS, *options, "--entrypoint", entrypoint, image, *args
    ).stdout


def test_image_runs_unprivileged_holds_no_secret_and_has_a_healthcheck(image, base_image):
    info = inspect("image", image)
    config = info["Config"]
    assert config["User"] == "customers"
    assert run_once(image, "id", "-u").strip() == "10001"
    # Nothing but /data belongs to that user: it cannot change the code it runs.
    assert run_once(image, "find", "/", "-xdev", "-user", "10001", user="root").split() == ["/data"]
    assert config["Entrypoint"] == ["gunicorn", "wsgi:app"]  # exec form: gunicorn is PID 1
    assert "DATA_DIR=/data" in config["Env"]
    assert "/data" in config["Volumes"]
    healthcheck = info.get("Healthcheck") or config.get("Healthcheck")
    assert healthcheck["Test"] == ["CMD", "python", "-m", "app.ops.healthcheck"]

    history = podman("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
    baked = "\n".join([history, json.dumps(config), json.dumps(info.get("Labels"))]).lower()
    build_only = ("pip_cert", "pip_index_url", "/etc/ssl/certs", _host_index_url())
    for secret in (*build_only, "password", "api_keys", APP_PASSWORD):
        if secret:
            assert secret.lower() not in baked, f"{secret!r} is in the image's history or configuration"
    # The host's CA bundle was mounted into the build, never copied: the image has the base's own.
    bundle = str(HOST_CA_BUNDLE)
    assert run_once(image, "sha256sum", bundle) == run_once(base_image, "sha256sum", bundle)


# --- running containers ---------------------------------------------------------


@contextlib.contextmanager
def running_container(image: str, *options: str, env: dict[str, str]) -> Iterator[str]:
    """``podman run --detach`` the image; the container and its volumes go at the end."""
    name = f"customers-test-{uuid.uuid4().hex[:12]}"
    env_options = [option for key, value in env.items() for option in ("--env", f"{key}={value}")]
    try:
        podman("run", "--detach", "--name", name, *LIMITS, *env_options, *options, image)
        yield name
    finally:
        podman("rm", "--force", "--volumes", "--time", "0", name, check=False)


def wait_until_serving(name: str, url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if not container_state(name)["Running"]:
            pytest.fail(f"the container exited:\n{container_log(name)[-4000:]}")
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the container did not answer within {START_TIMEOUT} s:\n{container_log(name)[-4000:]}")


def assert_healthy(name: str) -> None:
    """The image's HEALTHCHECK, run by podman (no systemd here to run it on a timer)."""
    result = podman("healthcheck", "run", name, check=False, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    state = container_state(name)
    assert (state.get("Health") or state.get("Healthcheck"))["Status"] == "healthy"


def stop_gracefully(name: str) -> float:
    """``podman stop``: SIGTERM reaches gunicorn, which exits 0 well within the grace time."""
    started = time.monotonic()
    podman("stop", "--time", str(STOP_GRACE), name, timeout=STOP_GRACE + 30)
    elapsed = time.monotonic() - started
    state, log = container_state(name), container_log(name)
    assert elapsed < STOP_GRACE, f"podman stop took {elapsed:.1f} s:\n{log[-4000:]}"
    assert state["ExitCode"] == 0, log[-4000:]
    assert "Handling signal: term" in log
    assert "Shutting down" in log
    record(FIGURES, f"podman stop: gunicorn exited 0 after {elapsed:.1f} s")
    return elapsed


@pytest.fixture(scope="module")
def cluster(container_tools, tmp_path_factory):
    with LocalCluster(tmp_path_factory.mktemp("container-cluster"), extra_config=LEAST_PRIVILEGE) as started:
        yield started


def test_serves_the_walkthrough_from_a_redis_cluster(image, cluster):
    port = free_port()
    env = {**cluster_env(cluster), "HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": "2"}
    with running_container(image, "--network", "host", env=env) as name:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(name, url)
        with Http(url) as http:
            assert http.get("/readyz").status_code == 200  # every primary answers the ACL user

            ada = {
                "name": "Ada Lovelace",
                "email": "ada@example.com",
                "phone": "+44 20 7946 0000",
                "address": "12 St James Square, London",
                "balance": 120.50,
            }
            created = http.post("/customers", json=ada)
            assert created.status_code == 201, created.text
            customer = created.json()
            assert {key: customer[key] for key in ada} == ada
            assert created.headers["Location"] == f"/customers/{customer['id']}"
            etag = created.headers["ETag"]
            for other in ({"name": "Alan Turing", "balance": 99}, {"name": "Grace Hopper", "balance": 0.30}):
                assert http.post("/customers", json=other).status_code == 201

            page = http.get("/customers?limit=2")
            assert page.status_code == 200
            assert [c["name"] for c in page.json()] == ["Ada Lovelace", "Alan Turing"]
            rest = http.get(page.links["next"]["url"])
            assert [c["name"] for c in rest.json()] == ["Grace Hopper"]
            assert "next" not in rest.links

            path = f"/customers/{customer['id']}"
            assert http.get(path).json() == customer
            updated = http.put(path, json={"balance": 0})
            assert updated.status_code == 204
            assert updated.headers["ETag"] != etag
            after = http.get(path).json()
            assert after["balance"] == 0
            assert after["name"] == "Ada Lovelace"
            client = cluster.client()
            try:
                stored = client.hgetall(f"customer:{customer['id']}")
            finally:
                client.close()
            assert stored["name"] == "Ada Lovelace"
            assert stored["balance"] == "0"

            invalid = http.post("/customers", json={"name": "", "balance": 1.234, "vip": True})
            assert invalid.status_code == 422
            assert {e["field"] for e in invalid.json()["errors"]} == {"name", "balance", "vip"}

            assert http.delete(path).status_code == 204
            gone = http.get(path)
            assert gone.status_code == 404
            assert gone.headers["Content-Type"] == "application/problem+json"
            assert gone.json()["type"].endswith(":problem:customer-not-found")

        assert_healthy(name)
        stop_gracefully(name)
        assert APP_PASSWORD not in container_log(name)


def test_read_only_container_keeps_the_embedded_store_on_its_data_volume(image):
    # Host network, as for the cluster test: a published port would forward to
    # the container's address on podman's bridge, and these tests send traffic
    # to loopback only.
    port = free_port()
    options = ("--read-only", "--read-only-tmpfs=false", "--network", "host")
    env = {"WEB_CONCURRENCY": "2", "HOST": "127.0.0.1", "PORT": str(port)}
    with running_container(image, *options, env=env) as name:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(name, url)
        assert "serving from the embedded store in /data" in container_log(name)
        with Http(url) as http:
            created = http.post("/customers", json={"name": "Grace Hopper", "balance": 0.30})
            assert created.status_code == 201, created.text
            path = created.headers["Location"]
            assert http.get(path).json() == created.json()
        assert_healthy(name)
        stop_gracefully(name)

        # Started again, on the same /data volume: the customer is still there.
        podman("start", name)
        wait_until_serving(name, url)
        with Http(url) as http:
            again = http.get(path)
            assert again.status_code == 200
            assert again.json() == created.json()
        stop_gracefully(name)
