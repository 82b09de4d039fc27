#!/usr/bin/env bash
# `ember show` and `ember convert`: tensor files round-trip between .npy, .npz and .pb; bad files exit 2
# naming the file; usage errors exit 1. Uses ONNX test data from ../shared when it is there.
. "$(dirname "$0")/lib.sh"

# A small .npy written byte by byte (what np.save(np.array([1, -2, 300], dtype=np.int32)) writes).
make_npy() {
    local header="{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }"
    while [ $(( (10 + ${#header} + 1) % 64 )) -ne 0 ]; do header="$header "; done
    local n=$(( ${#header} + 1 ))
    printf '\223NUMPY\001\000'"$(printf '\\%03o\\%03o' $((n % 256)) $((n / 256)))"'%s\n' "$header" >"$1"
    printf '\001\000\000\000\376\377\377\377\054\001\000\000' >>"$1"
}
make_npy "$TMP/v.npy"

expect_out "show prints name, type, shape" '^.*v\.npy: v  int32  3  \(3 values\)$' ember show "$TMP/v.npy"
expect_out "show summarises" 'min -2  max 300  mean 99\.6667' ember show "$TMP/v.npy"
expect_out "show lists values" '^    \[1, -2, 300\]$' ember show "$TMP/v.npy"
expect_out "show --all prints rows" '^    \[:\] 1 -2 300$' ember show --all "$TMP/v.npy"
expect_out "show --values limits" '\[1, \.\.\. 2 more\]' ember show --values 1 "$TMP/v.npy"
expect_out "show --json" '"name": "v", "dtype": "int32", "shape": \[3\], "min": -2, "max": 300, .*"values": \[1, -2, 300\]\}' \
    ember show --json "$TMP/v.npy"

# round trips: .npy -> .npz (stored and deflated) -> .pb -> .npy keep every value
expect_ok "convert npy to npz" ember convert "$TMP/v.npy" "$TMP/v.npz"
expect_ok "convert npz to deflated npz" ember convert -z "$TMP/v.npz" "$TMP/vz.npz"
expect_ok "convert npz to pb" ember convert "$TMP/vz.npz" "$TMP/v.pb"
expect_ok "convert pb to npy" ember convert "$TMP/v.pb" "$TMP/back.npy"
expect_out "the pb keeps the name" '^.*v\.pb: v  int32  3' ember show "$TMP/v.pb"
expect_ok "npy round trip is byte-identical" cmp "$TMP/v.npy" "$TMP/back.npy"
expect_ok "several inputs make one npz" ember convert "$TMP/v.npy" "$TMP/back.npy" "$TMP/two.npz"
expect_out "both tensors are in it" '^.*two\.npz: back  int32  3' ember show "$TMP/two.npz"
expect_ok "--tensor picks one" ember convert --tensor back "$TMP/two.npz" "$TMP/one.npz"
expect_out "and only that one" '^.*one\.npz: back  int32  3  \(3 values\)$' ember show "$TMP/one.npz"

# bad input: exit 2, and the message names the file
expect_fail_out 2 "missing file" 'nothere\.npy: cannot open' ember show "$TMP/nothere.npy"
head -c 100 "$TMP/v.npy" >"$TMP/cut.npy"
expect_fail_out 2 "truncated npy" 'cut\.npy: npy: truncated' ember show "$TMP/cut.npy"
head -c 60 "$TMP/vz.npz" >"$TMP/cut.npz"
expect_fail_out 2 "truncated npz" 'cut\.npz: npz: no end-of-central-directory' ember show "$TMP/cut.npz"
printf 'this is not a tensor at all' >"$TMP/junk.pb"
expect_fail_out 2 "garbage pb" 'junk\.pb: TensorProto' ember show "$TMP/junk.pb"
cp "$TMP/v.npz" "$TMP/zip.npy"
expect_fail_out 2 "npz named .npy" 'zip\.npy: not a \.npy file' ember show "$TMP/zip.npy"
expect_fail_out 2 "convert names a missing input" 'gone\.pb: cannot open' ember convert "$TMP/gone.pb" "$TMP/x.npy"
expect_exit 2 "a bad file stops show before printing" ember show "$TMP/v.npy" "$TMP/junk.pb"

# usage errors: exit 1
expect_exit 1 "show without files" ember show
expect_exit 1 "convert without OUT" ember convert "$TMP/v.npy"
expect_fail_out 1 "convert to an unknown extension" "must end in .npy, .npz or .pb" ember convert "$TMP/v.npy" "$TMP/v.txt"
expect_fail_out 1 "several tensors into one npy" 'holds 2 tensors, but a \.npy file holds exactly one' \
    ember convert "$TMP/two.npz" "$TMP/x.npy"
expect_fail_out 1 "--tensor that is not there" "no tensor named 'nope' in the input \(it has: v, back\)" \
    ember convert --tensor nope "$TMP/two.npz" "$TMP/x.npy"
expect_fail_out 1 "duplicate names" "two tensors are named 'v'" ember convert "$TMP/v.npy" "$TMP/v.pb" "$TMP/d.npz"
expect_exit 1 "bad --values" ember show --values many "$TMP/v.npy"
expect_out "help lists show" '^  show ' ember --help
expect_out "help lists convert" '^  convert ' ember --help

# ONNX test data: every type of tensor shows, and .pb -> .npz -> .pb keeps the values
node="$SHARED/conformance/onnx-node"
if [ -d "$node" ]; then
    for t in test_abs test_cast_FLOAT_to_FLOAT16 test_string_concat_utf8 test_cast_FLOAT_to_FLOAT8E4M3FN \
             test_cast_FLOAT_to_INT4 test_argmax_default_axis_example; do
        for f in "$node/$t"/test_data_set_0/*.pb; do
            expect_ok "show $t/$(basename "$f")" ember show --all "$f"
        done
    done
    expect_fail_out 2 "a model is not a tensor file" 'model\.onnx: an ONNX model, not a tensor file' \
        ember show "$node/test_abs/model.onnx"
    pb="$node/test_abs/test_data_set_0/input_0.pb"
    expect_ok "convert onnx pb to npz" ember convert -z "$pb" "$TMP/abs.npz"
    expect_ok "and back to pb" ember convert "$TMP/abs.npz" "$TMP/abs.pb"
    expect_ok "the pb is byte-identical to ONNX's" cmp "$pb" "$TMP/abs.pb"
    ember show --json "$node/test_cast_FLOAT_to_FLOAT16/test_data_set_0/output_0.pb" | sed 's/"file": "[^"]*"//' >"$TMP/a.json"
    ember convert "$node/test_cast_FLOAT_to_FLOAT16/test_data_set_0/output_0.pb" "$TMP/h.npy"
    ember show --json "$TMP/h.npy" | sed -e 's/"file": "[^"]*"//' -e 's/"name": "h"/"name": "output"/' >"$TMP/b.json"
    expect_ok "float16 values survive .pb -> .npy" cmp "$TMP/a.json" "$TMP/b.json"
else
    skip "ONNX test data" "../shared is absent"
fi
finish
