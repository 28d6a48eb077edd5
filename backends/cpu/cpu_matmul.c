/* MATMUL through OpenBLAS. A batch whose B operand is shared and whose A is untransposed is one
 * GEMM with the batch folded into M (the [Bt*M, K] rows are contiguous), which gives OpenBLAS a
 * single large problem instead of many small ones. */
#include "cpu_internal.h"

#include <cblas.h>
#include <string.h>

void cpu_matmul(const gs_launch *l) {
  const gs_shape *as = &l->in_desc[0].shape, *bs = &l->in_desc[1].shape, *os = &l->out_desc.shape;
  int ta = l->i[0] != 0, tb = l->i[1] != 0;
  int64_t bt = os->dim[0], M = os->dim[1], N = os->dim[2];
  int64_t K = ta ? as->dim[1] : as->dim[2];
  const float *A = cpu_ptr(l->in[0]), *B = cpu_ptr(l->in[1]);
  float *C = cpu_ptr(l->out);
  if (bt * M * N == 0) return;
  if (K == 0) {
    memset(C, 0, (size_t)(bt * M * N) * sizeof(float));
    return;
  }
  int64_t lda = ta ? M : K, ldb = tb ? K : N;
  int64_t astep = as->dim[0] == 1 ? 0 : M * K, bstep = bs->dim[0] == 1 ? 0 : K * N;
  CBLAS_TRANSPOSE TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
  if (!ta && bstep == 0 && bt > 1 && astep != 0) {
    cblas_sgemm(CblasRowMajor, TA, TB, (blasint)(bt * M), (blasint)N, (blasint)K, 1.0f, A,
                (blasint)lda, B, (blasint)ldb, 0.0f, C, (blasint)N);
    return;
  }
  for (int64_t b = 0; b < bt; b++)
    cblas_sgemm(CblasRowMajor, TA, TB, (blasint)M, (blasint)N, (blasint)K, 1.0f, A + b * astep,
                (blasint)lda, B + b * bstep, (blasint)ldb, 0.0f, C + b * M * N, (blasint)N);
}
