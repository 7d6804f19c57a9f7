import sys

from nxthdr.cli import main

sys.exit(main())
