"""Manifest transforms for scripts/lib/bluegreen-k8s.sh (no cluster needed, so they are tested
offline by tests/integration/test_blue_green_k8s.py):

  pick FILE KIND NAME               one object from a manifest stream (kubectl kustomize's YAML, or JSON)
  colour FILE COLOUR VERSION        a blue Deployment or its HPA (from kubectl get -o json, or pick) as
                                    COLOUR's: name docrag-api-COLOUR, label/selector color=COLOUR, the
                                    docrag image at tag VERSION, cluster-written fields dropped
  migrate-job FILE VERSION          the docrag-migrate Job at tag VERSION, named for this deploy
  service-selector FILE             the live colour the Service selects

Objects are printed as JSON (kubectl apply -f - reads it).
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import yaml

API = "docrag-api"


def load(path: str) -> list[dict[str, Any]]:
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    docs = [d for d in yaml.safe_load_all(text) if d]  # YAML is a superset of JSON
    out: list[dict[str, Any]] = []
    for d in docs:
        out.extend(d["items"] if d.get("kind") == "List" else [d])
    return out


def pick(path: str, kind: str, name: str) -> dict[str, Any]:
    for obj in load(path):
        if obj.get("kind") == kind and obj["metadata"]["name"] == name:
            return obj
    raise SystemExit(f"no {kind} {name} in {path}")


def with_tag(image: str, version: str) -> str:
    """registry/docrag:1.0 -> registry/docrag:VERSION (a digest pin is replaced too)."""
    name = image.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    return f"{name}:{version}"


def _clean(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    for key in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink"):
        meta.pop(key, None)
    annotations = meta.get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    annotations.pop("deployment.kubernetes.io/revision", None)
    obj.pop("status", None)
    return obj


def _set_images(pod_spec: dict[str, Any], version: str) -> None:
    for container in pod_spec.get("containers", []) + pod_spec.get("initContainers", []):
        if re.search(r"(^|/)docrag(:|@|$)", container["image"]):
            container["image"] = with_tag(container["image"], version)


def colour(obj: dict[str, Any], new: str, version: str) -> dict[str, Any]:
    obj = _clean(obj)
    meta = obj["metadata"]
    if obj["kind"] == "Deployment":
        meta["name"] = f"{API}-{new}"
        meta.setdefault("labels", {})["color"] = new
        meta.setdefault("annotations", {})["docrag.io/version"] = version
        spec = obj["spec"]
        spec["selector"]["matchLabels"]["color"] = new
        spec["template"]["metadata"]["labels"]["color"] = new
        _set_images(spec["template"]["spec"], version)
    elif obj["kind"] == "HorizontalPodAutoscaler":
        meta["name"] = f"{API}-{new}"
        obj["spec"]["scaleTargetRef"]["name"] = f"{API}-{new}"
    else:
        raise SystemExit(f"cannot colour a {obj['kind']}")
    return obj


def migrate_job(obj: dict[str, Any], version: str) -> dict[str, Any]:
    obj = _clean(obj)
    safe = re.sub(r"[^a-z0-9-]", "-", version.lower())[:20].strip("-") or "v"
    obj["metadata"]["name"] = f"docrag-migrate-{safe}-{int(time.time())}"
    obj["metadata"].setdefault("annotations", {})["docrag.io/version"] = version
    _set_images(obj["spec"]["template"]["spec"], version)
    return obj


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "pick":
        out: Any = pick(*args)
    elif command == "colour":
        path, new, version = args
        out = {"apiVersion": "v1", "kind": "List", "items": [colour(o, new, version) for o in load(path)]}
    elif command == "migrate-job":
        path, version = args
        out = migrate_job(pick(path, "Job", "docrag-migrate"), version)
    elif command == "service-selector":
        print(pick(args[0], "Service", API)["spec"]["selector"].get("color", ""))
        return
    else:
        raise SystemExit(__doc__)
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main(sys.argv[1:])
