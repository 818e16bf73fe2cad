"""``python -m cinreport``: the command line (:mod:`cinreport.cli`).

``python -m cinreport warm-serve SOCK`` starts a build's warm server (:mod:`cinreport.build.warm`),
whose workers run this command line: the server is given :func:`cinreport.cli.main` here, so the
build machinery imports nothing above it.
"""

import sys

from cinreport.cli import main

if __name__ == "__main__":
    if sys.argv[1:2] == ["warm-serve"] and len(sys.argv) == 3:
        from cinreport.build import warm

        sys.exit(warm.serve(sys.argv[2], run=main))
    sys.exit(main())
