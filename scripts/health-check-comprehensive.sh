#!/usr/bin/env bash
# A readable health report of a running DocRAG: /health/components and a few /metrics figures.
#
#   scripts/health-check-comprehensive.sh [URL] [verbose]
#
# URL defaults to http://127.0.0.1:8000. Set DOCRAG_API_KEY to an admin key to see every
# component (without one only the overall status and score are shown). "verbose" also prints
# each component's details and the metrics read.
# Exit status: 0 healthy, 1 degraded, 2 down (or unreachable).
set -u
URL="${1:-http://127.0.0.1:8000}"
URL="${URL%/}"
VERBOSE="${2:-}"
AUTH=()
if [ -n "${DOCRAG_API_KEY:-}" ]; then
    AUTH=(-H "Authorization: Bearer ${DOCRAG_API_KEY}")
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# -s quiet, no -f: a 503 (down) still carries the JSON body.
code="$(curl -s -m 20 -o "$tmp/health.json" -w '%{http_code}' "${AUTH[@]}" "$URL/health/components")" || code=000
curl -s -m 20 -o "$tmp/metrics.txt" "$URL/metrics" || : >"$tmp/metrics.txt"

exec python3 - "$URL" "$code" "$tmp/health.json" "$tmp/metrics.txt" "$VERBOSE" <<'PY'
import json
import sys

url, code, health_path, metrics_path, verbose = sys.argv[1:6]
EXIT = {"ok": 0, "degraded": 1, "down": 2}
if code == "000":
    print(f"DocRAG at {url}: DOWN (no answer from /health/components)")
    sys.exit(2)
try:
    with open(health_path, encoding="utf-8") as f:
        health = json.load(f)
    status = health["status"]
except (OSError, ValueError, KeyError):
    print(f"DocRAG at {url}: DOWN (/health/components answered HTTP {code} without a health report)")
    sys.exit(2)
if status not in EXIT:
    print(f"DocRAG at {url}: DOWN (unknown status {status!r})")
    sys.exit(2)

print(f"DocRAG at {url}: {status.upper()}  score {health.get('score')}/100  (HTTP {code})")
components = health.get("components")
if components is None:
    print("  (set DOCRAG_API_KEY to an admin key to see each component)")
else:
    for name, info in components.items():
        mark = {"ok": "  ", "degraded": "! ", "down": "X "}.get(info.get("status"), "? ")
        line = f"  {mark}{name:<16} {info.get('status', '?'):<9} {info.get('latency_ms', 0):>8.1f} ms"
        if verbose:
            extra = {k: v for k, v in info.items() if k not in ("status", "latency_ms")}
            if extra:
                line += "  " + json.dumps(extra, sort_keys=True)
        print(line)

WANTED = {
    "docrag_queue_depth": "queued jobs",
    "docrag_queue_oldest_job_age_seconds": "oldest queued job (s)",
    "docrag_workers_live": "live workers",
    "docrag_disk_free_ratio": "disk free (ratio)",
    "docrag_health_score": "health score (last scrape)",
}
found = {}
try:
    with open(metrics_path, encoding="utf-8") as f:
        for raw in f:
            if raw.startswith("#") or not raw.strip():
                continue
            name, _, rest = raw.partition(" ")
            if name in WANTED:
                try:
                    found[name] = float(rest.split()[0])
                except (ValueError, IndexError):
                    pass
except OSError:
    pass
if verbose or found:
    print("  metrics:" if found else "  metrics: /metrics unreadable")
    for name, label in WANTED.items():
        if name in found:
            print(f"    {label:<28} {found[name]:g}")
sys.exit(EXIT[status])
PY
