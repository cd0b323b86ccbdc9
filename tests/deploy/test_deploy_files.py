"""The deployment files in deploy/, checked by the tools that will read them.

``systemd-analyze verify`` and ``systemd-analyze security`` check the unit,
``cfn-lint`` the CloudFormation template, and the rest keeps the files in step
with the code: the MemoryDB access string is ``app.ops.acl.access_string()``, the
unit runs ``gunicorn wsgi:app`` and waits longer than gunicorn's graceful
timeout, and every variable the files set is one the service reads.

``systemd-analyze verify`` insists that the ExecStart binary exists, and the
unit names where it will be on the server (/opt/customers/.venv/bin/gunicorn).
Rather than editing a copy of the unit, the tests give systemd-analyze a
throwaway root (``--root``): the unit, byte for byte, at its installed path,
an empty executable at the ExecStart path, and a copy of this machine's own
system units for the targets the unit is ordered after. systemd-analyze
needs no running systemd for this (PID 1 here is not systemd).

Nothing here skips: without systemd-analyze or cfn-lint these tests fail
(``scripts/bootstrap --dev``, which scripts/test runs, installs both).
"""

from __future__ import annotations

import ast
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from app.ops.acl import access_string
from app.settings import VARIABLE_NAMES

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy" / "customers.service"
TEMPLATE = REPO / "deploy" / "cloudformation.yaml"
ENV_EXAMPLE = REPO / "deploy" / "customers.env.example"
# systemd's 0-10 exposure scale, times ten: 15 is 1.5 ("OK"); the unit scores 1.2.
MAX_EXPOSURE = 15
_INSTALL_HINT = "{} not found: run scripts/bootstrap --dev, which installs it"


def _tool(name: str) -> str:
    """The path of ``name``: next to this Python (the virtualenv), else on PATH; never a skip."""
    beside = Path(sys.executable).parent / name
    path = str(beside) if beside.exists() else shutil.which(name)
    if path is None:
        pytest.fail(_INSTALL_HINT.format(name), pytrace=False)
    return path


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, timeout=120, check=False
    )


# --- the systemd unit ---------------------------------------------------------


def unit_settings(text: str) -> dict[str, dict[str, list[str]]]:
    """``{section: {key: [values in order]}}``: a key may repeat in a unit file."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"setting outside a section: {line}"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


SERVICE = unit_settings(UNIT.read_text())["Service"]


def _exec_start() -> list[str]:
    (command,) = SERVICE["ExecStart"]
    return shlex.split(command)


def _system_unit_dir() -> Path:
    for candidate in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")):
        if (candidate / "multi-user.target").exists():
            return candidate
    pytest.fail(_INSTALL_HINT.format("systemd's unit directory"), pytrace=False)


def systemd_root(directory: Path, unit_text: str) -> Path:
    """A root for ``systemd-analyze --root``: the unit installed, its ExecStart binary present."""
    installed = directory / "etc" / "systemd" / "system" / UNIT.name
    installed.parent.mkdir(parents=True)
    installed.write_text(unit_text)
    shutil.copytree(_system_unit_dir(), directory / "usr" / "lib" / "systemd" / "system", symlinks=True)
    for line in unit_text.splitlines():
        if line.startswith("ExecStart="):
            binary = directory / shlex.split(line.partition("=")[2])[0].lstrip("/")
            binary.parent.mkdir(parents=True, exist_ok=True)
            binary.write_text("#!/bin/sh\n")
            binary.chmod(0o755)
    return directory


def verify_findings(root: Path) -> tuple[int, list[str]]:
    """``systemd-analyze verify`` of the unit in ``root``: its exit status and the lines about it.

    ``--recursive-errors=no`` makes the exit status depend on this unit only,
    not on the system units it pulls in; likewise only output lines that name
    the unit count (systemd prefixes each finding with the unit name or its
    file), so a warning about some unrelated unit on this machine cannot
    fail the test.
    """
    result = _run(_tool("systemd-analyze"), "verify", "--recursive-errors=no", f"--root={root}", UNIT.name)
    output = (result.stdout + result.stderr).splitlines()
    return result.returncode, [line for line in output if UNIT.name in line]


def test_systemd_analyze_verify_finds_nothing_in_the_unit(tmp_path):
    returncode, findings = verify_findings(systemd_root(tmp_path, UNIT.read_text()))
    assert findings == []
    assert returncode == 0


def test_systemd_analyze_verify_would_catch_a_broken_unit(tmp_path):
    """The check above can fail: a misspelt setting and a missing binary are reported."""
    broken = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSytem=strict")
    root = systemd_root(tmp_path, broken)
    (root / _exec_start()[0].lstrip("/")).unlink()
    returncode, findings = verify_findings(root)
    assert returncode != 0
    assert any("ProtectSytem" in line for line in findings), findings
    assert any("is not executable" in line for line in findings), findings


def test_systemd_analyze_security_rates_the_unit_ok(tmp_path):
    root = systemd_root(tmp_path, UNIT.read_text())
    result = _run(
        _tool("systemd-analyze"),
        "security",
        "--offline=yes",
        f"--threshold={MAX_EXPOSURE}",
        f"--root={root}",
        UNIT.name,
    )
    overall = [line for line in result.stdout.splitlines() if "Overall exposure level" in line]
    assert result.returncode == 0, overall or result.stderr


def test_the_unit_runs_gunicorn_wsgi_app_from_the_installed_virtualenv():
    argv = _exec_start()
    working_directory = Path(SERVICE["WorkingDirectory"][0])
    assert argv[1:] == ["wsgi:app"]
    # gunicorn.conf.py is found in the working directory, the checkout.
    assert Path(argv[0]) == working_directory / ".venv" / "bin" / "gunicorn"
    assert working_directory == Path("/opt/customers")
    assert SERVICE["EnvironmentFile"] == ["/etc/customers/customers.env"]
    assert SERVICE["User"] == SERVICE["Group"] == ["customers"]
    assert SERVICE["Type"] == ["notify"]  # gunicorn's arbiter sends READY=1


def test_the_unit_waits_longer_than_gunicorns_graceful_timeout():
    config = ast.parse((REPO / "gunicorn.conf.py").read_text())
    (graceful_timeout,) = (
        node.value.value
        for node in config.body
        if isinstance(node, ast.Assign)
        and [getattr(target, "id", None) for target in node.targets] == ["graceful_timeout"]
    )
    (stop_timeout,) = SERVICE["TimeoutStopSec"]
    seconds = re.fullmatch(r"(\d+)s?", stop_timeout)
    assert seconds is not None, f"TimeoutStopSec={stop_timeout}: write it as whole seconds"
    assert int(seconds.group(1)) > graceful_timeout
    assert SERVICE["KillSignal"] == ["SIGTERM"]  # gunicorn's graceful stop


def test_the_data_directory_is_the_units_state_directory():
    (state_directory,) = SERVICE["StateDirectory"]
    assert f"DATA_DIR=/var/lib/{state_directory}" in SERVICE["Environment"]


# --- the CloudFormation template -------------------------------------------------


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (``!Ref``, ``!Sub``...) read as their long forms."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, object]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)
TEMPLATE_DATA = yaml.load(TEMPLATE.read_text(), Loader=_CloudFormationLoader)  # noqa: S506 (a SafeLoader)


def _resources(kind: str) -> list[dict]:
    return [resource for resource in TEMPLATE_DATA["Resources"].values() if resource["Type"] == kind]


def _user_data() -> str:
    (instance,) = _resources("AWS::EC2::Instance")
    return instance["Properties"]["UserData"]["Fn::Base64"]["Fn::Sub"]


def test_cfn_lint_finds_nothing_in_the_template():
    result = _run(_tool("cfn-lint"), "--include-checks", "I", "--", TEMPLATE)
    assert result.stdout + result.stderr == ""
    assert result.returncode == 0


def test_the_memorydb_user_has_exactly_the_services_access_string():
    (user,) = _resources("AWS::MemoryDB::User")
    assert user["Properties"]["AccessString"] == access_string()


def test_no_secret_is_written_in_the_template():
    """The database password comes from Secrets Manager, through a dynamic reference."""
    (user,) = _resources("AWS::MemoryDB::User")
    (password,) = user["Properties"]["AuthenticationMode"]["Passwords"]
    assert password == {"Fn::Sub": "{{resolve:secretsmanager:${DbPasswordSecret}:SecretString}}"}
    assert TEMPLATE_DATA["Resources"]["DbPasswordSecret"]["Type"] == "AWS::SecretsManager::Secret"
    (cluster,) = _resources("AWS::MemoryDB::Cluster")
    assert cluster["Properties"]["TLSEnabled"] is True


def test_the_user_data_is_valid_bash():
    # CloudFormation replaces ${Name} and ${Name.Attribute}; bash sees plain words there.
    script = re.sub(r"\$\{[A-Za-z0-9:.]+\}", "placeholder", _user_data())
    result = subprocess.run(
        ["bash", "-n"], input=script, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.stderr == ""
    assert result.returncode == 0
    assert "/opt/customers/deploy/customers.service /etc/systemd/system/" in script


# --- variables -------------------------------------------------------------------


def _variables_the_service_reads() -> set[str]:
    """Every variable declared in app/settings.py."""
    return set(VARIABLE_NAMES)


_ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("customers.env.example", ENV_EXAMPLE.read_text()),
        ("the template's user data", _user_data()),
    ],
)
def test_every_variable_set_for_the_service_is_one_it_reads(source, text):
    known = _variables_the_service_reads()
    assert {"DBHOST", "DBPASSWORD", "API_KEYS_FILE"} <= known  # the parser still finds them
    assigned = set(_ASSIGNMENT.findall(text))
    assert assigned, source
    assert assigned <= known, f"{source} sets variables the service does not read"
