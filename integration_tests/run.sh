#!/usr/bin/env bash
# Run the integration tests; each one skips, naming what it needs, when that is missing.
#
#   integration_tests/run.sh                        # everything (-rs prints the skip reasons)
#   integration_tests/run.sh -k e2b                 # a subset; extra arguments go to pytest
#
# Keys and settings: see integration_tests/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m pytest integration_tests -rs "$@"
