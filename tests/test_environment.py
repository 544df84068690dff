"""The environment: every tool imports together at the locked versions, and every entry
point (Makefile, environment.yml, Dockerfile, CI) installs from the one lock file."""

import importlib
import re
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements.lock"


def locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, pinned = line.partition("==")
            assert pinned, f"requirements.lock line is not an exact pin: {line!r}"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = pinned
    return pins


def test_running_on_python_311():
    assert sys.version_info[:2] == (3, 11)


# distribution name -> module to import
TOOLS = {
    "jupyterlab": "jupyterlab", "nbgrader": "nbgrader", "optuna": "optuna",
    "scikit-learn": "sklearn", "matplotlib": "matplotlib", "hyperopt": "hyperopt",
    "ray": "ray.tune", "autokeras": "autokeras", "keras": "keras", "tpot": "tpot",
    "h2o": "h2o", "nbval": "nbval", "pytest": "pytest", "torch": "torch",
    "numpy": "numpy", "pandas": "pandas", "scipy": "scipy", "cmaes": "cmaes",
}


@pytest.mark.parametrize("dist, module", TOOLS.items())
def test_every_tool_imports_at_its_locked_version(dist, module):
    importlib.import_module(module)
    installed = version(dist).split("+")[0]   # the CPU wheel of torch is 2.13.0+cpu
    assert installed == locked()[dist], f"{dist} {installed} is installed, the lock says {locked()[dist]}"


def test_keras_runs_on_the_torch_backend():
    import keras
    assert keras.backend.backend() == "torch"


def test_constraints_the_tools_need_are_in_the_lock():
    pins = locked()
    assert pins["torch"] == "2.13.0"
    assert tuple(map(int, pins["keras"].split(".")[:2])) < (3, 13), "autokeras needs keras<3.13"
    assert 77 <= int(pins["setuptools"].split(".")[0]) < 82, "tpot needs pkg_resources (setuptools<82)"


def test_every_entry_point_installs_from_the_one_lock_file():
    makefile = (REPO / "Makefile").read_text()
    env_yml = (REPO / "environment.yml").read_text()
    dockerfile = (REPO / "Dockerfile").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    assert "--requirement requirements.lock" in makefile
    assert "--requirement requirements.lock" in env_yml
    assert re.search(r"COPY requirements\.lock .*\n(.*\n)*.*pip install --requirement /tmp/requirements\.lock",
                     dockerfile)
    # the same Python everywhere
    assert "PYTHON ?= python3.11" in makefile
    assert re.search(r"^\s*- python=3\.11\s*$", env_yml, re.M)
    assert re.search(r"^FROM python:3\.11[-.\w]*$", dockerfile, re.M)
    # nothing is listed twice: no package is pinned outside the lock
    for text, name in ((env_yml, "environment.yml"), (dockerfile, "Dockerfile"), (makefile, "Makefile")):
        assert not re.search(r"\b[a-z0-9_.-]+==\d", text, re.I), f"{name} pins a package outside the lock"
    # CI runs the README's test command
    assert "make test" in readme and re.search(r"^make test\b", ci, re.M)


def test_dockerfile_runs_jupyterlab_as_a_non_root_user_with_java():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"openjdk-\d+-jre", dockerfile)
    assert re.search(r"^USER \$\{NB_USER\}$", dockerfile, re.M)
    assert "EXPOSE 8888" in dockerfile and '"jupyter", "lab"' in dockerfile


def test_lock_is_consistent_with_what_is_installed():
    import sysconfig
    from importlib.metadata import distributions
    # only site-packages: pkg_resources puts setuptools' vendored copies on sys.path
    installed = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version.split("+")[0]
                 for d in distributions(path=[sysconfig.get_paths()["purelib"]])}
    mismatched = {name: (pin, installed.get(name)) for name, pin in locked().items()
                  if installed.get(name) != pin}
    assert not mismatched, f"environment differs from requirements.lock (run `make env`): {mismatched}"
