"""rldojo entry point: ``python main.py [--yaml FILE] [section.key=value ...]``."""

import sys

from framework.cli import main

if __name__ == "__main__":
    sys.exit(main())
