"""``python -m mctm_replica.standin``: run the stand-in in the foreground."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
