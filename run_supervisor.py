"""Start nija: one supervised process per trading account.

With no credentials configured this runs in paper mode: a local Kraken simulator with
paper accounts master, daivon and tania. See README.md and docs/architecture.md.
"""

import sys

if __name__ == "__main__":
    from supervisor.main import main

    sys.exit(main())
