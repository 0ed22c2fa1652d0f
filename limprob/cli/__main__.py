"""``python -m limprob.cli``: the limprob command line."""

import sys

from limprob.cli import main

sys.exit(main())
