/* Forward values of composite ops and update sinks against hand-computed results, on the CPU
 * backend: softmax/log-softmax (including huge logits), cross-entropy and KL of known inputs,
 * batch norm statistics and running-stat updates, layer norm, L2 normalisation, and one step of
 * SGD, LARS, AdamW, EMA and assign. */
#include <math.h>

#include "check.h"
#include "gessl/optim.h"
#include "op_harness.h"

static gs_device *dev;

#define NEAR(a, b, tol) (fabs((double)(a) - (double)(b)) <= (tol) * (1.0 + fabs((double)(b))))

/* Compiles `outs`, feeds inputs[k] with data[k], runs once and fetches every output. */
static int run(gs_graph *g, gs_tensor **outs, int n_out, float **out_data, gs_tensor **ins,
               const void **in_data, int n_in) {
  if (gs_graph_status(g) != GS_OK) {
    fprintf(stderr, "build: %s\n", gs_graph_error(g));
    return 0;
  }
  gs_program *p = gs_compile(dev, g, outs, n_out);
  if (!p) {
    fprintf(stderr, "compile: %s\n", gs_errmsg());
    return 0;
  }
  int ok = 1;
  for (int k = 0; k < n_in; k++) ok &= gs_program_feed(p, ins[k], in_data[k]) == GS_OK;
  ok &= gs_program_run(p) == GS_OK;
  for (int k = 0; k < n_out; k++) ok &= gs_program_fetch(p, outs[k], out_data[k]) == GS_OK;
  if (!ok) fprintf(stderr, "run: %s\n", gs_errmsg());
  gs_program_free(p);
  return ok;
}

static void test_softmax(void) {
  const float x[3][5] = {{1, 2, 3, 4, 5}, {-1, 0.5f, 0, 2, -3}, {1000, 1001, 999, 1000.5f, 998}};
  gs_graph *g = gs_graph_new();
  gs_tensor *in = gs_input(g, "x", GS_F32, GS_SHAPE(3, 5));
  gs_tensor *outs[2] = {gs_softmax(g, in, 1), gs_log_softmax(g, in, -1)};
  float sm[15], lsm[15], *o[2] = {sm, lsm};
  const void *d[1] = {x};
  CHECK(run(g, outs, 2, o, &in, d, 1));
  for (int r = 0; r < 3; r++) {
    double mx = -INFINITY, s = 0, tot = 0;
    for (int c = 0; c < 5; c++) mx = fmax(mx, x[r][c]);
    for (int c = 0; c < 5; c++) s += exp(x[r][c] - mx);
    for (int c = 0; c < 5; c++) {
      double want = exp(x[r][c] - mx) / s;
      CHECKF(NEAR(sm[r * 5 + c], want, 1e-5), "softmax[%d][%d] %g want %g", r, c, sm[r * 5 + c],
             want);
      CHECKF(NEAR(lsm[r * 5 + c], log(want), 1e-5), "log_softmax[%d][%d] %g want %g", r, c,
             lsm[r * 5 + c], log(want));
      tot += sm[r * 5 + c];
    }
    CHECKF(fabs(tot - 1.0) < 1e-5, "softmax row %d sums to %g", r, tot);
  }
  gs_graph_free(g);
}

static void test_cross_entropy_kl(void) {
  const float logits[6] = {1, 2, 3, 1, 1, 1};
  const int32_t labels[2] = {2, 0};
  const float lp[4] = {logf(0.5f), logf(0.5f), logf(0.9f), logf(0.1f)};
  const float lq[4] = {logf(0.25f), logf(0.75f), logf(0.9f), logf(0.1f)};
  gs_graph *g = gs_graph_new();
  gs_tensor *ins[4] = {
      gs_input(g, "logits", GS_F32, GS_SHAPE(2, 3)), gs_input(g, "labels", GS_I32, GS_SHAPE(2)),
      gs_input(g, "lp", GS_F32, GS_SHAPE(2, 2)), gs_input(g, "lq", GS_F32, GS_SHAPE(2, 2))};
  gs_tensor *outs[2] = {gs_cross_entropy(g, ins[0], ins[1]), gs_kl_div(g, ins[2], ins[3])};
  float ce, kl, *o[2] = {&ce, &kl};
  const void *d[4] = {logits, labels, lp, lq};
  CHECK(run(g, outs, 2, o, ins, d, 4));
  double want_ce = 0.5 * ((log(exp(1) + exp(2) + exp(3)) - 3) + log(3.0));
  double want_kl = 0.5 * (0.5 * log(0.5 / 0.25) + 0.5 * log(0.5 / 0.75));
  CHECKF(NEAR(ce, want_ce, 1e-5), "cross_entropy %g want %g", ce, want_ce);
  CHECKF(NEAR(kl, want_kl, 1e-5), "kl_div %g want %g", kl, want_kl);
  CHECK(gs_tensor_shape(outs[0]).rank == 0 && gs_tensor_shape(outs[1]).rank == 0);
  gs_graph_free(g);
}

static void test_batch_norm(void) {
  enum { N = 4, C = 2, HW = 6 };
  float x[N * C * HW], rm0[C] = {0.5f, -1}, rv0[C] = {2, 0.5f}, gamma[C] = {1.5f, 0.5f},
                       beta[C] = {0.1f, -0.2f};
  for (int k = 0; k < N * C * HW; k++) x[k] = (float)(sin(0.7 * k) * (1 + k % 3) + 0.3 * (k % 5));
  gs_param *rm = gs_param_new(dev, "bn.running_mean", GS_SHAPE(C), 0);
  gs_param *rv = gs_param_new(dev, "bn.running_var", GS_SHAPE(C), 0);
  gs_param_write(rm, rm0);
  gs_param_write(rv, rv0);
  /* Training: per-channel mean 0, (biased) variance 1, running stats moved by momentum 0.1. */
  gs_graph *g = gs_graph_new();
  gs_tensor *in = gs_input(g, "x", GS_F32, GS_SHAPE(N, C, 2, 3));
  gs_tensor *y = gs_batch_norm(g, in, NULL, NULL, rm, rv, 1, 0.1f, 1e-5f);
  float out[N * C * HW], *o[1] = {out};
  const void *d[1] = {x};
  CHECK(run(g, &y, 1, o, &in, d, 1));
  gs_graph_free(g);
  float rm1[C], rv1[C];
  gs_param_read(rm, rm1);
  gs_param_read(rv, rv1);
  for (int c = 0; c < C; c++) {
    double s = 0, ss = 0, xs = 0, xss = 0;
    for (int n = 0; n < N; n++)
      for (int j = 0; j < HW; j++) {
        double v = out[(n * C + c) * HW + j], xv = x[(n * C + c) * HW + j];
        s += v;
        ss += v * v;
        xs += xv;
      }
    double mean = xs / (N * HW);
    for (int n = 0; n < N; n++)
      for (int j = 0; j < HW; j++) {
        double xv = x[(n * C + c) * HW + j] - mean;
        xss += xv * xv;
      }
    CHECKF(fabs(s / (N * HW)) < 1e-5, "bn channel %d mean %g", c, s / (N * HW));
    CHECKF(fabs(ss / (N * HW) - 1) < 1e-3, "bn channel %d var %g", c, ss / (N * HW));
    double want_rm = 0.9 * rm0[c] + 0.1 * mean, want_rv = 0.9 * rv0[c] + 0.1 * xss / (N * HW - 1);
    CHECKF(NEAR(rm1[c], want_rm, 1e-5), "running_mean[%d] %g want %g", c, rm1[c], want_rm);
    CHECKF(NEAR(rv1[c], want_rv, 1e-5), "running_var[%d] %g want %g", c, rv1[c], want_rv);
  }
  /* Inference: the running statistics, then the affine transform. */
  g = gs_graph_new();
  gs_tensor *ins[3] = {gs_input(g, "x", GS_F32, GS_SHAPE(N, C, 2, 3)),
                       gs_input(g, "gamma", GS_F32, GS_SHAPE(C)),
                       gs_input(g, "beta", GS_F32, GS_SHAPE(C))};
  y = gs_batch_norm(g, ins[0], ins[1], ins[2], rm, rv, 0, 0.1f, 1e-5f);
  const void *d3[3] = {x, gamma, beta};
  CHECK(run(g, &y, 1, o, ins, d3, 3));
  for (int k = 0; k < N * C * HW; k++) {
    int c = (k / HW) % C;
    double want = (x[k] - rm1[c]) / sqrt(rv1[c] + 1e-5) * gamma[c] + beta[c];
    CHECKF(NEAR(out[k], want, 1e-5), "bn eval [%d] %g want %g", k, out[k], want);
  }
  float rm2[C];
  gs_param_read(rm, rm2);
  CHECK(rm2[0] == rm1[0] && rm2[1] == rm1[1]); /* inference leaves running stats alone */
  gs_graph_free(g);
  gs_param_free(rm);
  gs_param_free(rv);
}

static void test_layer_and_l2_norm(void) {
  const float x[3][4] = {{1, 2, 3, 4}, {-2, 0.5f, 7, 1}, {0, 0, 0, 0}};
  gs_graph *g = gs_graph_new();
  gs_tensor *in = gs_input(g, "x", GS_F32, GS_SHAPE(3, 4));
  gs_tensor *outs[2] = {gs_layer_norm(g, in, NULL, NULL, 1e-5f), gs_l2_normalize(g, in, 1, 1e-6f)};
  float ln[12], l2[12], *o[2] = {ln, l2};
  const void *d[1] = {x};
  CHECK(run(g, outs, 2, o, &in, d, 1));
  for (int r = 0; r < 3; r++) {
    double m = 0, v = 0, nrm = 0;
    for (int c = 0; c < 4; c++) m += x[r][c] / 4.0;
    for (int c = 0; c < 4; c++) v += (x[r][c] - m) * (x[r][c] - m) / 4.0;
    for (int c = 0; c < 4; c++) nrm += (double)x[r][c] * x[r][c];
    nrm = fmax(sqrt(nrm), 1e-6);
    for (int c = 0; c < 4; c++) {
      double wl = (x[r][c] - m) / sqrt(v + 1e-5), w2 = x[r][c] / nrm;
      CHECKF(NEAR(ln[r * 4 + c], wl, 1e-4), "layer_norm[%d][%d] %g want %g", r, c, ln[r * 4 + c],
             wl);
      CHECKF(NEAR(l2[r * 4 + c], w2, 1e-5), "l2_normalize[%d][%d] %g want %g", r, c, l2[r * 4 + c],
             w2);
    }
  }
  gs_graph_free(g);
}

/* One update step of a sink on a 5-element param, against the formula in op.h. */
static void test_updates(void) {
  enum { N = 5 };
  const float w0[N] = {0.5f, -1, 2, 0.25f, -0.75f}, g0[N] = {0.1f, 0.2f, -0.3f, 0.4f, -0.05f};
  const float b0[N] = {0.01f, -0.02f, 0.03f, 0, 0.05f}, lr = 0.1f;
  const float mom = 0.9f, wd = 0.01f;
  for (int kind = 0; kind < 6; kind++) {
    gs_param *w = gs_param_new(dev, "w", GS_SHAPE(N), 1);
    gs_param *b = gs_param_new(dev, "buf", GS_SHAPE(N), 0);
    gs_param *v = gs_param_new(dev, "v", GS_SHAPE(N), 0);
    gs_param_write(w, w0);
    gs_param_write(b, b0);
    float v0[N];
    for (int k = 0; k < N; k++) v0[k] = g0[k] * g0[k];
    gs_param_write(v, v0);
    gs_graph *g = gs_graph_new();
    gs_tensor *ins[3] = {gs_input(g, "g", GS_F32, GS_SHAPE(N)),
                         gs_input(g, "lr", GS_F32, GS_SHAPE(1)),
                         gs_input(g, "t", GS_F32, GS_SHAPE(1))};
    const float t = 3;
    const void *d[3] = {g0, &lr, &t};
    double want_w[N], want_b[N];
    const char *name = "";
    double nw = 0, ng = 0;
    for (int k = 0; k < N; k++) nw += (double)w0[k] * w0[k], ng += (double)g0[k] * g0[k];
    nw = sqrt(nw);
    ng = sqrt(ng);
    for (int k = 0; k < N; k++) {
      double dd = g0[k] + wd * w0[k], buf = mom * b0[k] + dd;
      want_b[k] = buf;
      want_w[k] = w0[k] - lr * buf;
      if (kind == 1) want_w[k] = w0[k] - lr * (dd + mom * buf);
      if (kind == 2) {
        double trust = 0.001 * nw / (ng + wd * nw);
        want_w[k] = w0[k] - lr * trust * buf;
      }
      if (kind == 3) { /* LARS on an excluded param: plain SGD without weight decay */
        buf = mom * b0[k] + g0[k];
        want_b[k] = buf;
        want_w[k] = w0[k] - lr * buf;
      }
      if (kind == 4) { /* AdamW, step 3, m = buf, v = g0^2 as initial moments */
        double b1 = 0.9, b2 = 0.999, eps = 1e-8, ww = w0[k] - lr * wd * w0[k];
        double m = b1 * b0[k] + (1 - b1) * g0[k];
        double vv = b2 * v0[k] + (1 - b2) * (double)g0[k] * g0[k];
        want_b[k] = m;
        want_w[k] = ww - lr * (m / (1 - pow(b1, t))) / (sqrt(vv / (1 - pow(b2, t))) + eps);
      }
      if (kind == 5) { /* EMA with m = 0.9 towards online = g0, then assign buf := 2*g0 */
        want_w[k] = 0.9 * w0[k] + 0.1 * g0[k];
        want_b[k] = 2 * g0[k];
      }
    }
    switch (kind) {
    case 0:
      name = "sgd";
      gs_sgd_update(g, w, ins[0], b, ins[1], mom, wd, 0);
      break;
    case 1:
      name = "sgd nesterov";
      gs_sgd_update(g, w, ins[0], b, ins[1], mom, wd, 1);
      break;
    case 2:
      name = "lars";
      gs_lars_update(g, w, ins[0], b, ins[1], mom, wd, 0.001f, 0);
      break;
    case 3:
      name = "lars excluded";
      gs_lars_update(g, w, ins[0], b, ins[1], mom, wd, 0.001f, 1);
      break;
    case 4:
      name = "adamw";
      gs_adamw_update(g, w, ins[0], b, v, ins[1], ins[2], 0.9f, 0.999f, 1e-8f, wd);
      break;
    case 5:
      name = "ema+assign";
      gs_ema_update(g, w, ins[0], gs_fill(g, GS_SHAPE(1), 0.9f));
      gs_assign(g, b, gs_scale(g, ins[0], 2.0f));
      break;
    }
    CHECKF(run(g, NULL, 0, NULL, ins, d, kind == 4 ? 3 : kind == 5 ? 1 : 2), "%s", name);
    float w1[N], b1[N];
    gs_param_read(w, w1);
    gs_param_read(b, b1);
    for (int k = 0; k < N; k++) {
      CHECKF(NEAR(w1[k], want_w[k], 1e-5), "%s: w[%d] %g want %g", name, k, w1[k], want_w[k]);
      CHECKF(NEAR(b1[k], want_b[k], 1e-5), "%s: state[%d] %g want %g", name, k, b1[k], want_b[k]);
    }
    gs_graph_free(g);
    gs_param_free(w);
    gs_param_free(b);
    gs_param_free(v);
  }
}

/* LARS with w = 0: the trust ratio falls back to 1. Shape errors of the update ops name the op,
 * the param and both shapes. */
static void test_update_edges(void) {
  enum { N = 4 };
  const float zero[N] = {0}, g0[N] = {0.5f, -1, 0.25f, 2}, lr = 0.5f;
  gs_param *w = gs_param_new(dev, "w", GS_SHAPE(N), 1);
  gs_param *b = gs_param_new(dev, "buf", GS_SHAPE(N), 0);
  gs_param *odd = gs_param_new(dev, "odd", GS_SHAPE(N + 1), 0);
  gs_param_write(w, zero);
  gs_param_write(b, zero);
  gs_graph *g = gs_graph_new();
  gs_tensor *ins[2] = {gs_input(g, "g", GS_F32, GS_SHAPE(N)),
                       gs_input(g, "lr", GS_F32, GS_SHAPE(1))};
  CHECK(gs_lars_update(g, w, ins[0], b, ins[1], 0.9f, 0.1f, 0.001f, 0) != NULL);
  const void *d[2] = {g0, &lr};
  CHECK(run(g, NULL, 0, NULL, ins, d, 2));
  float w1[N];
  gs_param_read(w, w1);
  for (int k = 0; k < N; k++)
    CHECKF(NEAR(w1[k], -lr * g0[k], 1e-6), "lars w=0: w[%d] %g", k, w1[k]);
  gs_graph_free(g);

  g = gs_graph_new();
  gs_tensor *bad = gs_input(g, "g", GS_F32, GS_SHAPE(N + 1));
  gs_tensor *l1 = gs_input(g, "lr", GS_F32, GS_SHAPE(1));
  CHECK(gs_sgd_update(g, w, bad, b, l1, 0.9f, 0, 0) == NULL);
  const char *msg = gs_graph_error(g);
  CHECKF(strstr(msg, "sgd_update") && strstr(msg, "[5]") && strstr(msg, "[4]") &&
             strstr(msg, "'w'"),
         "message \"%s\"", msg);
  gs_graph_free(g);

  g = gs_graph_new();
  gs_tensor *gg = gs_input(g, "g", GS_F32, GS_SHAPE(N));
  CHECK(gs_sgd_update(g, w, gg, odd, gs_fill(g, GS_SHAPE(2), 0.1f), 0.9f, 0, 0) == NULL);
  msg = gs_graph_error(g);
  CHECKF(strstr(msg, "sgd_update") && strstr(msg, "[5]") && strstr(msg, "[4]"), "message \"%s\"",
         msg);
  gs_graph_free(g);

  g = gs_graph_new();
  gg = gs_input(g, "g", GS_F32, GS_SHAPE(N));
  CHECK(gs_ema_update(g, w, gg, gs_fill(g, GS_SHAPE(2), 0.9f)) == NULL);
  msg = gs_graph_error(g);
  CHECKF(strstr(msg, "ema_update") && strstr(msg, "[2]"), "message \"%s\"", msg);
  gs_graph_free(g);

  g = gs_graph_new();
  CHECK(gs_assign(g, w, gs_input(g, "v", GS_F32, GS_SHAPE(2, 3))) == NULL);
  msg = gs_graph_error(g);
  CHECKF(strstr(msg, "assign") && strstr(msg, "[2, 3]") && strstr(msg, "[4]"), "message \"%s\"",
         msg);
  gs_graph_free(g);
  gs_param_free(w);
  gs_param_free(b);
  gs_param_free(odd);
}

int main(void) {
  gs_runtime *rt;
  dev = harness_open_cpu(&rt);
  CHECK(dev != NULL);
  if (!dev) return check_summary();
  test_softmax();
  test_cross_entropy_kl();
  test_batch_norm();
  test_layer_and_l2_norm();
  test_updates();
  test_update_edges();
  gs_device_close(dev);
  gs_runtime_close(rt);
  return check_summary();
}
