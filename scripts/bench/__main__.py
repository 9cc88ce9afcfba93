"""``python scripts/bench [--quick] [--only NAME] ...``: runs the benchmarks (see ``cli``).

Python runs a folder by putting the folder itself first on ``sys.path``; that would make every
file here a top-level module (and ``benchmarks/sklearn.py`` aside, ``timing`` or ``config`` could
meet a namesake). The folder's parent takes its place, so the files import as the package
``bench``; the checkout comes next, so its jaxnet is the one timed even when none is installed.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[0:1] = [str(HERE.parent), str(HERE.parents[1])]

from bench.cli import main  # noqa: E402  (needs the path above)

main()
