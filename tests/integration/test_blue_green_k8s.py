"""The Kubernetes target of scripts/deploy-production.sh, without a cluster (none here): in plan
mode (DOCRAG_DEPLOY_PLAN=1) it renders the overlay with the real kubectl and prints the objects it
would apply. They must be the live colour's objects with only the colour, the image tag and the
bookkeeping changed, and valid against the Kubernetes 1.32 schemas. What a cluster alone proves
(rollout, port-forwarded health gate, the Service switch under load) is not proven here."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ci_strict import needs
from paths import ROOT

OVERLAY = ROOT / "deploy" / "k8s" / "overlays" / "production"
TOOL = ROOT / "scripts" / "lib" / "bluegreen_k8s.py"

pytestmark = needs(shutil.which("kubectl") is not None, "kubectl")


def _plan(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCRAG_DEPLOY_PLAN": "1", "DOCRAG_DEPLOY_PYTHON": sys.executable}
    return subprocess.run(
        [str(ROOT / "scripts" / script), *args], env=env, capture_output=True, text=True, timeout=120
    )


def _rendered() -> list[dict[str, Any]]:
    out = subprocess.run(["kubectl", "kustomize", str(OVERLAY)], capture_output=True, text=True, check=True)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def _one(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"].startswith(name)]
    assert len(found) == 1, (kind, name, [o["metadata"]["name"] for o in objs])
    return found[0]


@pytest.fixture(scope="module")
def plan() -> list[dict[str, Any]]:
    got = _plan("deploy-production.sh", "0.2.0", "k8s")
    assert got.returncode == 0, got.stderr
    assert "live: blue" in got.stderr and "deploying 0.2.0 to green" in got.stderr
    items: list[dict[str, Any]] = json.loads(got.stdout)["items"]
    return items


def test_the_base_runs_blue_and_the_service_selects_it() -> None:
    objs = _rendered()
    blue = _one(objs, "Deployment", "docrag-api-blue")
    assert blue["spec"]["selector"]["matchLabels"]["color"] == "blue"
    assert blue["spec"]["template"]["metadata"]["labels"]["color"] == "blue"
    assert _one(objs, "Service", "docrag-api")["spec"]["selector"]["color"] == "blue"
    assert _one(objs, "HorizontalPodAutoscaler", "docrag-api-blue")["spec"]["scaleTargetRef"]["name"] == (
        "docrag-api-blue"
    )


def test_green_is_blue_with_only_colour_and_image_changed(plan: list[dict[str, Any]]) -> None:
    blue = _one(_rendered(), "Deployment", "docrag-api-blue")
    green = _one(plan, "Deployment", "docrag-api-green")
    expected = copy.deepcopy(blue)
    expected["metadata"]["name"] = "docrag-api-green"
    expected["metadata"]["labels"]["color"] = "green"
    expected["metadata"].setdefault("annotations", {})["docrag.io/version"] = "0.2.0"
    expected["spec"]["selector"]["matchLabels"]["color"] = "green"
    expected["spec"]["template"]["metadata"]["labels"]["color"] = "green"
    expected["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com/docrag:0.2.0"
    assert green == expected
    hpa = _one(plan, "HorizontalPodAutoscaler", "docrag-api-green")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "docrag-api-green"


def test_migrations_run_at_the_new_tag_and_the_service_switches_last(plan: list[dict[str, Any]]) -> None:
    assert [o["kind"] for o in plan] == ["Job", "Deployment", "HorizontalPodAutoscaler", "Service"]
    job = _one(plan, "Job", "docrag-migrate-0-2-0-")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/docrag:0.2.0" and container["args"] == ["migrate"]
    service = _one(plan, "Service", "docrag-api")
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "docrag-api", "color": "green"}
    assert service["metadata"]["annotations"]["docrag.io/previous-color"] == "blue"


def test_the_planned_objects_are_valid_kubernetes(plan: list[dict[str, Any]], tmp_path: Path) -> None:
    out = tmp_path / "plan.yaml"
    out.write_text(yaml.safe_dump_all(plan))
    validator = Path(sys.executable).parent / "kubernetes-validate"
    got = subprocess.run(
        [str(validator), "-k", "1.32.0", "--strict", "--quiet", str(out)], capture_output=True
    )
    assert got.returncode == 0, got.stdout + got.stderr


def test_rollback_plan_selects_the_other_colour() -> None:
    got = _plan("rollback-production.sh", "k8s")
    assert got.returncode == 0, got.stderr
    service = json.loads(got.stdout)
    assert service["kind"] == "Service" and service["spec"]["selector"]["color"] == "green"


def test_a_deployment_read_from_a_cluster_loses_what_the_cluster_wrote(tmp_path: Path) -> None:
    live = _one(_rendered(), "Deployment", "docrag-api-blue")
    live["metadata"].update(
        uid="1", resourceVersion="7", generation=3, managedFields=[{"manager": "kubectl"}]
    )
    live["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "me"}
    live["status"] = {"readyReplicas": 3}
    path = tmp_path / "live.json"
    path.write_text(json.dumps(live))
    got = subprocess.run(
        [sys.executable, str(TOOL), "colour", str(path), "green", "v9"], capture_output=True, text=True
    )
    assert got.returncode == 0, got.stderr
    (green,) = json.loads(got.stdout)["items"]
    assert "status" not in green
    assert not {"uid", "resourceVersion", "generation", "managedFields"} & set(green["metadata"])
    assert green["metadata"]["annotations"] == {"keep": "me", "docrag.io/version": "v9"}
    assert green["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/docrag:v9"


def test_a_broken_overlay_fails_the_deploy_before_anything(tmp_path: Path) -> None:
    env = {**os.environ, "DOCRAG_DEPLOY_PLAN": "1", "DOCRAG_K8S_OVERLAY": str(tmp_path)}
    got = subprocess.run(
        [str(ROOT / "scripts" / "deploy-production.sh"), "0.2.0", "k8s"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert got.returncode != 0 and "kubectl kustomize" in got.stderr and got.stdout == ""
