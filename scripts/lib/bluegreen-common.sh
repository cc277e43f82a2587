# Shared by the blue-green targets (scripts/lib/bluegreen-local.sh, bluegreen-k8s.sh): logging,
# colours, and the health gate a new colour must pass before it gets traffic.

PY="${DOCRAG_DEPLOY_PYTHON:-$ROOT/.venv/bin/python}"

log() { printf '[deploy %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
other() { if [ "$1" = blue ]; then echo green; else echo blue; fi; }
# scripts/health-check-comprehensive.sh on colour $1 at URL $2: prints "EXIT SCORE" (exit 0 ok, 1 degraded, 2 down).
health_of() {
    local out code=0
    out="$("$ROOT/scripts/health-check-comprehensive.sh" "$2")" || code=$?
    printf '%s\n' "$out" | sed "s/^/  [$1] /" >&2
    echo "$code $(printf '%s\n' "$out" | sed -n 's|.* score \([0-9.]*\)/100.*|\1|p' | head -1)"
}

# The new colour passes when it is not down, and is no less healthy than the live one (a missing
# backup degrades both alike; a component the new release breaks lowers its score).
# health_gate TARGET TARGET_URL [LIVE LIVE_URL]
health_gate() {
    local target="$1" live="${3:-}" t_code t_score l_code l_score
    read -r t_code t_score <<<"$(health_of "$target" "$2")"
    [ "$t_code" -ge 2 ] && { log "$target is down"; return 1; }
    [ "${DOCRAG_DEPLOY_REQUIRE_OK:-}" = 1 ] && [ "$t_code" -ne 0 ] && { log "$target is not ok"; return 1; }
    [ -z "$live" ] && return 0
    read -r l_code l_score <<<"$(health_of "$live" "$4")"
    if [ "$t_code" -gt "$l_code" ] || awk -v t="${t_score:-0}" -v l="${l_score:-0}" 'BEGIN { exit !(t < l) }'; then
        log "$target (exit $t_code, score ${t_score:-?}) is less healthy than $live (exit $l_code, score ${l_score:-?})"
        return 1
    fi
}


# expand_check LIVE_MIGRATIONS NEW_MIGRATIONS: the expand/contract guard (docs/deploy.md);
# DOCRAG_DEPLOY_ALLOW_CONTRACT=1 accepts the migrations marked '-- contract:'.
expand_check() {
    local flags=()
    [ "${DOCRAG_DEPLOY_ALLOW_CONTRACT:-}" = 1 ] && flags=(--allow-contract)
    PYTHONPATH="$ROOT/src" "$PY" -m docrag.store.expand_guard "$1" "$2" "${flags[@]}"
}
