# shellcheck shell=bash
# Blue-green on one machine (sourced by scripts/deploy-production.sh and rollback-production.sh):
# two DocRAG API processes on loopback ports, nginx in front, one shared PostgreSQL
# (DOCRAG_DATABASE_URL). Traffic moves by rewriting nginx's upstream include and a reload.
#
# Settings (environment):
#   DOCRAG_DATABASE_URL            the shared PostgreSQL (required; DOCRAG_DATABASE_OWNER_URL too if used)
#   DOCRAG_DEPLOY_STATE            state folder (default .deploy/local): live colour, versions, pids, logs, nginx
#   DOCRAG_DEPLOY_PORT             nginx's port on 127.0.0.1 (default 8080)
#   DOCRAG_DEPLOY_BLUE_PORT/_GREEN_PORT   the two API ports (default 8001/8002)
#   DOCRAG_DEPLOY_PYTHON           the interpreter with DocRAG's dependencies (default .venv/bin/python)
#   DOCRAG_DEPLOY_ENV_FILE         KEY=VALUE lines given to the new colour only (its release settings)
#   DOCRAG_DEPLOY_READY_TIMEOUT    seconds for the new colour's /health/ready (default 180)
#   DOCRAG_DEPLOY_DRAIN_TIMEOUT    seconds for nginx's old workers to finish in-flight requests (default 130)
#   DOCRAG_DEPLOY_REQUIRE_OK=1     switch only when health-check-comprehensive.sh says ok (not degraded)
#   DOCRAG_DEPLOY_ALLOW_CONTRACT=1 accept migrations marked '-- contract:' (docs/deploy.md)
#   DOCRAG_API_KEY                 an admin key: the health check then sees every component

. "$ROOT/scripts/lib/bluegreen-common.sh"
STATE="${DOCRAG_DEPLOY_STATE:-$ROOT/.deploy/local}"
NGINX_PORT="${DOCRAG_DEPLOY_PORT:-8080}"
NGX="$STATE/nginx"

port_of() {
    if [ "$1" = blue ]; then echo "${DOCRAG_DEPLOY_BLUE_PORT:-8001}"; else echo "${DOCRAG_DEPLOY_GREEN_PORT:-8002}"; fi
}
read_state() { cat "$STATE/$1" 2>/dev/null || true; }
# Running, and not a zombie: the colours and nginx are daemonised, so init reaps them once they
# exit, and some inits (a container's) do that a second or more late, or never; kill -0 would
# still find the zombie.
running() { local stat; stat="$(ps -o stat= -p "$1" 2>/dev/null)" && [ -n "$stat" ] && [ "${stat#Z}" = "$stat" ]; }
alive() { local pid; pid="$(read_state "$1.pid")"; [ -n "$pid" ] && running "$pid"; }
nginx_pid() { cat "$NGX/nginx.pid" 2>/dev/null || true; }
nginx_up() { local pid; pid="$(nginx_pid)"; [ -n "$pid" ] && running "$pid"; }

lock_state() {
    mkdir -p "$STATE/releases" "$NGX/tmp"
    exec 9>"$STATE/lock"
    flock -n 9 || die "another deploy or rollback holds $STATE/lock"
}

# VERSION: a folder holding a DocRAG tree (src/docrag), or a git ref of this repository, exported
# with git archive into the state folder once. Prints the release folder.
resolve_release() {
    local version="$1" sha dir
    if [ -d "$version/src/docrag" ]; then
        (cd "$version" && pwd)
        return
    fi
    sha="$(git -C "$ROOT" rev-parse --verify --quiet "$version^{commit}")" || die "VERSION $version: not a DocRAG folder nor a git ref"
    dir="$STATE/releases/$sha"
    if [ ! -d "$dir/src/docrag" ]; then
        mkdir -p "$dir.tmp" && git -C "$ROOT" archive "$sha" src | tar -x -C "$dir.tmp" && mv "$dir.tmp" "$dir"
    fi
    echo "$dir"
}

# Stop one colour's API: SIGTERM lets uvicorn finish the requests it holds, then KILL after 30 s.
stop_colour() {
    local colour="$1" pid
    pid="$(read_state "$colour.pid")"
    if [ -n "$pid" ] && running "$pid"; then
        log "stopping $colour (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 300); do running "$pid" || break; sleep 0.1; done
        running "$pid" && kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$STATE/$colour.pid"
}

start_colour() {
    local colour="$1" release="$2" port
    port="$(port_of "$colour")"
    log "starting $colour from $release on 127.0.0.1:$port"
    (
        # shellcheck disable=SC1090  # the release's settings, named by the operator
        if [ -n "${DOCRAG_DEPLOY_ENV_FILE:-}" ]; then set -a; . "$DOCRAG_DEPLOY_ENV_FILE"; set +a; fi
        export PYTHONPATH="$release/src"
        exec 9>&-  # not the deploy lock: it would outlive this script
        exec setsid "$PY" -m docrag.cli serve --host 127.0.0.1 --port "$port" </dev/null >"$STATE/$colour.log" 2>&1
    ) &
    echo $! >"$STATE/$colour.pid"
}

wait_ready() {
    local colour="$1" port deadline
    port="$(port_of "$colour")"
    deadline=$(( $(date +%s) + ${DOCRAG_DEPLOY_READY_TIMEOUT:-180} ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        alive "$colour" || { tail -5 "$STATE/$colour.log" >&2; return 1; }
        [ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health/ready")" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}

write_nginx_conf() {
    local user_line=""
    # As root, nginx's workers would run as nobody: give them the temp folders.
    if [ "$(id -u)" = 0 ]; then user_line="user nobody nogroup;"; chown -R nobody:nogroup "$NGX/tmp"; fi
    cat >"$NGX/nginx.conf" <<EOF
$user_line
worker_processes 1;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
# A reload's old workers finish in-flight requests, at most this long (an SSE stream may last).
worker_shutdown_timeout 120s;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    client_max_body_size 100m;
    include $NGX/upstream.conf;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://docrag_live;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_buffering off;
            proxy_read_timeout 300s;
            # The live colour refuses a connection (it died): idempotent requests go to the backup.
            proxy_next_upstream error timeout http_502 http_504;
            proxy_next_upstream_tries 2;
            add_header X-DocRAG-Color \$docrag_color always;
            add_header X-DocRAG-Upstream \$upstream_addr always;
        }
    }
}
EOF
}

# The upstream include: the live colour, and the kept one as backup (never one that failed its checks).
write_upstream() {
    local live="$1" backup="${2:-}"
    {
        echo "upstream docrag_live {"
        echo "    server 127.0.0.1:$(port_of "$live") max_fails=0;"
        [ -n "$backup" ] && echo "    server 127.0.0.1:$(port_of "$backup") backup;"
        echo "    keepalive 16;"
        echo "}"
        echo "map \"\" \$docrag_color { default $live; }"
    } >"$NGX/upstream.conf.new"
    mv "$NGX/upstream.conf.new" "$NGX/upstream.conf"
}

# Reload nginx and wait until the workers that ran the old upstream have exited: they finish
# their in-flight requests first, so after this no request is on its way to the old colour.
reload_nginx() {
    local master old pid
    if ! nginx_up; then
        write_nginx_conf
        nginx -t -q -e "$NGX/error.log" -p "$NGX" -c "$NGX/nginx.conf" || die "nginx -t refused the config"
        nginx -e "$NGX/error.log" -p "$NGX" -c "$NGX/nginx.conf" 9>&- || die "nginx did not start"
        for _ in $(seq 50); do nginx_up && break; sleep 0.1; done
        log "nginx started on 127.0.0.1:$NGINX_PORT"
        return
    fi
    nginx -t -q -e "$NGX/error.log" -p "$NGX" -c "$NGX/nginx.conf" || die "nginx -t refused the new upstream"
    master="$(nginx_pid)"
    old="$(pgrep -P "$master" | tr '\n' ' ')"
    kill -HUP "$master"
    for _ in $(seq $(( ${DOCRAG_DEPLOY_DRAIN_TIMEOUT:-130} * 10 ))); do
        local left=""
        for pid in $old; do kill -0 "$pid" 2>/dev/null && left="$left $pid"; done
        [ -z "$left" ] && { log "nginx reloaded; old workers drained"; return 0; }
        sleep 0.1
    done
    log "nginx reloaded; old workers still draining after ${DOCRAG_DEPLOY_DRAIN_TIMEOUT:-130}s"
}

local_deploy() {
    local version="$1" live target release kept
    [ -n "${DOCRAG_DATABASE_URL:-}" ] || die "DOCRAG_DATABASE_URL must name the shared PostgreSQL"
    command -v nginx >/dev/null || die "nginx is not installed (apt-get install nginx)"
    lock_state
    release="$(resolve_release "$version")"
    live="$(read_state live)"
    if [ -n "$live" ] && ! alive "$live"; then die "the live colour $live is not running: roll back or restart it first"; fi
    target="$(other "${live:-green}")"
    log "live: ${live:-none}; deploying $version to $target"

    # 1. The target colour is the kept one: take it out of nginx's backup slot, then stop it.
    if [ -n "$live" ] && alive "$target"; then
        write_upstream "$live"
        reload_nginx
    fi
    stop_colour "$target"
    rm -f "$STATE/previous"

    # 2. Expand-only migrations, run by the new release while the live one serves.
    if [ -n "$live" ]; then
        expand_check "$(read_state "$live.release")/src/docrag/store/migrations" "$release/src/docrag/store/migrations" \
            || die "migrations of $version are not expand-only; $live keeps serving"
    fi
    (
        # shellcheck disable=SC1090  # the release's settings, named by the operator
        if [ -n "${DOCRAG_DEPLOY_ENV_FILE:-}" ]; then set -a; . "$DOCRAG_DEPLOY_ENV_FILE"; set +a; fi
        PYTHONPATH="$release/src" "$PY" -m docrag.cli migrate
    ) || die "migrations failed; ${live:-nothing} keeps serving"

    # 3. Start the target and check it before it gets any traffic.
    start_colour "$target" "$release"
    echo "$version" >"$STATE/$target.version"
    echo "$release" >"$STATE/$target.release"
    if ! wait_ready "$target"; then
        stop_colour "$target"
        die "$target ($version) never became ready; ${live:-nothing} keeps serving"
    fi
    if ! health_gate "$target" "http://127.0.0.1:$(port_of "$target")" "$live" "${live:+http://127.0.0.1:$(port_of "$live")}"; then
        stop_colour "$target"
        die "$target ($version) failed its health check; ${live:-nothing} keeps serving"
    fi

    # 4. Switch: the target serves, the old live colour stays up as backup and for rollback.
    write_upstream "$target" "$live"
    reload_nginx
    echo "$target" >"$STATE/live"
    if [ -n "$live" ]; then echo "$live" >"$STATE/previous"; fi
    kept="${live:+$live ($(read_state "$live.version")) kept for rollback}"
    log "live: $target ($version) on 127.0.0.1:$NGINX_PORT; ${kept:-no previous colour}"
}

local_rollback() {
    local live back
    lock_state
    live="$(read_state live)"
    back="$(read_state previous)"
    if [ -z "$live" ] || [ -z "$back" ]; then die "nothing to roll back to (state in $STATE)"; fi
    alive "$back" || die "the kept colour $back is not running"
    [ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(port_of "$back")/health/ready")" = 200 ] \
        || die "the kept colour $back is not ready; $live keeps serving"
    write_upstream "$back" "$live"
    reload_nginx
    echo "$back" >"$STATE/live"
    echo "$live" >"$STATE/previous"
    log "rolled back: live $back ($(read_state "$back.version")); $live ($(read_state "$live.version")) kept"
}

local_stop() {
    local pid
    if nginx_up; then
        pid="$(nginx_pid)"
        kill -QUIT "$pid"  # graceful: in-flight requests finish
        for _ in $(seq 150); do running "$pid" || break; sleep 0.1; done
    fi
    # Both at once: each takes a second or two to finish its requests and exit.
    stop_colour blue &
    stop_colour green &
    wait
    rm -f "$STATE/live" "$STATE/previous"
    log "stopped nginx and both colours"
}
