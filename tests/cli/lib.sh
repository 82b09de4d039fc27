# Helpers for end-to-end tests of the `ember` command. Source it, call the checks, end with `finish`:
#
#     . "$(dirname "$0")/lib.sh"
#     expect_ok   "version runs"            ember --version
#     expect_exit 1 "unknown verb"          ember frobnicate
#     expect_out  "help lists verbs" 'version' ember --help
#     [ -d "$SHARED" ] || skip "model tests" "../shared is absent"
#     finish
#
# $EMBER is the binary (default build/ember), run under $EMBER_TEST_RUNNER (e.g. qemu-aarch64) when set.
# $SHARED is ../shared (or $EMBER_SHARED). $TMP is a scratch folder removed at exit.
# Each check prints PASS/FAIL/SKIP with its name; finish prints "N passed, N failed, N skipped".
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 3
EMBER=${EMBER:-build/ember}
SHARED=${EMBER_SHARED:-../shared}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
_passed=0 _failed=0 _skipped=0

ember() { ${EMBER_TEST_RUNNER:-} "$EMBER" "$@"; }

_pass() { echo "PASS $1"; _passed=$((_passed + 1)); }
_fail() { echo "FAIL $1: $2"; sed 's/^/    | /' "$TMP/.out" | tail -n 15; _failed=$((_failed + 1)); }

# expect_ok NAME CMD...: CMD exits 0.
expect_ok() {
    local name=$1; shift
    "$@" >"$TMP/.out" 2>&1
    local rc=$?
    if [ $rc -eq 0 ]; then _pass "$name"; else _fail "$name" "exit $rc, expected 0"; fi
}

# expect_exit CODE NAME CMD...: CMD exits with CODE, and does not crash.
expect_exit() {
    local code=$1 name=$2; shift 2
    "$@" >"$TMP/.out" 2>&1
    local rc=$?
    if [ $rc -eq "$code" ]; then _pass "$name"; else _fail "$name" "exit $rc, expected $code"; fi
}

# expect_out NAME PATTERN CMD...: CMD exits 0 and its output (stdout+stderr) matches the extended regex.
expect_out() {
    local name=$1 pattern=$2; shift 2
    "$@" >"$TMP/.out" 2>&1
    local rc=$?
    if [ $rc -ne 0 ]; then _fail "$name" "exit $rc, expected 0"
    elif grep -qE -- "$pattern" "$TMP/.out"; then _pass "$name"
    else _fail "$name" "output does not match /$pattern/"; fi
}

# expect_fail_out CODE NAME PATTERN CMD...: CMD exits CODE and its output matches (checks error messages).
expect_fail_out() {
    local code=$1 name=$2 pattern=$3; shift 3
    "$@" >"$TMP/.out" 2>&1
    local rc=$?
    if [ $rc -ne "$code" ]; then _fail "$name" "exit $rc, expected $code"
    elif grep -qE -- "$pattern" "$TMP/.out"; then _pass "$name"
    else _fail "$name" "output does not match /$pattern/"; fi
}

skip() { echo "SKIP $1: $2"; _skipped=$((_skipped + 1)); }

finish() {
    echo "$_passed passed, $_failed failed, $_skipped skipped"
    [ $_failed -eq 0 ]
    exit $?
}
