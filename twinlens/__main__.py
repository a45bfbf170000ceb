import sys

from twinlens.cli import main

sys.exit(main())
