#!/usr/bin/env bash
# `ember face` end to end: accuracy on faceapi_bbt (enroll one photo per person, identify the other four: 100%
# rank-1 with MobileFaceNet and fr_feature), faces in the group photos, a gallery's life (list, remove,
# duplicates, mixed embedders), watch on replayed frames, annotation, bad inputs, and detect/enroll/identify
# inside a network namespace with no interfaces (unshare -n). Under qemu or sanitizers only a small subset.
. "$(dirname "$0")/lib.sh"

BBT=$SHARED/data/faces/faceapi_bbt
PEOPLE="amy bernadette howard leonard penny raj sheldon stuart"
SLOW=${EMBER_TEST_RUNNER:-}${EMBER_SANITIZE:-}

expect_out "face --help lists the commands" 'identify' ember face --help
expect_exit 1 "face: unknown command" ember face frobnicate
expect_exit 1 "face enroll without --db" ember face enroll --name x a.jpg
expect_fail_out 2 "face detect: a missing file" 'nope.jpg.*(No such file|cannot open)' ember face detect "$TMP/nope.jpg"
echo "not an image" >"$TMP/text.jpg"
expect_fail_out 2 "face detect: not an image" 'not a JPEG or PNG' ember face detect "$TMP/text.jpg"
expect_fail_out 2 "face identify: a missing gallery" 'gallery' ember face identify --db "$TMP/none.db" "$TMP/text.jpg"

if [ ! -d "$BBT" ] || [ ! -d "$SHARED/models/face" ]; then
    skip "face models and photos" "$BBT or $SHARED/models/face is absent"
    finish
fi

# Corrupt JPEG: the first 3000 bytes of a real photo.
head -c 3000 "$BBT/bbt1.jpg" >"$TMP/cut.jpg"
expect_fail_out 2 "face detect: a truncated JPEG" 'cut.jpg: (truncated|corrupt)' ember face detect "$TMP/cut.jpg"

# --- detection: faces per group photo with the default detector (YuNet) ---------------------------------
faces_per_photo() { # DETECTOR: "n1 n2 n3 n4 n5" for bbt1..5
    local args=() counts=""
    [ -n "$1" ] && args=(--detector "$1")
    ember face detect "${args[@]}" "$BBT"/bbt[1-5].jpg >"$TMP/det.txt" 2>&1 || { echo "failed"; return; }
    for i in 1 2 3 4 5; do counts="$counts $(grep -c "bbt$i.jpg	[0-9]" "$TMP/det.txt")"; done
    echo $counts
}
if [ -z "$SLOW" ]; then
    got=$(faces_per_photo "")
    if [ "$got" = "4 3 5 6 5" ]; then _pass "face detect: bbt1..5 have 4 3 5 6 5 faces (YuNet)"
    else cp "$TMP/det.txt" "$TMP/.out"; _fail "face detect: bbt1..5 have 4 3 5 6 5 faces (YuNet)" "got $got"; fi
    expect_out "face detect --json has boxes and landmarks" '"landmarks": \[' ember face detect --json "$BBT/bbt2.jpg"
    expect_ok "face detect --annotate writes a picture" ember face detect --annotate "$TMP/ann.jpg" "$BBT/bbt2.jpg"
    expect_out "the annotated picture decodes" 'bbt2|ann' ember face detect "$TMP/ann.jpg"
    expect_out "face detect with fr_detect + fr_landmark" 'bbt3.jpg	0\.' ember face detect --detector fr_detect "$BBT/bbt3.jpg"
fi

# --- accuracy: enroll photo 1, identify photos 2..5, per embedder ----------------------------------------
accuracy() { # EMBEDDER DB: prints "right/total"
    local emb=$1 db=$2 p
    for p in $PEOPLE; do
        ember face enroll --db "$db" --name "$p" --embedder "$emb" "$BBT/$p/${p}1.png" >/dev/null 2>"$TMP/.err" ||
            { cat "$TMP/.err"; return; }
    done
    ember face identify --db "$db" "$BBT"/*/*[2-5].png >"$TMP/id-$emb.txt" 2>&1
    awk -F'\t' '{ n = split($1, a, "/"); if (a[n-1] == $2) ok++; t++ } END { print ok + 0 "/" t + 0 }' "$TMP/id-$emb.txt"
}
if [ -z "$SLOW" ]; then
    for emb in mobilefacenet fr_feature; do
        got=$(accuracy $emb "$TMP/$emb.db")
        if [ "$got" = "32/32" ]; then _pass "face identify: 100% rank-1 with $emb (32/32)"
        else cp "$TMP/id-$emb.txt" "$TMP/.out" 2>/dev/null; _fail "face identify: 100% rank-1 with $emb" "got $got"; fi
    done
    DB=$TMP/mobilefacenet.db
    expect_out "face list shows 8 people" '# 8 people, embedder mobilefacenet' ember face list --db "$DB"
    expect_out "face list --json" '"name": "sheldon", "embeddings": 1' ember face list --db "$DB" --json
    expect_out "enrolling the same photo again adds nothing" '0 new embeddings \(1 already there' \
        ember face enroll --db "$DB" --name amy "$BBT/amy/amy1.png"
    expect_fail_out 2 "mixing embedders is refused" "holds embeddings from 'mobilefacenet', not 'fr_feature'" \
        ember face enroll --db "$DB" --name amy --embedder fr_feature "$BBT/amy/amy2.png"
    expect_fail_out 2 "identify with another embedder is refused" 'mixing embedders is refused' \
        ember face identify --db "$DB" --embedder fr_feature "$BBT/amy/amy2.png"
    expect_out "face identify --json" '"name": "penny", "similarity"' ember face identify --json --db "$DB" "$BBT/penny/penny2.png"
    STRANGER=$SHARED/data/faces/debian/grace_hopper_512x512.jpg
    expect_out "face identify --json --top 3 lists candidates" '"candidates": \[\{"name": "penny".*\}, \{.*\}, \{.*\}\]' \
        ember face identify --json --top 3 --db "$DB" "$BBT/penny/penny2.png"
    expect_out "a stranger is unknown" '	unknown	' ember face identify --db "$DB" "$STRANGER"
    expect_out "face verify: same person" '^same' ember face verify "$BBT/raj/raj2.png" "$BBT/raj/raj3.png"
    expect_out "face verify: different people" '^different' ember face verify "$BBT/raj/raj2.png" "$BBT/penny/penny3.png"
    expect_ok "face identify --annotate a folder" ember face identify --db "$DB" --annotate "$TMP/annotated" \
        "$BBT/bbt4.jpg" "$BBT/bbt5.jpg"
    [ -f "$TMP/annotated/bbt4.jpg" ] && [ -f "$TMP/annotated/bbt5.jpg" ] && _pass "annotated copies written" ||
        { : >"$TMP/.out"; _fail "annotated copies written" "missing $TMP/annotated/bbt4.jpg"; }
    # A folder enrollment (the progress bar stays quiet: stderr is not a terminal).
    expect_out "enroll a folder" 'enrolled stuart: 4 new' ember face enroll --db "$DB" --name stuart "$BBT/stuart"
    perm=$(stat -c %a "$DB")
    [ "$perm" = 600 ] && _pass "the gallery file is mode 0600" || { : >"$TMP/.out"; _fail "gallery mode" "$perm"; }

    # watch: amy, amy, penny, a stranger, nobody (an ice block) -> appear/leave events.
    mkdir -p "$TMP/frames"
    cp "$BBT/amy/amy2.png" "$TMP/frames/01.png"; cp "$BBT/amy/amy3.png" "$TMP/frames/02.png"
    cp "$BBT/penny/penny2.png" "$TMP/frames/03.png"; cp "$STRANGER" "$TMP/frames/04.jpg"
    cp "$SHARED/data/faces/debian/640px-IceBlockNearJoekullsarlon.jpg" "$TMP/frames/05.jpg"
    ember face watch --db "$DB" --frames "$TMP/frames" >"$TMP/watch.txt" 2>&1
    cut -f2-4 "$TMP/watch.txt" | tr '\t' ' ' >"$TMP/events.txt"
    printf '%s\n' "0 appears amy" "2 appears penny" "2 leaves amy" "3 appears unknown" "3 leaves penny" \
        "4 leaves unknown" >"$TMP/want-events.txt"
    if diff -q "$TMP/events.txt" "$TMP/want-events.txt" >/dev/null; then _pass "face watch --frames: appear/leave events"
    else diff "$TMP/want-events.txt" "$TMP/events.txt" >"$TMP/.out"; _fail "face watch --frames: appear/leave events" "events differ"; fi
    expect_fail_out 2 "face watch: a missing camera" '/dev/nonexistent-video' \
        ember face watch --db "$DB" --camera /dev/nonexistent-video

    expect_out "face remove" 'removed stuart' ember face remove --db "$DB" stuart
    expect_out "removed people are gone" '# 7 people' ember face list --db "$DB"
    expect_fail_out 2 "face remove: nobody by that name" "no person named 'stuart'" ember face remove --db "$DB" stuart
    expect_out "face calibrate on the labelled folder" 'rank-1 \(first photo enrolled\)  32/32' ember face calibrate "$BBT"
else
    # The small subset: one enrollment and one identification with the default models.
    expect_ok "face enroll (subset)" ember face enroll --db "$TMP/s.db" --name raj "$BBT/raj/raj1.png"
    expect_out "face identify (subset)" 'raj2.png	raj	' ember face identify --db "$TMP/s.db" "$BBT/raj/raj2.png"
fi

# --- air-gapped: no network interfaces at all --------------------------------------------------------------
if [ -n "$SLOW" ]; then
    skip "face under unshare -n" "not under qemu or sanitizers"
elif ! unshare -n true 2>/dev/null; then
    skip "face under unshare -n" "unshare -n is not permitted here (needs root or user namespaces)"
else
    cat >"$TMP/offline.sh" <<EOF
set -e
[ "\$(tail -n +3 /proc/net/dev | grep -cv '^ *lo:')" = 0 ]
"$EMBER" face detect "$BBT/bbt2.jpg" | grep -c . | grep -qx 3
"$EMBER" face enroll --db "$TMP/offline.db" --name sheldon "$BBT/sheldon/sheldon1.png" >/dev/null
"$EMBER" face identify --db "$TMP/offline.db" "$BBT/sheldon/sheldon2.png" | grep -q '	sheldon	'
echo offline-ok
EOF
    expect_out "face detect/enroll/identify with no network (unshare -n)" 'offline-ok' unshare -n bash "$TMP/offline.sh"
fi
finish
