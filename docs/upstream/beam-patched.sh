#!/usr/bin/env bash
# Prints the path of a go.mod that builds a module of this repository
# against a copy of its Beam with patches of this directory applied (the
# module cache is left alone; Go refuses overlays of files in it):
#
#   bash docs/upstream/beam-patched.sh MODULE PATCH...
#
# MODULE names the module whose go.mod it copies, relative to the
# repository's root: "." or testing/cmd/kinesisbench, whose replace of
# this repository it makes absolute. Each PATCH is a file name in this
# directory, applied with -p2 at the root of the Beam module's copy.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
mod="$root/${1:?usage: beam-patched.sh MODULE PATCH...}"
shift
beam="$(cd "$root" && go list -m -f '{{.Dir}}' github.com/apache/beam/sdks/v2)"
out="$(mktemp -d "${TMPDIR:-/tmp}/beam-patched.XXXXXX")"
cp -r "$beam" "$out/beam"
chmod -R u+w "$out/beam"
for p in "$@"; do
	(cd "$out/beam" && patch --quiet -p2 < "$here/$p")
done
sed "s#=> \.\./\.\./\.\.\$#=> $root#" "$mod/go.mod" > "$out/go.mod"
cp "$mod/go.sum" "$out/go.sum"
echo "replace github.com/apache/beam/sdks/v2 => $out/beam" >> "$out/go.mod"
echo "$out/go.mod"
