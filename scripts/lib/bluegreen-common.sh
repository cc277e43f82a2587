# shellcheck shell=bash
# Shared by the blue-green targets (scripts/lib/bluegreen-local.sh, bluegreen-k8s.sh): logging,
# colours, and the health gate a new colour must pass before it gets traffic.

PY="${DOCRAG_DEPLOY_PYTHON:-$ROOT/.venv/bin/python}"

log() { printf '[deploy %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
other() { if [ "$1" = blue ]; then echo green; else echo blue; fi; }
# scripts/health-check-comprehensive.sh on colour $1 at URL $2. Prints "EXIT SCORE DOWN": exit 0 ok,
# 1 degraded, 2 down; the 0-100 score; the components that are down, comma-separated ("?" when
# they are not shown, i.e. without an admin DOCRAG_API_KEY; "-" when none is down).
health_of() {
    local out code=0 score down
    out="$("$ROOT/scripts/health-check-comprehensive.sh" "$2")" || code=$?
    printf '%s\n' "$out" | sed "s/^/  [$1] /" >&2
    score="$(printf '%s\n' "$out" | sed -n 's|.* score \([0-9.]*\)/100.*|\1|p' | head -1)"
    if printf '%s\n' "$out" | grep -q 'set DOCRAG_API_KEY'; then
        down="?"
    else
        down="$(printf '%s\n' "$out" | awk '$1 == "X" { printf "%s%s", sep, $2; sep = "," }')"
    fi
    echo "$code ${score:-0} ${down:--}"
}

# The new colour passes when it is not down and no component is down on it that is up on the live
# colour (a missing backup or a slow moment degrades, and stops nothing; an unreachable Redis the new
# release was given is down, and stops the deploy). Without an admin key the components are not
# shown, and the new colour's score must then be at least the live one's.
# health_gate TARGET TARGET_URL [LIVE LIVE_URL]
health_gate() {
    local target="$1" live="${3:-}" t_code t_score t_down l_score l_down c
    read -r t_code t_score t_down <<<"$(health_of "$target" "$2")"
    [ "$t_code" -ge 2 ] && { log "$target is down"; return 1; }
    [ "${DOCRAG_DEPLOY_REQUIRE_OK:-}" = 1 ] && [ "$t_code" -ne 0 ] && { log "$target is not ok"; return 1; }
    [ -z "$live" ] && return 0
    read -r _ l_score l_down <<<"$(health_of "$live" "$4")"
    if [ "$t_down" = "?" ] || [ "$l_down" = "?" ]; then
        if awk -v t="$t_score" -v l="$l_score" 'BEGIN { exit !(t < l) }'; then
            log "$target (score $t_score) is less healthy than $live (score $l_score)"
            return 1
        fi
        return 0
    fi
    for c in ${t_down//,/ }; do
        [ "$c" = "-" ] && continue
        case ",$l_down," in
            *",$c,"*) ;;
            *) log "$target: component $c is down (up on $live)"; return 1 ;;
        esac
    done
}

# expand_check LIVE_MIGRATIONS NEW_MIGRATIONS: the expand/contract guard (docs/deploy.md);
# DOCRAG_DEPLOY_ALLOW_CONTRACT=1 accepts the migrations marked '-- contract:'.
expand_check() {
    local flags=()
    [ "${DOCRAG_DEPLOY_ALLOW_CONTRACT:-}" = 1 ] && flags=(--allow-contract)
    PYTHONPATH="$ROOT/src" "$PY" -m docrag.store.expand_guard "$1" "$2" "${flags[@]}"
}
