# The two commands of README.md; each installs what it needs first.
# For the inner loop: `make test-fast` (no slow or browser tests) and `make test-unit` (quick tests without stores).
.PHONY: run test test-fast test-unit install

run: install
	.venv/bin/assistant serve

test:
	scripts/test.sh

test-fast:
	@[ -x .venv/bin/pytest ] || scripts/bootstrap.sh
	.venv/bin/pytest -m "not slow and not browser" $(ARGS)

test-unit:
	@[ -x .venv/bin/pytest ] || scripts/bootstrap.sh
	.venv/bin/pytest -m "unit and not slow" $(ARGS)

install:
	scripts/bootstrap.sh
