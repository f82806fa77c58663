#!/bin/bash
# Run the hpcimg integration tests on their own (the suite runner sources
# t-hpcimg.sh with the others):  tests/integration/run-hpcimg-standalone.sh [BUILDDIR]
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
builddir=$(cd "${1:-$top}" && pwd)
. "$here/lib.sh"
load_exit_codes "$top/src/common/exitcodes.h"
WORK=$(mktemp -d /tmp/hpcimg-test.XXXXXX)
chmod 755 "$WORK"
BIN=$WORK/bin
mkdir -p "$BIN"
cp "$builddir/src/hpcimg" "$BIN/hpcimg"
HPCIMG=$BIN/hpcimg
cp "$builddir/src/hpcrun" "$BIN/hpcrun" 2>/dev/null
HPCRUN=$BIN/hpcrun
# The suite runner makes its own unprivileged user; alone, use nobody.
TEST_USER=nobody
TEST_UID=$(id -u nobody)
TEST_GID=$(id -g nobody)
USER_HOME=$WORK/home
mkdir -p "$USER_HOME"
chown "$TEST_UID:$TEST_GID" "$USER_HOME" 2>/dev/null
. "$here/t-hpcimg.sh"
summary
rc=$?
rm -rf "$WORK"
exit $rc
