"""python -m cgru: the cgru command."""
import sys

from cgru.cli import main

sys.exit(main())
