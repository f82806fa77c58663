#!/bin/bash
# Run the hpcimg integration tests on their own (the suite runner sources
# t-hpcimg.sh with the others):  tests/integration/run-hpcimg-standalone.sh [BUILDDIR]
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
builddir=$(cd "${1:-$top}" && pwd)
. "$here/lib.sh"
load_exit_codes "$top/src/exitcodes.h"
WORK=$(mktemp -d /tmp/hpcimg-test.XXXXXX)
chmod 755 "$WORK"
BIN=$WORK/bin
mkdir -p "$BIN"
cp "$builddir/src/hpcimg" "$BIN/hpcimg"
HPCIMG=$BIN/hpcimg
HPCRUN=$builddir/src/hpcrun
. "$here/t-hpcimg.sh"
summary
rc=$?
rm -rf "$WORK"
exit $rc
