import sys

from hstgw.cli import main

sys.exit(main())
