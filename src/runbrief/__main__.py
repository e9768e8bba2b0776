"""`python -m runbrief` runs the CLI."""

import sys

from runbrief.cli import main

sys.exit(main())
