"""OpenCV DNN twin of bench/face.c: the same models and preprocessing, timed the same way.

    python3 bench/face_opencv.py DETECTOR.onnx EMBEDDER.onnx IMAGE THREADS RUNS
prints: faces=N median_ms=M min_ms=M

YuNet (fixed-size export): image letterboxed into the input (scaled to fit, padded right/bottom), BGR 0..255;
decoded as in src/apps/face/decode.c (score = sqrt(cls*obj), threshold 0.6, NMS 0.3). Alignment: least-squares
similarity onto the ArcFace template, bilinear warpAffine to 112x112. Embedder input: RGB, (x-127)/128 for
fr_feature, (x-127.5)/127.5 otherwise. OpenCV 4.6 cannot load yunet_*_dynamic.onnx (a Shape node on a dynamic
input) nor mobilefacenet.onnx (a node with 3 inputs its importer expects 1 for), so those are Ember-only.
"""
import re
import sys
import time

import cv2
import numpy as np

TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
                     [70.7299, 92.2041]], dtype=np.float64)


def similarity(src, dst):
    ms, md = src.mean(0), dst.mean(0)
    p, q = src - ms, dst - md
    norm = (p * p).sum()
    a = (p * q).sum() / norm
    b = (p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0]).sum() / norm
    return np.array([[a, -b, md[0] - (a * ms[0] - b * ms[1])], [b, a, md[1] - (b * ms[0] + a * ms[1])]])


def detect(net, img, size):
    w, h = size
    scale = min(w / img.shape[1], h / img.shape[0])
    rw, rh = round(img.shape[1] * scale), round(img.shape[0] * scale)
    canvas = np.zeros((h, w, 3), np.uint8)
    canvas[:rh, :rw] = cv2.resize(img, (rw, rh))
    net.setInput(cv2.dnn.blobFromImage(canvas))
    names = [f"{k}_{s}" for k in ("cls", "obj", "bbox", "kps") for s in (8, 16, 32)]
    outs = dict(zip(names, net.forward(names)))
    sx, sy = img.shape[1] / rw, img.shape[0] / rh
    boxes, scores, lms = [], [], []
    for s in (8, 16, 32):
        cols, rows = w // s, h // s
        sc = np.sqrt(np.clip(outs[f"cls_{s}"].reshape(-1), 0, 1) * np.clip(outs[f"obj_{s}"].reshape(-1), 0, 1))
        idx = np.nonzero(sc >= 0.6)[0]
        bb, kp = outs[f"bbox_{s}"].reshape(-1, 4)[idx], outs[f"kps_{s}"].reshape(-1, 10)[idx]
        r, c = idx // cols, idx % cols
        cx, cy = (c + bb[:, 0]) * s, (r + bb[:, 1]) * s
        bw, bh = np.exp(bb[:, 2]) * s, np.exp(bb[:, 3]) * s
        for i in range(len(idx)):
            boxes.append([(cx[i] - bw[i] / 2) * sx, (cy[i] - bh[i] / 2) * sy, bw[i] * sx, bh[i] * sy])
            scores.append(float(sc[idx[i]]))
            pts = kp[i].reshape(5, 2) + [c[i], r[i]]
            lms.append(pts * s * [sx, sy])
    keep = cv2.dnn.NMSBoxes(boxes, scores, 0.6, 0.3) if boxes else []
    return [lms[i] for i in np.array(keep).reshape(-1)]


def main():
    det_path, emb_path, image, threads, runs = sys.argv[1:6]
    cv2.setNumThreads(int(threads))
    det, emb = cv2.dnn.readNet(det_path), cv2.dnn.readNet(emb_path)
    found = re.search(r"_(\d+)_(\d+)\.onnx$", det_path)
    if not found:
        sys.exit("bench/face_opencv.py: only fixed-size YuNet exports (yunet_*_W_H.onnx) load in OpenCV 4.6")
    size = (int(found.group(1)), int(found.group(2)))
    fr = "fr_feature" in emb_path
    mean, scale = (127.0, 1 / 128.0) if fr else (127.5, 1 / 127.5)
    img = cv2.imread(image)
    times, faces = [], 0
    for r in range(int(runs) + 1):
        t0 = time.perf_counter()
        lms = detect(det, img, size)
        for lm in lms:
            m = similarity(np.asarray(lm, np.float64), TEMPLATE)
            crop = cv2.warpAffine(img, m, (112, 112))
            emb.setInput(cv2.dnn.blobFromImage(crop, scale, (112, 112), (mean, mean, mean), swapRB=True))
            v = emb.forward().reshape(-1)
            v /= np.linalg.norm(v)
        if r:
            times.append((time.perf_counter() - t0) * 1e3)
        faces = len(lms)
    times.sort()
    print(f"faces={faces} median_ms={times[len(times) // 2]:.2f} min_ms={times[0]:.2f}")


main()
