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
