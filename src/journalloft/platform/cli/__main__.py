"""``python -m journalloft.platform.cli``."""

import sys

from journalloft.platform.cli.main import main

sys.exit(main())
