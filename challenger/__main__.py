"""`python -m challenger`: the CLI."""

import sys

from challenger.cli import main

sys.exit(main())
