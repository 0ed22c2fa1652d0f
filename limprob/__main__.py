"""``python -m limprob``: the limprob command line (the console script, :mod:`limprob.console`)."""

import sys

from limprob.console import main

sys.exit(main())
