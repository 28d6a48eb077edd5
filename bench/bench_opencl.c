/* gessl-bench-opencl: GEMM and convolution timings of the OpenCL backend beside the CPU backend, in
 * the same run (figures, not a test). Also shows that prog_run returns before the device is done.
 *
 *   gessl-bench-opencl CPU-PLUGIN OPENCL-PLUGIN DEVICE-SUBSTRING [SCALE]
 * SCALE (default 1) divides the sizes for slow devices (rusticl on llvmpipe: use 4). */
#include "bench_backend.h"

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
    gs_launch l = matmul_launch(M, K, N);
    double e0, e1, tc = time_launch(&cpu, l, 5, &e0), to = time_launch(&ocl, l, 5, &e1);
    char lab[64];
    snprintf(lab, sizeof lab, "matmul %lldx%lldx%lld (%.2f GFLOP/s ocl)", (long long)M,
             (long long)K, (long long)N, 2.0 * M * K * N / to * 1e-9);
    printf("%-44s %10.3f %10.3f %8.2f %12.3f\n", lab, tc * 1e3, to * 1e3, to / tc, e1 * 1e3);
  }
  /* ResNet-18 CIFAR stages: N=8 (16 / scale) images, 3x3 stride 1 pad 1 */
  int64_t cs[][3] = {{64, 64, 32}, {128, 128, 16}, {256, 256, 8}, {512, 512, 4}};
  for (int i = 0; i < 4; i++) {
    int64_t n = 8 / scale > 0 ? 8 / scale : 1, c = cs[i][0], o = cs[i][1], h = cs[i][2];
    gs_launch l = conv3x3_launch(GS_OP_CONV2D, (gs_shape)GS_SHAPE(n, c, h, h),
                                 (gs_shape)GS_SHAPE(o, c, 3, 3), (gs_shape)GS_SHAPE(n, o, h, h));
    double e0, e1, tc = time_launch(&cpu, l, 3, &e0), to = time_launch(&ocl, l, 3, &e1);
    char lab[64];
    snprintf(lab, sizeof lab, "conv %lldx%lldx%lldx%lld k3 (%.2f GFLOP/s ocl)", (long long)n,
             (long long)c, (long long)h, (long long)h, 2.0 * n * o * h * h * c * 9 / to * 1e-9);
    printf("%-44s %10.3f %10.3f %8.2f %12.3f\n", lab, tc * 1e3, to * 1e3, to / tc, e1 * 1e3);
  }
  return 0;
}
