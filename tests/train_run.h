/* What the tests that train for a few steps share: the loss of every step, recorded through the
 * progress callback, and the configuration of a short run on small synthetic images. */
#ifndef GESSL_TEST_TRAIN_RUN_H
#define GESSL_TEST_TRAIN_RUN_H

#include <string.h>

#include "gessl/train.h"

enum { LOSS_TRACE_MAX = 200 };

/* loss[k]: the loss of step k + 1 (the first LOSS_TRACE_MAX steps); n: the last step reported. */
typedef struct loss_trace {
  double loss[LOSS_TRACE_MAX];
  int n;
} loss_trace;

static inline void loss_trace_progress(void *user, const gs_train_progress *p) {
  loss_trace *s = user;
  if (p->step >= 1 && p->step <= LOSS_TRACE_MAX) s->loss[p->step - 1] = p->loss;
  s->n = (int)p->step;
}

/* The mean loss over the first `window` steps and over the last `window` of `steps` steps. */
static inline void loss_trace_ends(const loss_trace *t, int steps, int window, double *first,
                                   double *last) {
  *first = *last = 0.0;
  for (int k = 0; k < window; k++) {
    *first += t->loss[k] / window;
    *last += t->loss[steps - window + k] / window;
  }
}

/* gs_train_config_init, then a run of `steps` steps on 16x16 RGB synthetic images, backbone width
 * 0.25, one data thread, every step logged and its loss recorded in *trace (emptied here). */
static inline void short_run(gs_train_config *cfg, int steps, loss_trace *trace) {
  memset(trace, 0, sizeof *trace);
  gs_train_config_init(cfg);
  cfg->data = "synthetic:16x16x3";
  cfg->width = 0.25f;
  cfg->max_steps = steps;
  cfg->data_threads = 1;
  cfg->log_every = 1;
  cfg->progress = loss_trace_progress;
  cfg->user = trace;
}

/* The learning rate lr on every step: no warm-up, no decay. */
static inline void constant_lr(gs_train_config *cfg, float lr) {
  cfg->lr = lr;
  cfg->warmup_steps = 0;
  cfg->final_lr = lr;
}

#endif
