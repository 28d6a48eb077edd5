/* Harness of the CPU backend launch tests: the loaded plugin, seeded random data, and run(),
 * which puts every operand in its own buffer between guard words, runs one launch and checks
 * that nothing outside the output (and the inputs written in place) changed. Included once, by
 * test_backend_cpu.c, so the CHECK counters of check.h stay in one translation unit. */
#ifndef GESSL_TEST_CPU_HARNESS_H
#define GESSL_TEST_CPU_HARNESS_H

#include "check.h"

#include <gessl/backend.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const gs_backend_iface *B;
static gs_bdev *dev;

#define G 17 /* guard words on each side of every operand */
static const uint32_t GUARD = 0x7fc0deadu;
static const double TOL = 1e-5;

/* ---- random numbers (fixed seed, so failures reproduce) ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 11);
}
static float frand(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() % 1000001) / 1e6f; }
static int64_t rdim(void) {
  static const int64_t d[] = {1, 2, 3, 4, 5, 7, 11, 13};
  return d[rnd() % 8];
}
static float *frandv(int64_t n, float lo, float hi) {
  float *v = malloc((size_t)(n ? n : 1) * sizeof(float));
  for (int64_t i = 0; i < n; i++) v[i] = frand(lo, hi);
  return v;
}
static double *dalloc(int64_t n) { return calloc((size_t)(n ? n : 1), sizeof(double)); }

/* ---- launches and running them ---- */

static gs_launch mk(gs_opcode op, int n_in) {
  gs_launch l;
  memset(&l, 0, sizeof l);
  l.op = op, l.n_in = n_in;
  return l;
}
static gs_tdesc td(gs_shape s) { return (gs_tdesc){GS_F32, s}; }
static gs_tdesc tdi(gs_shape s) { return (gs_tdesc){GS_I32, s}; }
static int64_t numel(const gs_tdesc *d) { return gs_shape_numel(&d->shape); }

static gs_bbuf *put(const void *data, int64_t n) {
  size_t words = (size_t)n + 2 * G;
  uint32_t *tmp = malloc(words * 4);
  for (size_t i = 0; i < words; i++) tmp[i] = GUARD;
  if (n) memcpy(tmp + G, data, (size_t)n * 4);
  gs_bbuf *b = NULL;
  gs_status s = B->buf_alloc(dev, words * 4, &b);
  CHECK(s == GS_OK);
  if (s == GS_OK) B->buf_write(dev, b, 0, tmp, words * 4);
  free(tmp);
  return b;
}

/* Reads back a buffer made by put: 1 if the guards hold and, when `expect` is given, the body
 * equals it; the body goes to `body` when given. */
static int take(gs_bbuf *b, int64_t n, const void *expect, void *body) {
  size_t words = (size_t)n + 2 * G;
  uint32_t *tmp = malloc(words * 4);
  B->buf_read(dev, b, 0, tmp, words * 4);
  int ok = 1;
  for (size_t i = 0; i < G; i++) ok &= tmp[i] == GUARD && tmp[G + (size_t)n + i] == GUARD;
  if (expect && n && memcmp(tmp + G, expect, (size_t)n * 4) != 0) ok = 0;
  if (body && n) memcpy(body, tmp + G, (size_t)n * 4);
  free(tmp);
  return ok;
}

/* Runs one launch. ins[k] are host arrays for the inputs; `out` holds the output's initial
 * contents and receives the result. alias >= 0: the output is input `alias` (in place).
 * Inputs in the `written` mask are read back into ins[k] too. */
static void run(gs_launch *l, void **ins, void *out, int alias, unsigned written) {
  gs_bbuf *bufs[GS_LAUNCH_MAX_IN] = {0}, *ob = NULL;
  for (int k = 0; k < l->n_in; k++) {
    bufs[k] = put(ins[k], numel(&l->in_desc[k]));
    l->in[k] = (gs_bref){bufs[k], G};
  }
  int64_t on = numel(&l->out_desc);
  if (alias >= 0) {
    l->out = l->in[alias];
  } else {
    ob = put(out, on);
    l->out = (gs_bref){ob, G};
  }
  CHECKF(B->supports(dev, l) == 1, "supports(%s) is 0", gs_opcode_name(l->op));
  gs_bprog *p = NULL;
  gs_status s = B->prog_compile(dev, l, 1, &p);
  CHECKF(s == GS_OK, "compile %s: %s", gs_opcode_name(l->op), gs_errmsg());
  if (s == GS_OK) {
    CHECK(B->prog_run(dev, p) == GS_OK);
    CHECK(B->sync(dev) == GS_OK);
    B->prog_free(dev, p);
  }
  int ok = 1;
  for (int k = 0; k < l->n_in; k++) {
    int64_t n = numel(&l->in_desc[k]);
    if (k == alias)
      ok &= take(bufs[k], n, NULL, out);
    else if (written >> k & 1)
      ok &= take(bufs[k], n, NULL, ins[k]);
    else
      ok &= take(bufs[k], n, ins[k], NULL);
    B->buf_free(dev, bufs[k]);
  }
  if (ob) {
    ok &= take(ob, on, NULL, out);
    B->buf_free(dev, ob);
  }
  CHECKF(ok, "%s: a guard word or a read-only input was overwritten", gs_opcode_name(l->op));
}

static void expect_close(const char *what, const float *got, const double *ref, int64_t n) {
  double md = 0, mr = 0;
  int bad = 0;
  for (int64_t i = 0; i < n; i++) {
    if (isnan(got[i]) != isnan(ref[i])) bad = 1;
    if (isnan(ref[i])) continue;
    double d = fabs((double)got[i] - ref[i]);
    if (d > md) md = d;
    if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
  }
  double rel = md / (mr > 1e-6 ? mr : 1e-6);
  CHECKF(!bad && rel <= TOL, "%s: relative error %.3g (max |ref| %.3g)%s", what, rel, mr,
         bad ? ", NaN mismatch" : "");
}

/* Row-major unravel / ravel with broadcasting (dims of size 1 in `s` index 0). */
static void unravel(const gs_shape *s, int64_t i, int64_t *ix) {
  for (int k = s->rank - 1; k >= 0; k--) ix[k] = i % s->dim[k], i /= s->dim[k];
}
static int64_t ravel_b(const gs_shape *s, const int64_t *ix) {
  int64_t o = 0;
  for (int k = 0; k < s->rank; k++) o = o * s->dim[k] + (s->dim[k] == 1 ? 0 : ix[k]);
  return o;
}
static gs_shape rshape(int rank) {
  gs_shape s = {rank, {0}};
  for (int k = 0; k < rank; k++) s.dim[k] = rdim();
  return s;
}

#endif
