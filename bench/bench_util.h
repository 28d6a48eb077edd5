/* What the benchmarks share: a monotonic clock and the rate at which a loader delivers images. */
#ifndef GESSL_BENCH_UTIL_H
#define GESSL_BENCH_UTIL_H

#include <time.h>

#include "gessl/data.h"

static inline double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Images per second l delivers over at least `images` images, timed after one warm-up batch
 * (worker threads started, ring filling); < 0 when l is NULL or stops before that. */
static inline double loader_images_per_s(gs_loader *l, long images) {
  gs_batch b;
  if (!l || gs_loader_next(l, &b) != GS_OK) return -1;
  double t0 = now();
  long seen = 0;
  while (seen < images && gs_loader_next(l, &b) == GS_OK) seen += b.n;
  return seen >= images ? (double)seen / (now() - t0) : -1;
}

#endif
