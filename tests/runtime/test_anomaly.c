/* Checked execution (gs_device_set_detect_anomaly) on the device given on the command line: a
 * NaN made at a known op, forward (log of a negative, after a layer; a matmul with an infinite
 * weight, in that layer) and backward (the gradient of sqrt at 0, in a layer; the gradient of
 * a matmul), fails the run naming that op, its node, the direction and the layer; a finite graph
 * gives the values of an unchecked run; the mode is off by default. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "gessl/gessl.h"

/* Feeds x, runs, and returns the status; *msg gets the message of a failure. */
static gs_status run_once(gs_program *p, gs_tensor *x, const float *xv, char *msg, size_t len) {
  gs_status st = gs_program_feed(p, x, xv);
  if (st == GS_OK) st = gs_program_run(p);
  snprintf(msg, len, "%s", st == GS_OK ? "" : gs_errmsg());
  if (st != GS_OK) printf("%s\n", msg); /* the messages a user would read, in the test's log */
  return st;
}

static int has(const char *msg, const char *what) {
  if (strstr(msg, what)) return 1;
  fprintf(stderr, "message lacks '%s': %s\n", what, msg);
  return 0;
}

/* h = x @ W (layer "probe.fc"), out = log(h): x = 1 makes h = row sums of W. */
static void test_forward(gs_device *dev) {
  gs_param *w = gs_param_new(dev, "probe.fc.weight", GS_SHAPE(4, 3), 1);
  float wv[12];
  for (int k = 0; k < 12; k++) wv[k] = 0.5f;
  wv[4] = -3.0f; /* column 1 sums to -2: log of a negative */
  CHECK(gs_param_write(w, wv) == GS_OK);
  gs_graph *g = gs_graph_new();
  gs_tensor *x = gs_input(g, "x", GS_F32, GS_SHAPE(2, 4));
  gs_tensor *h = gs_matmul(g, x, gs_param_ref(g, w), 0, 0);
  gs_tensor *out = gs_log(g, h);
  CHECKF(gs_graph_status(g) == GS_OK, "%s", gs_graph_error(g));
  float xv[8];
  for (int k = 0; k < 8; k++) xv[k] = 1.0f;
  char msg[1024];

  /* Off by default: the NaN goes through unnoticed. */
  gs_program *p = gs_compile(dev, g, &out, 1);
  CHECKF(p != NULL, "%s", gs_errmsg());
  if (p) CHECK(run_once(p, x, xv, msg, sizeof msg) == GS_OK);
  gs_program_free(p);

  gs_device_set_detect_anomaly(dev, 1);
  p = gs_compile(dev, g, &out, 1);
  CHECKF(p != NULL, "%s", gs_errmsg());
  if (p) {
    CHECK(run_once(p, x, xv, msg, sizeof msg) == GS_ERR_NUMERIC);
    CHECK(has(msg, "unary(log)") && has(msg, "forward, after layer probe.fc") && has(msg, "NaN") &&
          has(msg, "node "));
  }
  gs_program_free(p);

  /* An infinite weight: the matmul that reads it is named, in its layer. */
  wv[4] = INFINITY;
  CHECK(gs_param_write(w, wv) == GS_OK);
  p = gs_compile(dev, g, &out, 1);
  if (p) {
    CHECK(run_once(p, x, xv, msg, sizeof msg) == GS_ERR_NUMERIC);
    CHECK(has(msg, "matmul (node") && has(msg, "forward, in layer probe.fc") && has(msg, "Inf"));
  }
  gs_program_free(p);
  gs_device_set_detect_anomaly(dev, 0);
  gs_graph_free(g);
  gs_param_free(w);
}

/* {loss, d loss / param} compiled with checked execution on and run once on x = xv; the run's
 * status, and in msg the message of a failure. */
static gs_status run_backward(gs_device *dev, gs_graph *g, gs_tensor *loss, gs_tensor *param,
                              gs_tensor *x, const float *xv, char *msg, size_t len) {
  gs_tensor *grad = NULL;
  CHECK(gs_grad(g, loss, &param, 1, &grad) == GS_OK);
  CHECKF(gs_graph_status(g) == GS_OK, "%s", gs_graph_error(g));
  gs_device_set_detect_anomaly(dev, 1);
  gs_tensor *outs[2] = {loss, grad};
  gs_program *p = gs_compile(dev, g, outs, 2);
  CHECKF(p != NULL, "%s", gs_errmsg());
  gs_status st = GS_ERR_INVALID;
  if (p)
    st = run_once(p, x, xv, msg, len);
  else
    snprintf(msg, len, "not compiled");
  gs_program_free(p);
  gs_device_set_detect_anomaly(dev, 0);
  return st;
}

/* loss = sum(x * sqrt(s)) with s a parameter of layer "probe.scale" holding a 0: the forward
 * pass is finite, the gradient of sqrt at 0 is not. */
static void test_backward(gs_device *dev) {
  gs_param *s = gs_param_new(dev, "probe.scale.gamma", GS_SHAPE(4), 1);
  CHECK(gs_param_write(s, (float[4]){1.0f, 0.0f, 4.0f, 9.0f}) == GS_OK);
  gs_graph *g = gs_graph_new();
  gs_tensor *x = gs_input(g, "x", GS_F32, GS_SHAPE(4));
  gs_tensor *sr = gs_param_ref(g, s);
  gs_tensor *loss = gs_sum_all(g, gs_mul(g, x, gs_sqrt(g, sr)));
  char msg[1024];
  CHECK(run_backward(dev, g, loss, sr, x, (float[4]){1, 1, 1, 1}, msg, sizeof msg) ==
        GS_ERR_NUMERIC);
  CHECK(has(msg, "unary_bwd(sqrt)") && has(msg, "backward: gradient of unary(sqrt)") &&
        has(msg, "in layer probe.scale") && has(msg, "Inf"));
  gs_graph_free(g);
  gs_param_free(s);
}

/* loss = k * sum(x @ W), W of layer "head.fc" small, k = 1e38: the forward pass is finite, and
 * so is the gradient reaching the matmul (k everywhere), but the matmul's gradient for W sums
 * four rows of it, beyond the largest float. */
static void test_backward_matmul(gs_device *dev) {
  gs_param *w = gs_param_new(dev, "head.fc.weight", GS_SHAPE(3, 2), 1);
  gs_param *k = gs_param_new(dev, "head.scale.weight", GS_SHAPE(1), 1);
  CHECK(gs_param_write(w, (float[6]){1e-3f, 2e-3f, 3e-3f, 4e-3f, 5e-3f, 6e-3f}) == GS_OK);
  CHECK(gs_param_write(k, (float[1]){1e38f}) == GS_OK);
  gs_graph *g = gs_graph_new();
  gs_tensor *x = gs_input(g, "x", GS_F32, GS_SHAPE(4, 3));
  gs_tensor *wr = gs_param_ref(g, w);
  gs_tensor *sum = gs_sum_all(g, gs_matmul(g, x, wr, 0, 0));
  gs_tensor *loss = gs_mul(g, sum, gs_reshape(g, gs_param_ref(g, k), gs_tensor_shape(sum)));
  char msg[1024];
  float xv[12];
  for (int j = 0; j < 12; j++) xv[j] = 1.0f;
  CHECK(run_backward(dev, g, loss, wr, x, xv, msg, sizeof msg) == GS_ERR_NUMERIC);
  CHECK(has(msg, "matmul (node") && has(msg, "backward: gradient of matmul") &&
        has(msg, "in layer head.fc") && has(msg, "Inf"));
  gs_graph_free(g);
  gs_param_free(w);
  gs_param_free(k);
}

/* A finite graph with a concat, an alias and an update: the checked program gives the values
 * and the update of the unchecked one, and launches as many ops. */
static void test_finite(gs_device *dev) {
  gs_param *w = gs_param_new(dev, "w", GS_SHAPE(2, 4), 1);
  float w0[8] = {1, 2, 3, 4, 5, 6, 7, 8}, xv[8] = {0.5f, 1, 1.5f, 2, 2.5f, 3, 3.5f, 4};
  float got[2][16], wgot[2][8];
  size_t launches[2] = {0, 0};
  for (int mode = 0; mode < 2; mode++) {
    CHECK(gs_param_write(w, w0) == GS_OK);
    gs_graph *g = gs_graph_new();
    gs_tensor *x = gs_input(g, "x", GS_F32, GS_SHAPE(2, 4));
    gs_tensor *wr = gs_param_ref(g, w);
    gs_tensor *parts[2] = {gs_exp(g, gs_scale(g, x, 0.1f)), gs_sqrt(g, wr)};
    gs_tensor *cat = gs_concat(g, parts, 2, 1);
    gs_tensor *out = gs_reshape(g, gs_tanh(g, cat), GS_SHAPE(16));
    gs_assign(g, w, gs_add(g, wr, x));
    CHECKF(gs_graph_status(g) == GS_OK, "%s", gs_graph_error(g));
    gs_device_set_detect_anomaly(dev, mode);
    gs_program *p = gs_compile(dev, g, &out, 1);
    CHECKF(p != NULL, "%s", gs_errmsg());
    if (p) {
      CHECK(gs_program_feed(p, x, xv) == GS_OK && gs_program_run(p) == GS_OK);
      CHECK(gs_program_fetch(p, out, got[mode]) == GS_OK);
      CHECK(gs_param_read(w, wgot[mode]) == GS_OK);
      launches[mode] = gs_program_launch_count(p);
    }
    gs_program_free(p);
    gs_graph_free(g);
  }
  gs_device_set_detect_anomaly(dev, 0);
  CHECK(memcmp(got[0], got[1], sizeof got[0]) == 0);
  CHECK(memcmp(wgot[0], wgot[1], sizeof wgot[0]) == 0 && wgot[0][0] == 1.5f);
  CHECK(launches[0] == launches[1] && launches[0] > 0);
  gs_param_free(w);
}

int main(int argc, char **argv) {
  const char *spec = argc > 1 ? argv[1] : "cpu";
  gs_runtime *rt = gs_runtime_open(NULL);
  gs_device *dev = rt ? gs_device_open(rt, spec) : NULL;
  if (!dev) {
    fprintf(stderr, "cannot open %s: %s\n", spec, gs_errmsg());
    gs_runtime_close(rt);
    return 1;
  }
  test_forward(dev);
  test_backward(dev);
  test_backward_matmul(dev);
  test_finite(dev);
  gs_device_close(dev);
  gs_runtime_close(rt);
  return check_summary();
}
