/* A small ConvNet trained with SimCLR on synthetic data, through the method and meta plugins on
 * the CPU backend: the loss is finite and falls. Small widths and few steps keep it to seconds. */
#include <string.h>

#include "check.h"
#include "gessl/train.h"

enum { STEPS = 24, WINDOW = 6 };

typedef struct seen {
  double loss[STEPS + 1];
  int n;
} seen;

static void on_progress(void *user, const gs_train_progress *p) {
  seen *s = user;
  if (p->step >= 1 && p->step <= STEPS) s->loss[p->step - 1] = p->loss;
  s->n = (int)p->step;
}

int main(void) {
  const char *names[] = {"proj_hidden_dim", "proj_output_dim", "temperature"};
  const char *values[] = {"64", "32", "0.5"};
  seen s = {{0}, 0};
  gs_train_config cfg;
  gs_train_config_init(&cfg);
  cfg.data = "synthetic:16x16x3";
  cfg.data_limit = 256;
  cfg.model = "convnet";
  cfg.width = 0.25f;
  cfg.batch = 32;
  cfg.epochs = 10;
  cfg.max_steps = STEPS;
  cfg.lr = 0.1f;
  cfg.warmup_steps = 0;
  cfg.final_lr = 0.1f;
  cfg.seed = 3;
  cfg.threads = 2;
  cfg.data_threads = 1;
  cfg.set_names = names;
  cfg.set_values = values;
  cfg.n_set = 3;
  cfg.log_every = 1;
  cfg.progress = on_progress;
  cfg.user = &s;

  CHECKF(gs_train_validate(NULL, &cfg) == GS_OK, "%s", gs_errmsg());
  gs_train_result res;
  gs_status st = gs_train_run(NULL, &cfg, &res);
  CHECKF(st == GS_OK, "%s", gs_errmsg());
  CHECK(res.steps == STEPS && s.n == STEPS);
  CHECK(res.images == (int64_t)STEPS * 32);
  double first = 0.0, last = 0.0;
  for (int k = 0; k < WINDOW; k++) {
    first += s.loss[k] / WINDOW;
    last += s.loss[STEPS - WINDOW + k] / WINDOW;
  }
  for (int k = 0; k < STEPS; k++) CHECKF(isfinite(s.loss[k]), "step %d loss %g", k + 1, s.loss[k]);
  printf("mean loss of the first %d steps %.4f, of the last %d %.4f\n", WINDOW, first, WINDOW,
         last);
  CHECKF(last < first - 0.05, "loss did not fall: %.4f -> %.4f", first, last);
  /* NT-Xent starts near log(2N-1) for an untrained network. */
  CHECKF(s.loss[0] > 2.0 && s.loss[0] < 6.0, "first loss %g", s.loss[0]);

  /* Bad settings are refused before anything runs, naming the setting. */
  const char *bad_names[] = {"temprature"};
  const char *bad_values[] = {"0.1"};
  cfg.set_names = bad_names;
  cfg.set_values = bad_values;
  cfg.n_set = 1;
  CHECK(gs_train_run(NULL, &cfg, &res) == GS_ERR_INVALID);
  CHECKF(strstr(gs_errmsg(), "temprature") != NULL, "%s", gs_errmsg());
  const char *range_values[] = {"-1"};
  cfg.set_names = names + 2;
  cfg.set_values = range_values;
  CHECK(gs_train_run(NULL, &cfg, &res) == GS_ERR_INVALID);
  CHECKF(strstr(gs_errmsg(), "temperature") != NULL, "%s", gs_errmsg());
  cfg.n_set = 0;
  cfg.model = "alexnet";
  CHECK(gs_train_validate(NULL, &cfg) == GS_ERR_INVALID);
  return check_summary();
}
