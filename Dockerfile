# One image per service: build with --build-arg SERVICE=<orchestrator|validator|pii|audit|delivery>.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml constraints.txt ./
COPY services ./services
COPY ufctl ./ufctl
COPY schemas ./schemas
COPY infra/topics.yaml ./infra/topics.yaml
RUN pip install --no-cache-dir -c constraints.txt . && useradd --uid 10001 uf
USER 10001
ARG SERVICE
ENV UF_SERVICE=${SERVICE} UF_HTTP_HOST=0.0.0.0 UF_GRPC_HOST=0.0.0.0
EXPOSE 8080 50051
CMD ["sh", "-c", "exec python -m services.${UF_SERVICE}"]
