# shellcheck shell=bash
# Blue-green on Kubernetes (sourced by scripts/deploy-production.sh and rollback-production.sh):
# Deployments docrag-api-blue and docrag-api-green (label color), the Service docrag-api selects
# the live colour; a deploy derives the other colour's Deployment and HPA from the live one's with
# the image at tag VERSION, runs the migrate Job at that tag, waits for the rollout, health-checks
# it through kubectl port-forward, then patches the Service's selector. The old colour keeps running.
#
# Settings (environment):
#   DOCRAG_K8S_NAMESPACE      namespace (default docrag)
#   DOCRAG_K8S_OVERLAY        kustomize overlay holding the migrate Job (default deploy/k8s/overlays/production)
#   DOCRAG_K8S_TIMEOUT        seconds for the migrate Job and for the rollout, each (default 600)
#   DOCRAG_DEPLOY_PLAN=1      no cluster: take the live objects from the rendered overlay and print, as
#                             one JSON List, what the deploy would apply (Job, Deployment, HPA, Service)
#   KUBECTL                   the kubectl binary (default kubectl)
#   DOCRAG_DEPLOY_REQUIRE_OK, DOCRAG_DEPLOY_ALLOW_CONTRACT, DOCRAG_API_KEY: as for the local target

. "$ROOT/scripts/lib/bluegreen-common.sh"
NS="${DOCRAG_K8S_NAMESPACE:-docrag}"
OVERLAY="${DOCRAG_K8S_OVERLAY:-$ROOT/deploy/k8s/overlays/production}"
KTIMEOUT="${DOCRAG_K8S_TIMEOUT:-600}"
PLAN="${DOCRAG_DEPLOY_PLAN:-}"
TOOL=("$PY" "$ROOT/scripts/lib/bluegreen_k8s.py")
k() { "${KUBECTL:-kubectl}" -n "$NS" "$@"; }

k8s_workdir() {
    WORK="$(mktemp -d)"
    trap 'rm -rf "$WORK"; [ -z "${PF_PIDS:-}" ] || kill $PF_PIDS 2>/dev/null || true' EXIT
    "${KUBECTL:-kubectl}" kustomize "$OVERLAY" >"$WORK/rendered.yaml" || die "kubectl kustomize $OVERLAY failed"
}

# The Service with its selector on colour $1 (and $2 noted as the one to roll back to), from $WORK/service.json.
service_patch() {
    printf '{"metadata":{"annotations":{"docrag.io/previous-color":"%s"}},"spec":{"selector":{"color":"%s"}}}' "$2" "$1"
}

# Expand-only check, when both versions name commits of this repository (release tags); an image
# tag git does not know cannot be checked here, and the deploy says so.
k8s_expand_check() {
    local live_version="$1" version="$2" d
    if [ -n "$live_version" ] && git -C "$ROOT" rev-parse -q --verify "$live_version^{commit}" >/dev/null \
        && git -C "$ROOT" rev-parse -q --verify "$version^{commit}" >/dev/null; then
        for d in live new; do mkdir -p "$WORK/$d"; done
        git -C "$ROOT" archive "$live_version" src/docrag/store/migrations | tar -x -C "$WORK/live"
        git -C "$ROOT" archive "$version" src/docrag/store/migrations | tar -x -C "$WORK/new"
        expand_check "$WORK/live/src/docrag/store/migrations" "$WORK/new/src/docrag/store/migrations"
    else
        log "WARNING: cannot check expand-only migrations ($live_version -> $version are not both git refs here)"
    fi
}

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# A local port forwarded to colour $1's pods, its URL in FORWARDED (not a subshell: the EXIT trap
# must know the port-forward's pid to end it).
forward() {
    local port
    port="$(free_port)"
    k port-forward "deployment/docrag-api-$1" "$port:8000" >/dev/null 2>&1 &
    PF_PIDS="${PF_PIDS:-} $!"
    for _ in $(seq 100); do curl -s -m 2 -o /dev/null "http://127.0.0.1:$port/health/live" && break; sleep 0.2; done
    FORWARDED="http://127.0.0.1:$port"
}

k8s_deploy() {
    local version="$1" live target live_version job
    k8s_workdir
    if [ -n "$PLAN" ]; then
        live="$("${TOOL[@]}" service-selector "$WORK/rendered.yaml")"
        "${TOOL[@]}" pick "$WORK/rendered.yaml" Deployment "docrag-api-$live" >"$WORK/live.json"
        "${TOOL[@]}" pick "$WORK/rendered.yaml" HorizontalPodAutoscaler "docrag-api-$live" >"$WORK/live-hpa.json"
        "${TOOL[@]}" pick "$WORK/rendered.yaml" Service docrag-api >"$WORK/service.json"
        live_version=""
    else
        live="$(k get service docrag-api -o jsonpath='{.spec.selector.color}')" || die "no Service docrag-api in $NS"
        k get deployment "docrag-api-$live" -o json >"$WORK/live.json" || die "no Deployment docrag-api-$live"
        k get hpa "docrag-api-$live" -o json >"$WORK/live-hpa.json" 2>/dev/null || rm -f "$WORK/live-hpa.json"
        live_version="$(k get deployment "docrag-api-$live" -o jsonpath='{.metadata.annotations.docrag\.io/version}')"
    fi
    [ -n "$live" ] || die "the Service docrag-api selects no colour (apply the base first)"
    target="$(other "$live")"
    log "live: $live ${live_version:+($live_version)}; deploying $version to $target in namespace $NS"
    k8s_expand_check "$live_version" "$version" || die "migrations of $version are not expand-only; $live keeps serving"

    "${TOOL[@]}" colour "$WORK/live.json" "$target" "$version" >"$WORK/target.json"
    [ -f "$WORK/live-hpa.json" ] && "${TOOL[@]}" colour "$WORK/live-hpa.json" "$target" "$version" >"$WORK/target-hpa.json"
    "${TOOL[@]}" migrate-job "$WORK/rendered.yaml" "$version" >"$WORK/job.json"
    job="$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["metadata"]["name"])' "$WORK/job.json")"

    if [ -n "$PLAN" ]; then
        "${KUBECTL:-kubectl}" patch --local -f "$WORK/service.json" --type merge -p "$(service_patch "$target" "$live")" -o json >"$WORK/service-new.json"
        log "plan (no cluster): apply job/$job, wait complete; apply deployment+hpa docrag-api-$target; rollout status;"
        log "plan: health-check $target against $live through port-forward; patch service/docrag-api selector color=$target"
        "$PY" - "$WORK/job.json" "$WORK/target.json" "$WORK/target-hpa.json" "$WORK/service-new.json" <<'PY'
import json, os, sys
items = []
for path in sys.argv[1:]:
    if os.path.exists(path):
        got = json.load(open(path))
        items.extend(got["items"] if got.get("kind") == "List" else [got])
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=1))
PY
        return
    fi

    # 1. Migrations at the new tag, while the live colour serves (expand-only).
    k apply -f "$WORK/job.json" >&2 || die "could not create job/$job"
    if ! k wait --for=condition=complete "job/$job" --timeout="${KTIMEOUT}s" >&2; then
        k logs "job/$job" --tail=20 >&2 || true
        die "migrations (job/$job) did not complete; $live keeps serving"
    fi
    # 2. The new colour, beside the live one; it gets no traffic until the Service is patched.
    k apply -f "$WORK/target.json" >&2 || die "could not apply docrag-api-$target"
    [ -f "$WORK/target-hpa.json" ] && { k apply -f "$WORK/target-hpa.json" >&2 || true; }
    if ! k rollout status "deployment/docrag-api-$target" --timeout="${KTIMEOUT}s" >&2; then
        k scale "deployment/docrag-api-$target" --replicas=0 >&2 || true
        die "docrag-api-$target ($version) did not become ready; $live keeps serving"
    fi
    # 3. Health gate through port-forwards to each colour's pods.
    local target_url
    forward "$target"
    target_url="$FORWARDED"
    forward "$live"
    if ! health_gate "$target" "$target_url" "$live" "$FORWARDED"; then
        k scale "deployment/docrag-api-$target" --replicas=0 >&2 || true
        die "docrag-api-$target ($version) failed its health check; $live keeps serving"
    fi
    # 4. Switch. Connections open to the old colour's pods finish there: they keep running.
    k patch service docrag-api --type merge -p "$(service_patch "$target" "$live")" >&2 || die "could not patch the Service"
    log "live: $target ($version); $live kept for rollback (scale it down when no longer needed)"
}

k8s_rollback() {
    local live back ready
    k8s_workdir
    if [ -n "$PLAN" ]; then
        "${TOOL[@]}" pick "$WORK/rendered.yaml" Service docrag-api >"$WORK/service.json"
        live="$("${TOOL[@]}" service-selector "$WORK/rendered.yaml")"
        back="$(other "$live")"
        log "plan (no cluster): check docrag-api-$back ready; patch service/docrag-api selector color=$back"
        "${KUBECTL:-kubectl}" patch --local -f "$WORK/service.json" --type merge -p "$(service_patch "$back" "$live")" -o json
        return
    fi
    live="$(k get service docrag-api -o jsonpath='{.spec.selector.color}')" || die "no Service docrag-api in $NS"
    back="$(k get service docrag-api -o jsonpath='{.metadata.annotations.docrag\.io/previous-color}')"
    if [ -z "$back" ] || [ "$back" = "$live" ]; then
        die "nothing to roll back to (no docrag.io/previous-color on the Service)"
    fi
    ready="$(k get deployment "docrag-api-$back" -o jsonpath='{.status.readyReplicas}' 2>/dev/null || true)"
    [ "${ready:-0}" -gt 0 ] || die "docrag-api-$back has no ready pods; $live keeps serving"
    k patch service docrag-api --type merge -p "$(service_patch "$back" "$live")" >&2 || die "could not patch the Service"
    log "rolled back: live $back; $live kept"
}
