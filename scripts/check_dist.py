"""``make dist``: build the sdist and the wheel, check them, and try the wheel as a user installs it.

1. ``python -m build`` writes both to ``dist/`` (emptied first).
2. ``twine check --strict``: the metadata and the README render on the package index.
3. The wheel holds the package, ``py.typed`` and the license, its version is ``__version__`` (the one
   source of the version), and it holds no tests, benchmarks, scripts or docs.
4. A clean venv (no access to this one's packages) gets the wheel with its ``emulator`` extra and
   the Airflow version of this venv. There, ``airflow providers get`` must show the provider at
   ``__version__``, and the main example DAG must run with ``airflow dags test`` against the
   emulator, its one pipeline ending ``success``.

Exit status 0 when every check passed; a failed check stops with a message saying what was wrong.
Set ``DIST_KEEP=1`` to keep the temporary folder (venv, Airflow home, logs).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
PACKAGE = "airflow_provider_dataops"
DISTRIBUTION = "airflow-provider-dataops"
EXAMPLE_DAG = ROOT / "example_dags" / "example_dataops_trigger_and_wait.py"
DAG_ID = "dataops_trigger_and_wait"
#: Top-level folders of the repository that must not reach the wheel.
NOT_SHIPPED = ("tests/", "benchmarks/", "scripts/", "docs/", "example_dags/")


class DistCheckError(Exception):
    """A check of the built distributions failed."""


def run(*command: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run a command; its output is returned, or shown with the error when it fails."""
    done = subprocess.run([str(c) for c in command], env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DistCheckError(
            f"{' '.join(str(c) for c in command)} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout


def package_version() -> str:
    """``__version__``, read from the source without importing the package."""
    namespace: dict[str, object] = {}
    source = (ROOT / PACKAGE / "__init__.py").read_text()
    line = next(line for line in source.splitlines() if line.startswith("__version__"))
    exec(line, namespace)  # a single assignment of a string literal
    return str(namespace["__version__"])


def build() -> tuple[Path, Path]:
    """Build the sdist and the wheel into an empty ``dist/``."""
    shutil.rmtree(DIST, ignore_errors=True)
    run(sys.executable, "-m", "build", "--outdir", DIST, ROOT)
    (wheel,) = DIST.glob("*.whl")
    (sdist,) = DIST.glob("*.tar.gz")
    return sdist, wheel


def check_wheel_contents(wheel: Path, version: str) -> list[str]:
    """What the wheel must and must not hold; returns its file names."""
    if not wheel.name.startswith(f"{PACKAGE}-{version}-"):
        raise DistCheckError(f"{wheel.name} is not version {version} (__version__)")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    required = [f"{PACKAGE}/__init__.py", f"{PACKAGE}/py.typed", f"{PACKAGE}/emulator/server.py"]
    missing = [name for name in required if name not in names]
    if not any(name.endswith(".dist-info/licenses/LICENSE") for name in names):
        missing.append("*.dist-info/licenses/LICENSE")
    if missing:
        raise DistCheckError(f"{wheel.name} lacks {missing}")
    shipped = sorted(name for name in names if name.startswith(NOT_SHIPPED) or "/tests/" in name)
    if shipped:
        raise DistCheckError(f"{wheel.name} holds files that are not the package's: {shipped[:10]}")
    return names


def clean_venv(folder: Path, wheel: Path) -> Path:
    """A new venv with the wheel (emulator extra) and this venv's Airflow; returns its bin folder.

    ``DIST_UV`` names the uv to use (``make dist`` passes the Makefile's), else uv from ``PATH``,
    else pip. ``DIST_CONSTRAINTS`` names a lock file that pins the dependencies, as for ``.venv``.
    """
    airflow = f"apache-airflow=={importlib.metadata.version('apache-airflow')}"
    packages = [f"{wheel}[emulator]", airflow]
    constraints = os.environ.get("DIST_CONSTRAINTS")
    if constraints:
        packages += ["--constraint", constraints]
    venv = folder / "venv"
    uv = os.environ.get("DIST_UV") or shutil.which("uv")
    if uv:  # much faster, and its cache is shared with the development venvs
        run(uv, "venv", "--quiet", "--python", sys.executable, venv)
        run(uv, "pip", "install", "--quiet", "--python", venv / "bin" / "python", *packages)
    else:
        run(sys.executable, "-m", "venv", venv)
        run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", *packages)
    return venv / "bin"


def check_provider_info(bin_dir: Path, env: dict[str, str], version: str) -> None:
    """``airflow providers get`` knows the provider, at this version."""
    info = json.loads(run(bin_dir / "airflow", "providers", "get", DISTRIBUTION, "-o", "json", env=env))
    rows = info if isinstance(info, list) else [info]
    versions = {str(row.get("Version") or row.get("version")) for row in rows if isinstance(row, dict)}
    if version not in versions:
        raise DistCheckError(f"airflow providers get {DISTRIBUTION} shows {info}, not version {version}")


def check_example_dag(bin_dir: Path, folder: Path, env: dict[str, str]) -> None:
    """The main example DAG runs against the emulator of the installed wheel; one pipeline succeeds."""
    dags = folder / "dags"
    dags.mkdir()
    shutil.copy(EXAMPLE_DAG, dags)
    env_file = folder / "emulator.env"
    emulator = subprocess.Popen(
        [bin_dir / "dataops-emulator", "--port", "0", "--pipeline-seconds", "0", "--env-file", env_file],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (env_file.exists() and env_file.stat().st_size):
            if emulator.poll() is not None or time.monotonic() > deadline:
                raise DistCheckError("the installed dataops-emulator did not start")
            time.sleep(0.2)
        settings = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
        url = settings["DATAOPS_EMULATOR_URL"]
        dag_env = {
            **env,
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            # The env file's values are shell-quoted only where needed; the JSON form needs none.
            "AIRFLOW_CONN_DATAOPS_DEFAULT": json.dumps(
                {
                    "conn_type": "dataops",
                    "host": url,
                    "password": settings["DATAOPS_EMULATOR_ACCESS_TOKEN"],
                }
            ),
        }
        run(bin_dir / "airflow", "dags", "test", DAG_ID, env=dag_env, cwd=folder)
        with urllib.request.urlopen(f"{url}/-/emulator/pipelines", timeout=10) as response:
            pipelines = json.load(response)
        statuses = [pipeline["status"] for pipeline in pipelines]
        if statuses != ["success"]:
            raise DistCheckError(f"{DAG_ID} left pipelines {statuses} in the emulator, not one success")
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)


def main() -> int:
    """Build, check, install and try; print one line per step."""
    version = package_version()
    folder = Path(tempfile.mkdtemp(prefix="dataops-dist-check-"))
    try:
        sdist, wheel = build()
        print(f"built {sdist.name} and {wheel.name}")
        run(sys.executable, "-m", "twine", "check", "--strict", sdist, wheel)
        print("twine check --strict: passed")
        names = check_wheel_contents(wheel, version)
        print(f"wheel contents: {len(names)} files, with py.typed and LICENSE, no tests or benchmarks")
        bin_dir = clean_venv(folder, wheel)
        env = {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": os.environ.get("HOME", str(folder)),
            "AIRFLOW_HOME": str(folder / "airflow-home"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
        check_provider_info(bin_dir, env, version)
        print(f"clean venv: airflow providers get shows {DISTRIBUTION} {version}")
        run(bin_dir / "airflow", "db", "migrate", env=env)
        check_example_dag(bin_dir, folder, env)
        print(f"clean venv: airflow dags test {DAG_ID} ran one pipeline to success against the emulator")
    except DistCheckError as error:
        print(f"make dist: {error}", file=sys.stderr)
        return 1
    finally:
        if os.environ.get("DIST_KEEP") == "1":
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
