"""Entry point of ``python -m fastmlp``; see :func:`fastmlp._cli.main`."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m fastmlp"))
