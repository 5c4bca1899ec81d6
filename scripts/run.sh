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
# More caller voices and a phone line for the development set (`python -m bot devset`, bot/desk/caller_voice.py).
command -v espeak-ng >/dev/null || packages+=(espeak-ng)
command -v sox >/dev/null || packages+=(sox)
command -v dot >/dev/null || packages+=(graphviz)         # draws flows: `python -m bot flows graph`
# The dashboard's browser tests (tests/test_dashboard_browser.py) drive Debian's Chromium through its WebDriver.
command -v chromium >/dev/null || packages+=(chromium)
command -v chromedriver >/dev/null || packages+=(chromium-driver)
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

# The deployment checks (tests/test_deploy_*.py) need Caddy (the TLS proxy), openssl (a local certificate),
# promtool (Debian's prometheus package: the alert rules) and systemd-analyze (the units); the store tests
# run on a PostgreSQL server of their own (tests/postgres_server.py: initdb and postgres from Debian's
# postgresql). Installed for `test` only, without starting or enabling their services here (Debian's
# policy-rc.d says no meanwhile; the package's own cluster is not used).
if [ "${1:-demo}" = test ]; then
    tools=()
    command -v caddy >/dev/null || tools+=(caddy)
    command -v openssl >/dev/null || tools+=(openssl)
    command -v promtool >/dev/null || tools+=(prometheus)
    command -v systemd-analyze >/dev/null || tools+=(systemd)   # checks deploy/systemd/ (systemd-analyze verify)
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || tools+=(postgresql)
    if ((${#tools[@]})); then
        sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
        echo "Installing Debian packages for the deployment and store checks: ${tools[*]}"
        no_start=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            no_start=/usr/sbin/policy-rc.d
            printf '#!/bin/sh\nexit 101\n' | $sudo tee "$no_start" >/dev/null
            $sudo chmod 755 "$no_start"
        fi
        $sudo apt-get update -qq
        status=0
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${tools[@]}" >/dev/null \
            || status=$?
        [ -z "$no_start" ] || $sudo rm -f "$no_start"
        if [ -d /run/systemd/system ]; then
            for unit in caddy prometheus postgresql; do
                [[ " ${tools[*]} " == *" $unit "* ]] && $sudo systemctl disable --now "$unit" >/dev/null 2>&1 || true
            done
        fi
        [ "$status" -eq 0 ] || exit "$status"
    fi
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
