#!/usr/bin/env bash
# Civic's two commands:
#   ./run.sh demo   set up, migrate, seed and serve the demo city on http://127.0.0.1:5000
#   ./run.sh test   set up and run the whole test suite (extra arguments go to pytest)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PYTHON=${PYTHON:-python3}
VENV=${CIVIC_VENV:-.venv}

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

check_python() {
  if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    echo "Civic needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1 || echo none))." >&2
    echo "Set PYTHON=/path/to/python3.11 and run again." >&2
    exit 1
  fi
}

setup() {
  check_python
  if [ ! -x "$VENV/bin/python" ]; then
    say "Creating the virtual environment in $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  # Reinstall only when the dependencies changed.
  local stamp="$VENV/.civic-installed" wanted
  wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    say "Installing Civic and its dependencies"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e ".[test]"
    echo "$wanted" > "$stamp"
  fi
  say "Compiling translations"
  "$VENV/bin/civic" i18n compile >/dev/null
}

ensure_chromium() {
  local chromium=${CIVIC_CHROMIUM:-/usr/bin/chromium}
  if [ -x "$chromium" ]; then return; fi
  say "Installing Debian's Chromium for the browser tests"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  if command -v apt-get >/dev/null; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  fi
  if [ ! -x "$chromium" ]; then
    echo "Chromium is missing at $chromium and could not be installed (apt-get chromium)." >&2
    exit 1
  fi
}

case "${1:-}" in
  demo)
    setup
    say "Bringing the database to the current schema"
    "$VENV/bin/civic" db upgrade
    say "Seeding the demo city"
    "$VENV/bin/civic" seed
    say "Serving the demo on http://127.0.0.1:5000"
    exec "$VENV/bin/civic" serve --host 127.0.0.1 --port 5000
    ;;
  test)
    shift
    setup
    ensure_chromium
    say "Running the test suite (database: ${DATABASE_URL:-SQLite})"
    set +e
    "$VENV/bin/python" -m pytest "$@"
    status=$?
    set -e
    # pytest's 5 means no test ran: that is a failure here, not a pass.
    exit $status
    ;;
  *)
    echo "usage: ./run.sh demo | test [pytest arguments]" >&2
    exit 2
    ;;
esac
