#!/usr/bin/env bash
# Roll back a blue-green deploy (docs/deploy.md): traffic goes back to the colour the last deploy
# kept running; the colour rolled back from stays up too, so a second rollback undoes the first.
# Migrations are not undone: they were expand-only, so the kept release works with them.
#
#   scripts/rollback-production.sh [local|k8s]     (default local)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
case "${1:-local}" in
    local) . "$ROOT/scripts/lib/bluegreen-local.sh"; local_rollback ;;
    k8s)   . "$ROOT/scripts/lib/bluegreen-k8s.sh"; k8s_rollback ;;
    *) echo "usage: $0 [local|k8s]" >&2; exit 64 ;;
esac
