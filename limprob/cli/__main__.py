"""``python -m limprob.cli``: the limprob command line."""

import sys

from limprob.console import main

sys.exit(main())
