#!/usr/bin/env bash
# Ember vs llama.cpp (npm node-llama-cpp@3.21.1, its prebuilt CPU binaries) on a random-weight model of
# TinyLlama-1.1B's shape (22 layers, dim 2048, 32 heads, 4 KV heads, ffn 5632, vocab 32000). The bench writes the
# model itself as F16 with Ember's GGUF writer (build/bench/llm_model), converts it with `ember quantize` to Q4_0,
# Q8_0 and Q4_K (one file per type, used by both engines), and times prompt processing (pp64: one batch of 64
# tokens) and generation (tg32: 32 single-token steps), like llama-bench, at 1 and 2 threads. Runs alternate
# Ember / llama.cpp for ROUNDS rounds; each number is the median of the rounds. Ratio = Ember / llama.cpp
# throughput. Files go to .cache/ (git-ignored).
# usage: bench/llm.sh [BUILD]     env: ROUNDS (3), REPS (3, timed runs per round), TYPES ("Q4_0 Q8_0 Q4_K"),
#                                      THREADS ("1 2"), P (64), N (32)
set -u
build=${1:-build}
cd "$(dirname "$0")/.." || exit 3
np=${P:-64} ng=${N:-32}
rounds=${ROUNDS:-3} reps=${REPS:-3} types=${TYPES:-"Q4_0 Q8_0 Q4_K"} threads=${THREADS:-"1 2"}
ember="$build/ember"
models=.cache/bench-llm
peer=.cache/bench-llama
mkdir -p "$models"

make -s "$build/bench/llm_model" BUILD="$build" >/dev/null || { echo "bench/llm.sh: cannot build llm_model"; exit 1; }
f16="$models/tinyllama-F16.gguf"
if [ ! -s "$f16" ]; then
    echo "writing $f16 (2.2 GB, first use)"
    "$build/bench/llm_model" "$f16.tmp" && mv "$f16.tmp" "$f16" || { echo "bench/llm.sh: cannot write the model"; exit 1; }
fi
for t in $types; do
    q="$models/tinyllama-$t.gguf"
    if [ ! -s "$q" ]; then
        echo "ember quantize -> $q (first use)"
        "$ember" quantize "$f16" "$q.tmp" "$t" && mv "$q.tmp" "$q" || { echo "bench/llm.sh: quantize $t failed"; exit 1; }
    fi
done
if [ ! -d "$peer/node_modules/node-llama-cpp" ]; then
    echo "installing node-llama-cpp@3.21.1 into $peer (first use)"
    mkdir -p "$peer"
    (cd "$peer" && npm install --silent --no-audit --no-fund -E node-llama-cpp@3.21.1 >/dev/null) ||
        { echo "bench/llm.sh: cannot install node-llama-cpp"; exit 1; }
fi
export NODE_LLAMA_CPP_DIR="$PWD/$peer/node_modules"

field() { sed -nE "s/.*\"$1\": ?([0-9.]+).*/\1/p"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}'; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %3s | %9s %9s %6s | %9s %9s %6s | %8s %8s\n' type thr "ember pp" "llama pp" ratio "ember tg" "llama tg" ratio \
    "ember MB" "llama MB"
for t in $types; do
    q="$models/tinyllama-$t.gguf"
    for th in $threads; do
        epp=() etg=() lpp=() ltg=() erss=() lrss=()
        for ((r = 0; r < rounds; r++)); do
            line=$( { /usr/bin/time -f 'RSS %M' "$ember" llm-bench -m "$q" -p "$np" -n "$ng" -r "$reps" -t "$th" --json; } 2>&1) ||
                { echo "ember failed: $line"; continue; }
            epp+=("$(field pp_tps <<<"$line")") etg+=("$(field tg_tps <<<"$line")")
            erss+=("$(sed -nE 's/^RSS ([0-9]+)$/\1/p' <<<"$line")")
            line=$(node bench/llama_bench.mjs "$q" "$th" "$np" "$ng" "$reps" 2>/dev/null | tail -1) ||
                { echo "llama.cpp failed"; continue; }
            lpp+=("$(field pp_tps <<<"$line")") ltg+=("$(field tg_tps <<<"$line")") lrss+=("$(field rss_mb <<<"$line")")
        done
        [ ${#epp[@]} -gt 0 ] && [ ${#lpp[@]} -gt 0 ] || continue
        mepp=$(printf '%s\n' "${epp[@]}" | median) metg=$(printf '%s\n' "${etg[@]}" | median)
        mlpp=$(printf '%s\n' "${lpp[@]}" | median) mltg=$(printf '%s\n' "${ltg[@]}" | median)
        mers=$(printf '%s\n' "${erss[@]}" | median) mlrs=$(printf '%s\n' "${lrss[@]}" | median)
        printf '%-6s %3s | %9.2f %9.2f %6s | %9.2f %9.2f %6s | %8.0f %8.0f\n' "$t" "$th" "$mepp" "$mlpp" \
            "$(ratio "$mepp" "$mlpp")" "$metg" "$mltg" "$(ratio "$metg" "$mltg")" "$((mers / 1024))" "$mlrs"
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "(ratio = Ember / llama.cpp tokens/s; llama MB includes Node itself, ~50 MB)"
