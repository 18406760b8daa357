#!/usr/bin/env bash
# Install what the test suite needs, then run all of it. README's second command; CI runs this.
#   - Debian's chromium and postgresql, when missing (no browser is ever downloaded)
#   - Debian's nginx and a Java runtime, and the Nu Html Checker (npm's vnu-jar) in var/node,
#     for the outside checks of the built site (tests/test_nginx.py, test_site_validators.py)
#   - the package with its test extras
# The suite starts its own PostgreSQL cluster and its own servers; nothing else must be running.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" fonts-dejavu-core >/dev/null
fi

# The Nu Html Checker. --ignore-scripts: its postinstall would download a JRE if it saw no java.
vnu=var/node/node_modules/vnu-jar/build/dist/vnu.jar
[ -f "$vnu" ] || npm install --prefix var/node --no-save --no-package-lock --ignore-scripts \
  --no-audit --no-fund --loglevel=error vnu-jar@26.9.27 >/dev/null

python3 -m pip install -q --disable-pip-version-check -e '.[test]'
python3 -m ruff check .
# On every core (pytest-xdist): the browser and axe-core checks of every page type at two
# widths and two colour schemes are most of the suite's time.
python3 -m pytest -n "${PYTEST_WORKERS:-auto}" "$@"
