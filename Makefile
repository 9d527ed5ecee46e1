# Universal Framework - local developer entry points. Everything runs on loopback.
PY      := .venv/bin/python
STACK   := python3 infra/stack.py
REPLICAS ?= 1
BROKERS ?=

.PHONY: help install venv load-venv lint run up down status test test-unit test-integration bench \
        dashboards protos protos-check schemas-check schemas-lock topics lock clean backup \
        images test-images k8s-check k8s-dev-secrets tools

help:  ## list targets
	@grep -E '^[a-z0-9-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

venv: $(PY)  ## Python deps into .venv (pinned: pyproject.toml + constraints.txt)
$(PY): pyproject.toml constraints.txt libs/uf-pii/pyproject.toml libs/uf-verify/pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e "libs/uf-pii[nlp]" -e libs/uf-verify -e ".[dev]"
	@touch $(PY)

install: venv  ## everything: Python deps, Debian packages, Kafka and Elasticsearch jars, the S3 test server's jar
	$(STACK) install
	$(PY) infra/s3_site.py install

up: install  ## start Kafka, Elasticsearch, Redis, SMTP sink, Prometheus and the five services (REPLICAS=N instances each; BROKERS=3: Kafka as a 3-broker cluster, remembered); returns when all are ready
	$(STACK) up $(if $(BROKERS),--brokers $(BROKERS))
	$(PY) -m services.kit.contracts.topics
	$(PY) -m services.launcher up --replicas $(REPLICAS)
	@$(PY) -c "from services.kit.runtime.service_table import PROMETHEUS_URL as u; print(f'Prometheus: {u}  (alerts: {u}/alerts, targets: {u}/targets)')"

down:  ## stop the services and the stack (by PID, idempotent)
	-@test -x $(PY) && $(PY) -m services.launcher down
	$(STACK) down

status:  ## what is running
	-$(STACK) status
	-$(PY) -m services.launcher status

run: install  ## bring up the suite, run the example campaign end to end, stop what it started
	$(PY) examples/run_example.py

lint: venv  ## ruff (style, imports, bugbear) + mypy (strict on the kit and the PII library)
	$(PY) -m ruff check .
	$(PY) -m mypy

test: install  ## unit + integration tests (a stack already up is reused; otherwise one on empty data is started and stopped; the load/fault drills are `make test-load`)
	$(PY) -m pytest -q -ra -m "not load"

test-load: install  ## bursts under a CPU hog and fault drills, two instances of every service (20-35 min; not a CI step yet: .ci/run says why)
	$(PY) -m pytest -q -ra -m load

test-unit: venv  ## tests that need no servers
	$(PY) -m pytest -q -ra tests/unit

bench: install  ## end-to-end benchmark against raw aiokafka (see docs/benchmarks.md)
	$(PY) bench/e2e.py

dashboards: venv  ## regenerate the Grafana dashboards (monitoring/dashboards/*.json) with grafanalib
	$(PY) -m tools.gen_dashboards

load-venv: .venv-load/bin/locust  ## the load generator's own virtualenv (Locust, matplotlib; bench/load.py)
.venv-load/bin/locust: bench/load-requirements.txt
	python3 -m venv .venv-load
	.venv-load/bin/pip install -q -r bench/load-requirements.txt
	@touch .venv-load/bin/locust

protos: venv  ## regenerate gRPC stubs from protos/
	$(PY) -m tools.gen_protos

protos-check: venv  ## fail if the committed stubs are stale
	$(PY) -m tools.gen_protos --check

schemas-check: venv  ## reject incompatible or edited event schemas
	$(PY) -m tools.schemas_check

schemas-lock: venv  ## record new schema versions in schemas/catalog.lock
	$(PY) -m tools.schemas_check --update-lock

topics: venv  ## apply infra/topics.yaml to the running cluster
	$(PY) -m services.kit.contracts.topics

images:  ## build the five service images with podman: universal-framework/<service>:<commit> (docs/deploy.md)
	infra/images/build.sh

test-images: install images  ## start the images as containers against the local stack, run the example to COMPLETED
	UF_IMAGE_TEST=1 UF_IMAGE_TAG=$$(infra/images/tag.sh) $(PY) -m pytest -q -ra tests/deploy/test_images_run.py

k8s-check: venv  ## kustomize+kubeconform, skaffold render, compose config, hadolint, checkov, bandit, manifest drift
	PY=$(PY) infra/k8s-check.sh

k8s-dev-secrets: venv  ## keys for the dev overlay (git-ignored files under k8s/overlays/dev/secrets/)
	$(PY) -m tools.k8s_dev_secrets

tools:  ## install the pinned deployment tools (infra/versions.env) into ~/.cache/universal-framework/tools
	infra/tools.sh install

lock: venv  ## re-pin transitive Python dependencies
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

BACKUP_DIR ?= var/backups
backup: venv  ## encrypted DR backup into $(BACKUP_DIR)/<UTC time>/ (keys, checkpoints, policies; see docs/operations.md)
	$(PY) -m ufctl dr backup --out $(BACKUP_DIR)/$$(date -u +%Y%m%dT%H%M%SZ)

clean: down  ## stop everything and delete local data (var/)
	rm -rf var
