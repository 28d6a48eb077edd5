/* A small ConvNet trained with SimCLR on synthetic data, through the method and meta plugins on
 * the CPU backend: the loss is finite and falls. Small widths and few steps keep it to seconds. */
#include <string.h>

#include "check.h"
#include "train_run.h"

enum { STEPS = 24, WINDOW = 6 };

int main(void) {
  const char *names[] = {"proj_hidden_dim", "proj_output_dim", "temperature"};
  const char *values[] = {"64", "32", "0.5"};
  loss_trace s;
  gs_train_config cfg;
  short_run(&cfg, STEPS, &s);
  constant_lr(&cfg, 0.1f);
  cfg.data_limit = 256;
  cfg.model = "convnet";
  cfg.batch = 32;
  cfg.epochs = 10;
  cfg.seed = 3;
  cfg.threads = 2;
  cfg.set_names = names;
  cfg.set_values = values;
  cfg.n_set = 3;

  CHECKF(gs_train_validate(NULL, &cfg) == GS_OK, "%s", gs_errmsg());
  gs_train_result res;
  gs_status st = gs_train_run(NULL, &cfg, &res);
  CHECKF(st == GS_OK, "%s", gs_errmsg());
  CHECK(res.steps == STEPS && s.n == STEPS);
  CHECK(res.images == (int64_t)STEPS * 32);
  double first, last;
  loss_trace_ends(&s, STEPS, WINDOW, &first, &last);
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
