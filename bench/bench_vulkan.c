/* gessl-bench-vulkan: the Vulkan GEMM shader (matmul and implicit-GEMM convolution, forward and
 * both gradients) timed beside the CPU backend (OpenBLAS) and, when given, the OpenCL backend
 * (CLBlast) on the same sizes in the same run; prints times and ratios (a benchmark, not a test).
 *
 *   gessl-bench-vulkan CPU-PLUGIN VULKAN-PLUGIN VULKAN-DEVICE [SCALE [OPENCL-PLUGIN OPENCL-DEVICE]]
 *
 * SCALE (default 1) divides the sizes for slow devices (lavapipe: use 4). Ratios are
 * vulkan/cpu and vulkan/opencl times: below 1 means the Vulkan shader is faster. */
#include "bench_backend.h"

static void row(be *cpu, be *vk, be *ocl, const char *label, double flop, gs_launch l, int reps) {
  double tc = time_launch(cpu, l, reps, NULL), tv = time_launch(vk, l, reps, NULL);
  double to = ocl->dev ? time_launch(ocl, l, reps, NULL) : 0;
  char lab[96];
  snprintf(lab, sizeof lab, "%s (%.1f GFLOP/s vk)", label, flop / tv * 1e-9);
  printf("%-52s %9.3f %9.3f %8.2f", lab, tc * 1e3, tv * 1e3, tv / tc);
  if (ocl->dev) printf(" %9.3f %8.2f", to * 1e3, tv / to);
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
    gs_launch l = matmul_launch(M, K, N);
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
      gs_launch l = v == 0   ? conv3x3_launch(GS_OP_CONV2D, xs, ws, xs)
                    : v == 1 ? conv3x3_launch(GS_OP_CONV2D_BWD_DATA, xs, ws, xs)
                             : conv3x3_launch(GS_OP_CONV2D_BWD_FILTER, xs, xs, ws);
      char lab[64];
      snprintf(lab, sizeof lab, "%s %lldx%lldx%lldx%lld k3", names[v], (long long)n, (long long)c,
               (long long)h, (long long)h);
      row(&cpu, &vk, &ocl, lab, 2.0 * n * c * h * h * c * 9, l, 3);
    }
  }
  return 0;
}
