#!/usr/bin/env python3
"""policysite's command line: `python build.py --help` (also installed as `policysite`)."""

from policysite.cli import run

if __name__ == "__main__":
    run()
