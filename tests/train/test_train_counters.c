/* The device counters of a training step (GESSL_PROFILE=1 prints them as a note per step): a
 * plain SimCLR step's launch count does not depend on the batch size, and the host waits for the
 * device at most once per step (to read the loss). The GeSSL step's counts are printed too.
 *
 *   test_train_counters DEVICE-SPEC */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "train_util.h"

enum { STEPS = 3 };

typedef struct seen {
  long launches[STEPS + 1], waits[STEPS + 1];
  int notes;
} seen;

/* "step N: L launches, W waits, ..." */
static void on_log(void *user, const char *line) {
  seen *s = user;
  long step, launches, waits;
  if (sscanf(line, "step %ld: %ld launches, %ld waits", &step, &launches, &waits) == 3 &&
      step >= 1 && step <= STEPS) {
    s->launches[step] = launches;
    s->waits[step] = waits;
    s->notes++;
    printf("  %s\n", line);
  }
}

static int run(const char *spec, const char *meta, int batch, seen *s) {
  memset(s, 0, sizeof *s);
  gs_train_config cfg;
  tiny_config(&cfg);
  cfg.backend = spec;
  cfg.meta = meta;
  cfg.batch = batch;
  cfg.max_steps = STEPS;
  cfg.log = on_log;
  cfg.user = s;
  printf("%s, meta %s, batch %d:\n", spec, meta, batch);
  gs_train_result res;
  gs_status st = gs_train_run(NULL, &cfg, &res);
  CHECKF(st == GS_OK, "%s", gs_errmsg());
  CHECKF(s->notes == STEPS, "%d counter notes for %d steps", s->notes, STEPS);
  return st == GS_OK && s->notes == STEPS;
}

int main(int argc, char **argv) {
  const char *spec = argc > 1 ? argv[1] : "cpu";
  setenv("GESSL_PROFILE", "1", 1);
  seen small, large, meta;
  if (run(spec, "none", 8, &small) && run(spec, "none", 16, &large)) {
    for (int k = 2; k <= STEPS; k++) {
      CHECKF(small.launches[k] > 0, "step %d: no launches counted", k);
      CHECKF(small.launches[k] == large.launches[k],
             "step %d: %ld launches at batch 8, %ld at batch 16", k, small.launches[k],
             large.launches[k]);
      CHECKF(small.waits[k] <= 1 && large.waits[k] <= 1,
             "step %d: %ld and %ld host waits (at most 1: reading the loss)", k, small.waits[k],
             large.waits[k]);
    }
  }
  /* GeSSL's outer step: counted, not yet bound (its parameter-set arithmetic waits per call). */
  if (run(spec, "gessl", 8, &meta)) CHECK(meta.launches[STEPS] > small.launches[STEPS]);
  return check_summary();
}
