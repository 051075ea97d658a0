#!/usr/bin/env python3
"""Runs a command as a careless caller may start the test suite: SIGHUP ignored (as `nohup`
does), SIGINT and SIGQUIT ignored (as for a background job of a non-interactive shell), and every
signal blocked. The tests must set the signal dispositions and mask they rely on (.ci/run runs
the whole suite this way).

    python3 tests/programs/careless_caller.py cargo test ...
"""
import os
import signal
import sys

for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT):
    signal.signal(sig, signal.SIG_IGN)
signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
os.execvp(sys.argv[1], sys.argv[1:])
