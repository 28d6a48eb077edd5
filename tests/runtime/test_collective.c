/* Collective graph ops in a world of one (a single process): gs_all_reduce and gs_all_gather are
 * the identity and add no node; a gradient bucket's all-reduce (which does add a node) cuts the
 * program into segments around a host-side collective, and values and gradients come out as
 * without it, over several runs. Run per device spec given on the command line. */
#include <math.h>
#include <stdio.h>

#include "check.h"
#include "gessl/gessl.h"
#include "ops_impl.h"

static void test_identity(void) {
  gs_graph *g = gs_graph_new();
  gs_tensor *x = gs_input(g, "x", GS_F32, GS_SHAPE(6, 3));
  CHECK(gs_world_size() == 1 && gs_world_rank() == 0);
  CHECK(gs_all_reduce(g, x, 1) == x);
  CHECK(gs_all_gather(g, x, 2) == x);
  /* Rows that do not split into the chunks are an error even in a world of one. */
  CHECK(gs_all_gather(g, x, 4) == NULL && gs_graph_status(g) == GS_ERR_SHAPE);
  gs_graph_free(g);
  float v[3] = {1, 2, 3};
  CHECK(gs_world_all_reduce(v, 3, GS_COMM_SUM) == GS_OK && v[2] == 3.0f);
}

/* z = 3 * allreduce_mean([relu(a), 2w]) in one bucket; loss = sum(z * c). */
static void test_bucket(gs_device *dev) {
  gs_param *w = gs_param_new(dev, "w", GS_SHAPE(5), 1);
  float w0[5] = {0.5f, -1.0f, 2.0f, 0.0f, 3.0f};
  CHECK(gs_param_write(w, w0) == GS_OK);
  gs_graph *g = gs_graph_new();
  gs_tensor *a = gs_input(g, "a", GS_F32, GS_SHAPE(3, 4));
  gs_tensor *wr = gs_param_ref(g, w);
  gs_tensor *parts[2] = {gs_relu(g, a), gs_scale(g, wr, 2.0f)};
  gs_tensor *flat = gs_op_all_reduce_flat(g, parts, 2, 1);
  gs_tensor *z = gs_scale(g, flat, 3.0f);
  gs_tensor *c = gs_input(g, "c", GS_F32, GS_SHAPE(17));
  gs_tensor *loss = gs_sum_all(g, gs_mul(g, z, c));
  gs_tensor *grad = NULL;
  CHECK(gs_grad(g, loss, &wr, 1, &grad) == GS_OK);
  CHECKF(gs_graph_status(g) == GS_OK, "%s", gs_graph_error(g));
  gs_tensor *outs[3] = {z, loss, grad};
  gs_program *p = gs_compile(dev, g, outs, 3);
  CHECKF(p != NULL, "compile: %s", gs_errmsg());
  for (int run = 0; p && run < 3; run++) {
    float av[12], cv[17], zv[17], lv = 0, gv[5];
    for (int k = 0; k < 12; k++) av[k] = 0.25f * (float)(k - 5 + run);
    for (int k = 0; k < 17; k++) cv[k] = 1.0f + 0.5f * (float)((k + run) % 3);
    CHECK(gs_program_feed(p, a, av) == GS_OK && gs_program_feed(p, c, cv) == GS_OK);
    CHECKF(gs_program_run(p) == GS_OK, "run: %s", gs_errmsg());
    CHECK(gs_program_fetch(p, z, zv) == GS_OK && gs_program_fetch(p, loss, &lv) == GS_OK &&
          gs_program_fetch(p, grad, gv) == GS_OK);
    double want_loss = 0;
    for (int k = 0; k < 17; k++) {
      float want = 3.0f * (k < 12 ? (av[k] > 0 ? av[k] : 0) : 2.0f * w0[k - 12]);
      CHECKF(fabsf(zv[k] - want) < 1e-5f, "run %d z[%d] %g want %g", run, k, zv[k], want);
      want_loss += (double)want * cv[k];
    }
    CHECKF(fabs(lv - want_loss) < 1e-4 * fabs(want_loss), "run %d loss %g want %g", run, lv,
           want_loss);
    for (int k = 0; k < 5; k++)
      CHECKF(fabsf(gv[k] - 6.0f * cv[12 + k]) < 1e-5f, "run %d grad[%d] %g want %g", run, k, gv[k],
             6.0f * cv[12 + k]);
  }
  gs_program_free(p);
  gs_graph_free(g);
  gs_param_free(w);
}

int main(int argc, char **argv) {
  gs_runtime_options opt = {GESSL_TESTPLUG_DIR, 1, NULL};
  gs_runtime *rt = gs_runtime_open(&opt);
  CHECK(rt != NULL);
  test_identity();
  const char *dflt[] = {"prog", "cpu"};
  if (argc < 2) argc = 2, argv = (char **)dflt;
  for (int k = 1; k < argc; k++) {
    gs_device *dev = gs_device_open(rt, argv[k]);
    CHECKF(dev != NULL, "%s: %s", argv[k], gs_errmsg());
    if (!dev) continue;
    test_bucket(dev);
    gs_device_close(dev);
  }
  gs_runtime_close(rt);
  return check_summary();
}
