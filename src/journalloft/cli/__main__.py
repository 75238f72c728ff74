"""``python -m journalloft.cli``."""

import sys

from journalloft.cli.main import main

sys.exit(main())
