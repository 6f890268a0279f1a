#!/usr/bin/env bash
# Prints the path of a go.mod that builds this repository against a copy of
# Beam v2.77 with prism-busy-loop.patch applied (the module cache is left
# alone; Go refuses overlays of files in it):
#
#   go -C testing/cmd/kinesisbench run -modfile="$(bash docs/upstream/prism-fixed.sh testing/cmd/kinesisbench)" . --only=cpu,write
#
# Its argument names the module whose go.mod it copies: the root (the
# default) or the benchmark's, whose replace of this repository it makes
# absolute.
#
# It shows what the upstream fix changes; nothing in the repository uses it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
beam="$(cd "$root" && go list -m -f '{{.Dir}}' github.com/apache/beam/sdks/v2)"
out="$(mktemp -d "${TMPDIR:-/tmp}/prism-fixed.XXXXXX")"
cp -r "$beam" "$out/beam"
chmod -R u+w "$out/beam"
(cd "$out/beam" && patch --quiet -p2 < "$here/prism-busy-loop.patch")
mod="$root/${1:-.}"
sed "s#=> \.\./\.\./\.\.\$#=> $root#" "$mod/go.mod" > "$out/go.mod"
cp "$mod/go.sum" "$out/go.sum"
echo "replace github.com/apache/beam/sdks/v2 => $out/beam" >> "$out/go.mod"
echo "$out/go.mod"
