/* DINO (and, on the CPU, SwAV) with multi-crop (two 16x16 global views and two 8x8 local crops per
 * image) through the training loop and the plain meta-optimizer: every view reaches the method in
 * its own size, the loss is finite on every step and, on the CPU reference, falls. argv[1]: the
 * backend
 * ("cpu", "opencl:pthread", "vulkan:llvmpipe"); another backend runs a few steps, which must be
 * finite and follow the CPU reference's. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "train_run.h"

enum { MAX_STEPS = 32, WINDOW = 6 };

static void on_log(void *user, const char *line) {
  (void)user;
  fprintf(stderr, "%s\n", line);
}

int main(int argc, char **argv) {
  const char *backend = argc > 1 ? argv[1] : "cpu";
  int reference = strcmp(backend, "cpu") == 0;
  int steps = reference ? MAX_STEPS : 4;
  /* A constant, sharp teacher temperature: the warm-up's changing target would hide the trend
   * over so few steps. */
  const char *names[] = {"proj_hidden_dim", "bottleneck_dim",      "num_prototypes",
                         "local_crops",     "warmup_teacher_temp", "teacher_temp"};
  const char *values[] = {"32", "16", "64", "2", "0.04", "0.04"};
  loss_trace s;
  gs_train_config cfg;
  short_run(&cfg, steps, &s);
  constant_lr(&cfg, 0.3f);
  cfg.backend = backend;
  cfg.method = "dino";
  cfg.data_limit = 128;
  cfg.batch = 16;
  cfg.epochs = 8;
  cfg.seed = 7;
  cfg.threads = 2;
  cfg.set_names = names;
  cfg.set_values = values;
  cfg.n_set = 6;
  cfg.log_every = 4;
  cfg.log = on_log;

  gs_train_result res;
  gs_status st = gs_train_run(NULL, &cfg, &res);
  CHECKF(st == GS_OK, "%s: %s", backend, gs_errmsg());
  CHECKF(res.steps == steps && s.n == steps, "%lld steps", (long long)res.steps);
  for (int k = 0; k < s.n && k < steps; k++)
    CHECKF(isfinite(s.loss[k]), "%s: step %d loss %g", backend, k + 1, s.loss[k]);
  printf("%s: losses", backend);
  for (int k = 0; k < s.n && k < steps; k++) printf(" %.4f", s.loss[k]);
  printf("\n");
  /* The same steps on the CPU reference: the device follows it closely. */
  if (!reference && s.n == steps) {
    loss_trace c = {{0}, 0};
    cfg.backend = "cpu";
    cfg.user = &c;
    CHECKF(gs_train_run(NULL, &cfg, &res) == GS_OK, "cpu: %s", gs_errmsg());
    for (int k = 0; k < steps && c.n == steps; k++)
      CHECKF(fabs(s.loss[k] - c.loss[k]) <= 2e-2 * fabs(c.loss[k]), "step %d: %s %.5f, cpu %.5f",
             k + 1, backend, s.loss[k], c.loss[k]);
    cfg.user = &s;
  }
  if (reference && s.n == steps) {
    double first, last;
    loss_trace_ends(&s, steps, WINDOW, &first, &last);
    printf("mean loss of the first %d steps %.4f, of the last %d %.4f\n", WINDOW, first, WINDOW,
           last);
    CHECKF(last < first - 0.01, "loss did not fall: %.4f -> %.4f", first, last);
  }

  /* GeSSL around the same multi-crop method: each view keeps its own size in its task copies. */
  if (reference) {
    cfg.meta = "gessl";
    cfg.max_steps = 2;
    cfg.progress = NULL;
    st = gs_train_run(NULL, &cfg, &res);
    CHECKF(st == GS_OK, "gessl with local crops: %s", gs_errmsg());
    CHECKF(st != GS_OK || isfinite(res.final_loss), "gessl with local crops: loss %g",
           res.final_loss);
  }
  /* SwAV's multi-crop: the local crops predict the global views' assignments. */
  if (reference) {
    const char *sw_names[] = {"num_prototypes", "proj_hidden_dim", "proj_output_dim",
                              "local_crops"};
    const char *sw_values[] = {"32", "32", "16", "2"};
    loss_trace w = {{0}, 0};
    cfg.method = "swav";
    cfg.meta = "none";
    cfg.set_names = sw_names;
    cfg.set_values = sw_values;
    cfg.n_set = 4;
    cfg.max_steps = 16;
    constant_lr(&cfg, 0.1f);
    cfg.progress = loss_trace_progress;
    cfg.user = &w;
    st = gs_train_run(NULL, &cfg, &res);
    CHECKF(st == GS_OK && w.n == 16, "swav with local crops: %s", gs_errmsg());
    double first = 0.0, last = 0.0;
    for (int k = 0; k < 4 && w.n == 16; k++) {
      CHECK(isfinite(w.loss[k]) && isfinite(w.loss[12 + k]));
      first += w.loss[k] / 4;
      last += w.loss[12 + k] / 4;
    }
    printf("swav with local crops: mean loss of the first 4 steps %.4f, of the last 4 %.4f\n",
           first, last);
    CHECKF(last < first, "swav loss did not fall: %.4f -> %.4f", first, last);
  }
  return check_summary();
}
