#!/usr/bin/env bash
# Rebuilds blindrsa.js: @cloudflare/blindrsa-ts from the npm registry, bundled by esbuild into one ES module
# with its licence header. The browser loads only the committed result; nothing is fetched at run time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund @cloudflare/blindrsa-ts@0.4.4 esbuild@0.28.2 >/dev/null
echo "export { RSABSSA } from '@cloudflare/blindrsa-ts';" >entry.js
sed -n '/^\/\*!/,/^ \*\//p' "$here/blindrsa.js" >banner.txt
node_modules/.bin/esbuild entry.js --bundle --format=esm --target=es2020 --legal-comments=none \
  --banner:js="$(cat banner.txt)" --outfile="$here/blindrsa.js"
