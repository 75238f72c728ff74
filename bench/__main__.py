import sys
from pathlib import Path

# Measure the checkout this bench/ lives in, whichever checkout the venv was installed from.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from bench.main import main

raise SystemExit(main())
