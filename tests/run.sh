#!/usr/bin/env bash
# The project's test command (see README): installs what is missing, then checks style, types
# and runs the test suite against real PDFs (qpdf and poppler's pdftotext inspect them).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v qpdf >/dev/null || missing+=(qpdf)
command -v pdftotext >/dev/null || missing+=(poppler-utils)
# encrypted attachments are opened with MuPDF too (and PDFium, from pip)
command -v mutool >/dev/null || missing+=(mupdf-tools)
# printing tests start their own CUPS scheduler with the generic PDF printer driver
command -v cupsd >/dev/null || missing+=(cups)
command -v lp >/dev/null || missing+=(cups-client cups-bsd)
[ -e /usr/share/ppd/cupsfilters/Generic-PDF_Printer-PDF.ppd ] || missing+=(cups-filters)
# the web page's end-to-end tests drive Debian's Chromium with Playwright
[ -x /usr/lib/chromium/chromium ] || missing+=(chromium)
# the accessibility tests inject axe-core, installed from the npm registry
command -v npm >/dev/null || missing+=(npm)
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
bash tests/install_axe.sh
ruff check .
mypy
python -m pytest
