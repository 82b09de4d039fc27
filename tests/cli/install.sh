#!/usr/bin/env bash
# `make install` puts headers, both libraries and ember.pc under PREFIX, and a program builds against them
# with pkg-config: against the shared library, and against the static archive.
. "$(dirname "$0")/lib.sh"
build=$(dirname "$EMBER")
if [ -n "${EMBER_TEST_RUNNER:-}${EMBER_SANITIZE:-}" ]; then
    skip "install" "cross or sanitizer build: installing is checked on the plain native build"
    finish
fi
prefix="$TMP/prefix"
cc=${CC:-cc}
expect_ok "make install" make -s install BUILD="$build" PREFIX="$prefix"
expect_ok "headers installed" test -f "$prefix/include/ember/ember.h" -a -f "$prefix/include/ember/tensor.h"
expect_ok "libraries installed" test -f "$prefix/lib/libember.a" -a -f "$prefix/lib/libember.so.0"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
expect_out "pkg-config knows ember" '^[0-9]+\.[0-9]+\.[0-9]+$' pkg-config --modversion ember
expect_ok "program builds with pkg-config" \
    sh -c "$cc examples/hello.c -o '$TMP/hello_so' \$(pkg-config --cflags --libs ember)"
expect_out "it runs on the shared library" '^x\[999\] = 998001$' env LD_LIBRARY_PATH="$prefix/lib" "$TMP/hello_so"
expect_ok "program links the static archive" \
    sh -c "$cc examples/hello.c -o '$TMP/hello' \$(pkg-config --cflags ember) '$prefix/lib/libember.a' \$(pkg-config --static --libs ember | sed 's/-lember//')"
expect_out "it runs without the shared library" '^ember [0-9.]+ on ' "$TMP/hello"
finish
