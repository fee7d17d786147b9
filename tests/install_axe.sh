#!/usr/bin/env bash
# Installs axe-core from the npm registry into tests/node/, where tests/test_web_a11y.py reads
# node_modules/axe-core/axe.min.js to inject it into the web page. Does nothing when that version is there.
set -euo pipefail
cd "$(dirname "$0")/.."
AXE_VERSION=4.14.1
installed=$(node -p "require('./tests/node/node_modules/axe-core/package.json').version" 2>/dev/null || true)
if [ "$installed" != "$AXE_VERSION" ]; then
  npm install --prefix tests/node --no-save --no-audit --no-fund --loglevel=error "axe-core@$AXE_VERSION"
fi
