#!/usr/bin/env bash
# Set up everything this project needs on a fresh Debian/Ubuntu machine with
# Python 3.11, then run one job:
#   scripts/run.sh demo        a demo phone call on the embedded engines (default)
#   scripts/run.sh test [ARGS] the test suite (pytest ARGS)
#   scripts/run.sh ARGS...     any `python -m bot` command, e.g. `serve`, `replay recordings/`
# Safe to run again: it installs only what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
packages=()
command -v "$PYTHON" >/dev/null || packages+=(python3.11)
"$PYTHON" -c "import ensurepip, venv" 2>/dev/null || packages+=(python3.11-venv)
command -v flite >/dev/null || packages+=(flite)          # renders caller voices for scenarios
command -v dot >/dev/null || packages+=(graphviz)         # draws flows: `python -m bot flows graph`
# PyAudio (`python -m bot local`) builds from source: PortAudio's headers, a C compiler, Python's headers.
dpkg -s portaudio19-dev >/dev/null 2>&1 || packages+=(portaudio19-dev)
command -v gcc >/dev/null || packages+=(gcc)
"$PYTHON" -c "import os, sys, sysconfig; sys.exit(not os.path.isfile(sysconfig.get_path('include') + '/Python.h'))" \
    2>/dev/null || packages+=(python3.11-dev)
if ((${#packages[@]})); then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "Installing Debian packages: ${packages[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv"
    "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
    echo "Installing Python packages (a minute or two the first time)"
    .venv/bin/pip install -q --disable-pip-version-check --upgrade pip
    .venv/bin/pip install -q --disable-pip-version-check -e ".[dev]"
    rm -f .venv/.installed-* && touch "$stamp"
fi

job=${1:-demo}
[ $# -gt 0 ] && shift
case "$job" in
    test) exec .venv/bin/python -m pytest "$@" ;;
    *) exec .venv/bin/python -m bot "$job" "$@" ;;
esac
