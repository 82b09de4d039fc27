#!/usr/bin/env bash
# ONNX end to end: the node conformance suite against tests/onnx/expected_failures.txt, the real models in
# ../shared/models, ember run/dump/test options, and damaged model files (clear errors, no crashes).
. "$(dirname "$0")/lib.sh"

SUITE=$SHARED/conformance/onnx-node
LIST=tests/onnx/expected_failures.txt
DEBIAN_SUITE=/usr/share/libonnx-testdata/data/node # Debian's libonnx-testdata (an older ONNX release's node tests)

# --- conformance: the lists of expected failures only shrink -------------------------------------------
# conformance LABEL SUITE LIST: no test off LIST fails, and every test on LIST still fails. Tests listed with
# the reason "unseeded random: ..." pass or fail by chance (a fresh draw against the reference's one): their
# result is not checked either way.
# Under an emulator (qemu) every 8th test runs: the whole suite there would take most of CI's time.
conformance() {
    local label=$1 suite=$2 list=$3 out=$TMP/$1.txt
    if [ -n "${EMBER_TEST_RUNNER:-}" ]; then
        mkdir -p "$TMP/$label-sample"
        local i=0 d
        for d in "$suite"/test_*/; do
            [ $((i++ % 8)) -eq 0 ] && ln -s "$(cd "$d" && pwd)" "$TMP/$label-sample/$(basename "$d")"
        done
        label="$label (every 8th test under ${EMBER_TEST_RUNNER%% *})"
        suite=$TMP/$1-sample
    fi
    ember test "$suite" >"$out" 2>&1
    cut -f1 "$list" | grep -v '^#' | sort >"$TMP/expected"
    grep -E '^(FAIL|SKIP) ' "$out" | sed -E 's/^(FAIL|SKIP) ([^:]+):.*/\2/' | sort >"$TMP/failed"
    grep -E '^PASS ' "$out" | sed -E 's/^PASS //' | sort >"$TMP/passed.all"
    grep -P '\tunseeded random:' "$list" | cut -f1 | sort >"$TMP/chance"
    comm -23 "$TMP/passed.all" "$TMP/chance" >"$TMP/passed"
    local new_fail now_pass counts
    new_fail=$(comm -13 "$TMP/expected" "$TMP/failed")
    now_pass=$(comm -12 "$TMP/expected" "$TMP/passed")
    counts=$(tail -n 1 "$out")
    if [ -n "$new_fail" ]; then
        echo "$new_fail" | head -n 20 | while read -r t; do grep -E "^FAIL $t:" "$out"; done >"$TMP/.out"
        _fail "$label: no test off the list fails ($counts)" "$(echo "$new_fail" | wc -l) unexpected failures"
    else
        _pass "$label: no test off the list fails ($counts)"
    fi
    if [ -n "$now_pass" ]; then
        echo "$now_pass" >"$TMP/.out"
        _fail "$label: every listed test still fails" "these pass now: remove them from $list"
    else
        _pass "$label: every listed test still fails"
    fi
}

if [ -d "$SUITE" ]; then
    conformance onnx-node "$SUITE" "$LIST"
    expect_out "ember test --json on one test" '"result": "PASS"' ember test --json "$SUITE/test_add"
    mkdir -p "$TMP/wrong/test_data_set_0" # test_add with its input as the expected output: must FAIL
    cp "$SUITE/test_add/model.onnx" "$TMP/wrong/" && cp "$SUITE"/test_add/test_data_set_0/input_*.pb "$TMP/wrong/test_data_set_0/"
    cp "$SUITE/test_add/test_data_set_0/input_0.pb" "$TMP/wrong/test_data_set_0/output_0.pb"
    expect_exit 2 "ember test exits 2 when a test fails" ember test "$TMP/wrong"
else
    skip "onnx-node conformance" "$SUITE is absent"
fi
if [ -d "$DEBIAN_SUITE" ]; then
    conformance libonnx-testdata "$DEBIAN_SUITE" tests/onnx/expected_failures_debian.txt
else
    skip "libonnx-testdata conformance" "$DEBIAN_SUITE is absent (apt-get install libonnx-testdata)"
fi
mkdir -p "$TMP/empty"
expect_fail_out 2 "ember test on a folder without tests" 'no ONNX test directories' ember test "$TMP/empty"

# --- real models: load, plan, run ----------------------------------------------------------------------
MODELS="bench/mobilenet_v2.onnx bench/squeezenet1_1.onnx bench/minilm_l6_h384_v8k.onnx face/mobilefacenet/mobilefacenet.onnx
        face/ultraface/version-RFB-320.onnx face/ultraface/version-slim-320_simplified.onnx face/faceplugin/fr_feature.onnx
        face/faceplugin/fr_landmark.onnx face/faceplugin/fr_detect.onnx"
for m in $MODELS; do
    if [ -f "$SHARED/models/$m" ]; then
        expect_out "run $m" 'first run' ember run -t 2 "$SHARED/models/$m"
    else
        skip "run $m" "$SHARED/models/$m is absent"
    fi
done
if [ -f "$SHARED/models/bench/mobilenet_v2.onnx" ]; then
    MB=$SHARED/models/bench/mobilenet_v2.onnx
    expect_out "dump shows the op histogram" '^  Conv +52' ember dump "$MB"
    expect_out "dump --cost counts FLOPs" '^total +6[0-9][0-9]\.[0-9]+ MFLOPs' ember dump --cost "$MB"
    expect_out "dump --json" '"ops": \[\{"op": "Conv", "count": 52' ember dump --json "$MB"
    # the 16 -> 96 expansion at 112x112 (4.8 MB) is chained where it would not stay in the last-level cache
    small_cache="env EMBER_CPU=cache=1M ${EMBER_TEST_RUNNER:-} $EMBER"
    expect_out "dump counts the chained 1x1 conv (1 MB cache)" ' 1 chained, ' $small_cache dump "$MB"
    expect_out "no chain where a 32 MB cache holds it" ' 0 chained, ' env EMBER_CPU=cache=32M ${EMBER_TEST_RUNNER:-} "$EMBER" dump "$MB"
    # with the chain: 21 on every table (AVX-512 hands over lined planes where the others write panels; the
    # depthwise convs onto planes over 20x20 hand over lined planes everywhere)
    expect_out "dump counts the tensors in panels or lined" ' 21 in panels or lined\)' $small_cache dump "$MB"
    if [ -z "${EMBER_TEST_RUNNER:-}${EMBER_SANITIZE:-}" ]; then # six timed runs: slow under qemu / ASan
        expect_out "dump --steps shows the chained step" '^ +3 +Conv +38\.54 +in next' $small_cache dump --steps -t 1 "$MB"
    else
        skip "dump --steps" "six timed runs are slow under ${EMBER_TEST_RUNNER:-sanitizers}"
    fi
    expect_out "run -o writes an .npz" 'first run' ember run "$MB" -o "$TMP/out.npz"
    [ -s "$TMP/out.npz" ] && _pass "run -o file exists" || _fail "run -o file exists" "missing $TMP/out.npz"
    expect_fail_out 2 "wrong input shape is a clear error" "dimension 2 is 100, the model expects 224" ember run "$MB" --shape input=1x3x100x100
fi
if [ -f "$SHARED/models/bench/minilm_l6_h384_v8k.onnx" ]; then
    ML=$SHARED/models/bench/minilm_l6_h384_v8k.onnx
    expect_out "run --f16 (half weights)" 'first run' ember run -t 1 --f16 "$ML"
    expect_out "bench --f16 --json: load, first run, peak RSS" '"load_ms": [0-9.]+, "first_ms": [0-9.]+, "peak_rss_mb"' \
        ember bench -t 1 --f16 --runs 1 --warmup 0 --json "$ML"
fi
if [ -f "$SHARED/models/face/yunet/yunet_s_dynamic.onnx" ]; then
    expect_out "symbolic dims shown by dump" "input +input: float32\\[batchx3xheightxwidth\\]" ember dump --shape input=1x3x320x320 "$SHARED/models/face/yunet/yunet_n_dynamic.onnx"
    expect_out "dynamic model runs at a given shape" "first run" ember run --shape input=1x3x256x320 "$SHARED/models/face/yunet/yunet_n_dynamic.onnx"
    expect_out "yunet runs" "first run" ember run "$SHARED/models/face/yunet/face_detection_yunet_2023mar.onnx"
fi

# --- bad input -----------------------------------------------------------------------------------------
expect_fail_out 2 "missing model file" "no-such.onnx" ember run "$TMP/no-such.onnx"
printf 'not a model' >"$TMP/text.onnx"
expect_fail_out 2 "a text file is not a model" "text.onnx: " ember run "$TMP/text.onnx"
if [ -f "$SUITE/test_conv_with_strides_padding/model.onnx" ]; then
    src=$SUITE/test_conv_with_strides_padding/model.onnx
    size=$(wc -c <"$src")
    crashed=0
    for cut in 1 7 20 50 90 150 $((size / 2)) $((size - 3)); do
        head -c "$cut" "$src" >"$TMP/cut.onnx"
        ember dump "$TMP/cut.onnx" >"$TMP/.out" 2>&1
        rc=$?
        [ $rc -eq 2 ] || { crashed=1; echo "truncated at $cut: exit $rc" >>"$TMP/bad"; }
    done
    [ $crashed -eq 0 ] && _pass "truncated models fail with exit 2" || { cp "$TMP/bad" "$TMP/.out"; _fail "truncated models fail with exit 2" "see above"; }
fi
finish
