#!/usr/bin/env bash
# Point-in-time recovery with pgBackRest (Debian's package) for an external PostgreSQL,
# exercised on a private cluster of this machine's PostgreSQL (default: 15) in a temporary
# folder: WAL archiving on, a full backup, rows written before and after a chosen moment, the
# data folder destroyed, and a restore to that moment. Prints the rows found and PASS/FAIL.
#   scripts/pitr-drill.sh            (PGBIN=/usr/lib/postgresql/<major>/bin for another version)
# The configuration it writes (pgbackrest.conf, archive_command) is what docs/backups.md shows
# for a production server.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PORT=${PORT:-55439}
# As root, the cluster runs as the postgres OS user (initdb refuses root); else as you.
if [ "$(id -u)" = 0 ]; then RUN_AS=${RUN_AS:-postgres}; else RUN_AS=$(id -un); fi
command -v pgbackrest >/dev/null || { echo "pgbackrest not installed (apt-get install -y pgbackrest)" >&2; exit 2; }
work=$(mktemp -d /tmp/docrag-pitr.XXXXXX)
chown "$RUN_AS" "$work"
as() { if [ "$(id -un)" = "$RUN_AS" ]; then "$@"; else runuser -u "$RUN_AS" -- "$@"; fi; }
as mkdir -p "$work/log" "$work/lock" "$work/spool" "$work/repo"
cleanup() { as "$PGBIN/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

conf="$work/pgbackrest.conf"
as tee "$conf" >/dev/null <<EOF
[global]
repo1-path=$work/repo
repo1-retention-full=2
log-path=$work/log
lock-path=$work/lock
spool-path=$work/spool
start-fast=y
[docrag]
pg1-path=$work/pg
pg1-port=$PORT
pg1-socket-path=$work
EOF
pb() { as pgbackrest --config="$conf" --stanza=docrag "$@"; }
sql() { as "$PGBIN/psql" -X -q -t -A -h "$work" -p "$PORT" -d postgres -v ON_ERROR_STOP=1 -c "$1"; }

as "$PGBIN/initdb" -D "$work/pg" -U "$RUN_AS" --auth=trust >/dev/null
as tee -a "$work/pg/postgresql.conf" >/dev/null <<EOF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$work'
wal_level = replica
archive_mode = on
archive_command = 'pgbackrest --config=$conf --stanza=docrag archive-push %p'
EOF
as "$PGBIN/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w start >/dev/null
pb stanza-create >/dev/null
pb check >/dev/null
t0=$(date +%s.%N)
pb --type=full backup >/dev/null
backup_s=$(echo "$(date +%s.%N) - $t0" | bc)

sql "CREATE TABLE writes (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())"
sql "INSERT INTO writes SELECT FROM generate_series(1, 1000)"
sleep 1
target=$(sql "SELECT clock_timestamp()")
sleep 1
sql "INSERT INTO writes SELECT FROM generate_series(1, 500)"   # the writes after the chosen moment
sql "SELECT pg_switch_wal()" >/dev/null
sleep 2  # archive_command runs on the switched segment
as "$PGBIN/pg_ctl" -D "$work/pg" -m fast -w stop >/dev/null

rm -rf "${work:?}/pg"   # the disaster
t0=$(date +%s.%N)
pb --type=time "--target=$target" --target-action=promote restore >/dev/null
as "$PGBIN/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w -t 120 start >/dev/null
until [ "$(sql 'SELECT pg_is_in_recovery()')" = "f" ]; do sleep 0.5; done
restore_s=$(echo "$(date +%s.%N) - $t0" | bc)
rows=$(sql "SELECT count(*) FROM writes")
last=$(sql "SELECT max(at) <= '$target'::timestamptz FROM writes")
printf 'pgBackRest %s, PostgreSQL %s\n' "$(pgbackrest version | cut -d' ' -f2)" "$(sql 'SHOW server_version')"
printf 'full backup: %.1f s; restore to %s and promote: %.1f s\n' "$backup_s" "$target" "$restore_s"
printf 'rows after recovery: %s (expected 1000: the 500 written after the target are gone)\n' "$rows"
if [ "$rows" = 1000 ] && [ "$last" = t ]; then echo "PITR drill: PASS"; else echo "PITR drill: FAIL"; exit 1; fi
