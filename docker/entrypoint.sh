#!/bin/sh
# DocRAG container entrypoint. Reads *_FILE secrets (Docker/Kubernetes secret files) into
# the matching environment variables, checks the writable paths a read-only root
# filesystem leaves, then runs the docrag command (default: serve).
set -eu

# DOCRAG_DATABASE_URL_FILE=/run/secrets/db_url -> DOCRAG_DATABASE_URL=<file contents>
for var in DOCRAG_DATABASE_URL DOCRAG_DATABASE_OWNER_URL DOCRAG_REDIS_URL DOCRAG_LLM_API_KEY; do
    file_var="${var}_FILE"
    eval "file=\${$file_var:-}"
    if [ -n "$file" ]; then
        if [ ! -r "$file" ]; then
            echo "docrag-entrypoint: $file_var=$file is not readable" >&2
            exit 64
        fi
        value=$(cat "$file")
        export "$var=$value"
        unset "$file_var"
    fi
done

data_dir="${DOCRAG_DATA_DIR:-/data}"
if ! mkdir -p "$data_dir" 2>/dev/null || ! [ -w "$data_dir" ]; then
    echo "docrag-entrypoint: data dir $data_dir is not writable (mount a volume there)" >&2
    exit 65
fi
tmp="${TMPDIR:-/tmp}"
if ! [ -w "$tmp" ]; then
    echo "docrag-entrypoint: $tmp is not writable (mount a tmpfs there)" >&2
    exit 65
fi

if [ "$#" -eq 0 ]; then
    set -- serve
fi
case "$1" in
    -*) set -- serve "$@" ;;
esac
exec "${DOCRAG_BIN:-docrag}" "$@"
