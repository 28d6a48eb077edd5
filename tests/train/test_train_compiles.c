/* Steady-state training compiles nothing: after the first step, the number of backend programs
 * compiled stays flat for a plain run and a GeSSL run (whose parameter-set arithmetic runs
 * cached programs with new scalars every step). */
#include "check.h"
#include "train_util.h"

typedef struct watch {
  gs_runtime *rt;
  uint64_t after_first;
  int64_t steps;
  int grew_at; /* first step after which the count grew, 0: never */
} watch;

static void on_progress(void *user, const gs_train_progress *p) {
  watch *w = user;
  uint64_t n = gs_runtime_compile_count(w->rt);
  if (p->step == 1)
    w->after_first = n;
  else if (n != w->after_first && !w->grew_at)
    w->grew_at = (int)p->step;
  w->steps = p->step;
}

static void run(const char *meta) {
  gs_runtime_options o = {NULL, 2, NULL};
  gs_runtime *rt = gs_runtime_open(&o);
  CHECKF(rt != NULL, "%s", gs_errmsg());
  if (!rt) return;
  gs_train_config cfg;
  tiny_config(&cfg);
  cfg.meta = meta;
  cfg.max_steps = 4;
  watch w = {rt, 0, 0, 0};
  cfg.progress = on_progress;
  cfg.user = &w;
  gs_train_result res;
  gs_status st = gs_train_run(rt, &cfg, &res);
  CHECKF(st == GS_OK, "%s: %s", meta, gs_errmsg());
  CHECKF(w.steps == 4 && w.after_first > 0, "%s: %lld steps, %llu programs", meta,
         (long long)w.steps, (unsigned long long)w.after_first);
  CHECKF(w.grew_at == 0, "%s: programs compiled after step %d (%llu after step 1, %llu at the end)",
         meta, w.grew_at, (unsigned long long)w.after_first,
         (unsigned long long)gs_runtime_compile_count(rt));
  printf("%s: %llu programs compiled by the end of step 1, none after\n", meta,
         (unsigned long long)w.after_first);
  gs_runtime_close(rt);
}

int main(void) {
  run("none");
  run("gessl");
  return check_summary();
}
