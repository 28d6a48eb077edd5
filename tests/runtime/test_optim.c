/* Optimizer names, defaults, state tensors and one compiled update step per kind against host
 * arithmetic; learning-rate schedules; hyperparameter parsing and formatting. The device spec
 * comes from the command line (default "cpu"). */
#include <math.h>
#include <string.h>

#include "check.h"
#include "gessl/gessl.h"

static int near(double a, double b, double tol) { return fabs(a - b) <= tol * (1 + fabs(b)); }

static void test_schedules(void) {
  CHECK(gs_lr_warmup_cosine(0, 100, 10, 1.0f, 0.0f) == 0.0f);
  CHECK(near(gs_lr_warmup_cosine(5, 100, 10, 1.0f, 0.0f), 0.5, 1e-6));
  CHECK(near(gs_lr_warmup_cosine(10, 100, 10, 1.0f, 0.0f), 1.0, 1e-6));
  CHECK(near(gs_lr_warmup_cosine(55, 100, 10, 1.0f, 0.0f), 0.5, 1e-6));
  CHECK(near(gs_lr_warmup_cosine(100, 100, 10, 1.0f, 0.1f), 0.1, 1e-6));
  CHECK(near(gs_lr_warmup_cosine(500, 100, 10, 1.0f, 0.1f), 0.1, 1e-6));
  CHECK(near(gs_lr_warmup_cosine(0, 100, 0, 2.0f, 0.0f), 2.0, 1e-6));
  CHECK(near(gs_cosine_ramp(0, 100, 0.996f, 1.0f), 0.996, 1e-6));
  CHECK(near(gs_cosine_ramp(50, 100, 0.996f, 1.0f), 0.998, 1e-6));
  CHECK(near(gs_cosine_ramp(100, 100, 0.996f, 1.0f), 1.0, 1e-6));
}

static void test_hparams(void) {
  gs_hparam_decl f = {"temperature", GS_HP_FLOAT, 0.5, 1e-3, 10, NULL, "softmax temperature"};
  gs_hparam_decl i = {"queue", GS_HP_INT, 4096, 0, 65536, NULL, "queue length"};
  gs_hparam_decl b = {"nesterov", GS_HP_BOOL, 0, 0, 1, NULL, "nesterov momentum"};
  gs_hparam_decl c = {"gradient", GS_HP_CHOICE, 0, 0, 0, "aid-fd|first-order", "gradient"};
  double v = -1;
  char buf[64];
  CHECK(gs_hparam_parse(&f, " 0.2 ", &v) == GS_OK && v == 0.2);
  CHECK(strcmp(gs_hparam_format(&f, v, buf, sizeof buf), "0.2") == 0);
  CHECK(gs_hparam_parse(&f, "abc", &v) == GS_ERR_INVALID && strstr(gs_errmsg(), "temperature"));
  CHECK(gs_hparam_parse(&f, "20", &v) == GS_ERR_INVALID && strstr(gs_errmsg(), "range"));
  CHECK(gs_hparam_parse(&f, "nan", &v) == GS_ERR_INVALID);
  CHECK(gs_hparam_parse(&i, "128", &v) == GS_OK && v == 128);
  CHECK(strcmp(gs_hparam_format(&i, 4096, buf, sizeof buf), "4096") == 0);
  CHECK(gs_hparam_parse(&i, "3.5", &v) == GS_ERR_INVALID && strstr(gs_errmsg(), "integer"));
  CHECK(gs_hparam_parse(&b, "yes", &v) == GS_OK && v == 1);
  CHECK(gs_hparam_parse(&b, "False", &v) == GS_OK && v == 0);
  CHECK(gs_hparam_parse(&b, "maybe", &v) == GS_ERR_INVALID);
  CHECK(strcmp(gs_hparam_format(&b, 1, buf, sizeof buf), "true") == 0);
  CHECK(gs_hparam_parse(&c, "first-order", &v) == GS_OK && v == 1);
  CHECK(strcmp(gs_hparam_format(&c, 1, buf, sizeof buf), "first-order") == 0);
  CHECK(gs_hparam_parse(&c, "aid", &v) == GS_ERR_INVALID && strstr(gs_errmsg(), "aid-fd"));
}

/* w [3, 2] and b [2] with gradients fed as inputs; one program holding the updates. */
static void step_test(gs_device *dev, gs_optim_kind kind) {
  gs_param *w = gs_param_new(dev, "fc.weight", GS_SHAPE(3, 2), 1);
  gs_param *b = gs_param_new(dev, "fc.bias", GS_SHAPE(2), 1);
  gs_pset *ps = gs_pset_new();
  gs_pset_add(ps, w);
  gs_pset_add(ps, b);
  float w0[6] = {0.5f, -1, 2, 0.25f, -0.75f, 1}, b0[2] = {0.1f, -0.2f};
  float gw[6] = {0.1f, 0.2f, -0.3f, 0.4f, 0.05f, -0.6f}, gb[2] = {1.0f, -0.5f};
  gs_param_write(w, w0);
  gs_param_write(b, b0);
  gs_optim_config cfg = gs_optim_defaults(kind);
  cfg.weight_decay = 0.1f;
  gs_optimizer *o = gs_optimizer_new(&cfg, ps);
  CHECKF(o != NULL, "%s", gs_errmsg());
  if (!o) return;
  const gs_pset *st = gs_optimizer_state(o);
  if (kind == GS_OPT_ADAMW) {
    CHECK(gs_pset_count(st) == 4);
    CHECK(strcmp(gs_param_name(gs_pset_get(st, 0)), "fc.weight.exp_avg") == 0);
    CHECK(strcmp(gs_param_name(gs_pset_get(st, 1)), "fc.weight.exp_avg_sq") == 0);
  } else {
    CHECK(gs_pset_count(st) == 2);
    CHECK(strcmp(gs_param_name(gs_pset_get(st, 1)), "fc.bias.momentum_buffer") == 0);
  }
  gs_graph *g = gs_graph_new();
  gs_tensor *grads[2] = {gs_input(g, "gw", GS_F32, GS_SHAPE(3, 2)),
                         gs_input(g, "gb", GS_F32, GS_SHAPE(2))};
  gs_tensor *lr = gs_input(g, "lr", GS_F32, GS_SHAPE(1));
  gs_tensor *t = gs_input(g, "t", GS_F32, GS_SHAPE(1));
  CHECKF(gs_optimizer_add_updates(o, g, grads, lr, t) == GS_OK, "%s", gs_errmsg());
  gs_program *p = gs_compile(dev, g, NULL, 0);
  CHECKF(p != NULL, "%s", gs_errmsg());
  if (p) {
    float lrv = 0.5f, tv = 1.0f, w1[6], b1[2];
    gs_program_feed(p, grads[0], gw);
    gs_program_feed(p, grads[1], gb);
    gs_program_feed(p, lr, &lrv);
    if (gs_program_has_input(p, "t")) gs_program_feed(p, t, &tv);
    CHECK(gs_program_run(p) == GS_OK);
    gs_param_read(w, w1);
    gs_param_read(b, b1);
    for (int k = 0; k < 6; k++) {
      double want = w0[k];
      if (kind == GS_OPT_SGD) want = w0[k] - lrv * (gw[k] + cfg.weight_decay * w0[k]);
      if (kind == GS_OPT_ADAMW)
        want = w0[k] * (1 - lrv * cfg.weight_decay) - lrv * gw[k] / (fabs(gw[k]) + cfg.eps);
      if (kind != GS_OPT_LARS)
        CHECKF(near(w1[k], want, 1e-5), "kind %d w[%d] %g want %g", kind, k, w1[k], want);
      else
        CHECK(w1[k] != w0[k]);
    }
    for (int k = 0; k < 2; k++) {
      /* LARS leaves 1-D params without weight decay or trust ratio: a plain SGD step. */
      double want = kind == GS_OPT_LARS  ? b0[k] - lrv * gb[k]
                    : kind == GS_OPT_SGD ? b0[k] - lrv * (gb[k] + cfg.weight_decay * b0[k])
                                         : b0[k] * (1 - lrv * cfg.weight_decay) -
                                               lrv * gb[k] / (fabs(gb[k]) + cfg.eps);
      CHECKF(near(b1[k], want, 1e-5), "kind %d b[%d] %g want %g", kind, k, b1[k], want);
    }
    gs_program_free(p);
  }
  gs_graph_free(g);
  gs_optimizer_free(o);
  gs_pset_free(ps);
  gs_param_free(w);
  gs_param_free(b);
}

int main(int argc, char **argv) {
  gs_optim_kind k;
  CHECK(gs_optim_parse("sgd", &k) == GS_OK && k == GS_OPT_SGD);
  CHECK(gs_optim_parse("LARS", &k) == GS_OK && k == GS_OPT_LARS);
  CHECK(gs_optim_parse("adamw", &k) == GS_OK && k == GS_OPT_ADAMW);
  CHECK(gs_optim_parse("adam", &k) == GS_ERR_INVALID && strstr(gs_errmsg(), "adam"));
  gs_optim_config c = gs_optim_defaults(GS_OPT_ADAMW);
  CHECK(near(c.weight_decay, 0.05, 1e-7) && near(c.beta2, 0.999, 1e-7));
  c = gs_optim_defaults(GS_OPT_LARS);
  CHECK(near(c.momentum, 0.9, 1e-7) && near(c.eta, 0.001, 1e-7));
  test_schedules();
  test_hparams();
  gs_runtime *rt = gs_runtime_open(NULL);
  gs_device *dev = gs_device_open(rt, argc > 1 ? argv[1] : "cpu");
  CHECKF(dev != NULL, "%s", gs_errmsg());
  if (dev) {
    step_test(dev, GS_OPT_SGD);
    step_test(dev, GS_OPT_LARS);
    step_test(dev, GS_OPT_ADAMW);
  }
  gs_device_close(dev);
  gs_runtime_close(rt);
  return check_summary();
}
