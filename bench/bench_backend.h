/* What the backend benchmarks share: a backend plugin opened by path through the runtime (its
 * own runtime each, so one plugin can be opened twice), the launches they time, and the timing of
 * one launch on fresh buffers. */
#ifndef GESSL_BENCH_BACKEND_H
#define GESSL_BENCH_BACKEND_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "gessl/runtime.h"

/* A batched matmul launch, [1, M, K] x [1, K, N]. */
static inline gs_launch matmul_launch(int64_t M, int64_t K, int64_t N) {
  gs_launch l;
  memset(&l, 0, sizeof l);
  l.op = GS_OP_MATMUL;
  l.n_in = 2;
  l.in_desc[0].shape = (gs_shape)GS_SHAPE(1, M, K);
  l.in_desc[1].shape = (gs_shape)GS_SHAPE(1, K, N);
  l.out_desc.shape = (gs_shape)GS_SHAPE(1, M, N);
  return l;
}

/* A 3x3 convolution launch, stride 1 and padding 1 (op: forward or one of its gradients). */
static inline gs_launch conv3x3_launch(gs_opcode op, gs_shape in0, gs_shape in1, gs_shape out) {
  gs_launch l;
  memset(&l, 0, sizeof l);
  l.op = op;
  l.n_in = 2;
  l.in_desc[0].shape = in0;
  l.in_desc[1].shape = in1;
  l.out_desc.shape = out;
  l.i[0] = l.i[1] = l.i[2] = l.i[3] = 1;
  return l;
}

typedef struct be {
  gs_runtime *rt;
  const gs_backend_iface *b;
  gs_backend *ctx;
  gs_bdev *dev;
  char name[128]; /* "opencl: pthread-..." */
} be;

/* Opens the first device of the plugin at `path` whose name contains `sel` (any when NULL). */
static int open_be(const char *path, const char *sel, be *out) {
  gs_runtime_options o = {.plugin_path = path};
  out->rt = gs_runtime_open(&o);
  int i = out->rt ? gs_runtime_backend_from(out->rt, path) : -1;
  if (i < 0) return fprintf(stderr, "%s\n", gs_errmsg()), -1;
  out->b = gs_runtime_backend(out->rt, i);
  out->ctx = gs_runtime_backend_context(out->rt, i);
  int n = 0;
  char why[256];
  if (out->b->probe(out->ctx, &n, why, sizeof why) != GS_OK) return -1;
  for (int k = 0; k < n; k++) {
    gs_device_info inf;
    if (out->b->device_info(out->ctx, k, &inf) == GS_OK && (!sel || strstr(inf.name, sel))) {
      snprintf(out->name, sizeof out->name, "%s: %.100s", out->b->name, inf.name);
      return out->b->open(out->ctx, k, &out->dev) == GS_OK ? 0 : -1;
    }
  }
  return -1;
}

/* Seconds per run of one launch over fresh buffers, best of 3 rounds of `reps` runs each (a
 * warm-up run first: pipelines and library kernels build on first use); < 0 on failure. When
 * enqueue_s is given it receives the time prog_run took to return, per run, in the first round:
 * far below the run time when the backend queues work without waiting for it. */
static double time_launch(be *x, gs_launch l, int reps, double *enqueue_s) {
  if (!x->dev) return 0;
  gs_bbuf *bufs[GS_LAUNCH_MAX_IN + 1] = {0};
  for (int k = 0; k <= l.n_in; k++) {
    gs_tdesc *d = k == l.n_in ? &l.out_desc : &l.in_desc[k];
    size_t n = (size_t)gs_shape_numel(&d->shape);
    float *h = malloc(n * 4);
    if (!h) return -1;
    for (size_t j = 0; j < n; j++) h[j] = (float)((j * 7919) % 17) / 17.0f - 0.5f;
    if (x->b->buf_alloc(x->dev, n * 4, &bufs[k]) != GS_OK) return free(h), -1;
    x->b->buf_write(x->dev, bufs[k], 0, h, n * 4);
    free(h);
    if (k < l.n_in)
      l.in[k] = (gs_bref){bufs[k], 0};
    else
      l.out = (gs_bref){bufs[k], 0};
  }
  gs_bprog *p;
  if (x->b->prog_compile(x->dev, &l, 1, &p) != GS_OK) return -1;
  float v;
  x->b->prog_run(x->dev, p);
  x->b->buf_read(x->dev, bufs[l.n_in], 0, &v, 4);
  double best = 1e30;
  for (int round = 0; round < 3; round++) {
    double t0 = now();
    for (int r = 0; r < reps; r++)
      if (x->b->prog_run(x->dev, p) != GS_OK) return -1;
    if (round == 0 && enqueue_s) *enqueue_s = (now() - t0) / reps;
    if (x->b->buf_read(x->dev, bufs[l.n_in], 0, &v, 4) != GS_OK) return -1;
    double t = (now() - t0) / reps;
    if (t < best) best = t;
  }
  x->b->prog_free(x->dev, p);
  for (int k = 0; k <= l.n_in; k++) x->b->buf_free(x->dev, bufs[k]);
  return best;
}

#endif
