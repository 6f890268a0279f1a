#!/usr/bin/env bash
# Prints the path of a go.mod that builds this repository against a copy of
# Beam v2.77 with prism-busy-loop.patch applied (beam-patched.sh):
#
#   go -C testing/cmd/kinesisbench run -modfile="$(bash docs/upstream/prism-fixed.sh testing/cmd/kinesisbench)" . --only=cpu,write
#
# Its argument names the module whose go.mod it copies: the root (the
# default) or the benchmark's.
#
# It shows what the upstream fix changes; nothing in the repository uses it.
set -euo pipefail
exec bash "$(dirname "$0")/beam-patched.sh" "${1:-.}" prism-busy-loop.patch
