#!/usr/bin/env bash
# Print the sizes of the built widget, as a11y-dialog's size.sh does: raw, gzip -9 and, when a
# brotli tool is installed, brotli -q 11. The budget is 5,000 bytes gzip for both files
# (docs/performance.md).
#   widget/size.sh          build content/ into a temporary folder and measure its widget
#   widget/size.sh DIR      measure DIR/consent.js and DIR/consent.css (e.g. dist)
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${1:-}
if [ -z "$dir" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  python3 build.py build --out "$work/dist" >/dev/null
  dir="$work/dist"
fi

brotli_size() {
  if command -v brotli >/dev/null 2>&1; then
    brotli -c -q 11 "$1" | wc -c
  elif python3 -c "import brotli" 2>/dev/null; then
    python3 -c "import brotli, sys; print(len(brotli.compress(open(sys.argv[1], 'rb').read(), quality=11)))" "$1"
  else
    echo "-"
  fi
}

total_gzip=0
printf '%-12s %8s %8s %8s\n' file raw gzip brotli
for name in consent.js consent.css; do
  file="$dir/$name"
  raw=$(wc -c <"$file")
  gz=$(gzip -9 -n -c "$file" | wc -c)
  total_gzip=$((total_gzip + gz))
  printf '%-12s %8d %8d %8s\n' "$name" "$raw" "$gz" "$(brotli_size "$file")"
done
printf '%-12s %8s %8d   (budget 5000 bytes; 1 KB = 1000 bytes, docs/performance.md)\n' total "" "$total_gzip"
