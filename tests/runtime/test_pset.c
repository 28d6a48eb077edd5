/* Params and parameter sets on a device: zero-filled creation, host round trips, and the
 * device-side copy / axpy / axpby / scale / fill / dot / norm against host arithmetic. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gessl/gessl.h"

#define N0 7
#define N1 12

static void read_all(gs_pset *s, float *a, float *b) {
  CHECK(gs_param_read(gs_pset_get(s, 0), a) == GS_OK);
  CHECK(gs_param_read(gs_pset_get(s, 1), b) == GS_OK);
}

static int close_to(const float *x, const float *y, int n) {
  for (int k = 0; k < n; k++)
    if (fabsf(x[k] - y[k]) > 1e-5f * (1 + fabsf(y[k]))) return 0;
  return 1;
}

static void run(gs_runtime *rt, const char *spec) {
  gs_device *dev = gs_device_open(rt, spec);
  CHECKF(dev != NULL, "%s: %s", spec, gs_errmsg());
  if (!dev) return;
  gs_param *a0 = gs_param_new(dev, "a0", GS_SHAPE(N0), 1);
  gs_param *a1 = gs_param_new(dev, "a1", GS_SHAPE(3, 4), 1);
  CHECK(a0 && a1);
  CHECK(gs_device_bytes_in_use(dev) >= (N0 + N1) * 4);
  float z0[N0];
  memset(z0, 0xff, sizeof z0);
  CHECK(gs_param_read(a0, z0) == GS_OK);
  for (int k = 0; k < N0; k++) CHECK(z0[k] == 0.0f); /* zero-filled at creation */
  CHECK(strcmp(gs_param_name(a1), "a1") == 0 && gs_param_shape(a1).rank == 2);
  CHECK(gs_param_device(a1) == dev && gs_param_trainable(a1));

  float x0[N0], x1[N1], y0[N0], y1[N1], r0[N0], r1[N1];
  for (int k = 0; k < N0; k++) x0[k] = 0.5f * (float)k - 1.0f;
  for (int k = 0; k < N1; k++) x1[k] = 0.25f * (float)(k * k % 7) - 0.3f;
  CHECK(gs_param_write(a0, x0) == GS_OK && gs_param_write(a1, x1) == GS_OK);
  gs_pset *A = gs_pset_new();
  CHECK(gs_pset_add(A, a0) == GS_OK && gs_pset_add(A, a1) == GS_OK);
  CHECK(gs_pset_count(A) == 2 && gs_pset_numel(A) == N0 + N1);

  gs_pset *B = gs_pset_clone(A, ".copy", 1);
  CHECK(B && gs_pset_count(B) == 2);
  if (!B) return;
  CHECK(strcmp(gs_param_name(gs_pset_get(B, 0)), "a0.copy") == 0);
  read_all(B, r0, r1);
  CHECK(close_to(r0, x0, N0) && close_to(r1, x1, N1));
  gs_pset *Z = gs_pset_clone(A, ".zero", 0);
  read_all(Z, r0, r1);
  CHECK(r0[0] == 0 && r1[N1 - 1] == 0);

  /* B = 2*B (= 2x); A += 0.5*B (= 2x); B = 3*A - B (= 4x). */
  CHECK(gs_pset_scale(B, 2.0f) == GS_OK);
  CHECK(gs_pset_axpy(A, 0.5f, B) == GS_OK);
  CHECK(gs_pset_axpby(B, 3.0f, A, -1.0f) == GS_OK);
  for (int k = 0; k < N0; k++) y0[k] = 4 * x0[k];
  for (int k = 0; k < N1; k++) y1[k] = 4 * x1[k];
  read_all(B, r0, r1);
  CHECK(close_to(r0, y0, N0) && close_to(r1, y1, N1));
  for (int k = 0; k < N0; k++) y0[k] = 2 * x0[k];
  for (int k = 0; k < N1; k++) y1[k] = 2 * x1[k];
  read_all(A, r0, r1);
  CHECK(close_to(r0, y0, N0) && close_to(r1, y1, N1));

  /* dot(A, B) = 8 |x|^2, norm(A) = 2 |x|. */
  double xx = 0, d = 0, nrm = 0;
  for (int k = 0; k < N0; k++) xx += (double)x0[k] * x0[k];
  for (int k = 0; k < N1; k++) xx += (double)x1[k] * x1[k];
  CHECK(gs_pset_dot(A, B, &d) == GS_OK);
  CHECKF(fabs(d - 8 * xx) < 1e-4 * (1 + 8 * xx), "dot %g want %g", d, 8 * xx);
  CHECK(gs_pset_norm(A, &nrm) == GS_OK);
  CHECKF(fabs(nrm - 2 * sqrt(xx)) < 1e-5 * (1 + nrm), "norm %g want %g", nrm, 2 * sqrt(xx));

  CHECK(gs_pset_copy(A, Z) == GS_OK);
  CHECK(gs_pset_norm(A, &nrm) == GS_OK && nrm == 0);
  CHECK(gs_pset_copy(A, A) == GS_OK); /* onto itself: a no-op */
  CHECK(gs_pset_fill(A, 1.5f) == GS_OK);
  read_all(A, r0, r1);
  CHECK(r0[3] == 1.5f && r1[11] == 1.5f);
  CHECK(gs_param_fill(a0, -2.0f) == GS_OK);
  CHECK(gs_param_read(a0, r0) == GS_OK && r0[N0 - 1] == -2.0f);

  /* Compiled once, run many times: the same operations with other scalars compile nothing. */
  uint64_t before = gs_runtime_compile_count(rt);
  CHECK(gs_pset_axpy(A, 0.25f, B) == GS_OK && gs_pset_axpy(A, -0.25f, B) == GS_OK);
  CHECK(gs_pset_scale(B, 0.5f) == GS_OK && gs_pset_scale(B, 2.0f) == GS_OK);
  CHECK(gs_pset_axpby(B, 1.0f, A, 0.0f) == GS_OK && gs_pset_dot(A, B, &d) == GS_OK);
  CHECK(gs_pset_copy(A, Z) == GS_OK && gs_pset_fill(A, 1.5f) == GS_OK);
  CHECK(gs_param_fill(a0, -2.0f) == GS_OK);
  CHECKF(gs_runtime_compile_count(rt) == before, "%llu programs compiled by repeated calls",
         (unsigned long long)(gs_runtime_compile_count(rt) - before));
  read_all(A, r0, r1);
  CHECK(r0[0] == -2.0f && r1[0] == 1.5f);
  read_all(B, r0, r1);
  CHECK(r0[0] == -2.0f && r1[0] == 1.5f); /* B = 1*A + 0*B */

  /* A param freed and another made (perhaps at the same address) is not served a program that
   * names the old one's buffer. */
  for (int round = 0; round < 3; round++) {
    gs_param *t = gs_param_new(dev, "t", GS_SHAPE(N0), 0);
    gs_pset *T = gs_pset_new();
    gs_pset_add(T, t);
    gs_pset_add(T, a1);
    CHECK(gs_pset_fill(T, (float)round) == GS_OK && gs_pset_axpy(T, 1.0f, A) == GS_OK);
    CHECK(gs_param_read(t, r0) == GS_OK);
    CHECKF(r0[N0 - 1] == (float)round - 2.0f, "round %d: %g", round, r0[N0 - 1]);
    gs_pset_free(T);
    gs_param_free(t);
  }

  /* Mismatched sets are refused with the shapes named. */
  gs_pset *C = gs_pset_new();
  gs_param *c0 = gs_param_new(dev, "c0", GS_SHAPE(N0 + 1), 0);
  gs_pset_add(C, c0);
  CHECK(gs_pset_copy(A, C) == GS_ERR_SHAPE);
  gs_pset_add(C, a1);
  CHECK(gs_pset_axpy(A, 1.0f, C) == GS_ERR_SHAPE);
  CHECK(strstr(gs_errmsg(), "c0") && strstr(gs_errmsg(), "[8]"));
  gs_pset_free(C);
  gs_param_free(c0);

  gs_pset_free_params(B);
  gs_pset_free_params(Z);
  gs_pset_free(A);
  gs_device_close(dev); /* frees a0, a1 */
}

int main(int argc, char **argv) {
  gs_runtime_options opt = {GESSL_TESTPLUG_DIR, 1, NULL};
  gs_runtime *rt = gs_runtime_open(&opt);
  CHECK(rt != NULL);
  if (argc > 1)
    for (int k = 1; k < argc; k++) run(rt, argv[k]);
  else
    run(rt, "testbe:0");
  gs_runtime_close(rt);
  return check_summary();
}
