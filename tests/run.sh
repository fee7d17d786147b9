#!/usr/bin/env bash
# The project's test command (see README): installs what is missing, then checks style, types
# and runs the test suite against real PDFs (qpdf and poppler's pdftotext inspect them).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v qpdf >/dev/null || missing+=(qpdf)
command -v pdftotext >/dev/null || missing+=(poppler-utils)
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "error: the tests need ${missing[*]}: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

python -m pip install -q -e '.[dev]'
ruff check .
mypy
python -m pytest
