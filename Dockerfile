# syntax=docker/dockerfile:1
# One image per service: build with `--target <orchestrator|validator|pii|audit|delivery>`
# (`make images` builds all five with podman; skaffold and compose name the same targets).
#
# Layers, slowest-changing first: base -> Python dependencies (rebuilt only when pyproject.toml
# or constraints.txt change) -> code. Only the pii image carries spaCy and its model.
# BASE_IMAGE: any Debian-based image with python3.11 and its venv module. Where no registry is
# reachable, `make images` builds one from Debian packages (infra/images/base.sh).
ARG BASE_IMAGE=docker.io/library/python:3.11.14-slim-bookworm
# checkov:skip=CKV_DOCKER_7:the FROM lines name ${BASE_IMAGE}, whose default above is a fixed version tag

# ---- Python dependencies, from a wheelhouse when one is present, else from the index ----------
FROM ${BASE_IMAGE} AS deps-core
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
COPY constraints.txt pyproject.toml ./
COPY libs/uf-pii/pyproject.toml libs/uf-pii/pyproject.toml
COPY tools/image_requirements.py tools/image_requirements.py
# /wheels: `make images` mounts the wheels it downloaded from PyPI there (podman build -v);
# without that mount (docker build elsewhere) pip uses the package index.
# hadolint ignore=SC2046
RUN python3 -m venv /opt/venv \
 && python3 tools/image_requirements.py > core.txt \
 && /opt/venv/bin/pip install $(ls /wheels/*.whl >/dev/null 2>&1 && echo --no-index --find-links /wheels) \
        -c constraints.txt -r core.txt

FROM deps-core AS deps-nlp
# hadolint ignore=SC2046
RUN python3 tools/image_requirements.py --nlp > nlp.txt \
 && /opt/venv/bin/pip install $(ls /wheels/*.whl >/dev/null 2>&1 && echo --no-index --find-links /wheels) \
        -c constraints.txt -r nlp.txt

# ---- the code (no tests, no tools, no local state) --------------------------------------------
FROM ${BASE_IMAGE} AS code
WORKDIR /app
COPY services ./services
COPY libs/uf-pii/uf_pii ./libs/uf-pii/uf_pii
COPY schemas ./schemas
COPY policies ./policies
COPY protos ./protos
COPY infra/topics.yaml ./infra/topics.yaml
RUN find /app -name __pycache__ -prune -exec rm -rf {} + \
 && python3 -m compileall -q /app/services /app/libs

# ---- runtime: non-root, code read-only, state only under the mounted UF_VAR_DIR ---------------
FROM ${BASE_IMAGE} AS runtime
RUN groupadd --gid 10001 uf \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/uf --shell /usr/sbin/nologin uf \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/uf
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app:/app/libs/uf-pii \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HOME=/var/lib/uf \
    UF_ROOT=/app \
    UF_VAR_DIR=/var/lib/uf \
    UF_HTTP_HOST=0.0.0.0 UF_HTTP_PORT=8080
WORKDIR /app
VOLUME ["/var/lib/uf"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ['UF_HTTP_PORT'], timeout=2)"]
USER 10001:10001

FROM runtime AS app-core
COPY --from=deps-core /opt/venv /opt/venv
COPY --from=code /app /app

FROM runtime AS app-nlp
COPY --from=deps-nlp /opt/venv /opt/venv
COPY --from=code /app /app

# ---- one target per service --------------------------------------------------------------------
FROM app-core AS orchestrator
ENV UF_SERVICE_NAME=orchestrator
CMD ["python", "-m", "services.orchestrator"]

FROM app-core AS validator
ENV UF_SERVICE_NAME=validator UF_GRPC_HOST=0.0.0.0 UF_GRPC_PORT=50051
EXPOSE 50051
CMD ["python", "-m", "services.validator"]

FROM app-nlp AS pii
ENV UF_SERVICE_NAME=pii UF_GRPC_HOST=0.0.0.0 UF_GRPC_PORT=50051
EXPOSE 50051
CMD ["python", "-m", "services.pii"]

FROM app-core AS audit
ENV UF_SERVICE_NAME=audit
CMD ["python", "-m", "services.audit"]

FROM app-core AS delivery
ENV UF_SERVICE_NAME=delivery
CMD ["python", "-m", "services.delivery"]
