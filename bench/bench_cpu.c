/* gessl-bench-cpu: the CPU backend plugin's MATMUL and CONV2D (forward, backward data, backward
 * filter) on the ResNet-18 CIFAR layer shapes, beside raw OpenBLAS sgemm on the same GEMM sizes,
 * measured in the same run so the ratios compare like with like.
 *
 * A convolution with O outputs, C inputs, a KHxKW kernel and an OHxOW output over a batch of B
 * is the GEMM M = O, N = B*OH*OW, K = C*KH*KW (2*M*N*K flops); each of its three passes does that
 * much arithmetic. The plugin is loaded with dlopen, exactly as the runtime loads it, and every
 * launch is compiled once and timed through prog_run.
 *
 *   gessl-bench-cpu [--quick] [--batch N] [--reps N] [--threads N] [--plugin PATH]
 *   gessl-bench-cpu --peak [--reps N] [--threads N]   best fp32 GEMM rate, one line
 *
 * Each figure is the best of --reps timed rounds after one warm-up round; a round times every
 * figure of a layer once, so load from elsewhere falls on all of them alike. */
#include <cblas.h>
#include <gessl/runtime.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct layer {
  const char *name;
  int C, O, H, K, stride, pad; /* square inputs H x H, kernel K x K */
} layer;

/* ResNet-18 with the CIFAR stem (3x3 conv, stride 1, no max-pool), one entry per distinct
 * convolution shape; the 1x1 entries are the downsampling shortcuts. */
static const layer LAYERS[] = {
    {"stem 3->64 @32", 3, 64, 32, 3, 1, 1},       {"64->64 @32", 64, 64, 32, 3, 1, 1},
    {"64->128 s2 @32", 64, 128, 32, 3, 2, 1},     {"128->128 @16", 128, 128, 16, 3, 1, 1},
    {"128->256 s2 @16", 128, 256, 16, 3, 2, 1},   {"256->256 @8", 256, 256, 8, 3, 1, 1},
    {"256->512 s2 @8", 256, 512, 8, 3, 2, 1},     {"512->512 @4", 512, 512, 4, 3, 1, 1},
    {"ds 1x1 64->128 s2", 64, 128, 32, 1, 2, 0},  {"ds 1x1 128->256 s2", 128, 256, 16, 1, 2, 0},
    {"ds 1x1 256->512 s2", 256, 512, 8, 1, 2, 0},
};
#define NLAYERS (sizeof LAYERS / sizeof LAYERS[0])

static const gs_backend_iface *B;
static gs_bdev *dev;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fill_random(float *p, size_t n, unsigned seed) {
  uint32_t s = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    p[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
  }
}

static gs_bbuf *dev_buf(size_t n, unsigned seed) {
  gs_bbuf *b = NULL;
  if (B->buf_alloc(dev, n * sizeof(float), &b) != GS_OK) {
    fprintf(stderr, "gessl-bench-cpu: out of memory for %zu floats\n", n);
    exit(1);
  }
  float *tmp = malloc(n * sizeof(float));
  fill_random(tmp, n, seed);
  B->buf_write(dev, b, 0, tmp, n * sizeof(float));
  free(tmp);
  return b;
}

static gs_bprog *compile(gs_launch *l) {
  gs_bprog *p = NULL;
  if (B->prog_compile(dev, l, 1, &p) != GS_OK) {
    fprintf(stderr, "gessl-bench-cpu: compile of %s failed\n", gs_opcode_name(l->op));
    exit(1);
  }
  return p;
}

static double time_prog(gs_bprog *p) {
  double t0 = now();
  B->prog_run(dev, p);
  B->sync(dev);
  return now() - t0;
}

static int sgemm_threads = 1;

/* Raw OpenBLAS with its own thread pool, as an application would call it; the plugin runs
 * OpenBLAS single-threaded, so the count is set back afterwards. */
static double time_sgemm(int M, int N, int K, const float *a, const float *b, float *c) {
  openblas_set_num_threads(sgemm_threads);
  double t0 = now();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
  double t = now() - t0;
  openblas_set_num_threads(1);
  return t;
}

static gs_launch launch(gs_opcode op) {
  gs_launch l;
  memset(&l, 0, sizeof l);
  l.op = op;
  l.n_in = 2;
  l.in_desc[0].dtype = l.in_desc[1].dtype = l.out_desc.dtype = GS_F32;
  return l;
}

static float *host_buf(size_t n, unsigned seed) {
  float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
  if (!p) {
    fprintf(stderr, "gessl-bench-cpu: out of memory for %zu floats\n", n);
    exit(1);
  }
  fill_random(p, n, seed);
  return p;
}

enum { F_SGEMM, F_MATMUL, F_FWD, F_DATA, F_FILTER, F_COUNT };

/* Times one layer: raw sgemm and the plugin's matmul on its GEMM size, and the three
 * convolution passes. One warm-up round, then `reps` rounds that take each figure in turn, so
 * a burst of load elsewhere hits all of them alike; the best of each is kept. */
static void time_layer(const layer *ly, int batch, int reps, double *best) {
  int OH = (ly->H + 2 * ly->pad - ly->K) / ly->stride + 1;
  int M = ly->O, N = batch * OH * OH, K = ly->C * ly->K * ly->K;
  float *ha = host_buf((size_t)M * K, 1), *hb = host_buf((size_t)K * N, 2);
  float *hc = host_buf((size_t)M * N, 3);

  gs_bbuf *ma = dev_buf((size_t)M * K, 1), *mb = dev_buf((size_t)K * N, 2);
  gs_bbuf *mc = dev_buf((size_t)M * N, 3);
  gs_launch l = launch(GS_OP_MATMUL);
  l.in[0] = (gs_bref){ma, 0}, l.in[1] = (gs_bref){mb, 0}, l.out = (gs_bref){mc, 0};
  l.in_desc[0].shape = GS_SHAPE(1, M, K), l.in_desc[1].shape = GS_SHAPE(1, K, N);
  l.out_desc.shape = GS_SHAPE(1, M, N);
  gs_bprog *progs[F_COUNT] = {NULL};
  progs[F_MATMUL] = compile(&l);

  gs_shape xs = GS_SHAPE(batch, ly->C, ly->H, ly->H), ws = GS_SHAPE(ly->O, ly->C, ly->K, ly->K);
  gs_shape ys = GS_SHAPE(batch, ly->O, OH, OH);
  gs_bbuf *x = dev_buf((size_t)gs_shape_numel(&xs), 4);
  gs_bbuf *w = dev_buf((size_t)gs_shape_numel(&ws), 5);
  gs_bbuf *y = dev_buf((size_t)gs_shape_numel(&ys), 6);
  gs_bbuf *dx = dev_buf((size_t)gs_shape_numel(&xs), 7);
  gs_bbuf *dw = dev_buf((size_t)gs_shape_numel(&ws), 8);
  l = launch(GS_OP_CONV2D);
  l.i[0] = l.i[1] = ly->stride, l.i[2] = l.i[3] = ly->pad;
  l.in[0] = (gs_bref){x, 0}, l.in[1] = (gs_bref){w, 0}, l.out = (gs_bref){y, 0};
  l.in_desc[0].shape = xs, l.in_desc[1].shape = ws, l.out_desc.shape = ys;
  progs[F_FWD] = compile(&l);
  l.op = GS_OP_CONV2D_BWD_DATA;
  l.in[0] = (gs_bref){y, 0}, l.in[1] = (gs_bref){w, 0}, l.out = (gs_bref){dx, 0};
  l.in_desc[0].shape = ys, l.in_desc[1].shape = ws, l.out_desc.shape = xs;
  progs[F_DATA] = compile(&l);
  l.op = GS_OP_CONV2D_BWD_FILTER;
  l.in[0] = (gs_bref){x, 0}, l.in[1] = (gs_bref){y, 0}, l.out = (gs_bref){dw, 0};
  l.in_desc[0].shape = xs, l.in_desc[1].shape = ys, l.out_desc.shape = ws;
  progs[F_FILTER] = compile(&l);

  for (int f = 0; f < F_COUNT; f++) best[f] = 1e30;
  for (int r = 0; r <= reps; r++)
    for (int f = 0; f < F_COUNT; f++) {
      double t = f == F_SGEMM ? time_sgemm(M, N, K, ha, hb, hc) : time_prog(progs[f]);
      if (r > 0 && t < best[f]) best[f] = t;
    }

  for (int f = 0; f < F_COUNT; f++)
    if (progs[f]) B->prog_free(dev, progs[f]);
  gs_bbuf *bufs[] = {ma, mb, mc, x, w, y, dx, dw};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) B->buf_free(dev, bufs[i]);
  free(ha), free(hb), free(hc);
}

/* The machine's best fp32 GEMM rate: a large square product, raw OpenBLAS (own thread pool) and
 * the plugin's MATMUL (which may take oneDNN's sgemm), best of `reps` each. */
static void peak(int reps) {
  const int n = 2048;
  size_t nn = (size_t)n * n;
  float *ha = host_buf(nn, 1), *hb = host_buf(nn, 2), *hc = host_buf(nn, 3);
  gs_bbuf *ma = dev_buf(nn, 1), *mb = dev_buf(nn, 2), *mc = dev_buf(nn, 3);
  gs_launch l = launch(GS_OP_MATMUL);
  l.in[0] = (gs_bref){ma, 0}, l.in[1] = (gs_bref){mb, 0}, l.out = (gs_bref){mc, 0};
  l.in_desc[0].shape = l.in_desc[1].shape = l.out_desc.shape = GS_SHAPE(1, n, n);
  gs_bprog *p = compile(&l);
  double bs = 1e30, bm = 1e30;
  for (int r = 0; r <= reps; r++) {
    double ts = time_sgemm(n, n, n, ha, hb, hc), tm = time_prog(p);
    if (r > 0 && ts < bs) bs = ts;
    if (r > 0 && tm < bm) bm = tm;
  }
  double fl = 2.0 * n * n * (double)n;
  printf("peak fp32 GEMM %dx%dx%d: %.1f GFLOP/s (OpenBLAS sgemm %.1f, plugin matmul %.1f)\n", n, n,
         n, fl / (bs < bm ? bs : bm) * 1e-9, fl / bs * 1e-9, fl / bm * 1e-9);
  B->prog_free(dev, p);
  B->buf_free(dev, ma), B->buf_free(dev, mb), B->buf_free(dev, mc);
  free(ha), free(hb), free(hc);
}

/* The plugin beside the executable (../lib/gessl), else the one this program was built with. */
static void default_plugin(char *out, size_t len) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    snprintf(out, len, "%s/../lib/gessl/libgessl-cpu.so", dirname(exe));
    if (access(out, R_OK) == 0) return;
  }
  snprintf(out, len, "%s", GESSL_CPU_PLUGIN_PATH);
}

static void usage(FILE *f) {
  fprintf(f, "usage: gessl-bench-cpu [--quick] [--batch N] [--reps N] [--threads N] "
             "[--plugin PATH] [--peak]\n"
             "  --quick      batch 32, one timed run per figure\n"
             "  --peak       only the best fp32 GEMM rate (2048^3, sgemm and plugin matmul)\n"
             "  --batch N    images per batch (default 128)\n"
             "  --reps N     timed runs per figure, the best is reported (default 5)\n"
             "  --threads N  threads for the plugin and for sgemm (default: all cores)\n"
             "  --plugin P   the CPU backend plugin to load\n");
}

int main(int argc, char **argv) {
  int batch = 128, reps = 5, threads = 0, only_peak = 0;
  char plugin[PATH_MAX];
  default_plugin(plugin, sizeof plugin);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int more = i + 1 < argc;
    if (strcmp(a, "--quick") == 0) {
      batch = 32, reps = 1;
    } else if (strcmp(a, "--peak") == 0) {
      only_peak = 1;
    } else if (strcmp(a, "--batch") == 0 && more) {
      batch = atoi(argv[++i]);
    } else if (strcmp(a, "--reps") == 0 && more) {
      reps = atoi(argv[++i]);
    } else if (strcmp(a, "--threads") == 0 && more) {
      threads = atoi(argv[++i]);
    } else if (strcmp(a, "--plugin") == 0 && more) {
      snprintf(plugin, sizeof plugin, "%s", argv[++i]);
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "gessl-bench-cpu: unknown option or missing value: %s\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (batch < 1 || reps < 1 || threads < 0) {
    fprintf(stderr, "gessl-bench-cpu: --batch and --reps must be >= 1, --threads >= 0\n");
    return 2;
  }

  gs_runtime_options o = {.plugin_path = plugin, .threads = threads};
  gs_runtime *rt = gs_runtime_open(&o);
  int bi = rt ? gs_runtime_backend_from(rt, plugin) : -1;
  B = bi >= 0 ? gs_runtime_backend(rt, bi) : NULL;
  gs_backend *ctx = bi >= 0 ? gs_runtime_backend_context(rt, bi) : NULL;
  if (!B || strcmp(B->name, "cpu") != 0 || B->open(ctx, 0, &dev) != GS_OK) {
    fprintf(stderr, "gessl-bench-cpu: %s is not a working CPU backend plugin: %s\n", plugin,
            gs_errmsg());
    gs_runtime_close(rt);
    return 1;
  }
  gs_device_info info;
  B->device_info(ctx, 0, &info);
  /* Raw sgemm runs OpenBLAS's own pool with as many threads as the plugin uses. */
  int nthreads = threads > 0 ? threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
  sgemm_threads = nthreads;
  if (only_peak) {
    peak(reps);
    B->close(dev);
    return 0;
  }
  printf("gessl-bench-cpu: batch %d, best of %d, %d threads\n", batch, reps, nthreads);
  printf("device: %s (%s), %s\n\n", info.vendor, info.extra, info.driver);
  printf("%-20s %5s %7s %5s | %8s %8s %6s | %8s %8s %8s %8s %6s\n", "layer", "M", "N", "K", "sgemm",
         "matmul", "ratio", "fwd", "bwd-data", "bwd-filt", "conv", "ratio");
  printf("%-20s %5s %7s %5s | %8s %8s %6s | %8s %8s %8s %8s %6s\n", "", "", "", "", "GFLOP/s",
         "GFLOP/s", "", "GFLOP/s", "GFLOP/s", "GFLOP/s", "GFLOP/s", "");

  double tot_flops = 0, tot_sgemm = 0, tot_mm = 0, tot_conv = 0;
  for (size_t i = 0; i < NLAYERS; i++) {
    const layer *ly = &LAYERS[i];
    int OH = (ly->H + 2 * ly->pad - ly->K) / ly->stride + 1;
    int M = ly->O, N = batch * OH * OH, K = ly->C * ly->K * ly->K;
    double fl = 2.0 * M * N * K, t[F_COUNT];
    time_layer(ly, batch, reps, t);
    double ts = t[F_SGEMM], tm = t[F_MATMUL], conv_t = t[F_FWD] + t[F_DATA] + t[F_FILTER];
    tot_flops += fl, tot_sgemm += ts, tot_mm += tm, tot_conv += conv_t;
    printf("%-20s %5d %7d %5d | %8.1f %8.1f %6.2f | %8.1f %8.1f %8.1f %8.1f %6.2f\n", ly->name, M,
           N, K, fl / ts * 1e-9, fl / tm * 1e-9, ts / tm, fl / t[F_FWD] * 1e-9,
           fl / t[F_DATA] * 1e-9, fl / t[F_FILTER] * 1e-9, 3 * fl / conv_t * 1e-9,
           (3 * fl / conv_t) / (fl / ts));
    fflush(stdout);
  }
  double gs = tot_flops / tot_sgemm * 1e-9, gm = tot_flops / tot_mm * 1e-9,
         gc = 3 * tot_flops / tot_conv * 1e-9;
  printf("\n%-33s   %8.1f %8.1f %6.2f | %35s %8.1f %6.2f\n", "all layers (total flops / time)", gs,
         gm, gm / gs, "", gc, gc / gs);
  printf("\nmatmul / sgemm:            %.2f (target >= 0.90)\n", gm / gs);
  printf("conv fwd+bwd / sgemm:      %.2f (target >= 0.60)\n", gc / gs);
  B->close(dev);
  gs_runtime_close(rt);
  return 0;
}
