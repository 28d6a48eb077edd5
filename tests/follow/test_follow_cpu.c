/* The ConvNet smoke training run (SimCLR, synthetic data) on a device follows the CPU run: the
 * same seed gives the same batches and initial weights, so the per-step losses differ only by
 * float rounding, which grows slowly over the steps.
 *
 * Tolerance: |loss_device - loss_cpu| <= 0.01 + 0.01 * |loss_cpu| at every step.
 *
 *   test_follow_cpu DEVICE [MODEL STEPS BATCH]
 *     DEVICE  e.g. "opencl:pthread", "vulkan:llvmpipe"; must open, never skipped
 *     MODEL   convnet (default) or resnet18 (CIFAR stem), at width 0.25; STEPS (12 at most) and
 *             BATCH default to 12 and 16 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "train_run.h"

enum { STEPS = 12 };

static const char *model = "convnet";
static int steps = STEPS, batch = 16;

static gs_status run(const char *backend, loss_trace *s, gs_train_result *res) {
  static const char *names[] = {"proj_hidden_dim", "proj_output_dim", "temperature"};
  static const char *values[] = {"64", "32", "0.5"};
  gs_train_config cfg;
  short_run(&cfg, steps, s);
  constant_lr(&cfg, 0.1f);
  cfg.backend = backend;
  cfg.data_limit = 128;
  cfg.model = model;
  cfg.batch = batch;
  cfg.epochs = 10;
  cfg.seed = 5;
  cfg.threads = 1;
  cfg.set_names = names;
  cfg.set_values = values;
  cfg.n_set = 3;
  return gs_train_run(NULL, &cfg, res);
}

int main(int argc, char **argv) {
  if (argc != 2 && argc != 5) {
    fprintf(stderr, "usage: test_follow_cpu DEVICE [MODEL STEPS BATCH]\n");
    return 2;
  }
  const char *dev = argv[1];
  if (argc == 5) {
    model = argv[2];
    steps = atoi(argv[3]);
    batch = atoi(argv[4]);
    if (steps < 1 || steps > STEPS || batch < 2) {
      fprintf(stderr, "test_follow_cpu: STEPS must be 1..%d and BATCH at least 2\n", STEPS);
      return 2;
    }
  }
  loss_trace cpu, vk;
  gs_train_result rc, rv;
  gs_status st = run("cpu", &cpu, &rc);
  CHECKF(st == GS_OK, "cpu run: %s", gs_errmsg());
  st = run(dev, &vk, &rv);
  CHECKF(st == GS_OK, "%s run: %s", dev, gs_errmsg());
  if (!check_failed_) {
    printf("%s vs %s\n", rv.device, rc.device);
    printf("%s, batch %d\n", model, batch);
    CHECK(cpu.n == steps && vk.n == steps);
    for (int k = 0; k < steps; k++) {
      double a = cpu.loss[k], b = vk.loss[k];
      printf("step %2d  cpu %.6f  %s %.6f  diff %.2e\n", k + 1, a, dev, b, b - a);
      CHECKF(isfinite(b) && fabs(b - a) <= 0.01 + 0.01 * fabs(a), "step %d: %g vs %g", k + 1, b, a);
    }
    printf("seconds: cpu %.2f, %s %.2f\n", rc.seconds, dev, rv.seconds);
  }
  return check_summary();
}
