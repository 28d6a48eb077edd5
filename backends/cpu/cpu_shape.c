/* Data movement: PERMUTE, SLICE, INSERT, GATHER_ROWS, SCATTER_ADD_ROWS, ONEHOT. The pure copies
 * move 4-byte words without interpreting them, so they serve f32 and i32 tensors alike. */
#include "cpu_internal.h"

#include <string.h>

static void dense_strides(const gs_shape *s, int64_t *st) {
  int64_t acc = 1;
  for (int k = s->rank - 1; k >= 0; k--) st[k] = acc, acc *= s->dim[k];
}

/* Offset of row `row` (index over all but the last dim of `shape`) in a tensor with strides st. */
static inline int64_t row_off(const gs_shape *shape, const int64_t *st, int64_t row) {
  int64_t off = 0;
  for (int k = shape->rank - 2; k >= 0; k--) {
    off += (row % shape->dim[k]) * st[k];
    row /= shape->dim[k];
  }
  return off;
}

#define TILE 32

void cpu_permute(const gs_launch *l) {
  const gs_shape *os = &l->out_desc.shape, *is = &l->in_desc[0].shape;
  const uint32_t *in = (const uint32_t *)cpu_ptr(l->in[0]);
  uint32_t *out = (uint32_t *)cpu_ptr(l->out);
  int64_t n = cpu_numel(&l->out_desc);
  if (n == 0) return;
  if (os->rank == 0) {
    out[0] = in[0];
    return;
  }
  int64_t ist[GS_MAX_RANK] = {0}, pst[GS_MAX_RANK] = {0};
  dense_strides(is, ist);
  for (int k = 0; k < os->rank; k++) pst[k] = ist[l->i[k]];
  int r = os->rank;
  int64_t inner = os->dim[r - 1], s = pst[r - 1];
  if (s != 1 && r >= 2 && pst[r - 2] == 1) {
    /* The two innermost out dims are swapped against the input: copy in tiles so both sides
     * stream through cache. planes = everything outside the two. */
    int64_t rowsn = os->dim[r - 2], planes = n / (inner * rowsn);
    int64_t tr = (rowsn + TILE - 1) / TILE, tc = (inner + TILE - 1) / TILE;
    CPU_PAR_FOR(n)
    for (int64_t t = 0; t < planes * tr * tc; t++) {
      int64_t p = t / (tr * tc), i0 = (t / tc % tr) * TILE, j0 = t % tc * TILE;
      int64_t ib = 0, q = p;
      for (int k = r - 3; k >= 0; k--) ib += (q % os->dim[k]) * pst[k], q /= os->dim[k];
      uint32_t *o = out + p * rowsn * inner;
      int64_t i1 = i0 + TILE < rowsn ? i0 + TILE : rowsn,
              j1 = j0 + TILE < inner ? j0 + TILE : inner;
      for (int64_t i = i0; i < i1; i++)
        for (int64_t j = j0; j < j1; j++) o[i * inner + j] = in[ib + i + j * s];
    }
    return;
  }
  int64_t rows = n / inner;
  CPU_PAR_FOR(n)
  for (int64_t row = 0; row < rows; row++) {
    int64_t off = row_off(os, pst, row);
    uint32_t *restrict o = out + row * inner;
    const uint32_t *restrict src = in + off;
    if (s == 1)
      memcpy(o, src, (size_t)inner * 4);
    else
      for (int64_t j = 0; j < inner; j++) o[j] = src[j * s];
  }
}

/* Copies the window `win` (shape) between a whole tensor and a dense window tensor.
 * to_window: SLICE (whole -> window), else INSERT (window -> whole). */
static void window_copy(const gs_shape *win, const gs_shape *whole, const int32_t *start,
                        uint32_t *wptr, uint32_t *whptr, int to_window) {
  int64_t n = gs_shape_numel(win);
  if (n == 0) return;
  if (win->rank == 0) {
    if (to_window)
      wptr[0] = whptr[0];
    else
      whptr[0] = wptr[0];
    return;
  }
  int64_t st[GS_MAX_RANK], base = 0;
  dense_strides(whole, st);
  for (int k = 0; k < whole->rank; k++) base += start[k] * st[k];
  int64_t inner = win->dim[win->rank - 1], rows = n / inner;
  CPU_PAR_FOR(n)
  for (int64_t row = 0; row < rows; row++) {
    uint32_t *w = wptr + row * inner, *h = whptr + base + row_off(win, st, row);
    if (to_window)
      memcpy(w, h, (size_t)inner * 4);
    else
      memcpy(h, w, (size_t)inner * 4);
  }
}

void cpu_slice(const gs_launch *l) {
  window_copy(&l->out_desc.shape, &l->in_desc[0].shape, l->i, (uint32_t *)cpu_ptr(l->out),
              (uint32_t *)cpu_ptr(l->in[0]), 1);
}

void cpu_insert(const gs_launch *l) {
  window_copy(&l->in_desc[0].shape, &l->out_desc.shape, l->i, (uint32_t *)cpu_ptr(l->in[0]),
              (uint32_t *)cpu_ptr(l->out), 0);
}

void cpu_gather_rows(const gs_launch *l) {
  int64_t R = l->in_desc[0].shape.dim[0], D = l->in_desc[0].shape.dim[1];
  int64_t N = l->out_desc.shape.dim[0];
  const float *x = cpu_ptr(l->in[0]);
  const int32_t *idx = cpu_iptr(l->in[1]);
  float *out = cpu_ptr(l->out);
  CPU_PAR_FOR(N * D)
  for (int64_t n = 0; n < N; n++) {
    int64_t r = idx[n];
    if (r >= 0 && r < R)
      memcpy(out + n * D, x + r * D, (size_t)D * sizeof(float));
    else
      memset(out + n * D, 0, (size_t)D * sizeof(float));
  }
}

/* Threads split the columns, so rows shared by several indices never race and the sum order is
 * the index order (deterministic). */
void cpu_scatter_add_rows(const gs_launch *l) {
  int64_t N = l->in_desc[0].shape.dim[0], D = l->in_desc[0].shape.dim[1];
  int64_t R = l->out_desc.shape.dim[0];
  const float *src = cpu_ptr(l->in[0]);
  const int32_t *idx = cpu_iptr(l->in[1]);
  float *out = cpu_ptr(l->out);
  const int64_t cb = 256;
  int64_t nb = (D + cb - 1) / cb;
  CPU_PAR_FOR((N + R) * D)
  for (int64_t b = 0; b < nb; b++) {
    int64_t c0 = b * cb, c1 = c0 + cb < D ? c0 + cb : D;
    for (int64_t r = 0; r < R; r++)
      for (int64_t c = c0; c < c1; c++) out[r * D + c] = 0.0f;
    for (int64_t n = 0; n < N; n++) {
      int64_t r = idx[n];
      if (r < 0 || r >= R) continue;
      float *restrict o = out + r * D;
      const float *restrict s = src + n * D;
      for (int64_t c = c0; c < c1; c++) o[c] += s[c];
    }
  }
}

void cpu_onehot(const gs_launch *l) {
  int64_t N = l->out_desc.shape.dim[0], C = l->out_desc.shape.dim[1];
  const int32_t *lab = cpu_iptr(l->in[0]);
  float *out = cpu_ptr(l->out);
  CPU_PAR_FOR(N * C)
  for (int64_t n = 0; n < N; n++) {
    float *o = out + n * C;
    for (int64_t c = 0; c < C; c++) o[c] = 0.0f;
    if (lab[n] >= 0 && lab[n] < C) o[lab[n]] = 1.0f;
  }
}
