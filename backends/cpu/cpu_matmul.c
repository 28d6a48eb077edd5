/* GEMM for the whole backend (MATMUL and the convolutions) and the MATMUL kernel.
 *
 * One thread pool: OpenBLAS runs single-threaded and the backend splits each GEMM across its
 * OpenMP threads by blocks of columns (or rows). Letting OpenBLAS run its own pthread pool next
 * to OpenMP made the two pools spin against each other between a GEMM and the elementwise or
 * im2col work around it; on a 2-core machine convolutions ran at a tenth of sgemm's rate.
 *
 * A batch whose B operand is shared and whose A is untransposed is one GEMM with the batch
 * folded into M (the [Bt*M, K] rows are contiguous): one large problem instead of many. */
#include "cpu_internal.h"

#include <cblas.h>
#include <string.h>

#ifdef GESSL_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

/* Below this many flops a GEMM runs on the calling thread: splitting costs more than it gains. */
#define CPU_GEMM_SPLIT_FLOPS 4e6

void cpu_blas_single(void) {
  if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

void cpu_gemm_serial(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                     const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
#ifdef GESSL_HAVE_DNNL
  /* OpenBLAS's generic kernels on an AVX2/AVX-512 machine (cpu_isa.c): oneDNN's sgemm picks its
   * kernels from the feature flags. Called inside the backend's parallel regions, it runs on the
   * calling thread as OpenBLAS does. */
  if (cpu_blas_weak() && cpu_dnnl_enabled() &&
      dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc) ==
          dnnl_success)
    return;
#endif
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              (blasint)M, (blasint)N, (blasint)K, 1.0f, A, (blasint)lda, B, (blasint)ldb, beta, C,
              (blasint)ldc);
}

void cpu_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
              const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
  int nt = cpu_nthreads;
  if (nt <= 1 || 2.0 * (double)M * (double)N * (double)K < CPU_GEMM_SPLIT_FLOPS) {
    cpu_gemm_serial(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  /* Split the longer of M and N into nt blocks, multiples of 16 so the micro-kernels see full
   * panels. */
  int split_n = N >= M;
  int64_t len = split_n ? N : M;
  int64_t blk = (len + nt - 1) / nt;
  blk = (blk + 15) / 16 * 16;
  int64_t nblk = (len + blk - 1) / blk;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
  for (int64_t b = 0; b < nblk; b++) {
    int64_t s = b * blk, n = len - s < blk ? len - s : blk;
    if (split_n)
      cpu_gemm_serial(ta, tb, M, n, K, A, lda, tb ? B + s * ldb : B + s, ldb, beta, C + s, ldc);
    else
      cpu_gemm_serial(ta, tb, n, N, K, ta ? A + s : A + s * lda, lda, B, ldb, beta, C + s * ldc,
                      ldc);
  }
}

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
  cpu_blas_single();
  int64_t lda = ta ? M : K, ldb = tb ? K : N;
  int64_t astep = as->dim[0] == 1 ? 0 : M * K, bstep = bs->dim[0] == 1 ? 0 : K * N;
  if (!ta && bstep == 0 && bt > 1 && astep != 0) {
    cpu_gemm(0, tb, bt * M, N, K, A, lda, B, ldb, 0.0f, C, N);
    return;
  }
  if (bt > 1 && 2.0 * (double)M * (double)N * (double)K < CPU_GEMM_SPLIT_FLOPS) {
    /* Many small products: one per thread at a time. */
    CPU_PAR_FOR(bt * M * N * K)
    for (int64_t b = 0; b < bt; b++)
      cpu_gemm_serial(ta, tb, M, N, K, A + b * astep, lda, B + b * bstep, ldb, 0.0f, C + b * M * N,
                      N);
    return;
  }
  for (int64_t b = 0; b < bt; b++)
    cpu_gemm(ta, tb, M, N, K, A + b * astep, lda, B + b * bstep, ldb, 0.0f, C + b * M * N, N);
}
