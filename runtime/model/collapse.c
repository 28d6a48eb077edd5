/* Collapse detection on the host from fetched embeddings: cheap (one pass over rows x dim) and
 * run only every few steps by the training loop, so it needs no graph of its own. */
#include <math.h>
#include <stdlib.h>

#include "gessl/model.h"

gs_status gs_embed_collapse(const float *embed, int64_t rows, int64_t dim, double *std_out) {
  if (!embed || !std_out || rows < 2 || dim < 1)
    return gs_fail(GS_ERR_INVALID,
                   "collapse check: needs at least 2 rows of width 1 or more "
                   "(got %lld x %lld)",
                   (long long)rows, (long long)dim);
  double *sum = calloc((size_t)dim, sizeof *sum);
  double *sq = calloc((size_t)dim, sizeof *sq);
  if (!sum || !sq) {
    free(sum);
    free(sq);
    return gs_fail(GS_ERR_NOMEM, "collapse check: out of memory");
  }
  gs_status st = GS_OK;
  for (int64_t r = 0; r < rows && st == GS_OK; r++) {
    const float *x = embed + r * dim;
    double n2 = 0.0;
    for (int64_t d = 0; d < dim; d++) n2 += (double)x[d] * x[d];
    if (!isfinite(n2)) {
      st = gs_fail(GS_ERR_NUMERIC, "collapse check: row %lld is not finite", (long long)r);
      break;
    }
    /* Same eps as the methods' L2 normalisation: an all-zero row stays zero. */
    double inv = 1.0 / fmax(sqrt(n2), 1e-12);
    for (int64_t d = 0; d < dim; d++) {
      double v = x[d] * inv;
      sum[d] += v;
      sq[d] += v * v;
    }
  }
  if (st == GS_OK) {
    double acc = 0.0;
    for (int64_t d = 0; d < dim; d++) {
      double mean = sum[d] / (double)rows;
      double var = sq[d] / (double)rows - mean * mean;
      acc += sqrt(var > 0.0 ? var : 0.0);
    }
    *std_out = acc / (double)dim;
  }
  free(sum);
  free(sq);
  return st;
}
