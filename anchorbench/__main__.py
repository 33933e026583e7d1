import sys

from anchorbench.cli import main

sys.exit(main())
