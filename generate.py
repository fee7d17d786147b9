#!/usr/bin/env python3
"""Build patient handouts: `python generate.py` builds every handout for every bundled clinic.

See `python generate.py --help` and the README for the other commands.
"""

from __future__ import annotations

import sys

from handoutgen.cli import main

if __name__ == "__main__":
    sys.exit(main())
