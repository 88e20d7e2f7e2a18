"""``python -m pyrocomp ...`` and ``torchrun ... -m pyrocomp ...``: the command line."""
import sys

from pyrocomp.cli import main

sys.exit(main())
