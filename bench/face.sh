#!/usr/bin/env bash
# Face pipeline speed: detect + align + embed every face of a 1-face and a 6-face photo, Ember vs OpenCV DNN 4.6
# (python3-opencv; same models, same preprocessing: bench/face_opencv.py) at 1 and 2 threads. Median of RUNS runs
# after one warm-up; image decoding is not timed. Ratio = OpenCV ms / Ember ms (> 1: Ember is faster).
# OpenCV 4.6 cannot load yunet_s_dynamic.onnx (Ember's default detector) nor mobilefacenet.onnx (Ember's default
# embedder), so the shared column uses yunet_s_640_640 + fr_feature; Ember's defaults are timed alone.
set -u
build=${1:-build}
cd "$(dirname "$0")/.." || exit 3
shared=${EMBER_SHARED:-../shared}
runs=${FACE_BENCH_RUNS:-5}
M=$shared/models/face
one=$shared/data/faces/debian/grace_hopper_512x512.jpg
six=$shared/data/faces/faceapi_bbt/bbt4.jpg
for f in "$M/yunet/yunet_s_640_640.onnx" "$M/faceplugin/fr_feature.onnx" "$one" "$six"; do
    [ -f "$f" ] || { echo "face: skipped ($f is absent)"; exit 0; }
done
make -s BUILD="$build" "$build/bench/face" || exit 1
py=/usr/bin/python3
if ! $py -c 'import cv2' 2>/dev/null && [ "$(id -u)" = 0 ]; then
    echo "face: installing python3-opencv for the OpenCV column"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-opencv >/dev/null 2>&1
fi
have_cv=0
$py -c 'import cv2' 2>/dev/null && have_cv=1

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)   runs: $runs (median ms per image)"
echo "shared models: yunet_s_640_640 + fr_feature; Ember default: yunet_s_dynamic + mobilefacenet (Ember only:"
echo "OpenCV 4.6 cannot load yunet_*_dynamic.onnx (Shape on a dynamic input) nor mobilefacenet.onnx; its"
echo "FaceDetectorYN rejects the 2023 YuNet exports, so OpenCV runs YuNet through cv2.dnn + the same decoding)"
printf '%-12s %-7s %-5s %11s %11s %7s %15s\n' image threads faces "Ember ms" "OpenCV ms" ratio "Ember default"
for img in "$one" "$six"; do
    for t in 1 2; do
        e=$("$build/bench/face" "$M/yunet/yunet_s_640_640.onnx" "$M/faceplugin/fr_feature.onnx" - "$img" $t "$runs")
        d=$("$build/bench/face" "$M/yunet/yunet_s_dynamic.onnx" "$M/mobilefacenet/mobilefacenet.onnx" - "$img" $t "$runs" 2>/dev/null)
        em=$(echo "$e" | field median_ms) faces=$(echo "$e" | field faces) dm=$(echo "$d" | field median_ms)
        cm="n/a" ratio="n/a"
        if [ $have_cv = 1 ]; then
            c=$($py bench/face_opencv.py "$M/yunet/yunet_s_640_640.onnx" "$M/faceplugin/fr_feature.onnx" "$img" $t "$runs" 2>/dev/null)
            cm=$(echo "$c" | field median_ms)
            [ -n "$cm" ] && [ -n "$em" ] && ratio=$(awk -v c="$cm" -v e="$em" 'BEGIN { printf "%.2fx", c / e }')
        fi
        printf '%-12s %-7s %-5s %11s %11s %7s %15s\n' "$(basename "$img" | cut -c1-12)" $t "$faces" "${em:-fail}" \
            "${cm:-fail}" "$ratio" "${dm:-n/a}"
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ $have_cv = 1 ] || echo "(OpenCV column empty: python3-opencv is not installed)"
