/* A run whose loss becomes NaN stops with GS_ERR_NUMERIC naming the step; the checkpoint on disk
 * is the last good one (written before the bad step) and it resumes. */
#include <unistd.h>

#include "check.h"
#include "train_util.h"

int main(void) {
  char dir[256], p[512];
  snprintf(dir, sizeof dir, "/tmp/gessl-train-diverge-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  gs_train_config cfg;
  tiny_config(&cfg);
  cfg.lr = 1e8f; /* blows the weights up within a few steps */
  cfg.warmup_steps = 0;
  cfg.checkpoint_every = 2;
  cfg.out = dir;
  gs_train_result res;
  gs_status st = gs_train_run(NULL, &cfg, &res);
  printf("%s\n", gs_errmsg());
  CHECKF(st == GS_ERR_NUMERIC, "status %d: %s", (int)st, gs_errmsg());
  char step[32];
  snprintf(step, sizeof step, "at step %lld", (long long)res.steps + 1);
  CHECKF(strstr(gs_errmsg(), step) != NULL, "message '%s' lacks '%s'", gs_errmsg(), step);
  CHECKF(res.steps >= 2 && res.steps < 16, "%lld good steps", (long long)res.steps);
  int64_t want = res.steps / 2 * 2;
  CHECKF(res.checkpoint_step == want, "checkpoint step %lld, expected %lld",
         (long long)res.checkpoint_step, (long long)want);
  snprintf(p, sizeof p, "%s/state.json", dir);
  char *state = slurp(p, NULL);
  char needle[64];
  snprintf(needle, sizeof needle, "\"step\":\t%lld,", (long long)want);
  CHECKF(state && strstr(state, needle), "state.json does not hold step %lld", (long long)want);
  free(state);
  double loss[16];
  CHECK(log_losses(dir, loss, 16, NULL) == res.steps);

  /* The kept checkpoint is good: resuming with a sane learning rate... still uses the run's
   * settings here, so it diverges again at the same step, from the same state. */
  gs_train_config again = cfg;
  again.out = NULL;
  again.resume = dir;
  gs_train_result res2;
  st = gs_train_run(NULL, &again, &res2);
  CHECKF(st == GS_ERR_NUMERIC && res2.start_step == want && res2.steps == res.steps,
         "resume: status %d start %lld steps %lld (%s)", (int)st, (long long)res2.start_step,
         (long long)res2.steps, gs_errmsg());

  const char *files[] = {"config.json", "state.json", "checkpoint.safetensors", "log.jsonl",
                         "curves.png"};
  for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
    snprintf(p, sizeof p, "%s/%s", dir, files[k]);
    unlink(p);
  }
  rmdir(dir);
  return check_summary();
}
