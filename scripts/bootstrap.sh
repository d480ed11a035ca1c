#!/usr/bin/env bash
# Install what the project needs into .venv from uv.lock, installing uv itself first if missing.
# Needs only Python >= 3.11 and the package registries; safe to run again (a no-op when up to date).
set -euo pipefail
cd "$(dirname "$0")/.."

export UV_PYTHON_DOWNLOADS=never   # use the machine's Python; never fetch one
export UV_LINK_MODE=copy
# Byte-compile what is installed (seconds, once): where PYTHONDONTWRITEBYTECODE is set, Python would otherwise
# compile every imported library from source on every start of every command.
export UV_COMPILE_BYTECODE=1

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

find_uv() {
  if command -v uv >/dev/null 2>&1; then command -v uv; return; fi
  if [ -x .tools/venv/bin/uv ]; then echo .tools/venv/bin/uv; return; fi
  return 1
}

install_uv() {
  echo "bootstrap: installing uv into .tools/venv" >&2
  if ! python3 -m venv .tools/venv >/dev/null 2>&1; then
    rm -rf .tools/venv
    echo "bootstrap: python3 cannot make a venv; installing python3-venv with apt-get" >&2
    as_root apt-get update -qq && as_root apt-get install -y -qq python3-venv >/dev/null \
      || { echo "error: cannot create a Python venv; install python3-venv" >&2; exit 1; }
    python3 -m venv .tools/venv
  fi
  .tools/venv/bin/python -m pip install -q --disable-pip-version-check uv
}

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "error: Python 3.11 or newer is needed as python3 (found $(python3 --version 2>&1))" >&2; exit 1; }

UV=$(find_uv) || { install_uv; UV=.tools/venv/bin/uv; }
"$UV" sync --frozen --quiet "$@"
