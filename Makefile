# The two commands of README.md; each installs what it needs first.
.PHONY: run test install

run: install
	.venv/bin/assistant serve

test:
	scripts/test.sh

install:
	scripts/bootstrap.sh
