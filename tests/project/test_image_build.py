"""`make image` and `make image-check` (deploy/build_image.sh, deploy/check_image.py), read without running
them (each takes minutes and podman): the Dockerfile builds on a local base from local wheels and still on
python:3.11-slim-bookworm by default, the wheels stay out of git, both targets stay out of `make test`, and the
check runs the replicas and the proxy with what deploy/compose.yaml gives them."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def check_image():
    spec = importlib.util.spec_from_file_location("check_image", DEPLOY / "check_image.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_rule(name: str) -> str:
    text = (ROOT / "Makefile").read_text()
    found = re.search(rf"(?m)^{re.escape(name)}:(.*)$((?:\n\t.*)*)", text)
    assert found, f"no `{name}` target in the Makefile"
    return found.group(1) + found.group(2)


def test_the_dockerfile_takes_a_base_image_and_a_folder_of_wheels():
    text = (DEPLOY / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm" in text and "FROM ${BASE_IMAGE}" in text
    assert text.index("ARG BASE_IMAGE") < text.index("FROM ")
    assert "ARG WHEELS=" in text and "PIP_NO_INDEX=1" in text and 'PIP_FIND_LINKS="/tmp/deploy/$WHEELS"' in text
    assert "python3 -m venv /opt/venv" in text and "PATH=/opt/venv/bin:" in text


def test_the_build_script_is_valid_bash_and_fetches_only_the_cpu_torch():
    script = DEPLOY / "build_image.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    assert "debootstrap" in text and "podman import" in text and "--network=none" in text
    assert "torch==$TORCH+cpu" in text and "https://download.pytorch.org/whl/cpu" in text
    assert "--build-arg WHEELS=wheels" in text


def test_the_wheels_are_ignored_by_git():
    assert "/deploy/wheels/" in (ROOT / ".gitignore").read_text().splitlines()


def test_the_image_targets_stay_out_of_make_test():
    assert "deploy/build_image.sh" in make_rule("image")
    assert "deploy/check_image.py" in make_rule("image-check")
    for rule in ("test", "setup", "setup-dev"):
        assert "image" not in make_rule(rule), rule


def test_the_check_runs_the_services_as_the_compose_file_does():
    module = check_image()
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    flags = module.service_flags(compose["services"]["app"])
    pairs = list(zip(flags, flags[1:]))
    assert ("-e", "WORKERS=2") in pairs and ("--restart", "unless-stopped") in pairs
    assert ("--cpus", "2") in pairs and ("--memory", "3g") in pairs
    health = flags[flags.index("--health-cmd") + 1]
    assert health.startswith('["python", "-c"') and "/_stcore/health" in health
    assert ("--health-start-period", "120s") in pairs


def test_the_check_reads_replicas_from_the_upstream_header():
    module = check_image()
    replicas = {"10.89.0.2:8501", "10.89.0.3:8501"}
    # the proxy's header after the replica's own nginx's (both add X-Upstream; a websocket's come joined)
    assert module.upstreams(["127.0.0.1:40001", "10.89.0.3:8501"], replicas) == ["10.89.0.3:8501"]
    assert module.upstreams(["127.0.0.1:40001\n10.89.0.2:8501"], replicas) == ["10.89.0.2:8501"]
    assert module.workers_inside(["127.0.0.1:40001\n10.89.0.2:8501"]) == ["127.0.0.1:40001"]
