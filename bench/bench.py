#!/usr/bin/env python3
"""hookinit's benchmarks, side by side with tini, dumb-init and catatonit: the entry point that
`bash bench/run.sh` runs. The driver is the package beside it, bench/initbench/ (its docstring
says what it does and which module does what)."""

from initbench.cli import main

if __name__ == "__main__":
    main()
