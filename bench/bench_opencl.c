/* gessl-bench-opencl: GEMM and convolution timings of the OpenCL backend beside the CPU backend, in
 * the same run (figures, not a test). Also shows that prog_run returns before the device is done.
 *
 *   gessl-bench-opencl CPU-PLUGIN OPENCL-PLUGIN DEVICE-SUBSTRING [SCALE]
 * SCALE (default 1) divides the sizes for slow devices (rusticl on llvmpipe: use 4). */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gessl/backend.h"

static gs_status hfail(gs_status s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return s;
}
static void hwarn(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}
static gs_backend_host host = {GS_BACKEND_ABI_VERSION, hfail, hwarn, NULL, 0};

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct be {
  const gs_backend_iface *b;
  gs_bdev *dev;
} be;

static int open_be(const char *path, const char *sel, be *out) {
  void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!dl) return fprintf(stderr, "%s\n", dlerror()), -1;
  gs_backend_entry_fn e = (gs_backend_entry_fn)dlsym(dl, GS_BACKEND_ENTRY_SYMBOL);
  out->b = e ? e(&host) : NULL;
  int n = 0;
  char why[256];
  if (!out->b || out->b->probe(&n, why, sizeof why) != GS_OK) return -1;
  for (int i = 0; i < n; i++) {
    gs_device_info inf;
    if (out->b->device_info(i, &inf) == GS_OK && (!sel || strstr(inf.name, sel)))
      return out->b->open(i, &out->dev) == GS_OK ? 0 : -1;
  }
  return -1;
}

/* Times `reps` runs of one launch whose operands are fresh buffers of the descs' sizes. */
static double time_launch(be *x, gs_launch l, int reps, double *enqueue_s) {
  gs_bbuf *bufs[GS_LAUNCH_MAX_IN + 1] = {0};
  for (int k = 0; k <= l.n_in; k++) {
    gs_tdesc *d = k == l.n_in ? &l.out_desc : &l.in_desc[k];
    size_t n = (size_t)gs_shape_numel(&d->shape);
    float *h = malloc(n * 4);
    for (size_t j = 0; j < n; j++) h[j] = (float)((j * 7919) % 17) / 17.0f - 0.5f;
    x->b->buf_alloc(x->dev, n * 4, &bufs[k]);
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
  x->b->prog_run(x->dev, p); /* warm-up: library kernels compile on first use */
  x->b->buf_read(x->dev, bufs[l.n_in], 0, &v, 4);
  double t0 = now();
  for (int r = 0; r < reps; r++) x->b->prog_run(x->dev, p);
  double t1 = now();
  x->b->buf_read(x->dev, bufs[l.n_in], 0, &v, 4);
  double t2 = now();
  *enqueue_s = (t1 - t0) / reps;
  x->b->prog_free(x->dev, p);
  for (int k = 0; k <= l.n_in; k++) x->b->buf_free(x->dev, bufs[k]);
  return (t2 - t0) / reps;
}

int main(int argc, char **argv) {
  if (argc < 4) return fprintf(stderr, "usage: gessl-bench-opencl CPU OPENCL DEVICE [SCALE]\n"), 2;
  int scale = argc > 4 ? atoi(argv[4]) : 1;
  be cpu, ocl;
  if (open_be(argv[1], NULL, &cpu) || open_be(argv[2], argv[3], &ocl))
    return fprintf(stderr, "cannot open backends\n"), 1;
  printf("%-44s %10s %10s %8s %12s\n", "shape", "cpu ms", "opencl ms", "ratio", "enqueue ms");
  int64_t mm[][3] = {{256, 256, 256}, {512, 512, 512}, {128, 4608, 512}};
  for (int i = 0; i < 3; i++) {
    int64_t M = mm[i][0] / scale, K = mm[i][1] / scale, N = mm[i][2] / scale;
    gs_launch l;
    memset(&l, 0, sizeof l);
    l.op = GS_OP_MATMUL;
    l.n_in = 2;
    l.in_desc[0].shape = (gs_shape)GS_SHAPE(1, M, K);
    l.in_desc[1].shape = (gs_shape)GS_SHAPE(1, K, N);
    l.out_desc.shape = (gs_shape)GS_SHAPE(1, M, N);
    double e0, e1, tc = time_launch(&cpu, l, 5, &e0), to = time_launch(&ocl, l, 5, &e1);
    char lab[64];
    snprintf(lab, sizeof lab, "matmul %lldx%lldx%lld (%.2f GFLOP/s ocl)", (long long)M,
             (long long)K, (long long)N, 2.0 * M * K * N / to * 1e-9);
    printf("%-44s %10.2f %10.2f %8.2f %12.3f\n", lab, tc * 1e3, to * 1e3, to / tc, e1 * 1e3);
  }
  /* ResNet-18 CIFAR stages: N=8 (16 / scale) images, 3x3 stride 1 pad 1 */
  int64_t cs[][3] = {{64, 64, 32}, {128, 128, 16}, {256, 256, 8}, {512, 512, 4}};
  for (int i = 0; i < 4; i++) {
    int64_t n = 8 / scale > 0 ? 8 / scale : 1, c = cs[i][0], o = cs[i][1], h = cs[i][2];
    gs_launch l;
    memset(&l, 0, sizeof l);
    l.op = GS_OP_CONV2D;
    l.n_in = 2;
    l.in_desc[0].shape = (gs_shape)GS_SHAPE(n, c, h, h);
    l.in_desc[1].shape = (gs_shape)GS_SHAPE(o, c, 3, 3);
    l.out_desc.shape = (gs_shape)GS_SHAPE(n, o, h, h);
    l.i[0] = l.i[1] = l.i[2] = l.i[3] = 1;
    double e0, e1, tc = time_launch(&cpu, l, 3, &e0), to = time_launch(&ocl, l, 3, &e1);
    char lab[64];
    snprintf(lab, sizeof lab, "conv %lldx%lldx%lldx%lld k3 (%.2f GFLOP/s ocl)", (long long)n,
             (long long)c, (long long)h, (long long)h, 2.0 * n * o * h * h * c * 9 / to * 1e-9);
    printf("%-44s %10.2f %10.2f %8.2f %12.3f\n", lab, tc * 1e3, to * 1e3, to / tc, e1 * 1e3);
  }
  return 0;
}
