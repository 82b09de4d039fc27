#!/usr/bin/env bash
# The ember command itself: verbs, help, version, usage errors and exit codes.
. "$(dirname "$0")/lib.sh"

expect_out "--help lists the verbs" '^  version ' ember --help
expect_out "--version prints the version" '^ember [0-9]+\.[0-9]+\.[0-9]+' ember --version
expect_out "version --json is JSON" '^\{"version": "[0-9.]+", "cpu": ".*"\}$' ember version --json
expect_exit 1 "no verb is a usage error" ember
expect_exit 1 "unknown verb is a usage error" ember frobnicate
expect_fail_out 1 "unknown option names the option" "unknown option '--bogus'" ember version --bogus
expect_out "verb --help shows usage" '^usage: ember version' ember version --help
expect_out "EMBER_CPU=generic turns features off" 'scalar only' env EMBER_CPU=generic ${EMBER_TEST_RUNNER:-} "$EMBER" version
expect_out "EMBER_CPU=cache=SIZE sets the cache size assumed" 'cores, 1536 KB cache: ' env EMBER_CPU=cache=1536K ${EMBER_TEST_RUNNER:-} "$EMBER" version
expect_out "EMBER_CPU=cache=0: cache size unknown" 'cores: ' env EMBER_CPU=-fma,cache=0 ${EMBER_TEST_RUNNER:-} "$EMBER" version
expect_out "EMBER_CPU=generic,cache=2M: both apply" 'cores, 2 MB cache: \(scalar only\)' env EMBER_CPU=generic,cache=2M ${EMBER_TEST_RUNNER:-} "$EMBER" version
finish
