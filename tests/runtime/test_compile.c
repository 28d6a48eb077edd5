/* gs_compile and programs on real devices: a chain whose planned peak is below the naive sum,
 * outputs that survive the plan, sinks that update params, reruns with new inputs, reshape
 * aliases, concat, dropped inputs, a program that outlives its graph, and clear errors for an
 * unsupported op and for a tensor above the device's allocation limit. Run per device spec given
 * on the command line. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "gessl/gessl.h"

#define N 64

static int close_to(const float *x, const float *y, int n) {
  for (int k = 0; k < n; k++)
    if (fabsf(x[k] - y[k]) > 1e-5f * (1 + fabsf(y[k]))) return 0;
  return 1;
}

/* y = relu(2*(x + c) - 1) repeated, with the step-2 value also an output. */
static void test_chain(gs_device *dev) {
  gs_graph *g = gs_graph_new();
  gs_tensor *x = gs_input(g, "x", GS_F32, GS_SHAPE(N));
  gs_tensor *c = gs_fill(g, GS_SHAPE(N), 0.25f);
  gs_tensor *h = x, *mid = NULL;
  for (int s = 0; s < 6; s++) {
    h = gs_relu(g, gs_affine(g, gs_add(g, h, c), 2.0f, -1.0f));
    if (s == 2) mid = h;
  }
  gs_tensor *unused = gs_input(g, "unused", GS_F32, GS_SHAPE(3));
  (void)unused;
  CHECKF(gs_graph_status(g) == GS_OK, "%s", gs_graph_error(g));
  gs_tensor *outs[2] = {h, mid};
  gs_program *p = gs_compile(dev, g, outs, 2);
  CHECKF(p != NULL, "compile: %s", gs_errmsg());
  if (!p) {
    gs_graph_free(g);
    return;
  }
  CHECKF(gs_program_peak_bytes(p) < gs_program_naive_bytes(p), "peak %zu naive %zu",
         gs_program_peak_bytes(p), gs_program_naive_bytes(p));
  CHECK(gs_program_launch_count(p) >= 13);
  CHECK(gs_program_has_input(p, "x") && !gs_program_has_input(p, "unused"));
  CHECK(gs_program_feed_name(p, "unused", (float[3]){0}) == GS_OK);
  CHECK(gs_program_feed_name(p, "nosuch", (float[3]){0}) != GS_OK);
  for (int run = 0; run < 2; run++) {
    float xv[N], want[N], wmid[N], got[N], gmid[N];
    for (int k = 0; k < N; k++) {
      xv[k] = 0.01f * (float)((k * 7 + run * 13) % N) - 0.2f;
      float v = xv[k];
      for (int s = 0; s < 6; s++) {
        v = 2.0f * (v + 0.25f) - 1.0f;
        v = v > 0 ? v : 0;
        if (s == 2) wmid[k] = v;
      }
      want[k] = v;
    }
    CHECK(gs_program_feed(p, x, xv) == GS_OK);
    CHECK(gs_program_run(p) == GS_OK);
    CHECK(gs_program_fetch(p, h, got) == GS_OK && gs_program_fetch(p, mid, gmid) == GS_OK);
    CHECKF(close_to(got, want, N), "run %d: out[1] %g want %g", run, got[1], want[1]);
    CHECKF(close_to(gmid, wmid, N), "run %d: mid[1] %g want %g", run, gmid[1], wmid[1]);
  }
  gs_program_free(p);
  gs_graph_free(g);
}

/* out = x + w (before the update), then w := 0.5 * out. The program outlives its graph. */
static void test_sink(gs_device *dev) {
  gs_param *w = gs_param_new(dev, "w", GS_SHAPE(4, 4), 1);
  float w0[16], xv[16], got[16], wv[16];
  for (int k = 0; k < 16; k++) w0[k] = (float)k, xv[k] = 1.0f;
  CHECK(gs_param_write(w, w0) == GS_OK);
  gs_graph *g = gs_graph_new();
  gs_tensor *x = gs_input(g, "x", GS_F32, GS_SHAPE(4, 4));
  gs_tensor *out = gs_add(g, x, gs_param_ref(g, w));
  gs_assign(g, w, gs_scale(g, out, 0.5f));
  CHECKF(gs_graph_status(g) == GS_OK, "%s", gs_graph_error(g));
  gs_program *p = gs_compile(dev, g, &out, 1);
  CHECKF(p != NULL, "compile: %s", gs_errmsg());
  gs_graph_free(g); /* out stays valid as a key only */
  if (!p) return;
  CHECK(gs_program_feed_name(p, "x", xv) == GS_OK);
  for (int run = 0; run < 2; run++) {
    CHECK(gs_program_run(p) == GS_OK);
    CHECK(gs_program_fetch(p, out, got) == GS_OK);
    CHECK(gs_param_read(w, wv) == GS_OK);
    float expect_out[16], expect_w[16];
    for (int k = 0; k < 16; k++) {
      expect_out[k] = xv[k] + w0[k];
      expect_w[k] = 0.5f * expect_out[k];
    }
    CHECKF(close_to(got, expect_out, 16), "run %d out[3] %g", run, got[3]);
    CHECKF(close_to(wv, expect_w, 16), "run %d w[3] %g", run, wv[3]);
    memcpy(w0, expect_w, sizeof w0);
  }
  gs_program_free(p);
  gs_param_free(w);
}

/* Reshape aliases read and written through, and a concat lowered to inserts. */
static void test_alias_concat(gs_device *dev) {
  gs_graph *g = gs_graph_new();
  gs_tensor *x = gs_input(g, "x", GS_F32, GS_SHAPE(2, 3));
  gs_tensor *r = gs_reshape(g, gs_relu(g, x), GS_SHAPE(3, 2));
  gs_tensor *y = gs_add(g, r, gs_fill(g, GS_SHAPE(3, 2), 1.0f));
  gs_tensor *parts[2] = {x, gs_scale(g, x, 10.0f)};
  gs_tensor *cat = gs_concat(g, parts, 2, 0);
  gs_tensor *flat = gs_reshape(g, cat, GS_SHAPE(12));
  CHECKF(gs_graph_status(g) == GS_OK, "%s", gs_graph_error(g));
  gs_tensor *outs[3] = {y, r, flat};
  gs_program *p = gs_compile(dev, g, outs, 3);
  CHECKF(p != NULL, "compile: %s", gs_errmsg());
  if (p) {
    float xv[6] = {-1, 2, -3, 4, 5, -6}, gy[6], gr[6], gc[12];
    CHECK(gs_program_feed(p, x, xv) == GS_OK);
    CHECK(gs_program_run(p) == GS_OK);
    CHECK(gs_program_fetch(p, y, gy) == GS_OK);
    CHECK(gs_program_fetch(p, r, gr) == GS_OK);
    CHECK(gs_program_fetch(p, flat, gc) == GS_OK);
    for (int k = 0; k < 6; k++) {
      float rv = xv[k] > 0 ? xv[k] : 0;
      CHECK(gr[k] == rv && gy[k] == rv + 1);
      CHECK(gc[k] == xv[k] && gc[6 + k] == 10 * xv[k]);
    }
    CHECK(gs_program_fetch(p, x, gy) != GS_OK); /* not an output */
    gs_program_free(p);
  }
  gs_graph_free(g);
}

/* A graph with an error, and an op the backend does not run, fail with clear messages. */
static void test_errors(gs_device *dev) {
  gs_graph *g = gs_graph_new();
  gs_tensor *a = gs_input(g, "a", GS_F32, GS_SHAPE(2, 3));
  gs_tensor *bad = gs_add(g, a, gs_input(g, "b", GS_F32, GS_SHAPE(4)));
  CHECK(bad == NULL);
  CHECK(gs_compile(dev, g, &a, 1) == NULL && strstr(gs_errmsg(), "add") != NULL);
  gs_graph_free(g);
  if (strcmp(gs_device_backend_name(dev), "testbe") != 0) return;
  g = gs_graph_new();
  a = gs_input(g, "a", GS_F32, GS_SHAPE(2, 3));
  gs_tensor *m = gs_matmul(g, a, a, 0, 1);
  CHECKF(m != NULL, "%s", gs_graph_error(g));
  CHECK(gs_compile(dev, g, &m, 1) == NULL);
  CHECKF(strstr(gs_errmsg(), "matmul") && strstr(gs_errmsg(), "testbe") &&
             strstr(gs_errmsg(), "[1, 2, 3]"),
         "%s", gs_errmsg());
  gs_graph_free(g);
}

/* testbe's device 1 allows 4096-byte buffers: a plan that needs more is split, a tensor above
 * the limit is refused with its size. */
static void test_alloc_limit(gs_device *dev) {
  uint64_t cap = gs_device_get_info(dev)->max_alloc_bytes;
  if (cap == 0 || cap > 65536) return;
  gs_graph *g = gs_graph_new();
  gs_tensor *x = gs_input(g, "x", GS_F32, GS_SHAPE(256));
  gs_tensor *outs[6];
  gs_tensor *h = x;
  for (int k = 0; k < 6; k++) outs[k] = h = gs_add_scalar(g, h, 1.0f);
  gs_program *p = gs_compile(dev, g, outs, 6);
  CHECKF(p != NULL, "%s", gs_errmsg());
  if (p) {
    float xv[256], got[256];
    for (int k = 0; k < 256; k++) xv[k] = (float)k;
    CHECK(gs_program_feed(p, x, xv) == GS_OK && gs_program_run(p) == GS_OK);
    for (int k = 0; k < 6; k++) {
      CHECK(gs_program_fetch(p, outs[k], got) == GS_OK);
      CHECK(got[17] == 17.0f + (float)(k + 1) && got[255] == 255.0f + (float)(k + 1));
    }
    gs_program_free(p);
  }
  gs_graph_free(g);
  g = gs_graph_new();
  x = gs_input(g, "x", GS_F32, GS_SHAPE(2048));
  h = gs_add_scalar(g, x, 1.0f);
  CHECK(gs_compile(dev, g, &h, 1) == NULL);
  CHECKF(strstr(gs_errmsg(), "8192 bytes") && strstr(gs_errmsg(), gs_device_get_info(dev)->name),
         "%s", gs_errmsg());
  gs_graph_free(g);
}

/* A program outlives its graph. Another graph, allocated after the first is freed (often at the
 * same addresses), has tensors that are not the program's inputs or outputs: feeding or fetching
 * them is refused rather than served from the dead graph's slots. Feeding by name still works. */
static void test_stale_graph(gs_device *dev) {
  gs_graph *g1 = gs_graph_new();
  gs_tensor *x1 = gs_input(g1, "x", GS_F32, GS_SHAPE(4));
  gs_tensor *y1 = gs_scale(g1, x1, 3.0f);
  gs_program *p = gs_compile(dev, g1, &y1, 1);
  CHECKF(p != NULL, "%s", gs_errmsg());
  const void *old_x = x1, *old_y = y1, *old_g = g1;
  gs_graph_free(g1);
  gs_graph *g2 = gs_graph_new();
  gs_tensor *x2 = gs_input(g2, "x", GS_F32, GS_SHAPE(4));
  gs_tensor *y2 = gs_scale(g2, x2, 3.0f);
  printf("stale graph: addresses %s\n",
         (const void *)g2 == old_g && (const void *)x2 == old_x && (const void *)y2 == old_y
             ? "reused"
             : "not reused");
  float in[4] = {1, 2, 3, 4}, out[4] = {0};
  if (p) {
    CHECK(gs_program_feed(p, x2, in) == GS_ERR_INVALID);
    CHECK(gs_program_fetch(p, y2, out) == GS_ERR_INVALID);
    CHECK(gs_program_feed_name(p, "x", in) == GS_OK && gs_program_run(p) == GS_OK);
  }
  gs_program *q = gs_compile(dev, g2, &y2, 1);
  CHECKF(q != NULL, "%s", gs_errmsg());
  if (q) {
    CHECK(gs_program_feed(q, x2, in) == GS_OK && gs_program_run(q) == GS_OK);
    CHECK(gs_program_fetch(q, y2, out) == GS_OK && out[3] == 12.0f);
  }
  gs_program_free(q);
  gs_program_free(p);
  gs_graph_free(g2);
}

int main(int argc, char **argv) {
  gs_runtime_options opt = {GESSL_TESTPLUG_DIR, 1, NULL};
  gs_runtime *rt = gs_runtime_open(&opt);
  CHECK(rt != NULL);
  const char *dflt[] = {"prog", "testbe:0"};
  if (argc < 2) argc = 2, argv = (char **)dflt;
  for (int k = 1; k < argc; k++) {
    gs_device *dev = gs_device_open(rt, argv[k]);
    CHECKF(dev != NULL, "%s: %s", argv[k], gs_errmsg());
    if (!dev) continue;
    test_chain(dev);
    test_sink(dev);
    test_alias_concat(dev);
    test_errors(dev);
    test_alloc_limit(dev);
    test_stale_graph(dev);
    /* A program left open is freed with its device. */
    gs_graph *g = gs_graph_new();
    gs_tensor *x = gs_input(g, "x", GS_F32, GS_SHAPE(5));
    gs_tensor *y = gs_scale(g, x, 2.0f);
    CHECK(gs_compile(dev, g, &y, 1) != NULL);
    gs_graph_free(g);
    gs_device_close(dev);
  }
  gs_runtime_close(rt);
  return check_summary();
}
