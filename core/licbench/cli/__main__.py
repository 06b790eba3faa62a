import sys

from licbench.cli.main import main

sys.exit(main())
