/* A few training steps of one method plugin on one device: every loss is finite and the loss falls.
 *
 * Usage: test_method_train METHOD DEVICE [steps=N] [lr=X] [name=value ...]
 *
 * Shapes are tiny (16x16x3 synthetic images, ConvNet at width 0.25, batch 8) because CPU drivers
 * (PoCL, lavapipe) run it on two shared cores. The method's heads are shrunk the same way without
 * knowing the method: every INT hyperparameter whose name speaks of a width ("dim"), a count of
 * prototypes or a queue length is clamped to a small value; name=value arguments override any
 * hyperparameter. steps (default 16) and lr (0.05) set the run; the loss falls when the mean of
 * the last quarter of the steps is below that of the first quarter. A few images are repeated every
 * epoch so that the loss has something to learn. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "train_run.h"

enum { MAX_STEPS = LOSS_TRACE_MAX, MAX_SET = 32 };

/* The small value for a head-size hyperparameter, or -1 to keep the default. */
static double shrunk(const gs_hparam_decl *d) {
  if (d->type != GS_HP_INT) return -1;
  double v = -1;
  if (strstr(d->name, "dim"))
    v = 32;
  else if (strstr(d->name, "prototypes"))
    v = 16;
  else if (strstr(d->name, "queue"))
    v = 32;
  if (v < 0 || d->def <= v) return -1;
  return v < d->min ? d->min : v > d->max ? d->max : v;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: test_method_train METHOD DEVICE [name=value ...]\n");
    return 2;
  }
  const char *method = argv[1], *device = argv[2];
  gs_runtime_options ro = {NULL, 2, NULL};
  gs_runtime *rt = gs_runtime_open(&ro);
  CHECK(rt != NULL);
  const gs_method_iface *m = rt ? gs_runtime_method(rt, method) : NULL;
  CHECKF(m != NULL, "%s", gs_errmsg());
  if (!m) {
    gs_runtime_close(rt);
    return check_summary();
  }

  int steps = 16;
  float lr = 0.05f;
  const char *names[MAX_SET], *values[MAX_SET];
  char texts[MAX_SET][32];
  int n_set = 0;
  for (int k = 0; k < m->n_hparams && n_set < MAX_SET; k++) {
    double v = shrunk(&m->hparams[k]);
    int overridden = 0;
    for (int a = 3; a < argc; a++) {
      size_t len = strlen(m->hparams[k].name);
      if (strncmp(argv[a], m->hparams[k].name, len) == 0 && argv[a][len] == '=') overridden = 1;
    }
    if (v < 0 || overridden) continue;
    snprintf(texts[n_set], sizeof texts[n_set], "%.0f", v);
    names[n_set] = m->hparams[k].name;
    values[n_set] = texts[n_set];
    n_set++;
  }
  for (int a = 3; a < argc && n_set < MAX_SET; a++) {
    if (strncmp(argv[a], "steps=", 6) == 0) {
      steps = atoi(argv[a] + 6);
      continue;
    }
    if (strncmp(argv[a], "lr=", 3) == 0) {
      lr = (float)atof(argv[a] + 3);
      continue;
    }
    char *eq = strchr(argv[a], '=');
    CHECKF(eq != NULL, "argument '%s' is not name=value", argv[a]);
    if (!eq) continue;
    *eq = '\0';
    names[n_set] = argv[a];
    values[n_set++] = eq + 1;
  }
  for (int k = 0; k < n_set; k++) printf("--set %s=%s\n", names[k], values[k]);
  CHECKF(steps >= 4 && steps <= MAX_STEPS, "steps=%d: must be in 4..%d", steps, MAX_STEPS);
  if (steps < 4 || steps > MAX_STEPS) steps = 16;
  int window = steps / 4;

  loss_trace s;
  gs_train_config cfg;
  short_run(&cfg, steps, &s);
  constant_lr(&cfg, lr);
  cfg.backend = device;
  cfg.data_limit = 16;
  cfg.model = "convnet";
  cfg.method = method;
  cfg.batch = 8;
  cfg.epochs = steps;
  cfg.seed = 1;
  cfg.threads = 2;
  cfg.set_names = names;
  cfg.set_values = values;
  cfg.n_set = n_set;

  gs_train_result res;
  gs_status st = gs_train_run(rt, &cfg, &res);
  CHECKF(st == GS_OK, "%s on %s: %s", method, device, gs_errmsg());
  if (st == GS_OK) {
    CHECKF(s.n == steps, "%d steps of %d", s.n, steps);
    for (int k = 0; k < s.n && k < steps; k++)
      CHECKF(isfinite(s.loss[k]), "step %d: loss %g", k + 1, s.loss[k]);
    double first, last;
    loss_trace_ends(&s, steps, window, &first, &last);
    printf("%s on %s (%s): loss %.5f over the first %d steps, %.5f over the last %d\n", method,
           device, res.device, first, window, last, window);
    CHECKF(last < first, "%s on %s: the loss did not fall (%.5f -> %.5f)", method, device, first,
           last);
  }
  gs_runtime_close(rt);
  return check_summary();
}
