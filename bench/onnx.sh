#!/usr/bin/env bash
# Ember vs ONNX Runtime 1.30 (CPU, npm onnxruntime-node) on the bench and face models, 1 and 2 threads.
# Runs alternate (Ember, ORT, Ember, ORT, ...) in ROUNDS rounds of RUNS timed runs; each side's number is the
# median of its round medians. Also: CPU ms per run on both sides (steadier than wall time on a busy
# machine), load time (until ready to run: open + plan, ORT's session creation; not making the inputs) and
# the first run's time after it (medians of the rounds), peak RSS (ORT's minus the RSS of Node with ORT
# loaded), and the 1-minute load average when the row finished (the machine is shared: rows measured under
# a high load are noisy, the ratio less so since both sides alternate).
# Rounds are many and short because this VM's speed swings by 10-30% from one second to the next (see
# docs/kernels.md): with 3 long rounds one side could draw the fast seconds and the other the slow ones.
# usage: bench/onnx.sh [BUILD]      env: ROUNDS (7), RUNS (10), MODELS (space-separated paths)
set -u
build=${1:-build}
cd "$(dirname "$0")/.." || exit 3
shared=${EMBER_SHARED:-../shared}
ember="$build/ember"
rounds=${ROUNDS:-7} runs=${RUNS:-10}
cache=.cache/bench-node
if [ ! -d "$cache/node_modules/onnxruntime-node" ]; then
    echo "installing onnxruntime-node@1.30.0 into $cache (first use)"
    mkdir -p "$cache"
    (cd "$cache" && ONNXRUNTIME_NODE_INSTALL=skip npm install --silent --no-audit --no-fund onnxruntime-node@1.30.0 >/dev/null) ||
        { echo "bench/onnx.sh: cannot install onnxruntime-node"; exit 1; }
fi
export ORT_NODE_MODULES="$PWD/$cache/node_modules"
node_base_rss=$(node -e "require('$ORT_NODE_MODULES/onnxruntime-node'); console.log(process.resourceUsage().maxRSS / 1024)")

models=${MODELS:-"$shared/models/bench/mobilenet_v2.onnx $shared/models/bench/squeezenet1_1.onnx
  $shared/models/bench/minilm_l6_h384_v8k.onnx $shared/models/face/yunet/yunet_s_320_320.onnx
  $shared/models/face/yunet/yunet_s_640_640.onnx $shared/models/face/ultraface/version-RFB-320.onnx
  $shared/models/face/mobilefacenet/mobilefacenet.onnx $shared/models/face/faceplugin/fr_feature.onnx"}

field() { sed -nE "s/.*\"$1\": ?([0-9.]+).*/\1/p"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

printf '%-22s %3s %9s %9s %6s %8s %8s %6s %8s %7s %7s %7s %7s %7s %6s\n' model thr "ember ms" "ort ms" ratio "e cpu" \
    "o cpu" "cpu r" "ember MB" "ort MB" "load e" "load o" "1st e" "1st o" loadavg
for m in $models; do
    [ -f "$m" ] || { echo "skip $m (absent)"; continue; }
    inputs=$("$ember" dump "$m" --json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["inputs"]))' 2>/dev/null) ||
        { echo "skip $m (ember cannot load it)"; continue; }
    for t in 1 2; do
        e_med=() o_med=() e_cpu=() o_cpu=() e_load=() o_load=() e_first=() o_first=() e_line="" o_line=""
        for ((r = 0; r < rounds; r++)); do
            e_line=$("$ember" bench "$m" -t $t --runs "$runs" --json) || { e_line=""; break; }
            o_line=$(node bench/ort_bench.mjs "$m" $t "$runs" 3 "$inputs" 2>/dev/null) || { o_line=""; break; }
            e_med+=("$(field median_ms <<<"$e_line")") e_cpu+=("$(field cpu_ms <<<"$e_line")")
            o_med+=("$(field median_ms <<<"$o_line")") o_cpu+=("$(field cpu_ms <<<"$o_line")")
            e_load+=("$(field load_ms <<<"$e_line")") o_load+=("$(field load_ms <<<"$o_line")")
            e_first+=("$(field first_ms <<<"$e_line")") o_first+=("$(field first_ms <<<"$o_line")")
        done
        if [ -z "$e_line" ] || [ -z "$o_line" ]; then
            printf '%-28s %3s %s\n' "$(basename "$m" .onnx)" $t "failed (ember: ${e_line:+ok}, ort: ${o_line:+ok})"
            continue
        fi
        e=$(printf '%s\n' "${e_med[@]}" | median) o=$(printf '%s\n' "${o_med[@]}" | median)
        ec=$(printf '%s\n' "${e_cpu[@]}" | median) oc=$(printf '%s\n' "${o_cpu[@]}" | median)
        el=$(printf '%s\n' "${e_load[@]}" | median) ol=$(printf '%s\n' "${o_load[@]}" | median)
        ef=$(printf '%s\n' "${e_first[@]}" | median) of=$(printf '%s\n' "${o_first[@]}" | median)
        o_rss=$(awk -v a="$(field peak_rss_mb <<<"$o_line")" -v b="$node_base_rss" 'BEGIN {printf "%.1f", a - b}')
        printf '%-22s %3s %9.3f %9.3f %6.2f %8.2f %8.2f %6.2f %8.1f %7.1f %7.1f %7.1f %7.1f %7.1f %6s\n' \
            "$(basename "$m" .onnx)" $t "$e" "$o" "$(awk -v a="$e" -v b="$o" 'BEGIN {print a / b}')" "$ec" "$oc" \
            "$(awk -v a="$ec" -v b="$oc" 'BEGIN {print (b > 0 ? a / b : 0)}')" "$(field peak_rss_mb <<<"$e_line")" "$o_rss" \
            "$el" "$ol" "$ef" "$of" "$(cut -d' ' -f1 /proc/loadavg)"
    done
done
echo "ratio = Ember ms / ORT ms (below 1 means Ember is faster); cpu = CPU ms per run (user + system, all threads;"
echo "steadier than wall time when the machine is busy; at 2 threads it counts spinning workers too), cpu r their ratio;"
echo "MB = peak RSS (last round); load = ms until ready to run (Ember: open + plan, which packs the weights; ORT: session"
echo "creation; the inputs made before), 1st = ms of the first run after it (medians of the rounds);"
echo "load average at the end $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
