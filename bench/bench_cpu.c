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
 *
 * Each figure is the best of --reps timed runs after one warm-up run. */
#include <cblas.h>
#include <dlfcn.h>
#include <gessl/backend.h>
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

static gs_status host_fail(gs_status s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "gessl-bench-cpu: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return s;
}
static void host_warn(const char *fmt, ...) { (void)fmt; }

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

/* Best time of `reps` runs of a one-launch program, after a warm-up run. */
static double time_launch(gs_launch *l, int reps) {
  gs_bprog *p = NULL;
  if (B->prog_compile(dev, l, 1, &p) != GS_OK) {
    fprintf(stderr, "gessl-bench-cpu: compile of %s failed\n", gs_opcode_name(l->op));
    exit(1);
  }
  B->prog_run(dev, p);
  B->sync(dev);
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    B->prog_run(dev, p);
    B->sync(dev);
    double t = now() - t0;
    if (t < best) best = t;
  }
  B->prog_free(dev, p);
  return best;
}

static int sgemm_threads = 1;

/* Raw OpenBLAS with its own thread pool, as an application would call it. */
static double time_sgemm(int M, int N, int K, int reps) {
  openblas_set_num_threads(sgemm_threads);
  float *a = aligned_alloc(64, ((size_t)M * K * 4 + 63) / 64 * 64);
  float *b = aligned_alloc(64, ((size_t)K * N * 4 + 63) / 64 * 64);
  float *c = aligned_alloc(64, ((size_t)M * N * 4 + 63) / 64 * 64);
  fill_random(a, (size_t)M * K, 1), fill_random(b, (size_t)K * N, 2);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
    double t = now() - t0;
    if (t < best) best = t;
  }
  free(a), free(b), free(c);
  openblas_set_num_threads(1); /* as the plugin runs it */
  return best;
}

static gs_launch launch(gs_opcode op) {
  gs_launch l;
  memset(&l, 0, sizeof l);
  l.op = op;
  l.n_in = 2;
  l.in_desc[0].dtype = l.in_desc[1].dtype = l.out_desc.dtype = GS_F32;
  return l;
}

static double time_matmul(int M, int N, int K, int reps) {
  gs_bbuf *a = dev_buf((size_t)M * K, 1), *b = dev_buf((size_t)K * N, 2);
  gs_bbuf *c = dev_buf((size_t)M * N, 3);
  gs_launch l = launch(GS_OP_MATMUL);
  l.in[0] = (gs_bref){a, 0}, l.in[1] = (gs_bref){b, 0}, l.out = (gs_bref){c, 0};
  l.in_desc[0].shape = GS_SHAPE(1, M, K), l.in_desc[1].shape = GS_SHAPE(1, K, N);
  l.out_desc.shape = GS_SHAPE(1, M, N);
  double t = time_launch(&l, reps);
  B->buf_free(dev, a), B->buf_free(dev, b), B->buf_free(dev, c);
  return t;
}

/* Times the three convolution passes of one layer: t[0] forward, t[1] data, t[2] filter. */
static void time_conv(const layer *ly, int batch, int reps, double *t) {
  int OH = (ly->H + 2 * ly->pad - ly->K) / ly->stride + 1;
  gs_shape xs = GS_SHAPE(batch, ly->C, ly->H, ly->H), ws = GS_SHAPE(ly->O, ly->C, ly->K, ly->K);
  gs_shape ys = GS_SHAPE(batch, ly->O, OH, OH);
  gs_bbuf *x = dev_buf((size_t)gs_shape_numel(&xs), 4),
          *w = dev_buf((size_t)gs_shape_numel(&ws), 5);
  gs_bbuf *y = dev_buf((size_t)gs_shape_numel(&ys), 6);
  gs_launch l = launch(GS_OP_CONV2D);
  l.i[0] = l.i[1] = ly->stride, l.i[2] = l.i[3] = ly->pad;
  l.in[0] = (gs_bref){x, 0}, l.in[1] = (gs_bref){w, 0}, l.out = (gs_bref){y, 0};
  l.in_desc[0].shape = xs, l.in_desc[1].shape = ws, l.out_desc.shape = ys;
  t[0] = time_launch(&l, reps);
  l.op = GS_OP_CONV2D_BWD_DATA;
  l.in[0] = (gs_bref){y, 0}, l.in[1] = (gs_bref){w, 0}, l.out = (gs_bref){x, 0};
  l.in_desc[0].shape = ys, l.in_desc[1].shape = ws, l.out_desc.shape = xs;
  t[1] = time_launch(&l, reps);
  l.op = GS_OP_CONV2D_BWD_FILTER;
  l.in[0] = (gs_bref){x, 0}, l.in[1] = (gs_bref){y, 0}, l.out = (gs_bref){w, 0};
  l.in_desc[0].shape = xs, l.in_desc[1].shape = ys, l.out_desc.shape = ws;
  t[2] = time_launch(&l, reps);
  B->buf_free(dev, x), B->buf_free(dev, w), B->buf_free(dev, y);
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
             "[--plugin PATH]\n"
             "  --quick      batch 32, one timed run per figure\n"
             "  --batch N    images per batch (default 128)\n"
             "  --reps N     timed runs per figure, the best is reported (default 3)\n"
             "  --threads N  threads for the plugin and for sgemm (default: all cores)\n"
             "  --plugin P   the CPU backend plugin to load\n");
}

int main(int argc, char **argv) {
  int batch = 128, reps = 3, threads = 0;
  char plugin[PATH_MAX];
  default_plugin(plugin, sizeof plugin);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int more = i + 1 < argc;
    if (strcmp(a, "--quick") == 0) {
      batch = 32, reps = 1;
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

  void *h = dlopen(plugin, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "gessl-bench-cpu: cannot load %s: %s\n", plugin, dlerror());
    return 1;
  }
  gs_backend_entry_fn entry = (gs_backend_entry_fn)(uintptr_t)dlsym(h, GS_BACKEND_ENTRY_SYMBOL);
  static gs_backend_host host;
  host.abi_version = GS_BACKEND_ABI_VERSION, host.fail = host_fail, host.warn = host_warn;
  host.threads = threads;
  B = entry ? entry(&host) : NULL;
  if (!B || B->abi_version != GS_BACKEND_ABI_VERSION || B->open(0, &dev) != GS_OK) {
    fprintf(stderr, "gessl-bench-cpu: %s is not a working CPU backend plugin\n", plugin);
    return 1;
  }
  gs_device_info info;
  B->device_info(0, &info);
  /* Raw sgemm runs OpenBLAS's own pool with as many threads as the plugin uses. */
  int nthreads = threads > 0 ? threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
  sgemm_threads = nthreads;
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
    double fl = 2.0 * M * N * K;
    double ts = time_sgemm(M, N, K, reps), tm = time_matmul(M, N, K, reps), tc[3];
    time_conv(ly, batch, reps, tc);
    double conv_t = tc[0] + tc[1] + tc[2];
    tot_flops += fl, tot_sgemm += ts, tot_mm += tm, tot_conv += conv_t;
    printf("%-20s %5d %7d %5d | %8.1f %8.1f %6.2f | %8.1f %8.1f %8.1f %8.1f %6.2f\n", ly->name, M,
           N, K, fl / ts * 1e-9, fl / tm * 1e-9, ts / tm, fl / tc[0] * 1e-9, fl / tc[1] * 1e-9,
           fl / tc[2] * 1e-9, 3 * fl / conv_t * 1e-9, (3 * fl / conv_t) / (fl / ts));
    fflush(stdout);
  }
  double gs = tot_flops / tot_sgemm * 1e-9, gm = tot_flops / tot_mm * 1e-9,
         gc = 3 * tot_flops / tot_conv * 1e-9;
  printf("\n%-33s   %8.1f %8.1f %6.2f | %35s %8.1f %6.2f\n", "all layers (total flops / time)", gs,
         gm, gm / gs, "", gc, gc / gs);
  printf("\nmatmul / sgemm:            %.2f (target >= 0.90)\n", gm / gs);
  printf("conv fwd+bwd / sgemm:      %.2f (target >= 0.60)\n", gc / gs);
  B->close(dev);
  return 0;
}
