#!/usr/bin/env bash
# Refreshes swagger-ui/ and redoc/ from the npm registry (the files are committed; nothing is fetched at run
# time). Change the versions here and in README.md together.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent swagger-ui-dist@5.35.0 redoc@2.5.4 >/dev/null
mkdir swagger redoc
tar xzf swagger-ui-dist-5.35.0.tgz -C swagger
tar xzf redoc-2.5.4.tgz -C redoc
s=swagger/package r=redoc/package
cp "$s/swagger-ui-bundle.js" "$s/swagger-ui-bundle.js.LICENSE.txt" "$s/swagger-ui.css" "$s/LICENSE" "$s/NOTICE" \
  "$s/favicon-32x32.png" "$here/swagger-ui/"
cp "$r/bundles/redoc.standalone.js" "$r/bundles/redoc.standalone.js.LICENSE.txt" "$r/LICENSE" "$here/redoc/"
