"""Where the service's workers spend their time under GET load, sampled with py-spy.

py-spy reads the workers' stacks from outside (``--nonblocking``: without
pausing them), so the profile costs them next to nothing. It follows the
gunicorn master's children (``--subprocesses``) rather than one worker's pid:
gunicorn.conf.py recycles workers (``max_requests``), and under load a worker
lives about as long as a profile does. Samples are recorded
in py-spy's ``raw`` (collapsed stack) format, aggregated by function
(``--function``), and summed here into own time (the function is the leaf
frame) and total time (the function is anywhere on the stack).
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

RATE = 200  # samples per second
# Frames on nearly every stack (gunicorn's main loop) say nothing about where time goes.
_WRAPPER_SHARE = 0.95
_REPO = str(Path(__file__).resolve().parent.parent)
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
# Grouping of leaf frames by the code they belong to, in the order checked.
_AREAS = (
    ("redis-py (commands, cluster routing, its socket reads and writes)", ("/redis/", "/hiredis/")),
    ("gunicorn (parsing, writing the response, closing)", ("/gunicorn/",)),
    ("werkzeug", ("/werkzeug/",)),
    ("flask / flask-restful", ("/flask/", "/flask_restful/")),
    ("pydantic", ("/pydantic/", "/pydantic_core/")),
    ("JSON (simplejson/orjson/json)", ("/simplejson/", "/json/", "orjson")),
    ("prometheus-client", ("/prometheus_client/",)),
    ("logging", ("/logging/",)),
    ("the service (app/)", (f"{_REPO}/app/",)),
    ("sockets, ssl, select (stdlib)", ("socket.py", "selectors.py", "ssl.py")),
)


@dataclass(frozen=True)
class Profile:
    samples: int
    wrappers: int  # functions left out of ``total``: on at least 95 % of the stacks
    own: list[tuple[str, int]]
    total: list[tuple[str, int]]
    areas: list[tuple[str, int]]
    raw_path: Path


def py_spy() -> str | None:
    """The py-spy next to this interpreter (pip installs it there), else on PATH."""
    sibling = Path(sys.executable).with_name("py-spy")
    return str(sibling) if sibling.exists() else shutil.which("py-spy")


def record(master: int, seconds: int, stem: Path) -> tuple[Profile, Profile]:
    """Sample the workers of ``master`` for ``seconds`` twice at once: all samples, and those holding the GIL.

    A sync worker releases the GIL while it waits in a socket call (for Redis,
    for the client, or for a CPU on a busy machine); the ``--gil`` samples are
    therefore the Python work alone, the others the worker's whole time.
    """
    binary = py_spy()
    if binary is None:
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install -r requirements-dev.txt")
    paths = {"all": stem.with_suffix(".txt"), "gil": stem.with_name(f"{stem.name}-gil.txt")}
    processes: dict[str, subprocess.Popen[str]] = {}
    try:
        for kind, path in paths.items():
            command = [
                binary, "record", "--pid", str(master), "--subprocesses", "--duration", str(seconds),
                "--rate", str(RATE), "--nonblocking", "--function", "--full-filenames", "--format", "raw",
                "--output", str(path),
            ]  # fmt: skip
            if kind == "gil":
                command.append("--gil")
            processes[kind] = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        for kind, process in processes.items():
            output, _ = process.communicate(timeout=seconds + 60)
            if process.returncode != 0 or not paths[kind].exists():
                raise RuntimeError(f"py-spy failed: {output.strip()[-800:]}")
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return summarize(paths["all"]), summarize(paths["gil"])


def summarize(raw_path: Path) -> Profile:
    """Own and total samples per function, and own samples per area of code."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    areas: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw_path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        # --subprocesses puts "process <pid>:<command>" frames (master, worker) on top.
        frames = [_short(frame) for frame in stack.split(";") if not frame.startswith("process ")]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
        areas[_area(stack.split(";")[-1])] += count
    wrappers = {name for name, count in total.items() if count >= _WRAPPER_SHARE * samples}
    inner = [(name, count) for name, count in total.most_common() if name not in wrappers][:15]
    return Profile(samples, len(wrappers), own.most_common(15), inner, areas.most_common(), raw_path)


def _short(frame: str) -> str:
    """``get (/…/site-packages/redis/cluster.py:12)`` -> ``get (redis/cluster.py)``."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match.group("file")
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            path = path.split("/", 1)[1] if marker == "/lib/python3" else path
            break
    else:
        path = path.removeprefix(_REPO + "/")
    return f"{match.group('function')} ({path})"


def _area(frame: str) -> str:
    for area, markers in _AREAS:
        if any(marker in frame for marker in markers):
            return area
    return "other (stdlib, interpreter)"
