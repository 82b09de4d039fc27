#!/usr/bin/env bash
# Differential check against Hugging Face tokenizers 0.23.2 (npm, installed on first use into .cache/):
# generates vectors for many pipeline variants of the shared tokenizers (tests/tok_oracle/gen.js) and runs
# the conformance test on them. Usage: tests/tok_oracle/run.sh [BUILD] [CASES_PER_CONFIG]
set -u
build=${1:-build}
cases=${2:-60}
cd "$(dirname "$0")/../.." || exit 3
shared=${EMBER_SHARED:-../shared}/conformance/tokenizers
[ -d "$shared/hf" ] || { echo "skip: $shared is absent"; exit 0; }
cache=.cache/bench-tokenizers
if [ ! -d "$cache/node_modules/tokenizers" ]; then
    mkdir -p "$cache"
    (cd "$cache" && npm init -y >/dev/null 2>&1; npm install --silent --no-audit --no-fund tokenizers@0.23.2 >/dev/null 2>&1) ||
        { echo "skip: cannot install the tokenizers npm package"; exit 0; }
fi
out=.cache/tok-oracle
rm -rf "$out"
HF_MODULES=$cache node tests/tok_oracle/gen.js "$shared" "$out" "$cases" || exit 2
make -s "$build/tests/test_tokenizer_conformance" BUILD="$build" || exit 2
EMBER_TOK_VECTORS=$out "$build/tests/test_tokenizer_conformance"
