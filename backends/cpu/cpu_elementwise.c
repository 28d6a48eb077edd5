/* Elementwise kernels: FILL, UNARY, UNARY_BWD, BINARY (with broadcasting), AXPBY, EXPAND.
 * Contiguous cases get plain restrict loops the compiler vectorises; broadcasting walks rows of
 * the collapsed output shape, each row an inner loop with fixed input strides (0 or 1 after
 * collapsing when the innermost dims are dense). */
#include "cpu_internal.h"

#include <math.h>
#include <string.h>

void cpu_fill(const gs_launch *l) {
  int64_t n = cpu_numel(&l->out_desc);
  if (l->out_desc.dtype == GS_I32) {
    int32_t *restrict o = cpu_iptr(l->out), v = (int32_t)l->f[0];
    CPU_PAR_FOR(n)
    for (int64_t i = 0; i < n; i++) o[i] = v;
    return;
  }
  float *restrict o = cpu_ptr(l->out);
  float v = l->f[0];
  CPU_PAR_FOR(n)
  for (int64_t i = 0; i < n; i++) o[i] = v;
}

/* UNARY may run in place, so no restrict between x and y. */
void cpu_unary(const gs_launch *l) {
  int64_t n = cpu_numel(&l->out_desc);
  const float *x = cpu_ptr(l->in[0]);
  float *y = cpu_ptr(l->out);
  float a = l->f[0], c = l->f[1];
  switch ((gs_unary)l->i[0]) {
  case GS_UN_AFFINE: CPU_PAR_FOR(n) for (int64_t i = 0; i < n; i++) y[i] = a * x[i] + c; break;
  case GS_UN_EXP: CPU_PAR_FOR(n) for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]); break;
  case GS_UN_LOG: CPU_PAR_FOR(n) for (int64_t i = 0; i < n; i++) y[i] = logf(x[i]); break;
  case GS_UN_SQRT: CPU_PAR_FOR(n) for (int64_t i = 0; i < n; i++) y[i] = sqrtf(x[i]); break;
  case GS_UN_RSQRT: CPU_PAR_FOR(n) for (int64_t i = 0; i < n; i++) y[i] = 1.0f / sqrtf(x[i]); break;
  case GS_UN_SQUARE: CPU_PAR_FOR(n) for (int64_t i = 0; i < n; i++) y[i] = x[i] * x[i]; break;
  case GS_UN_ABS: CPU_PAR_FOR(n) for (int64_t i = 0; i < n; i++) y[i] = fabsf(x[i]); break;
  case GS_UN_RELU:
    CPU_PAR_FOR(n) for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    break;
  case GS_UN_SIGMOID:
    CPU_PAR_FOR(n) for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
    break;
  case GS_UN_TANH: CPU_PAR_FOR(n) for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]); break;
  case GS_UN_RECIP: CPU_PAR_FOR(n) for (int64_t i = 0; i < n; i++) y[i] = 1.0f / x[i]; break;
  case GS_UN_COUNT: break;
  }
}

void cpu_unary_bwd(const gs_launch *l) {
  int64_t n = cpu_numel(&l->out_desc);
  const float *restrict x = cpu_ptr(l->in[0]), *restrict y = cpu_ptr(l->in[1]);
  const float *restrict dy = cpu_ptr(l->in[2]);
  float *restrict dx = cpu_ptr(l->out);
  float a = l->f[0];
  switch ((gs_unary)l->i[0]) {
  case GS_UN_AFFINE: CPU_PAR_FOR(n) for (int64_t i = 0; i < n; i++) dx[i] = a * dy[i]; break;
  case GS_UN_EXP: CPU_PAR_FOR(n) for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * y[i]; break;
  case GS_UN_LOG: CPU_PAR_FOR(n) for (int64_t i = 0; i < n; i++) dx[i] = dy[i] / x[i]; break;
  case GS_UN_SQRT:
    CPU_PAR_FOR(n) for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * 0.5f / y[i];
    break;
  case GS_UN_RSQRT:
    CPU_PAR_FOR(n) for (int64_t i = 0; i < n; i++) dx[i] = -0.5f * dy[i] * y[i] * y[i] * y[i];
    break;
  case GS_UN_SQUARE:
    CPU_PAR_FOR(n) for (int64_t i = 0; i < n; i++) dx[i] = 2.0f * x[i] * dy[i];
    break;
  /* dy is loaded whatever the branch: a load only under the condition keeps the compiler from
   * vectorising (it may not speculate it), and the branch on random signs mispredicts. */
  case GS_UN_ABS:
    CPU_PAR_FOR(n)
    for (int64_t i = 0; i < n; i++) {
      float g = dy[i];
      dx[i] = x[i] > 0.0f ? g : x[i] < 0.0f ? -g : 0.0f;
    }
    break;
  case GS_UN_RELU:
    CPU_PAR_FOR(n)
    for (int64_t i = 0; i < n; i++) {
      float g = dy[i];
      dx[i] = x[i] > 0.0f ? g : 0.0f;
    }
    break;
  case GS_UN_SIGMOID:
    CPU_PAR_FOR(n) for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
    break;
  case GS_UN_TANH:
    CPU_PAR_FOR(n) for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
    break;
  case GS_UN_RECIP:
    CPU_PAR_FOR(n) for (int64_t i = 0; i < n; i++) dx[i] = -dy[i] * y[i] * y[i];
    break;
  case GS_UN_COUNT: break;
  }
}

void cpu_axpby(const gs_launch *l) {
  int64_t n = cpu_numel(&l->out_desc);
  const float *x = cpu_ptr(l->in[0]), *y = cpu_ptr(l->in[1]);
  float *o = cpu_ptr(l->out);
  float a = l->f[0], b = l->f[1];
  CPU_PAR_FOR(n)
  for (int64_t i = 0; i < n; i++) o[i] = a * x[i] + b * y[i];
}

void cpu_bcast_make(const gs_shape *out, const gs_shape *const *ins, int n_in, cpu_bcast *b) {
  /* Dense strides per input, 0 where the input dim is 1 (broadcast). Size-1 output dims are
   * dropped, then neighbours merge when every input is dense across both or broadcast in both. */
  int64_t dim[GS_MAX_RANK], st[2][GS_MAX_RANK];
  int r = 0;
  int64_t acc[2] = {1, 1};
  int64_t dense[2][GS_MAX_RANK];
  for (int k = out->rank - 1; k >= 0; k--) {
    for (int j = 0; j < n_in; j++) {
      dense[j][k] = ins[j]->dim[k] == 1 ? 0 : acc[j];
      acc[j] *= ins[j]->dim[k];
    }
  }
  for (int k = 0; k < out->rank; k++) {
    if (out->dim[k] == 1) continue;
    if (r > 0) {
      int merge = 1;
      for (int j = 0; j < n_in; j++) {
        int64_t prev = st[j][r - 1], cur = dense[j][k];
        /* Mergeable if both broadcast, or prev stride == cur stride * this dim. */
        if (!((prev == 0 && cur == 0) || (cur != 0 && prev == cur * out->dim[k]))) merge = 0;
      }
      if (merge) {
        dim[r - 1] *= out->dim[k];
        for (int j = 0; j < n_in; j++) st[j][r - 1] = dense[j][k];
        continue;
      }
    }
    dim[r] = out->dim[k];
    for (int j = 0; j < n_in; j++) st[j][r] = dense[j][k];
    r++;
  }
  if (r == 0) {
    dim[0] = 1;
    for (int j = 0; j < n_in; j++) st[j][0] = 0;
    r = 1;
  }
  b->rank = r;
  for (int k = 0; k < r; k++) {
    b->dim[k] = dim[k];
    for (int j = 0; j < 2; j++) b->st[j][k] = j < n_in ? st[j][k] : 0;
  }
}

/* Offsets of row `row` (an index over all but the last collapsed dim) into each input. */
static inline void row_offsets(const cpu_bcast *b, int64_t row, int64_t *o0, int64_t *o1) {
  int64_t a0 = 0, a1 = 0;
  for (int k = b->rank - 2; k >= 0; k--) {
    int64_t c = row % b->dim[k];
    row /= b->dim[k];
    a0 += c * b->st[0][k];
    a1 += c * b->st[1][k];
  }
  *o0 = a0, *o1 = a1;
}

#define BIN_LOOP(EXPR)                                                                             \
  do {                                                                                             \
    if (s0 == 1 && s1 == 1) {                                                                      \
      for (int64_t i = 0; i < n; i++) {                                                            \
        float x = a[i], y = b[i];                                                                  \
        o[i] = (EXPR);                                                                             \
      }                                                                                            \
    } else if (s0 == 1) {                                                                          \
      float y = b[0];                                                                              \
      for (int64_t i = 0; i < n; i++) {                                                            \
        float x = a[i];                                                                            \
        o[i] = (EXPR);                                                                             \
      }                                                                                            \
    } else if (s1 == 1) {                                                                          \
      float x = a[0];                                                                              \
      for (int64_t i = 0; i < n; i++) {                                                            \
        float y = b[i];                                                                            \
        o[i] = (EXPR);                                                                             \
      }                                                                                            \
    } else {                                                                                       \
      float x = a[0], y = b[0];                                                                    \
      float v = (EXPR);                                                                            \
      for (int64_t i = 0; i < n; i++) o[i] = v;                                                    \
    }                                                                                              \
  } while (0)

/* One run of n outputs; s0, s1 are the inputs' strides along it, each 0 or 1. */
static void bin_run(gs_binary op, const float *restrict a, int64_t s0, const float *restrict b,
                    int64_t s1, float *restrict o, int64_t n) {
  switch (op) {
  case GS_BIN_ADD: BIN_LOOP(x + y); break;
  case GS_BIN_SUB: BIN_LOOP(x - y); break;
  case GS_BIN_MUL: BIN_LOOP(x * y); break;
  case GS_BIN_DIV: BIN_LOOP(x / y); break;
  case GS_BIN_MAX: BIN_LOOP(x > y ? x : y); break;
  case GS_BIN_MIN: BIN_LOOP(x < y ? x : y); break;
  case GS_BIN_EQ: BIN_LOOP(x == y ? 1.0f : 0.0f); break;
  case GS_BIN_GT: BIN_LOOP(x > y ? 1.0f : 0.0f); break;
  case GS_BIN_COUNT: break;
  }
}

/* Strided fallback for an inner dim where an input stride is neither 0 nor 1 (cannot happen
 * with dense inputs after collapsing, kept so the kernel is total). */
static void bin_run_strided(gs_binary op, const float *a, int64_t s0, const float *b, int64_t s1,
                            float *o, int64_t n) {
  for (int64_t i = 0; i < n; i++) bin_run(op, a + i * s0, 0, b + i * s1, 0, o + i, 1);
}

void cpu_binary(const gs_launch *l) {
  const gs_shape *ins[2] = {&l->in_desc[0].shape, &l->in_desc[1].shape};
  cpu_bcast bc;
  cpu_bcast_make(&l->out_desc.shape, ins, 2, &bc);
  const float *a = cpu_ptr(l->in[0]), *b = cpu_ptr(l->in[1]);
  float *o = cpu_ptr(l->out);
  gs_binary op = (gs_binary)l->i[0];
  int64_t inner = bc.dim[bc.rank - 1], s0 = bc.st[0][bc.rank - 1], s1 = bc.st[1][bc.rank - 1];
  int64_t rows = cpu_numel(&l->out_desc) / (inner ? inner : 1);
  if (inner == 0) return;
  int unit = (s0 == 0 || s0 == 1) && (s1 == 0 || s1 == 1);
  if (rows == 1) {
    /* One long run: split it across threads. */
    int64_t chunk = 4096, nch = (inner + chunk - 1) / chunk;
    CPU_PAR_FOR(inner)
    for (int64_t c = 0; c < nch; c++) {
      int64_t i0 = c * chunk, len = inner - i0 < chunk ? inner - i0 : chunk;
      if (unit)
        bin_run(op, a + i0 * s0, s0, b + i0 * s1, s1, o + i0, len);
      else
        bin_run_strided(op, a + i0 * s0, s0, b + i0 * s1, s1, o + i0, len);
    }
    return;
  }
  CPU_PAR_FOR(rows * inner)
  for (int64_t r = 0; r < rows; r++) {
    int64_t o0, o1;
    row_offsets(&bc, r, &o0, &o1);
    if (unit)
      bin_run(op, a + o0, s0, b + o1, s1, o + r * inner, inner);
    else
      bin_run_strided(op, a + o0, s0, b + o1, s1, o + r * inner, inner);
  }
}

void cpu_expand(const gs_launch *l) {
  const gs_shape *ins[1] = {&l->in_desc[0].shape};
  cpu_bcast bc;
  cpu_bcast_make(&l->out_desc.shape, ins, 1, &bc);
  /* Bit copies: EXPAND also carries i32 tensors. */
  const uint32_t *a = (const uint32_t *)cpu_ptr(l->in[0]);
  uint32_t *o = (uint32_t *)cpu_ptr(l->out);
  int64_t inner = bc.dim[bc.rank - 1], s0 = bc.st[0][bc.rank - 1];
  if (inner == 0) return;
  int64_t rows = cpu_numel(&l->out_desc) / inner;
  CPU_PAR_FOR(rows * inner)
  for (int64_t r = 0; r < rows; r++) {
    int64_t o0, o1;
    row_offsets(&bc, r, &o0, &o1);
    uint32_t *restrict dst = o + r * inner;
    const uint32_t *restrict src = a + o0;
    if (s0 == 1)
      memcpy(dst, src, (size_t)inner * sizeof(uint32_t));
    else if (s0 == 0)
      for (int64_t i = 0; i < inner; i++) dst[i] = src[0];
    else
      for (int64_t i = 0; i < inner; i++) dst[i] = src[i * s0];
  }
}
