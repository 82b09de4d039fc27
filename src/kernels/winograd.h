/* The 1-D transforms of Winograd F(4, 3) (points 0, +-1, +-2, inf), written once over an abstract vector
 * type so that the scalar, AVX2 and NEON twins share the arithmetic. The includer defines its vector type
 * W_T and
 *     W_ADD(a, b), W_SUB(a, b), W_MUL(c, a)   (c a constant from W_K(float))
 * and passes arrays of its vector type. Only src/kernels/ includes this.
 *
 *     input  B^T (6 -> 6):  v = B^T d        output A^T (6 -> 4):  y = A^T m
 *     B^T = [4  0 -5  0 1 0]                  A^T = [1 1  1 1  1 0]
 *           [0 -4 -4  1 1 0]                        [0 1 -1 2 -2 0]
 *           [0  4 -4 -1 1 0]                        [0 1  1 4  4 0]
 *           [0 -2 -1  2 1 0]                        [0 1 -1 8 -8 1]
 *           [0  2 -1 -2 1 0]
 *           [0  4  0 -5 0 1]
 * The weight transform G (3 -> 6) is scalar only (done once at load): see winograd.c. */
#ifndef EMBER_KERNELS_WINOGRAD_H
#define EMBER_KERNELS_WINOGRAD_H

/* t[0..5] = B^T (d0..d5); d and t are distinct lvalues of the vector type. */
#define EMBER_WINO_BT(d0, d1, d2, d3, d4, d5, t)                                                             \
    do {                                                                                                     \
        t[0] = W_ADD(W_SUB(W_MUL(W_K(4.0f), d0), W_MUL(W_K(5.0f), d2)), d4);                                 \
        t[1] = W_SUB(W_ADD(d3, d4), W_MUL(W_K(4.0f), W_ADD(d1, d2)));                                        \
        t[2] = W_ADD(W_MUL(W_K(4.0f), W_SUB(d1, d2)), W_SUB(d4, d3));                                        \
        t[3] = W_ADD(W_MUL(W_K(2.0f), W_SUB(d3, d1)), W_SUB(d4, d2));                                        \
        t[4] = W_ADD(W_MUL(W_K(2.0f), W_SUB(d1, d3)), W_SUB(d4, d2));                                        \
        t[5] = W_ADD(W_SUB(W_MUL(W_K(4.0f), d1), W_MUL(W_K(5.0f), d3)), d5);                                 \
    } while (0)

/* y[0..3] = A^T (m0..m5). */
#define EMBER_WINO_AT(m0, m1, m2, m3, m4, m5, y)                                                             \
    do {                                                                                                     \
        W_T s12 = W_ADD(m1, m2), d12 = W_SUB(m1, m2), s34 = W_ADD(m3, m4), d34 = W_SUB(m3, m4);              \
        y[0] = W_ADD(W_ADD(m0, s12), s34);                                                                   \
        y[1] = W_ADD(d12, W_MUL(W_K(2.0f), d34));                                                            \
        y[2] = W_ADD(s12, W_MUL(W_K(4.0f), s34));                                                            \
        y[3] = W_ADD(W_ADD(d12, W_MUL(W_K(8.0f), d34)), m5);                                                 \
    } while (0)

/* One vector of lanes starting at lane l of the 2-D input transform: v[(a*6 + b)*vs + l] = (B^T d B)[a][b]
 * with d[(i*6 + j)*L + l] the 6x6 patch, lanes innermost. W_LOAD(p) / W_STORE(p, x) move one vector. */
#define EMBER_WINO_IN(v, vs, d, L, l)                                                                        \
    do {                                                                                                     \
        W_T t_[36], r_[6];                                                                                   \
        for (int i_ = 0; i_ < 6; i_++) {                                                                     \
            const float *row_ = (d) + i_ * 6 * (L) + (l);                                                    \
            W_T x0_ = W_LOAD(row_), x1_ = W_LOAD(row_ + (L)), x2_ = W_LOAD(row_ + 2 * (L));                  \
            W_T x3_ = W_LOAD(row_ + 3 * (L)), x4_ = W_LOAD(row_ + 4 * (L)), x5_ = W_LOAD(row_ + 5 * (L));    \
            EMBER_WINO_BT(x0_, x1_, x2_, x3_, x4_, x5_, r_);                                                 \
            for (int j_ = 0; j_ < 6; j_++) t_[i_ * 6 + j_] = r_[j_];                                         \
        }                                                                                                    \
        for (int j_ = 0; j_ < 6; j_++) {                                                                     \
            EMBER_WINO_BT(t_[j_], t_[6 + j_], t_[12 + j_], t_[18 + j_], t_[24 + j_], t_[30 + j_], r_);       \
            for (int a_ = 0; a_ < 6; a_++) W_STORE((v) + (a_ * 6 + j_) * (vs) + (l), r_[a_]);                \
        }                                                                                                    \
    } while (0)

/* One vector of lanes of the 2-D output transform: y[(a*4 + b)*L + l] = (A^T m A)[a][b] with
 * m[(i*6 + j)*ms + l]. */
#define EMBER_WINO_OUT(y, m, ms, L, l)                                                                       \
    do {                                                                                                     \
        W_T t_[24], r_[4];                                                                                   \
        for (int i_ = 0; i_ < 6; i_++) {                                                                     \
            const float *row_ = (m) + i_ * 6 * (ms) + (l);                                                   \
            W_T x0_ = W_LOAD(row_), x1_ = W_LOAD(row_ + (ms)), x2_ = W_LOAD(row_ + 2 * (ms));                \
            W_T x3_ = W_LOAD(row_ + 3 * (ms)), x4_ = W_LOAD(row_ + 4 * (ms)), x5_ = W_LOAD(row_ + 5 * (ms)); \
            EMBER_WINO_AT(x0_, x1_, x2_, x3_, x4_, x5_, r_);                                                 \
            for (int j_ = 0; j_ < 4; j_++) t_[i_ * 4 + j_] = r_[j_];                                         \
        }                                                                                                    \
        for (int j_ = 0; j_ < 4; j_++) {                                                                     \
            EMBER_WINO_AT(t_[j_], t_[4 + j_], t_[8 + j_], t_[12 + j_], t_[16 + j_], t_[20 + j_], r_);        \
            for (int a_ = 0; a_ < 4; a_++) W_STORE((y) + (a_ * 4 + j_) * (L) + (l), r_[a_]);                 \
        }                                                                                                    \
    } while (0)

#endif
