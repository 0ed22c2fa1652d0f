"""``python -m limprob``: the limprob command line."""

import sys

from limprob.cli import main

sys.exit(main())
