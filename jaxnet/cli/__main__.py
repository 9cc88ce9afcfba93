"""``python -m jaxnet.cli``: the ``jaxnet`` command without its installed script."""

import sys

from . import main

sys.exit(main())
