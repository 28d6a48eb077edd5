/* The conformance engine: loads two backend plugins, runs each case on both, compares.
 *
 * Every operand gets its own buffer laid out as [guard | data | guard] and is passed with a
 * non-zero element offset, so a kernel that ignores offsets or writes past its region is caught:
 * the guards must come back unchanged. In-place results are compared as updates (after minus
 * before), so a small optimizer step is not hidden by the size of the weights. */
#include "conform_impl.h"

#include "gessl/runtime.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define GUARD 7 /* elements before and after each region; odd, so offsets are unaligned */
#define NOPER (GS_LAUNCH_MAX_IN + 1)

typedef struct cf_backend {
  gs_runtime *rt; /* each side has its own, so a backend can be checked against itself */
  const gs_backend_iface *b;
  gs_backend *ctx;
  gs_bdev *dev;
  char label[320];
  int index;           /* the device opened, -1 before */
  gs_device_info info; /* its facts */
  char why[512];       /* why it did not open */
} cf_backend;

/* Records why a backend did not open, prints it, and returns -1. */
static int open_fail(cf_backend *be, FILE *out, const char *fmt, ...) GS_PRINTF(3, 4);
static int open_fail(cf_backend *be, FILE *out, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(be->why, sizeof be->why, fmt, ap);
  va_end(ap);
  fprintf(out, "%s\n", be->why);
  return -1;
}

static int ci_contains(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (const char *h = hay; *h; h++) {
    size_t i = 0;
    while (i < n && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i])) i++;
    if (i == n) return 1;
  }
  return n == 0;
}

/* Loads a plugin and opens the device named by `sel` (index or name/vendor substring); with no
 * `sel`, a device named "*-reference" when `reference` is set, else device 0. */
static int open_backend(const char *path, const char *sel, int reference, cf_backend *be,
                        FILE *out) {
  memset(be, 0, sizeof *be);
  be->index = -1;
  gs_runtime_options o = {.plugin_path = path};
  be->rt = gs_runtime_open(&o);
  if (!be->rt) {
    return open_fail(be, out, "cannot load %s: %s", path, gs_errmsg());
  }
  int bi = gs_runtime_backend_from(be->rt, path);
  if (bi < 0) {
    return open_fail(be, out, "cannot load %s: %s", path, gs_errmsg());
  }
  be->b = gs_runtime_backend(be->rt, bi);
  be->ctx = gs_runtime_backend_context(be->rt, bi);
  int n = 0;
  char why[256] = "";
  if (be->b->probe(be->ctx, &n, why, sizeof why) != GS_OK || n == 0) {
    return open_fail(be, out, "%s: no device: %s%s%s", be->b->name, why, *why ? "; " : "",
                     gs_errmsg());
  }
  int pick = -1;
  gs_device_info info;
  char *end = NULL;
  long idx = sel && *sel ? strtol(sel, &end, 10) : 0;
  if (!sel || !*sel || (end && *end == 0)) {
    pick = (int)idx;
    for (int i = 0; i < n && reference && (!sel || !*sel); i++)
      if (be->b->device_info(be->ctx, i, &info) == GS_OK && ci_contains(info.name, "-reference"))
        pick = i;
    if (pick < 0 || pick >= n) {
      return open_fail(be, out, "%s: device index %ld out of range (%d devices)", be->b->name, idx,
                       n);
    }
  } else {
    for (int i = 0; i < n && pick < 0; i++)
      if (be->b->device_info(be->ctx, i, &info) == GS_OK &&
          (ci_contains(info.name, sel) || ci_contains(info.vendor, sel) ||
           ci_contains(info.driver, sel) || ci_contains(info.extra, sel)))
        pick = i;
    if (pick < 0) {
      fprintf(out, "%s: no device matches \"%s\"; devices:\n", be->b->name, sel);
      for (int i = 0; i < n; i++)
        if (be->b->device_info(be->ctx, i, &info) == GS_OK)
          fprintf(out, "  %d: %s (%s)\n", i, info.name, info.vendor);
      return open_fail(be, out, "%s: no device matches \"%s\"", be->b->name, sel);
    }
  }
  if (be->b->device_info(be->ctx, pick, &info) != GS_OK) {
    return open_fail(be, out, "%s: device %d: %s", be->b->name, pick, gs_errmsg());
  }
  if (!info.available) {
    return open_fail(be, out, "%s: device %d (%s) unavailable: %s", be->b->name, pick, info.name,
                     info.why);
  }
  if (be->b->open(be->ctx, pick, &be->dev) != GS_OK) {
    return open_fail(be, out, "%s: cannot open device %d (%s): %s", be->b->name, pick, info.name,
                     gs_errmsg());
  }
  be->index = pick;
  be->info = info;
  snprintf(be->label, sizeof be->label, "%s:%d %s | %s", be->b->name, pick, info.name, info.driver);
  return 0;
}

static void close_backend(cf_backend *be) {
  if (!be) return;
  if (be->dev) be->b->close(be->dev);
  gs_runtime_close(be->rt); /* plugins stay mapped: drivers may run exit-time hooks */
}

/* ---- data ---- */

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ULL;
}
static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) / 9007199254740992.0; }

static float guard_value(int operand, size_t j) {
  return 1234.5f + (float)(operand * 100) + (float)j; /* never a plausible result */
}

static float host_unary(int fn, float x, float a, float b) {
  switch (fn) {
  case GS_UN_AFFINE: return a * x + b;
  case GS_UN_EXP: return expf(x);
  case GS_UN_LOG: return logf(x);
  case GS_UN_SQRT: return sqrtf(x);
  case GS_UN_RSQRT: return 1.0f / sqrtf(x);
  case GS_UN_SQUARE: return x * x;
  case GS_UN_ABS: return fabsf(x);
  case GS_UN_RELU: return x > 0 ? x : 0;
  case GS_UN_SIGMOID: return 1.0f / (1.0f + expf(-x));
  case GS_UN_TANH: return tanhf(x);
  case GS_UN_RECIP: return 1.0f / x;
  }
  return 0;
}

static void gen_values(cf_gen g, float lo, float hi, size_t n, float *dst, uint64_t *rs) {
  for (size_t j = 0; j < n; j++) {
    double u = rng_unit(rs);
    switch (g) {
    case CF_UNIFORM: dst[j] = (float)(lo + (hi - lo) * u); break;
    case CF_SMALLINT: dst[j] = (float)floor(lo + (hi - lo + 1) * u); break;
    case CF_AWAY0: dst[j] = (float)(lo + (hi - lo) * u) * (rng_next(rs) & 1 ? 1.0f : -1.0f); break;
    case CF_INT: {
      int32_t v = (int32_t)floor(lo + (hi - lo + 1) * u);
      memcpy(&dst[j], &v, 4);
      break;
    }
    case CF_FORWARD: dst[j] = 0; break;
    }
  }
}

static void gen_input(const cf_case *c, int k, float *dst, const float *in0, uint64_t *rs) {
  size_t n = (size_t)gs_shape_numel(&c->l.in_desc[k].shape);
  if (c->gen[k] != CF_FORWARD) {
    gen_values(c->gen[k], c->lo[k], c->hi[k], n, dst, rs);
    return;
  }
  for (size_t j = 0; j < n; j++) dst[j] = host_unary(c->l.i[0], in0[j], c->l.f[0], c->l.f[1]);
}

/* ---- running one case on one backend ---- */

typedef struct cf_state {
  size_t n[NOPER];   /* data elements per operand (out = index n_in) */
  float *img[NOPER]; /* host image: guard | data | guard */
} cf_state;

/* Runs c on be with the operand images of st (inputs and prefilled out); on return res[k] holds
 * the images read back for every operand that the launch writes. */
static int run_on(cf_backend *be, const cf_case *c, const cf_state *st, int runs, float **res,
                  char *err, size_t errlen) {
  gs_launch l = c->l;
  int nin = l.n_in;
  gs_bbuf *bufs[NOPER] = {0};
  int rc = -1;
  for (int k = 0; k <= nin; k++) {
    if (k == nin && c->alias >= 0) break;
    size_t bytes = (st->n[k] + 2 * GUARD) * sizeof(float);
    if (be->b->buf_alloc(be->dev, bytes, &bufs[k]) != GS_OK ||
        be->b->buf_write(be->dev, bufs[k], 0, st->img[k], bytes) != GS_OK) {
      snprintf(err, errlen, "buffer: %s", gs_errmsg());
      goto done;
    }
  }
  for (int k = 0; k < nin; k++) l.in[k] = (gs_bref){bufs[k], GUARD};
  l.out = (gs_bref){bufs[c->alias >= 0 ? c->alias : nin], GUARD};
  char why[256];
  if (!gs_launch_check(&l, why, sizeof why)) {
    snprintf(err, errlen, "case breaks its opcode's contract: %s", why);
    goto done;
  }
  if (!be->b->supports(be->dev, &l)) {
    snprintf(err, errlen, "launch not supported");
    goto done;
  }
  gs_bprog *p = NULL;
  if (be->b->prog_compile(be->dev, &l, 1, &p) != GS_OK) {
    snprintf(err, errlen, "compile: %s", gs_errmsg());
    goto done;
  }
  for (int r = 0; r < runs; r++)
    if (be->b->prog_run(be->dev, p) != GS_OK) {
      snprintf(err, errlen, "run: %s", gs_errmsg());
      be->b->prog_free(be->dev, p);
      goto done;
    }
  rc = 0;
  for (int k = 0; k <= nin && rc == 0; k++) {
    int wr = k == nin ? c->alias < 0 : (c->written[k] || c->alias == k);
    if (!wr) continue;
    size_t bytes = (st->n[k] + 2 * GUARD) * sizeof(float);
    res[k] = malloc(bytes);
    if (!res[k] || be->b->buf_read(be->dev, bufs[k], 0, res[k], bytes) != GS_OK) {
      snprintf(err, errlen, "read: %s", res[k] ? gs_errmsg() : "out of memory");
      rc = -1;
    }
  }
  be->b->prog_free(be->dev, p);
done:
  for (int k = 0; k < NOPER; k++)
    if (bufs[k]) be->b->buf_free(be->dev, bufs[k]);
  return rc;
}

/* ---- comparison ---- */

typedef struct cf_cmp {
  double num, den; /* sum (a-b)^2, sum a^2 over finite reference values */
  size_t bad_nonfinite, bad_guard, first_bad;
} cf_cmp;

static void compare(const float *before, const float *ref, const float *got, size_t n, int delta,
                    int is_int, cf_cmp *c) {
  for (size_t j = 0; j < GUARD; j++) {
    float g0, g1;
    memcpy(&g0, &got[j], 4);
    memcpy(&g1, &got[GUARD + n + j], 4);
    if (memcmp(&g0, &before[j], 4) || memcmp(&g1, &before[GUARD + n + j], 4)) c->bad_guard++;
  }
  for (size_t j = 0; j < n; j++) {
    size_t at = GUARD + j;
    if (is_int) {
      int32_t a, b;
      memcpy(&a, &ref[at], 4);
      memcpy(&b, &got[at], 4);
      c->num += (double)(a - b) * (a - b);
      c->den += (double)a * a;
      continue;
    }
    double a = ref[at], b = got[at], b0 = before[at];
    if (!isfinite(a)) {
      if (!(isnan(a) ? isnan(b) : a == b)) c->bad_nonfinite++;
      continue;
    }
    if (!isfinite(b)) {
      if (!c->bad_nonfinite) c->first_bad = j;
      c->bad_nonfinite++;
      continue;
    }
    if (delta && isfinite(b0)) {
      a -= b0; /* in-place: compare the update */
      b -= b0;
    }
    c->num += (a - b) * (a - b);
    c->den += a * a;
  }
}

/* The end of a case or chain: its line of the report, then its host images freed (n operands:
 * the images before the run, the reference's and the device's results); returns ok. err not
 * empty: it could not be compared, and err says why. kind goes before the label ("chain "). */
static int finish(FILE *out, const char *kind, const char *label, double bound, int ok,
                  double worst, const char *detail, const char *err, float **img, float **rres,
                  float **dres, int n) {
  int width = 64 - (int)strlen(kind);
  if (*err)
    fprintf(out, "FAIL  %s%-*s %s\n", kind, width, label, err);
  else
    fprintf(out, "%s  %s%-*s nmse %.2e (bound %.0e)%s\n", ok ? "PASS" : "FAIL", kind, width, label,
            worst, bound, detail);
  for (int k = 0; k < n; k++) {
    free(img[k]);
    free(rres[k]);
    free(dres[k]);
  }
  return ok;
}

static int op_selected(const char *list, gs_opcode op);

static int run_case(cf_backend *ref, cf_backend *dut, const cf_case *c, uint64_t seed, int runs,
                    FILE *out) {
  cf_state st = {0};
  float *rres[NOPER] = {0}, *dres[NOPER] = {0};
  int nin = c->l.n_in, ok = 0;
  uint64_t rs = seed | 1;
  char err[1200] = "", detail[600] = "";
  double worst = 0;
  size_t at = 0;
  for (int k = 0; k <= nin; k++) {
    const gs_tdesc *d = k == nin ? &c->l.out_desc : &c->l.in_desc[k];
    st.n[k] = (size_t)gs_shape_numel(&d->shape);
    st.img[k] = malloc((st.n[k] + 2 * GUARD) * sizeof(float));
    if (!st.img[k]) {
      snprintf(err, sizeof err, "out of host memory");
      goto report;
    }
    for (size_t j = 0; j < GUARD; j++) {
      st.img[k][j] = guard_value(k, j);
      st.img[k][GUARD + st.n[k] + j] = guard_value(k, GUARD + j);
    }
    if (k < nin) {
      gen_input(c, k, st.img[k] + GUARD, st.img[0] + GUARD, &rs);
    } else {
      for (size_t j = 0; j < st.n[k]; j++)
        st.img[k][GUARD + j] = c->prefill_out ? (float)(rng_unit(&rs) * 2 - 1) : -777.0f;
    }
  }
  char rerr[1000] = "";
  if (run_on(ref, c, &st, runs, rres, rerr, sizeof rerr) != 0) {
    snprintf(err, sizeof err, "reference %s", rerr);
    goto report;
  }
  if (run_on(dut, c, &st, runs, dres, err, sizeof err) != 0) goto report;
  ok = 1;
  for (int k = 0; k <= nin; k++) {
    if (!rres[k]) continue;
    int is_int = (k == nin ? c->l.out_desc.dtype : c->l.in_desc[k].dtype) == GS_I32;
    int inplace = k < nin; /* aliased out and written inputs are read back under their input */
    cf_cmp cm = {0};
    compare(st.img[k], rres[k], dres[k], st.n[k], inplace, is_int, &cm);
    double nmse = cm.num / (cm.den > 1e-30 ? cm.den : 1e-30);
    if (cm.den <= 1e-30 && cm.num == 0) nmse = 0;
    if (nmse > worst) worst = nmse;
    const char *what = k == nin ? "out" : "in";
    if (cm.bad_guard) {
      ok = 0;
      at += (size_t)snprintf(detail + at, sizeof detail - at, " %s%d: %zu guard values changed;",
                             what, k == nin ? 0 : k, cm.bad_guard);
    }
    if (cm.bad_nonfinite) {
      ok = 0;
      at += (size_t)snprintf(detail + at, sizeof detail - at,
                             " %s%d: %zu NaN/Inf mismatches (first at %zu);", what,
                             k == nin ? 0 : k, cm.bad_nonfinite, cm.first_bad);
    }
    if (!(nmse <= c->bound)) {
      ok = 0;
      at += (size_t)snprintf(detail + at, sizeof detail - at, " %s%d: nmse %.3g > %.0e;", what,
                             k == nin ? 0 : k, nmse, c->bound);
    }
    if (at >= sizeof detail) at = sizeof detail - 1;
  }
report:
  return finish(out, "", c->label, c->bound, ok, worst, detail, err, st.img, rres, dres, NOPER);
}

/* ---- multi-launch programs ---- */

static int run_chain_on(cf_backend *be, const cf_chain *ch, float **img, int runs, float **res,
                        char *err, size_t errlen) {
  gs_bbuf *bufs[CF_CHAIN_MAX_T] = {0};
  gs_launch ls[CF_CHAIN_MAX_L];
  gs_bprog *p = NULL;
  int rc = -1;
  for (int t = 0; t < ch->nt; t++) {
    size_t bytes = ((size_t)gs_shape_numel(&ch->t[t].shape) + 2 * GUARD) * sizeof(float);
    if (be->b->buf_alloc(be->dev, bytes, &bufs[t]) != GS_OK ||
        be->b->buf_write(be->dev, bufs[t], 0, img[t], bytes) != GS_OK) {
      snprintf(err, errlen, "buffer: %s", gs_errmsg());
      goto done;
    }
  }
  for (int i = 0; i < ch->nl; i++) {
    ls[i] = ch->l[i];
    for (int k = 0; k < ls[i].n_in; k++) {
      ls[i].in[k] = (gs_bref){bufs[ch->lin[i][k]], GUARD};
      ls[i].in_desc[k] = ch->t[ch->lin[i][k]];
    }
    ls[i].out = (gs_bref){bufs[ch->lout[i]], GUARD};
    ls[i].out_desc = ch->t[ch->lout[i]];
    char why[256];
    if (!gs_launch_check(&ls[i], why, sizeof why)) {
      snprintf(err, errlen, "launch %d (%s) breaks its contract: %s", i, gs_opcode_name(ls[i].op),
               why);
      goto done;
    }
    if (!be->b->supports(be->dev, &ls[i])) {
      snprintf(err, errlen, "launch %d (%s) not supported", i, gs_opcode_name(ls[i].op));
      goto done;
    }
  }
  if (be->b->prog_compile(be->dev, ls, (size_t)ch->nl, &p) != GS_OK) {
    snprintf(err, errlen, "compile: %s", gs_errmsg());
    goto done;
  }
  for (int r = 0; r < runs; r++)
    if (be->b->prog_run(be->dev, p) != GS_OK) {
      snprintf(err, errlen, "run: %s", gs_errmsg());
      goto done;
    }
  rc = 0;
  for (int t = 0; t < ch->nt && rc == 0; t++) {
    if (ch->input[t] && !ch->written[t]) continue;
    size_t bytes = ((size_t)gs_shape_numel(&ch->t[t].shape) + 2 * GUARD) * sizeof(float);
    res[t] = malloc(bytes);
    if (!res[t] || be->b->buf_read(be->dev, bufs[t], 0, res[t], bytes) != GS_OK) {
      snprintf(err, errlen, "read: %s", res[t] ? gs_errmsg() : "out of memory");
      rc = -1;
    }
  }
done:
  if (p) be->b->prog_free(be->dev, p);
  for (int t = 0; t < CF_CHAIN_MAX_T; t++)
    if (bufs[t]) be->b->buf_free(be->dev, bufs[t]);
  return rc;
}

static int run_chain(cf_backend *ref, cf_backend *dut, const cf_chain *ch, uint64_t seed, int runs,
                     FILE *out) {
  float *img[CF_CHAIN_MAX_T] = {0}, *rres[CF_CHAIN_MAX_T] = {0}, *dres[CF_CHAIN_MAX_T] = {0};
  uint64_t rs = seed | 1;
  char err[1200] = "", detail[600] = "";
  int ok = 0;
  size_t at = 0;
  double worst = 0;
  for (int t = 0; t < ch->nt; t++) {
    size_t n = (size_t)gs_shape_numel(&ch->t[t].shape);
    img[t] = malloc((n + 2 * GUARD) * sizeof(float));
    if (!img[t]) {
      snprintf(err, sizeof err, "out of host memory");
      goto report;
    }
    for (size_t j = 0; j < GUARD; j++) {
      img[t][j] = guard_value(t, j);
      img[t][GUARD + n + j] = guard_value(t, GUARD + j);
    }
    if (ch->input[t])
      gen_values(ch->gen[t], ch->lo[t], ch->hi[t], n, img[t] + GUARD, &rs);
    else
      for (size_t j = 0; j < n; j++) img[t][GUARD + j] = -777.0f;
  }
  char rerr[1000] = "";
  if (run_chain_on(ref, ch, img, runs, rres, rerr, sizeof rerr) != 0) {
    snprintf(err, sizeof err, "reference %s", rerr);
    goto report;
  }
  if (run_chain_on(dut, ch, img, runs, dres, err, sizeof err) != 0) goto report;
  ok = 1;
  for (int t = 0; t < ch->nt; t++) {
    if (!rres[t]) continue;
    cf_cmp cm = {0};
    size_t n = (size_t)gs_shape_numel(&ch->t[t].shape);
    compare(img[t], rres[t], dres[t], n, ch->written[t], ch->t[t].dtype == GS_I32, &cm);
    double nmse = cm.den > 1e-30 ? cm.num / cm.den : (cm.num == 0 ? 0 : cm.num / 1e-30);
    if (nmse > worst) worst = nmse;
    if (cm.bad_guard || cm.bad_nonfinite || !(nmse <= ch->bound)) {
      ok = 0;
      at += (size_t)snprintf(detail + at, sizeof detail - at,
                             " t%d: nmse %.3g, %zu guard, %zu NaN/Inf;", t, nmse, cm.bad_guard,
                             cm.bad_nonfinite);
      if (at >= sizeof detail) at = sizeof detail - 1;
    }
  }
report:
  return finish(out, "chain ", ch->label, ch->bound, ok, worst, detail, err, img, rres, dres,
                CF_CHAIN_MAX_T);
}

static int list_has(const char *list, const char *name) {
  if (!list || !*list) return 1;
  size_t n = strlen(name);
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && !strncmp(p, name, n)) return 1;
    p += len + (e ? 1 : 0);
  }
  return 0;
}

/* Appends a failed case's label to the result's list, cut at its size. */
static void note_failure(gs_conform_result *res, const char *label) {
  size_t at = strlen(res->failures);
  if (at + 1 < sizeof res->failures)
    snprintf(res->failures + at, sizeof res->failures - at, "%s%s", at ? "; " : "", label);
}

int gs_conform_run(const gs_conform_opts *o, FILE *out, gs_conform_result *res) {
  cf_backend ref, dut;
  gs_conform_result scratch;
  if (!res) res = &scratch;
  memset(res, 0, sizeof *res);
  res->index = -1;
  int st = open_backend(o->ref_path, o->ref_device, 1, &ref, out);
  if (st == 0) {
    st = open_backend(o->backend_path, o->device, 0, &dut, out);
    snprintf(res->backend, sizeof res->backend, "%s", dut.b ? dut.b->name : "");
    res->index = dut.index;
    res->dev = dut.info;
    if (st != 0) snprintf(res->error, sizeof res->error, "%s", dut.why);
    close_backend(st == 0 ? NULL : &dut);
  } else {
    snprintf(res->error, sizeof res->error, "reference: %.480s", ref.why);
  }
  if (st != 0) {
    close_backend(&ref);
    fprintf(out, "0 passed, 1 failed\n");
    return -1;
  }
  if (ref.b == dut.b && ref.index == dut.index) {
    fprintf(out, "%s: the device under test is the reference itself\n0 passed, 1 failed\n",
            dut.label);
    close_backend(&dut);
    close_backend(&ref);
    return -1;
  }
  fprintf(out, "reference: %s\nunder test: %s\n", ref.label, dut.label);
  cf_case *cases = NULL;
  int n = cf_make_cases(&cases);
  if (n < 0) {
    close_backend(&dut);
    close_backend(&ref);
    snprintf(res->error, sizeof res->error, "out of memory");
    fprintf(out, "out of memory\n");
    return -1;
  }
  int passed = 0, failed = 0;
  for (int i = 0; i < n; i++) {
    if (!op_selected(o->ops, cases[i].l.op)) continue;
    uint64_t seed = o->seed * 0x9E3779B97F4A7C15ULL + (uint64_t)i * 0xBF58476D1CE4E5B9ULL + 1;
    if (run_case(&ref, &dut, &cases[i], seed, o->runs > 0 ? o->runs : 1, out))
      passed++;
    else
      failed++, note_failure(res, cases[i].label);
    fflush(out);
  }
  free(cases);
  cf_chain *chains = NULL;
  int nc = cf_make_chains(&chains);
  for (int i = 0; i < nc && list_has(o->ops, "chain"); i++) {
    uint64_t seed = o->seed * 0x9E3779B97F4A7C15ULL + (uint64_t)(1000 + i) * 0xBF58476D1CE4E5B9ULL;
    if (run_chain(&ref, &dut, &chains[i], seed, o->runs > 0 ? o->runs : 1, out))
      passed++;
    else
      failed++, note_failure(res, chains[i].label);
    fflush(out);
  }
  free(chains);
  close_backend(&dut);
  close_backend(&ref);
  res->passed = passed;
  res->failed = failed;
  fprintf(out, "%d passed, %d failed\n", passed, failed);
  if (passed + failed == 0) {
    fprintf(out, "no case matched --ops \"%s\"\n", o->ops ? o->ops : "");
    return 1;
  }
  return failed;
}

static int op_selected(const char *list, gs_opcode op) {
  return list_has(list, gs_opcode_name(op));
}
