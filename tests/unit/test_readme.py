"""The README's promises stay true: two set-up commands, a working example, parseable connections."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from airflow_provider_dataops.hooks.dataops import DataOpsHook
from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_exactly_two_setup_commands_and_both_are_make_targets() -> None:
    commands = [block.strip() for block in blocks("bash") if block.strip().startswith("make ")]
    assert commands == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, flags=re.MULTILINE)
    assert re.search(r"^test:", makefile, flags=re.MULTILINE)


def test_ci_runs_make_test_and_nothing_else() -> None:
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [line.strip() for line in script if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert commands == ["make test"]


@pytest.mark.parametrize("target", ["test", "deployment"])
def test_targets_of_the_deployment_suite_install_its_system_packages_first(target: str) -> None:
    makefile = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{target}:(.*)$", makefile, flags=re.MULTILINE)
    assert match is not None
    assert match.group(1).split()[0] == "system-deps"
    installer = (ROOT / "scripts" / "system-deps.sh").read_text()
    # The README's one line on what `make test` installs names what the script installs.
    for package in ("postgresql", "chromium", "chromium-driver"):
        assert package in installer
        assert f"`{package}`" in README


def test_python_example_builds_an_operator() -> None:
    (example,) = blocks("python")
    namespace: dict[str, object] = {}
    exec(compile(example, "README.md", "exec"), namespace)
    operator = namespace["run_pipeline"]
    assert isinstance(operator, DataOpsTriggerPipelineOperator)
    assert operator.deferrable is True


@pytest.mark.parametrize(
    "line", [line for block in blocks("bash") for line in block.splitlines() if "AIRFLOW_CONN_" in line]
)
def test_connection_examples_parse(line: str, monkeypatch: pytest.MonkeyPatch) -> None:
    name, _, value = line.removeprefix("export ").partition("=")
    monkeypatch.setenv(name, shlex.split(value)[0])
    settings = DataOpsHook().settings
    assert settings.api_url == "https://app.dataops.live/api/v4"
    assert settings.access_token == "glpat-xxxx"
