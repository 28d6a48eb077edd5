/* GeSSL around every method plugin that loads, through the training loop, on the device named by
 * argv[1] ("cpu", "opencl:pthread", "vulkan:llvmpipe"): a few outer steps of a tiny ConvNet on
 * synthetic images, each with a finite loss (the loop stops a run whose loss is not finite). The
 * method's wide defaults (projector widths, queues, prototypes) are narrowed to keep it quick. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "gessl/gessl.h"
#include "train_run.h"

enum { STEPS = 2, MAX_SET = 24 };

static void on_log(void *user, const char *line) {
  (void)user;
  if (strstr(line, "gessl:")) printf("  %s\n", line);
}

int main(int argc, char **argv) {
  const char *spec = argc > 1 ? argv[1] : "cpu";
  gs_runtime_options ro = {NULL, 2, NULL};
  gs_runtime *rt = gs_runtime_open(&ro);
  CHECK(rt != NULL);
  int methods = rt ? gs_runtime_method_count(rt) : 0;
  CHECKF(methods >= 1, "no method plugin loaded");
  static const char *variants[][2] = {{"outer_views", "fresh"},    {"kl", "model-to-target"},
                                      {"gradient", "first-order"}, {"K", "0"},
                                      {"inner_steps", "2"},        {"gessl.lambda", "0"}};
  const int n_variants = (int)(sizeof variants / sizeof *variants);
  int only_cpu = strcmp(spec, "cpu") == 0;
  /* SimCLR when it is there: it declares none of GeSSL's hyperparameter names (the loop gives a
   * --set name to the method first). */
  int first = 0;
  for (int i = 0; i < methods; i++)
    if (!strcmp(gs_runtime_method_at(rt, i)->name, "simclr")) first = i;
  for (int run = 0; run < methods + (only_cpu && methods ? n_variants : 0); run++) {
    int i = run < methods ? run : first, variant = run < methods ? -1 : run - methods;
    const gs_method_iface *m = gs_runtime_method_at(rt, i);
    const char *names[MAX_SET], *values[MAX_SET];
    int n = 0;
    for (int k = 0; k < m->n_hparams && n < MAX_SET - 6; k++)
      if (m->hparams[k].type == GS_HP_INT && m->hparams[k].def > 64 && m->hparams[k].min <= 32) {
        names[n] = m->hparams[k].name;
        values[n++] = "32";
      }
    const char *meta_set[][2] = {
        {"M", "2"}, {"K", "1"}, {"gessl.lambda", "1"}, {"alpha", "-0.1"}, {"gradient", "aid-fd"}};
    for (int k = 0; k < 5; k++) {
      names[n] = meta_set[k][0];
      values[n++] = meta_set[k][1];
    }
    /* The other options, each once, around one method. */
    if (variant >= 0) {
      names[n] = variants[variant][0];
      values[n++] = variants[variant][1];
    }
    loss_trace s;
    gs_train_config cfg;
    short_run(&cfg, STEPS, &s);
    cfg.backend = spec;
    cfg.data = "synthetic:16x16x1";
    cfg.data_limit = 64;
    cfg.model = "convnet";
    cfg.method = m->name;
    cfg.meta = "gessl";
    cfg.batch = 8;
    cfg.epochs = 4;
    cfg.lr = 0.05f;
    cfg.seed = 1;
    cfg.threads = 2;
    cfg.set_names = names;
    cfg.set_values = values;
    cfg.n_set = n;
    cfg.log = on_log;
    gs_train_result res;
    gs_status st = gs_train_run(rt, &cfg, &res);
    CHECKF(st == GS_OK, "gessl around %s on %s (variant %d): %s", m->name, spec, variant,
           gs_errmsg());
    CHECKF(s.n == STEPS, "%s: %d steps", m->name, s.n);
    for (int k = 0; k < s.n; k++)
      CHECKF(isfinite(s.loss[k]), "%s step %d: loss %g", m->name, k + 1, s.loss[k]);
    printf("%s%s%s%s%s on %s (%s): losses %.4f %.4f, %.2f s\n", m->name,
           variant >= 0 ? " with " : "", variant >= 0 ? variants[variant][0] : "",
           variant >= 0 ? "=" : "", variant >= 0 ? variants[variant][1] : "", spec, res.device,
           s.loss[0], s.loss[1], res.seconds);
  }
  gs_runtime_close(rt);
  return check_summary();
}
