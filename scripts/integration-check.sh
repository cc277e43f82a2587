#!/usr/bin/env bash
# Runs docs/integration-checklist.md against a running DocRAG and prints a pass/fail table.
#
#   DOCRAG_API_KEY=<admin key> scripts/integration-check.sh [URL] [--backup-dir DIR] [--strict]
#
# URL defaults to http://127.0.0.1:8000. The key must be an admin key (it deletes the scratch
# collection the check creates). The API checks need only HTTP; the backup checks run
# `docrag backup` and `docrag backup verify` with this shell's DOCRAG_* settings (the database
# owner's access, as the service's own settings), only with --backup-dir (else SKIP); the alert
# rules need promtool and the deploy validation hadolint and kubectl (else SKIP). --strict turns
# every SKIP into a failure. Exit status: 0 all passed, 1 any FAIL, 2 usage.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
URL=http://127.0.0.1:8000 backup_dir="" strict=0
while [ $# -gt 0 ]; do
  case $1 in
    --backup-dir) backup_dir=$2; shift ;;
    --strict) strict=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) URL=$1 ;;
  esac
  shift
done
URL=${URL%/}
KEY=${DOCRAG_API_KEY:-}
[ -n "$KEY" ] || { echo "set DOCRAG_API_KEY to an admin key" >&2; exit 2; }
DOCRAG=${DOCRAG:-$(command -v docrag || echo "$ROOT/.venv/bin/docrag")}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
collection="integration-check-$(date +%s)-$$"
token="zanzibar$$quokka"  # a word no real document holds: the search must find this upload
results=()
failed=0

# One row: check NAME COMMAND... ; the command's last output line is the detail.
check() {
  local name=$1 started out rc status
  shift
  started=$(date +%s.%N)
  out=$("$@" 2>&1)
  rc=$?
  if [ $rc = 0 ]; then status=PASS; elif [ $rc = 77 ]; then status=SKIP; else status=FAIL; fi
  if [ $status = FAIL ] || { [ $status = SKIP ] && [ $strict = 1 ]; }; then failed=1; fi
  results+=("$(printf '%-22s %-5s %6.1f  %s' "$name" "$status" "$(echo "$(date +%s.%N) - $started" | bc)" \
    "$(printf '%s' "$out" | tail -n 1 | cut -c1-90)")")
}
# HTTP: http METHOD PATH [curl args...]; writes the body to $tmp/body, echoes the status code.
http() {
  local method=$1 path=$2
  shift 2
  curl -s -m 120 -o "$tmp/body" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $KEY" "$@" "$URL$path"
}
# json EXPR: evaluates a Python expression over the last body (as `j`).
json() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($1)" "$tmp/body"; }
expect() {  # expect CODE ACTUAL: fails with the body's head
  [ "$1" = "$2" ] && return 0
  echo "HTTP $2 (expected $1): $(head -c 200 "$tmp/body" 2>/dev/null)"
  return 1
}

c_live() { local c; c=$(curl -s -m 10 -o "$tmp/body" -w '%{http_code}' "$URL/health/live"); expect 200 "$c" && echo "live"; }
c_ready() { local c; c=$(curl -s -m 30 -o "$tmp/body" -w '%{http_code}' "$URL/health/ready"); expect 200 "$c" && echo "database and model ready"; }
c_components() {  # the whole report read first: a reader that stops early breaks the writer's pipe
  local out rc
  out=$(DOCRAG_API_KEY=$KEY "$ROOT/scripts/health-check-comprehensive.sh" "$URL")
  rc=$?
  echo "${out%%$'\n'*}"
  return "$rc"
}
c_metrics() {
  curl -sf -m 30 "$URL/metrics" >"$tmp/metrics" || { echo "GET /metrics failed"; return 1; }
  for m in docrag_http_requests_total docrag_queue_depth docrag_backup_last_success_timestamp_seconds; do
    grep -q "^$m" "$tmp/metrics" || { echo "$m missing"; return 1; }
  done
  echo "$(grep -c '^docrag_' "$tmp/metrics") docrag_ samples"
}
c_headers() {
  curl -s -m 10 -D "$tmp/headers" -o /dev/null "$URL/health/live"
  grep -qi '^x-content-type-options: nosniff' "$tmp/headers" || { echo "no X-Content-Type-Options"; return 1; }
  echo "security headers present"
}
c_auth() {
  local c; c=$(curl -s -m 10 -o "$tmp/body" -w '%{http_code}' "$URL/v1/collections")
  expect 401 "$c" && [ "$(json 'j["error"]["code"]')" != "" ] && echo "no key: 401 $(json 'j["error"]["code"]')"
}
c_upload() {
  printf 'The integration check stores this note. The %s lives in the %s.\n' "$token" "$collection" >"$tmp/note.txt"
  local c; c=$(http POST "/v1/collections/$collection/documents?wait=true" -F "file=@$tmp/note.txt;type=text/plain")
  expect 201 "$c" || return 1
  [ "$(json 'j["status"]')" = indexed ] || { echo "status $(json 'j["status"]')"; return 1; }
  json 'j["id"]' >"$tmp/doc_id"
  echo "indexed $(cat "$tmp/doc_id")"
}
c_search() {
  local c; c=$(http POST /v1/search -H 'Content-Type: application/json' \
    -d "{\"query\": \"$token\", \"collections\": [\"$collection\"]}")
  expect 200 "$c" || return 1
  [ "$(json 'j["hits"][0]["document_id"] if j["hits"] else ""')" = "$(cat "$tmp/doc_id" 2>/dev/null)" ] \
    || { echo "top hit is not the upload"; return 1; }
  echo "top hit is the upload"
}
c_ask() {
  local c; c=$(http POST /v1/ask -H 'Content-Type: application/json' \
    -d "{\"question\": \"Where does the $token live?\", \"collections\": [\"$collection\"]}")
  expect 200 "$c" || return 1
  local cited; cited=$(json '",".join(sorted({c["document_id"] for s in j["sentences"] for c in s["citations"]}))')
  [ "$(json 'j["answered"]')" = True ] && [ "$cited" = "$(cat "$tmp/doc_id" 2>/dev/null)" ] \
    || { echo "answered=$(json 'j["answered"]') cited=[$cited]"; return 1; }
  echo "answered, citing the upload"
}
c_delete() {
  local id c; id=$(cat "$tmp/doc_id" 2>/dev/null) || { echo "no upload to delete"; return 1; }
  c=$(http DELETE "/v1/documents/$id"); expect 204 "$c" || return 1
  c=$(http GET "/v1/documents/$id"); expect 404 "$c" || return 1
  c=$(http DELETE "/v1/collections/$collection"); expect 204 "$c" || return 1
  echo "document gone (404), collection deleted"
}
c_backup() {
  [ -n "$backup_dir" ] || { echo "no --backup-dir (needs the database owner's access)"; return 77; }
  "$DOCRAG" backup --to "$backup_dir" | tail -n 1
}
c_verify() {
  [ -n "$backup_dir" ] || { echo "no --backup-dir"; return 77; }
  "$DOCRAG" backup verify --latest --to "$backup_dir" | tail -n 1
}
c_rules() {
  command -v promtool >/dev/null || { echo "promtool not installed"; return 77; }
  promtool check rules "$ROOT/deploy/monitoring/prometheus-rules.yml" >/dev/null || return 1
  (cd "$ROOT/deploy/monitoring/tests" && promtool test rules rules_test.yml) | tail -n 1
}
c_deploy() {
  command -v kubectl >/dev/null && [ -x "$ROOT/.venv/bin/hadolint" ] || { echo "hadolint or kubectl missing"; return 77; }
  "$ROOT/scripts/validate-deploy.sh" | tail -n 1
}

check "health live" c_live
check "health ready" c_ready
# The backup first: a deployment without a recent one reports its health as degraded.
check "backup" c_backup
check "backup verify" c_verify
check "health components" c_components
check "metrics" c_metrics
check "security headers" c_headers
check "auth required" c_auth
check "upload (wait)" c_upload
check "search" c_search
check "ask with citations" c_ask
check "delete" c_delete
check "alert rules" c_rules
check "deploy validation" c_deploy

printf '%-22s %-5s %6s  %s\n' check result secs detail
printf '%s\n' "${results[@]}"
pass=$(printf '%s\n' "${results[@]}" | grep -c ' PASS ')
echo "integration check of $URL: $pass/${#results[@]} passed$([ $failed = 0 ] && echo || echo ', FAILED')"
exit $failed
