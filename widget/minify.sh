#!/usr/bin/env bash
# consent.js → consent.min.js, with terser (npm). terser renames local names, which rjsmin
# could not, and the widget must fit its byte budget (docs/performance.md). The build reads the
# committed consent.min.js, so building a site needs no Node.js; tests/test_widget_build.py
# runs `--check`, so the file cannot drift from its source.
#   widget/minify.sh           write widget/consent.min.js (after any edit of consent.js)
#   widget/minify.sh --check   exit 1 when consent.min.js is not consent.js minified
#
# `S` keeps its name and is kept though nothing uses it yet: the build turns each _("…") mark
# into S[i] after minifying (policysite/render/widget.py). `_` is the marks' own name.
set -euo pipefail
cd "$(dirname "$0")/.."

version=5.51.4
terser=var/terser/node_modules/terser/bin/terser
if [ ! -f "$terser" ] || ! grep -q "\"version\": \"$version\"" var/terser/node_modules/terser/package.json; then
  npm install --prefix var/terser --no-save --no-package-lock --no-audit --no-fund \
    --loglevel=error "terser@$version" >/dev/null
fi

minified=$(node "$terser" widget/consent.js --ecma 2020 --comments false \
  --compress unused=false --mangle "reserved=['S','_']")
if [ "${1:-}" = "--check" ]; then
  if [ "$minified" != "$(cat widget/consent.min.js)" ]; then
    echo "widget/consent.min.js is out of date: run widget/minify.sh" >&2
    exit 1
  fi
else
  printf '%s\n' "$minified" > widget/consent.min.js
fi
