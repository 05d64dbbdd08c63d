"""deploy/: the Dockerfile passes hadolint, the compose file and the Kubernetes manifests pass yamllint,
the manifests validate against the Kubernetes schema (kubernetes-validate, strict), and they say what
the app needs (health checks, sticky sessions, resources, a non-root user, the offline models)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
BIN = Path(sys.executable).parent
YAMLLINT = "{extends: default, rules: {line-length: {max: 130}, document-start: disable}}"


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if not found:
        pytest.fail(f"{name} is missing: `make setup-dev` installs it (requirements-dev.txt)")
    return found


def resources() -> dict[str, dict]:
    return {doc["kind"]: doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc}


def test_the_dockerfile_passes_hadolint():
    done = subprocess.run(
        [tool("hadolint"), "--failure-threshold", "info", str(DEPLOY / "Dockerfile")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_is_cpu_only_offline_non_root_and_checks_its_health():
    text = (DEPLOY / "Dockerfile").read_text()
    assert "torch==2.13.0" in text and "whl/cpu" in text  # never the multi-GB CUDA build
    assert "explorer.prepare" in text  # the offline models are in the image
    assert "HF_HUB_OFFLINE=1" in text
    user = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert user and user[-1] not in ("root", "0")
    assert "HEALTHCHECK" in text and "/_stcore/health" in text
    assert "serve.py --workers" in text and "nginx" in text


def test_compose_and_manifests_pass_yamllint():
    files = [DEPLOY / "compose.yaml", *MANIFESTS]
    done = subprocess.run([tool("yamllint"), "-d", YAMLLINT, *map(str, files)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_manifests_validate_against_kubernetes():
    assert len(MANIFESTS) >= 4
    done = subprocess.run(
        [tool("kubernetes-validate"), "--strict", *map(str, MANIFESTS)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("passed") == len(MANIFESTS), done.stdout


def test_the_manifests_carry_probes_sticky_sessions_resources_and_autoscaling():
    r = resources()
    assert {"Deployment", "Service", "Ingress", "HorizontalPodAutoscaler"} <= set(r)
    pod = r["Deployment"]["spec"]["template"]["spec"]
    app = pod["containers"][0]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert app[probe]["httpGet"]["path"] == "/_stcore/health", probe
    assert app["resources"]["requests"]["cpu"] and app["resources"]["requests"]["memory"]
    assert app["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    notes = r["Ingress"]["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600  # websockets through a talk
    backend = r["Ingress"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
    assert backend == r["Service"]["metadata"]["name"]
    assert r["Service"]["spec"]["selector"] == r["Deployment"]["spec"]["selector"]["matchLabels"]
    target = r["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", r["Deployment"]["metadata"]["name"])


def test_the_compose_proxy_is_the_apps_own_nginx_configuration():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    proxy, app = compose["services"]["proxy"], compose["services"]["app"]
    assert proxy["command"][:3] == ["python", "-m", "explorer.serving.proxy"]
    assert proxy["depends_on"]["app"]["condition"] == "service_healthy"
    assert "/_stcore/health" in " ".join(app["healthcheck"]["test"])
