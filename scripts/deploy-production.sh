#!/usr/bin/env bash
# Blue-green deploy of DocRAG (docs/deploy.md):
#
#   scripts/deploy-production.sh VERSION local|k8s
#   scripts/deploy-production.sh --stop local        stop nginx and both local colours
#
# Starts the colour that is not live with VERSION, runs its migrations (expand-only: the live
# colour keeps working with them), health-checks it with scripts/health-check-comprehensive.sh,
# switches traffic to it and keeps the old colour running for scripts/rollback-production.sh.
# Any failure before the switch leaves the live colour serving and exits non-zero.
# local: VERSION is a git ref of this repository or a folder holding a DocRAG tree (src/docrag).
# k8s:   VERSION is the image tag; DOCRAG_DEPLOY_PLAN=1 prints the objects instead of applying them.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
usage() { echo "usage: $0 VERSION local|k8s   (or: $0 --stop local)" >&2; exit 64; }
[ $# -eq 2 ] || usage
case "$2" in
    local) . "$ROOT/scripts/lib/bluegreen-local.sh"
           if [ "$1" = --stop ]; then local_stop; else local_deploy "$1"; fi ;;
    k8s)   . "$ROOT/scripts/lib/bluegreen-k8s.sh"; k8s_deploy "$1" ;;
    *) usage ;;
esac
