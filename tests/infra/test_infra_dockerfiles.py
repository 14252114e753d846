"""The Dockerfiles, parsed (dockerfile-parse): small multi-stage builds from base images
pinned to exact version tags, a non-root user, the project installed with
requirements.lock as constraints. No Docker engine or registry is reachable here, so
nothing is built and no digest is resolved (infra/README.md says so)."""

from __future__ import annotations

import re

import pytest
from dockerfile_parse import DockerfileParser

from tests.support.infra import INFRA, ROOT

DOCKERFILES = sorted((INFRA / "docker").glob("*.Dockerfile"))
# An exact release tag: a version number (2.77.0, 3.11.13-slim-bookworm) or a dated
# release (20230622_RC00). Never latest, never a floating major/minor like 3.11 or slim.
EXACT_TAG = re.compile(r"^(\d+\.\d+\.\d+([-_.][A-Za-z0-9]+)*|\d{8}[_-][A-Za-z0-9]+)$")


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[name.lower().replace("_", "-")] = version.strip()
    return pins


def _parsed(path) -> DockerfileParser:
    parser = DockerfileParser(fileobj=path.open("rb"))
    return parser


def test_the_three_images_exist():
    assert {p.name for p in DOCKERFILES} == {"app.Dockerfile", "dataflow.Dockerfile", "dbt.Dockerfile"}


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_base_images_are_pinned_to_exact_tags(path):
    parser = _parsed(path)
    stages = [i["value"].split()[0] for i in parser.structure if i["instruction"] == "FROM"]
    assert stages
    for image in stages:
        assert "@sha256:" not in image or re.search(r"@sha256:[0-9a-f]{64}$", image)
        name, _, tag = image.partition("@")[0].rpartition(":")
        assert name and EXACT_TAG.match(tag), f"{path.name}: {image} is not pinned to an exact version tag"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_runs_as_a_non_root_user(path):
    parser = _parsed(path)
    final_stage = [i for i in parser.structure if i["instruction"] in ("FROM", "USER")]
    last_from = max(k for k, i in enumerate(final_stage) if i["instruction"] == "FROM")
    users = [i["value"].strip() for i in final_stage[last_from:] if i["instruction"] == "USER"]
    assert users, f"{path.name}: the final stage sets no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_installs_the_project_from_the_lock(path):
    parser = _parsed(path)
    runs = [i["value"] for i in parser.structure if i["instruction"] == "RUN" and "pip install" in i["value"]]
    assert runs, path.name
    pins = _lock()
    for run in runs:
        assert "--constraint requirements.lock" in run, run
        words = run.split("pip install", 1)[1].split("&&")[0].split()
        packages = [w for w in words if not w.startswith("-") and w not in {"requirements.lock", "."}]
        for package in packages:
            assert package.lower() in pins, f"{path.name}: {package} is not pinned in requirements.lock"
        assert "." in words, f"{path.name}: installs the project itself"


def test_dataflow_image_is_the_beam_sdk_of_the_lock_with_the_launcher():
    parser = _parsed(INFRA / "docker" / "dataflow.Dockerfile")
    images = [i["value"].split()[0] for i in parser.structure if i["instruction"] == "FROM"]
    assert images[-1] == f"apache/beam_python3.11_sdk:{_lock()['apache-beam']}"
    assert any(i.startswith("gcr.io/dataflow-templates-base/python311-template-launcher-base:") for i in images)
    env = parser.envs
    assert env["FLEX_TEMPLATE_PYTHON_PY_FILE"] == "/template/launch.py"
    assert (INFRA / "dataflow" / "launch.py").exists()
    assert (
        parser.structure[-1]["instruction"] == "ENTRYPOINT" and "/opt/apache/beam/boot" in parser.structure[-1]["value"]
    )


def test_python_images_match_the_lock_python():
    # The lock was resolved on CPython 3.11; every image runs a 3.11.
    for path in DOCKERFILES:
        for i in _parsed(path).structure:
            if i["instruction"] == "FROM" and "python" in i["value"] and "launcher" not in i["value"]:
                assert re.search(r"python:?3\.11|python3\.11", i["value"]), i["value"]


def test_app_and_dbt_images_run_the_variance_command():
    for name, command in (("app.Dockerfile", "api"), ("dbt.Dockerfile", "dbt")):
        parser = _parsed(INFRA / "docker" / name)
        assert parser.baseimage.startswith("python:3.11.")
        entry = [i["value"] for i in parser.structure if i["instruction"] == "ENTRYPOINT"]
        cmd = [i["value"] for i in parser.structure if i["instruction"] == "CMD"]
        assert entry == ['["variance"]'] and cmd[-1].startswith(f'["{command}"')


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_build_context_leaves_out_what_images_do_not_need(path):
    ignore = (path.parent / f"{path.name}.dockerignore").read_text().splitlines()
    assert {".git", ".venv", "tests", ".variance"} <= set(ignore)
