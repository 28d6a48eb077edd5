/* Internals shared by the evaluation files. */
#ifndef GESSL_EVAL_IMPL_H
#define GESSL_EVAL_IMPL_H

#include <stdio.h>

#include "gessl/eval.h"
#include "gessl/io.h"

/* Copies n images [n, c, h, w] into out [n, mc, size, size]: 1 -> 3 channels repeat the plane,
 * 3 -> 1 take the luma, sizes are resized bilinearly. */
gs_status eval_adapt_images(const float *x, int64_t n, int c, int h, int w, int mc, int size,
                            float *out);

/* One compiled eval-mode forward program (BN with running statistics) of the backbone for
 * `batch` images of mc x size x size, reused for every batch: gs_extract_features' path. */
typedef struct eval_fwd {
  gs_graph *g;
  gs_program *prog;
  gs_tensor *in, *feat;
  float *buf, *fbuf;
  int batch, mc, size;
  int64_t d;
} eval_fwd;

gs_status eval_fwd_init(eval_fwd *f, gs_device *dev, gs_model *m, int batch, int size);
/* Features [n, d] of x [n, c, h, w], adapted to the backbone (eval_adapt_images), batch by batch;
 * a short last batch is zero-padded. */
gs_status eval_fwd_run(eval_fwd *f, const float *x, int64_t n, int c, int h, int w, float *out);
void eval_fwd_free(eval_fwd *f);

/* Re-records the current error message prefixed with `what`, returning st. */
static inline gs_status eval_wrap(gs_status st, const char *what) {
  char why[768];
  snprintf(why, sizeof why, "%s", gs_errmsg());
  return gs_fail(st, "%s: %s", what, why);
}

/* A splitmix64 stream: episode sampling and shuffles, identical on every platform. */
static inline uint64_t eval_rng(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static inline int64_t eval_rng_below(uint64_t *s, int64_t n) {
  return (int64_t)(eval_rng(s) % (uint64_t)n);
}

#endif
