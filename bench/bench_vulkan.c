/* gessl-bench-vulkan: the Vulkan GEMM shader (matmul and implicit-GEMM convolution, forward and
 * both gradients) timed beside the CPU backend (OpenBLAS) and, when given, the OpenCL backend
 * (CLBlast) on the same sizes in the same run; prints times and ratios (a benchmark, not a test).
 *
 *   gessl-bench-vulkan CPU-PLUGIN VULKAN-PLUGIN VULKAN-DEVICE [SCALE [OPENCL-PLUGIN OPENCL-DEVICE]]
 *
 * SCALE (default 1) divides the sizes for slow devices (lavapipe: use 4). Ratios are
 * vulkan/cpu and vulkan/opencl times: below 1 means the Vulkan shader is faster. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gessl/backend.h"

static gs_status hfail(gs_status s, const char *fmt, ...) GS_PRINTF(2, 3);
static gs_status hfail(gs_status s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return s;
}
static void hwarn(const char *fmt, ...) GS_PRINTF(1, 2);
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
  char name[128];
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
    if (out->b->device_info(i, &inf) == GS_OK && (!sel || strstr(inf.name, sel))) {
      snprintf(out->name, sizeof out->name, "%s: %.100s", out->b->name, inf.name);
      return out->b->open(i, &out->dev) == GS_OK ? 0 : -1;
    }
  }
  return -1;
}

/* Seconds per run of one launch over fresh buffers, best of 3 rounds of `reps` runs each. */
static double time_launch(be *x, gs_launch l, int reps) {
  if (!x->dev) return 0;
  gs_bbuf *bufs[GS_LAUNCH_MAX_IN + 1] = {0};
  for (int k = 0; k <= l.n_in; k++) {
    gs_tdesc *d = k == l.n_in ? &l.out_desc : &l.in_desc[k];
    size_t n = (size_t)gs_shape_numel(&d->shape);
    float *h = malloc(n * 4);
    for (size_t j = 0; j < n; j++) h[j] = (float)((j * 7919) % 17) / 17.0f - 0.5f;
    if (x->b->buf_alloc(x->dev, n * 4, &bufs[k]) != GS_OK) return -1;
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
  x->b->prog_run(x->dev, p); /* warm-up: pipelines and library kernels build on first use */
  x->b->buf_read(x->dev, bufs[l.n_in], 0, &v, 4);
  double best = 1e30;
  for (int round = 0; round < 3; round++) {
    double t0 = now();
    for (int r = 0; r < reps; r++)
      if (x->b->prog_run(x->dev, p) != GS_OK) return -1;
    if (x->b->buf_read(x->dev, bufs[l.n_in], 0, &v, 4) != GS_OK) return -1;
    double t = (now() - t0) / reps;
    if (t < best) best = t;
  }
  x->b->prog_free(x->dev, p);
  for (int k = 0; k <= l.n_in; k++) x->b->buf_free(x->dev, bufs[k]);
  return best;
}

static void row(be *cpu, be *vk, be *ocl, const char *label, double flop, gs_launch l, int reps) {
  double tc = time_launch(cpu, l, reps), tv = time_launch(vk, l, reps);
  double to = ocl->dev ? time_launch(ocl, l, reps) : 0;
  char lab[96];
  snprintf(lab, sizeof lab, "%s (%.1f GFLOP/s vk)", label, flop / tv * 1e-9);
  printf("%-52s %9.2f %9.2f %8.2f", lab, tc * 1e3, tv * 1e3, tv / tc);
  if (ocl->dev) printf(" %9.2f %8.2f", to * 1e3, tv / to);
  printf("\n");
}

int main(int argc, char **argv) {
  if (argc < 4)
    return fprintf(stderr, "usage: gessl-bench-vulkan CPU VULKAN DEVICE [SCALE [OPENCL DEVICE]]\n"),
           2;
  int scale = argc > 4 ? atoi(argv[4]) : 1;
  if (scale < 1) scale = 1;
  be cpu = {0}, vk = {0}, ocl = {0};
  if (open_be(argv[1], NULL, &cpu) || open_be(argv[2], argv[3], &vk))
    return fprintf(stderr, "cannot open the cpu or vulkan backend\n"), 1;
  if (argc > 6 && open_be(argv[5], argv[6], &ocl)) {
    fprintf(stderr, "cannot open the opencl backend; continuing without it\n");
    ocl.dev = NULL;
  }
  printf("vulkan: %s\ncpu:    %s\n", vk.name, cpu.name);
  if (ocl.dev) printf("opencl: %s\n", ocl.name);
  printf("%-52s %9s %9s %8s", "shape", "cpu ms", "vk ms", "vk/cpu");
  if (ocl.dev) printf(" %9s %8s", "ocl ms", "vk/ocl");
  printf("\n");

  int64_t mm[][3] = {{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {128, 4608, 512}};
  for (int i = 0; i < 4; i++) {
    int64_t M = mm[i][0] / scale, K = mm[i][1] / scale, N = mm[i][2] / scale;
    gs_launch l;
    memset(&l, 0, sizeof l);
    l.op = GS_OP_MATMUL;
    l.n_in = 2;
    l.in_desc[0].shape = (gs_shape)GS_SHAPE(1, M, K);
    l.in_desc[1].shape = (gs_shape)GS_SHAPE(1, K, N);
    l.out_desc.shape = (gs_shape)GS_SHAPE(1, M, N);
    char lab[64];
    snprintf(lab, sizeof lab, "matmul %lldx%lldx%lld", (long long)M, (long long)K, (long long)N);
    row(&cpu, &vk, &ocl, lab, 2.0 * M * K * N, l, 5);
  }
  /* ResNet-18 CIFAR stages, 3x3 stride 1 pad 1, forward and both gradients. */
  int64_t cs[][2] = {{64, 32}, {128, 16}, {256, 8}, {512, 4}};
  static const char *names[3] = {"conv", "conv dx", "conv dw"};
  for (int i = 0; i < 4; i++) {
    int64_t n = 16 / scale > 0 ? 16 / scale : 1, c = cs[i][0] / scale, h = cs[i][1];
    gs_shape xs = GS_SHAPE(n, c, h, h), ws = GS_SHAPE(c, c, 3, 3);
    for (int v = 0; v < 3; v++) {
      gs_launch l;
      memset(&l, 0, sizeof l);
      l.n_in = 2;
      l.i[0] = l.i[1] = l.i[2] = l.i[3] = 1;
      if (v == 0) {
        l.op = GS_OP_CONV2D;
        l.in_desc[0].shape = xs, l.in_desc[1].shape = ws, l.out_desc.shape = xs;
      } else if (v == 1) {
        l.op = GS_OP_CONV2D_BWD_DATA;
        l.in_desc[0].shape = xs, l.in_desc[1].shape = ws, l.out_desc.shape = xs;
      } else {
        l.op = GS_OP_CONV2D_BWD_FILTER;
        l.in_desc[0].shape = xs, l.in_desc[1].shape = xs, l.out_desc.shape = ws;
      }
      char lab[64];
      snprintf(lab, sizeof lab, "%s %lldx%lldx%lldx%lld k3", names[v], (long long)n, (long long)c,
               (long long)h, (long long)h);
      row(&cpu, &vk, &ocl, lab, 2.0 * n * c * h * h * c * 9, l, 3);
    }
  }
  return 0;
}
