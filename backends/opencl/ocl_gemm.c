/* GEMM through CLBlast, on GPUs (ocl_prog.c picks). The program supplies CLBlast's temporary
 * buffer for single products (sized at compile time with CLBlastSGemmTempBufferSize), so a large
 * product never fails on an allocation CLBlast would otherwise make inside the run. Batched
 * products are one CLBlastSgemmStridedBatched call, which allocates its temporaries itself: one
 * call instead of a launch per batch element is worth that. */
#include <clblast_c.h>

#include "ocl_internal.h"

static gs_status clblast_fail(const gs_bdev *dev, CLBlastStatusCode c, const char *what,
                              const ocl_gemm *g) {
  return dev->be->host->fail(
      dev->be->host,
      c == CLBlastTempBufferAllocFailure || c == CLBlastInsufficientMemoryTemp ? GS_ERR_NOMEM
                                                                               : GS_ERR_BACKEND,
      "opencl: %s (m=%zu n=%zu k=%zu ta=%d tb=%d) failed: CLBlast status %d", what, g->m, g->n,
      g->k, g->ta, g->tb, (int)c);
}

gs_status ocl_gemm_temp_size(gs_bdev *dev, const ocl_gemm *g, size_t *bytes) {
  *bytes = 0;
  if (g->batch > 1) return GS_OK;
  CLBlastStatusCode c = CLBlastSGemmTempBufferSize(
      CLBlastLayoutRowMajor, g->ta ? CLBlastTransposeYes : CLBlastTransposeNo,
      g->tb ? CLBlastTransposeYes : CLBlastTransposeNo, g->m, g->n, g->k, g->aoff, g->lda, g->boff,
      g->ldb, g->coff, g->ldc, &dev->queue, bytes);
  if (c != CLBlastSuccess) return clblast_fail(dev, c, "CLBlastSGemmTempBufferSize", g);
  return GS_OK;
}

gs_status ocl_gemm_run(gs_bdev *dev, const ocl_gemm *g, cl_mem temp) {
  if (g->batch > 1) {
    CLBlastStatusCode c = CLBlastSgemmStridedBatched(
        CLBlastLayoutRowMajor, g->ta ? CLBlastTransposeYes : CLBlastTransposeNo,
        g->tb ? CLBlastTransposeYes : CLBlastTransposeNo, g->m, g->n, g->k, 1.0f, g->a, g->aoff,
        g->lda, g->sa, g->b, g->boff, g->ldb, g->sb, g->beta, g->c, g->coff, g->ldc, g->sc,
        g->batch, &dev->queue, NULL);
    if (c != CLBlastSuccess) return clblast_fail(dev, c, "CLBlastSgemmStridedBatched", g);
    return GS_OK;
  }
  CLBlastStatusCode c = CLBlastSgemmWithTempBuffer(
      CLBlastLayoutRowMajor, g->ta ? CLBlastTransposeYes : CLBlastTransposeNo,
      g->tb ? CLBlastTransposeYes : CLBlastTransposeNo, g->m, g->n, g->k, 1.0f, g->a, g->aoff,
      g->lda, g->b, g->boff, g->ldb, g->beta, g->c, g->coff, g->ldc, &dev->queue, NULL, temp);
  if (c != CLBlastSuccess) return clblast_fail(dev, c, "CLBlastSgemmWithTempBuffer", g);
  return GS_OK;
}
