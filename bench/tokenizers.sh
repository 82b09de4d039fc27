#!/usr/bin/env bash
# Tokenizer encode throughput, Ember vs Hugging Face tokenizers 0.23.2 for qwen3, llama3 and bert: the
# paragraphs of the text encoded as one batch on 1 thread and on 2 threads, on ~4 MB of mixed
# English prose, C code and non-Latin text (translated man pages) found on this machine. Prints MB/s for
# both and the ratio; the token counts must agree. EMBER_BENCH_RUNS sets the runs (median; default 5).
# Usage: bench/tokenizers.sh [BUILD]   (HF is installed on first use into .cache/bench-tokenizers)
set -u
build=${1:-build}
cd "$(dirname "$0")/.." || exit 3
cache=.cache/bench-tokenizers
shared=${EMBER_SHARED:-../shared}
hf=$shared/conformance/tokenizers/hf
mkdir -p "$cache"
[ -d "$hf" ] || { echo "skip: $hf is absent"; exit 0; }

corpus=$cache/corpus.txt
if [ ! -s "$corpus" ]; then
    {   # prose: package docs; code: C headers; non-Latin: Japanese, Korean, Russian, Chinese man pages
        find /usr/share/doc -name 'copyright' -size -64k 2>/dev/null | sort | head -n 400 | xargs cat 2>/dev/null | head -c 1400000
        find /usr/include -maxdepth 1 -name '*.h' 2>/dev/null | sort | xargs cat 2>/dev/null | head -c 1200000
        for l in ja ko ru zh_CN uk pl de; do
            find "/usr/share/man/$l" -name '*.gz' 2>/dev/null | sort | head -n 60 | xargs zcat 2>/dev/null | head -c 250000
        done
    } >"$corpus.tmp" && mv "$corpus.tmp" "$corpus"
fi
if [ ! -d "$cache/node_modules/tokenizers" ]; then
    (cd "$cache" && npm init -y >/dev/null 2>&1; npm install --silent --no-audit --no-fund tokenizers@0.23.2 >/dev/null 2>&1) ||
        { echo "skip: cannot install the tokenizers npm package"; exit 0; }
fi
cc -O2 -Iinclude bench/tokenizers.c "$build/libember.a" -lutf8proc -lz -lm -lpthread -o "$cache/ember-tok" || exit 3

mb=$(awk -v b="$(wc -c <"$corpus")" 'BEGIN{printf "%.1f", b/1e6}')
runs=${EMBER_BENCH_RUNS:-5}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); text: $mb MB mixed prose/code/non-Latin; median of $runs runs"
echo "the text's paragraphs encoded as one batch on 1 and on 2 threads"
echo "(Ember: ember_tokenizer_encode_batch on a pool of that size; HF: encodeBatch with RAYON_NUM_THREADS set to it)"
printf '%-14s %-8s %11s %11s %8s %10s %10s\n' tokenizer threads "ember MB/s" "HF MB/s" ratio "ember tok" "HF tok"
field() { sed -E "s/.*\"$1\": ?([0-9.]+).*/\1/"; }
for t in qwen3 llama3 bert_uncased; do
    [ -f "$hf/$t/tokenizer.json" ] || continue
    for threads in 1 2; do
        mode=batch label="$threads thread"
        [ "$threads" = 1 ] || label="${threads} threads"
        e=$("$cache/ember-tok" "$hf/$t/tokenizer.json" "$corpus" "$runs" "$mode" "$threads") || { echo "$t: ember failed"; continue; }
        h=$(RAYON_NUM_THREADS=$threads HF_MODULES=$cache node bench/tokenizers.js "$hf/$t/tokenizer.json" "$corpus" "$runs" "$mode") ||
            { echo "$t: HF failed"; continue; }
        em=$(field mbps <<<"$e") hm=$(field mbps <<<"$h") et=$(field tokens <<<"$e") ht=$(field tokens <<<"$h")
        printf '%-14s %-8s %11.2f %11.2f %7.2fx %10s %10s%s\n' "$t" "$label" "$em" "$hm" "$(awk -v a="$em" -v b="$hm" 'BEGIN{print a/b}')" \
            "$et" "$ht" "$([ "$et" = "$ht" ] || echo '  TOKEN COUNTS DIFFER')"
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
