/* GEMM through CLBlast. The program supplies CLBlast's temporary buffer (sized at compile time
 * with CLBlastSGemmTempBufferSize), so a large product never fails on an allocation CLBlast would
 * otherwise make inside the run. Batched products are a loop of these calls rather than
 * CLBlastSgemmStridedBatched, which allocates its temporaries internally with no way to pass
 * them in. */
#include <clblast_c.h>

#include "ocl_internal.h"

static gs_status clblast_fail(CLBlastStatusCode c, const char *what, const ocl_gemm *g) {
  return ocl_host->fail(c == CLBlastTempBufferAllocFailure || c == CLBlastInsufficientMemoryTemp
                            ? GS_ERR_NOMEM
                            : GS_ERR_BACKEND,
                        "opencl: %s (m=%zu n=%zu k=%zu ta=%d tb=%d) failed: CLBlast status %d",
                        what, g->m, g->n, g->k, g->ta, g->tb, (int)c);
}

gs_status ocl_gemm_temp_size(gs_bdev *dev, const ocl_gemm *g, size_t *bytes) {
  *bytes = 0;
  CLBlastStatusCode c = CLBlastSGemmTempBufferSize(
      CLBlastLayoutRowMajor, g->ta ? CLBlastTransposeYes : CLBlastTransposeNo,
      g->tb ? CLBlastTransposeYes : CLBlastTransposeNo, g->m, g->n, g->k, g->aoff, g->lda, g->boff,
      g->ldb, g->coff, g->ldc, &dev->queue, bytes);
  if (c != CLBlastSuccess) return clblast_fail(c, "CLBlastSGemmTempBufferSize", g);
  return GS_OK;
}

gs_status ocl_gemm_run(gs_bdev *dev, const ocl_gemm *g, cl_mem temp) {
  CLBlastStatusCode c = CLBlastSgemmWithTempBuffer(
      CLBlastLayoutRowMajor, g->ta ? CLBlastTransposeYes : CLBlastTransposeNo,
      g->tb ? CLBlastTransposeYes : CLBlastTransposeNo, g->m, g->n, g->k, 1.0f, g->a, g->aoff,
      g->lda, g->b, g->boff, g->ldb, g->beta, g->c, g->coff, g->ldc, &dev->queue, NULL, temp);
  if (c != CLBlastSuccess) return clblast_fail(c, "CLBlastSgemmWithTempBuffer", g);
  return GS_OK;
}
