"""``python -m implicit_bias`` is the ``implicit-bias`` command."""

import sys

from implicit_bias.cli import main

sys.exit(main())
