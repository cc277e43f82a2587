#!/usr/bin/env bash
# Static checks of the deployment artifacts (no container engine needed): hadolint on the
# Dockerfile, the production compose file against the compose schema.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
"$bin/hadolint" Dockerfile
"$bin/python" - <<'PY'
import json, jsonschema, yaml
schema = json.load(open("deploy/schemas/compose-spec.json"))
jsonschema.Draft7Validator(schema).validate(yaml.safe_load(open("deploy/docker-compose.prod.yml")))
print("deploy/docker-compose.prod.yml: valid against the compose schema")
PY
echo "Dockerfile: hadolint clean"
# Kubernetes: build every overlay; core objects validated offline against the 1.32 schemas.
# (CRD kinds ScaledObject/ServiceMonitor are only warned about: their schemas are not vendored yet.)
for overlay in deploy/k8s/overlays/*/; do
    out=$(mktemp)
    kubectl kustomize "$overlay" > "$out"
    "$bin/kubernetes-validate" -k 1.32.0 --strict --quiet "$out"
    echo "$overlay: built, core objects valid"
    rm -f "$out"
done
