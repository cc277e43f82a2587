# syntax=docker/dockerfile:1
# DocRAG production image: a build stage makes wheels, the final stage holds only the
# virtual environment and runs as a non-root user on a read-only root filesystem
# (writable paths: /data for the embedded PostgreSQL and stored files, /tmp as tmpfs).

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/docrag \
    && /opt/docrag/bin/pip install --no-compile . \
    && /opt/docrag/bin/python -m compileall -q /opt/docrag/lib

FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/docrag/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DOCRAG_HOST=0.0.0.0 \
    DOCRAG_PORT=8000 \
    DOCRAG_DATA_DIR=/data \
    HOME=/tmp
RUN groupadd --system --gid 10001 docrag \
    && useradd --system --uid 10001 --gid docrag --home-dir /data --shell /usr/sbin/nologin docrag \
    && mkdir -p /data \
    && chown docrag:docrag /data
COPY --from=build /opt/docrag /opt/docrag
COPY docker/entrypoint.sh /usr/local/bin/docrag-entrypoint
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os,sys,urllib.request as u; sys.exit(0 if u.urlopen('http://127.0.0.1:%s/health/ready' % os.environ.get('DOCRAG_PORT','8000'), timeout=4).status == 200 else 1)"]
ENTRYPOINT ["/usr/local/bin/docrag-entrypoint"]
CMD ["serve"]
