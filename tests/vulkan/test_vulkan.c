/* Vulkan backend checks against the CPU plugin: one small case per opcode (forward and backward),
 * a multi-launch program sharing one arena buffer (barriers, offsets, reruns with new inputs),
 * and the pipeline cache. Both plugins are loaded by path, the way the runtime loads them.
 *
 *   test_vulkan --ref libgessl-cpu.so --backend libgessl-vulkan.so [--device llvmpipe]
 *
 * A Vulkan device that cannot be opened is a failure, never a skip. */
#include "check.h"

#include "gessl/backend.h"
#include "test_host.h"

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct be {
  void *so;
  const gs_backend_iface *it;
  gs_backend_host host;
  gs_backend *ctx;
  gs_bdev *dev;
  char name[128];
} be;

static int icontains(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++) {
    size_t i = 0;
    while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
      i++;
    if (i == n) return 1;
  }
  return n == 0;
}

static int load(be *b, const char *path, const char *device, const char *cache_dir) {
  memset(b, 0, sizeof *b);
  b->host = test_host();
  b->host.cache_dir = cache_dir;
  b->host.threads = 1;
  b->so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!b->so) {
    fprintf(stderr, "cannot load %s: %s\n", path, dlerror());
    return 0;
  }
  gs_backend_entry_fn entry = (gs_backend_entry_fn)dlsym(b->so, GS_BACKEND_ENTRY_SYMBOL);
  b->it = entry ? entry() : NULL;
  if (!b->it || b->it->create(&b->host, &b->ctx) != GS_OK) {
    fprintf(stderr, "%s: no usable %s\n", path, GS_BACKEND_ENTRY_SYMBOL);
    return 0;
  }
  int n = 0;
  char why[256] = "";
  if (b->it->probe(b->ctx, &n, why, sizeof why) != GS_OK || n == 0) {
    fprintf(stderr, "%s: no device: %s\n", path, why[0] ? why : gs_errmsg());
    return 0;
  }
  for (int i = 0; i < n; i++) {
    gs_device_info info;
    if (b->it->device_info(b->ctx, i, &info) != GS_OK) continue;
    printf("%s device %d: %s | %s | %s | %llu MiB | %s%s\n", b->it->name, i, info.name, info.vendor,
           info.driver, (unsigned long long)(info.memory_bytes >> 20), info.extra,
           info.available ? "" : " | unavailable");
    if (!b->dev && info.available && (!device || icontains(info.name, device))) {
      if (b->it->open(b->ctx, i, &b->dev) != GS_OK) {
        fprintf(stderr, "%s: cannot open device %d (%s): %s\n", path, i, info.name, gs_errmsg());
        return 0;
      }
      snprintf(b->name, sizeof b->name, "%s", info.name);
    }
  }
  if (!b->dev) fprintf(stderr, "%s: no device matches '%s'\n", path, device ? device : "");
  return b->dev != NULL;
}

static void unload(be *b) {
  if (b->dev) b->it->close(b->dev);
  b->dev = NULL;
}

/* ---- random data ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double urand(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}

typedef enum gen { G_UNI, G_POS, G_IDX, G_SMALLINT } gen;

#define GUARD 3
#define SENTINEL 777.0f

/* One operand on both backends: same contents at element offset GUARD, guards around it. */
typedef struct top {
  gs_bbuf *b[2];
  int64_t n, total;
  uint32_t *host;
} top;

static int top_make(be *bk, top *t, int64_t n, gen g, float lo, float hi) {
  t->n = n;
  t->total = n + 2 * GUARD;
  t->host = malloc((size_t)t->total * 4);
  for (int64_t i = 0; i < t->total; i++) {
    float f = SENTINEL;
    uint32_t w;
    memcpy(&w, &f, 4);
    if (i >= GUARD && i < GUARD + n) {
      if (g == G_IDX) {
        int32_t v = (int32_t)lo + (int32_t)(urand() * (hi - lo + 1));
        memcpy(&w, &v, 4);
      } else {
        f = g == G_SMALLINT ? (float)(int)(lo + urand() * (hi - lo + 1))
                            : (float)(lo + urand() * (hi - lo));
        memcpy(&w, &f, 4);
      }
    }
    t->host[i] = w;
  }
  for (int k = 0; k < 2; k++) {
    if (bk[k].it->buf_alloc(bk[k].dev, (size_t)t->total * 4, &t->b[k]) != GS_OK ||
        bk[k].it->buf_write(bk[k].dev, t->b[k], 0, t->host, (size_t)t->total * 4) != GS_OK) {
      fprintf(stderr, "alloc/write on %s failed: %s\n", bk[k].it->name, gs_errmsg());
      return 0;
    }
  }
  return 1;
}

static void top_free(be *bk, top *t) {
  for (int k = 0; k < 2; k++)
    if (t->b[k]) bk[k].it->buf_free(bk[k].dev, t->b[k]);
  free(t->host);
  memset(t, 0, sizeof *t);
}

/* NMSE of backend 1 against backend 0 over the data, exact match on the guards. */
static int compare(be *bk, const char *what, top *t, gs_dtype dt, double bound) {
  float *r[2];
  for (int k = 0; k < 2; k++) {
    r[k] = malloc((size_t)t->total * 4);
    if (bk[k].it->buf_read(bk[k].dev, t->b[k], 0, r[k], (size_t)t->total * 4) != GS_OK) {
      fprintf(stderr, "%s: read on %s failed: %s\n", what, bk[k].it->name, gs_errmsg());
      free(r[0]);
      free(r[1]);
      return 0;
    }
  }
  int ok = 1;
  double num = 0, den = 0;
  for (int64_t i = 0; i < t->total; i++) {
    int guard = i < GUARD || i >= GUARD + t->n;
    if (guard || dt == GS_I32) {
      if (memcmp(&r[0][i], &r[1][i], 4) != 0) {
        fprintf(stderr, "%s: element %lld differs: %g vs %g%s\n", what, (long long)(i - GUARD),
                r[0][i], r[1][i], guard ? " (guard)" : "");
        ok = 0;
        break;
      }
      continue;
    }
    double a = r[0][i], b = r[1][i];
    if (!isfinite(b) && !(isnan(a) && isnan(b)) && a != b) {
      fprintf(stderr, "%s: element %lld is %g, reference %g\n", what, (long long)(i - GUARD), b, a);
      ok = 0;
      break;
    }
    if (isfinite(a) && isfinite(b)) num += (a - b) * (a - b), den += a * a;
  }
  double nmse = den > 0 ? num / den : num;
  if (nmse > bound) /* the first elements, to see the pattern of a mismatch */
    for (int64_t i = GUARD; i < t->total && i < GUARD + 8; i++)
      fprintf(stderr, "  [%lld] reference %g, got %g\n", (long long)(i - GUARD), r[0][i], r[1][i]);
  if (ok && nmse > bound) {
    fprintf(stderr, "%s: NMSE %.3g > %.3g\n", what, nmse, bound);
    ok = 0;
  }
  free(r[0]);
  free(r[1]);
  return ok;
}

/* ---- single-launch cases ---- */

typedef struct tcase {
  const char *name;
  gs_launch l; /* op, n_in, descs, attributes */
  gen g[GS_LAUNCH_MAX_IN];
  float lo[GS_LAUNCH_MAX_IN], hi[GS_LAUNCH_MAX_IN];
  int alias; /* out aliases in[alias], or -1 */
} tcase;

static gs_tdesc F(gs_shape s) { return (gs_tdesc){GS_F32, s}; }
static gs_tdesc I(gs_shape s) { return (gs_tdesc){GS_I32, s}; }

static tcase mk(const char *name, gs_opcode op, gs_tdesc out, int n_in, ...) {
  tcase c;
  memset(&c, 0, sizeof c);
  c.name = name;
  c.alias = -1;
  c.l.op = op;
  c.l.n_in = n_in;
  c.l.out_desc = out;
  va_list ap;
  va_start(ap, n_in);
  for (int k = 0; k < n_in; k++) {
    c.l.in_desc[k] = va_arg(ap, gs_tdesc);
    c.g[k] = c.l.in_desc[k].dtype == GS_I32 ? G_IDX : G_UNI;
    c.lo[k] = -1, c.hi[k] = 1;
  }
  va_end(ap);
  return c;
}

static void run_case(be *bk, const tcase *c, double bound) {
  top t[GS_LAUNCH_MAX_IN + 1];
  memset(t, 0, sizeof t);
  int ok = 1;
  for (int k = 0; k < c->l.n_in && ok; k++)
    ok = top_make(bk, &t[k], gs_shape_numel(&c->l.in_desc[k].shape), c->g[k], c->lo[k], c->hi[k]);
  /* A separate output starts random (INSERT must leave the rest alone) with guards. */
  top *out = c->alias >= 0 ? &t[c->alias] : &t[c->l.n_in];
  if (ok && c->alias < 0)
    ok = top_make(bk, out, gs_shape_numel(&c->l.out_desc.shape), G_UNI, -1, 1);
  gs_bprog *p[2] = {NULL, NULL};
  for (int k = 0; k < 2 && ok; k++) {
    gs_launch l = c->l;
    for (int j = 0; j < l.n_in; j++) l.in[j] = (gs_bref){t[j].b[k], GUARD};
    l.out = (gs_bref){out->b[k], GUARD};
    if (!bk[k].it->supports(bk[k].dev, &l)) {
      fprintf(stderr, "%s: %s does not support it\n", c->name, bk[k].it->name);
      ok = 0;
      break;
    }
    if (bk[k].it->prog_compile(bk[k].dev, &l, 1, &p[k]) != GS_OK ||
        bk[k].it->prog_run(bk[k].dev, p[k]) != GS_OK) {
      fprintf(stderr, "%s on %s: %s\n", c->name, bk[k].it->name, gs_errmsg());
      ok = 0;
    }
  }
  for (int k = 0; k <= c->l.n_in && ok; k++) {
    if (k == c->l.n_in && c->alias >= 0) break;
    char what[160];
    snprintf(what, sizeof what, "%s %s %d", c->name, k == c->l.n_in ? "out" : "input", k);
    gs_dtype dt = k < c->l.n_in ? c->l.in_desc[k].dtype : GS_F32;
    ok = compare(bk, what, &t[k], dt, bound);
  }
  for (int k = 0; k < 2; k++)
    if (p[k]) bk[k].it->prog_free(bk[k].dev, p[k]);
  for (int k = 0; k <= c->l.n_in; k++) top_free(bk, &t[k]);
  CHECKF(ok, "%s", c->name);
  if (ok) printf("ok   %s\n", c->name);
}

static void op_cases(be *bk) {
  static const char *un[] = {"affine", "exp",  "log",     "sqrt", "rsqrt", "square",
                             "abs",    "relu", "sigmoid", "tanh", "recip"};
  static const char *bn[] = {"add", "sub", "mul", "div", "max", "min", "eq", "gt"};
  char name[128];
  tcase c;
  const double B = 1e-9;

  c = mk("fill", GS_OP_FILL, F(GS_SHAPE(5, 7)), 0);
  c.l.f[0] = 2.5f;
  run_case(bk, &c, 0);
  for (int fn = 0; fn < GS_UN_COUNT; fn++) {
    int pos = fn == GS_UN_LOG || fn == GS_UN_SQRT || fn == GS_UN_RSQRT || fn == GS_UN_RECIP;
    snprintf(name, sizeof name, "unary %s", un[fn]);
    c = mk(name, GS_OP_UNARY, F(GS_SHAPE(3, 37)), 1, F(GS_SHAPE(3, 37)));
    c.l.i[0] = fn, c.l.f[0] = 1.5f, c.l.f[1] = -0.25f;
    if (pos) c.lo[0] = 0.5f, c.hi[0] = 2;
    if (fn == GS_UN_TANH) c.lo[0] = -30, c.hi[0] = 30;
    c.alias = fn == GS_UN_RELU ? 0 : -1;
    run_case(bk, &c, B);
    snprintf(name, sizeof name, "unary_bwd %s", un[fn]);
    c = mk(name, GS_OP_UNARY_BWD, F(GS_SHAPE(2, 19)), 3, F(GS_SHAPE(2, 19)), F(GS_SHAPE(2, 19)),
           F(GS_SHAPE(2, 19)));
    c.l.i[0] = fn, c.l.f[0] = 1.5f;
    c.lo[0] = 0.5f, c.hi[0] = 2, c.lo[1] = 0.5f, c.hi[1] = 2;
    if (fn == GS_UN_ABS || fn == GS_UN_RELU) c.lo[0] = -1;
    run_case(bk, &c, B);
  }
  for (int op = 0; op < GS_BIN_COUNT; op++) {
    snprintf(name, sizeof name, "binary %s broadcast", bn[op]);
    c = mk(name, GS_OP_BINARY, F(GS_SHAPE(2, 3, 4, 5)), 2, F(GS_SHAPE(2, 1, 4, 5)),
           F(GS_SHAPE(1, 3, 1, 5)));
    c.l.i[0] = op;
    if (op == GS_BIN_DIV) c.lo[1] = 0.5f, c.hi[1] = 2;
    if (op >= GS_BIN_EQ) c.g[0] = c.g[1] = G_SMALLINT, c.lo[0] = c.lo[1] = 0, c.hi[0] = c.hi[1] = 2;
    run_case(bk, &c, B);
  }
  c = mk("axpby in place", GS_OP_AXPBY, F(GS_SHAPE(33)), 2, F(GS_SHAPE(33)), F(GS_SHAPE(33)));
  c.l.f[0] = 0.5f, c.l.f[1] = -2, c.alias = 1;
  run_case(bk, &c, B);
  static const char *rn[] = {"sum", "mean", "max"};
  for (int k = 0; k < GS_RED_COUNT; k++) {
    snprintf(name, sizeof name, "reduce %s axes 1,3", rn[k]);
    c = mk(name, GS_OP_REDUCE, F(GS_SHAPE(2, 1, 4, 1)), 1, F(GS_SHAPE(2, 3, 4, 5)));
    c.l.i[0] = k;
    run_case(bk, &c, 1e-8);
    snprintf(name, sizeof name, "reduce %s all of 1000", rn[k]);
    c = mk(name, GS_OP_REDUCE, F(GS_SHAPE(1, 1)), 1, F(GS_SHAPE(40, 25)));
    c.l.i[0] = k;
    run_case(bk, &c, 1e-8);
  }
  c = mk("expand", GS_OP_EXPAND, F(GS_SHAPE(2, 3, 4)), 1, F(GS_SHAPE(2, 1, 4)));
  run_case(bk, &c, 0);
  c = mk("dot", GS_OP_DOT, F(GS_SHAPE(1)), 2, F(GS_SHAPE(7, 9)), F(GS_SHAPE(7, 9)));
  run_case(bk, &c, 1e-8);
  c = mk("permute 3,1,0,2", GS_OP_PERMUTE, F(GS_SHAPE(5, 3, 2, 4)), 1, F(GS_SHAPE(2, 3, 4, 5)));
  c.l.i[0] = 3, c.l.i[1] = 1, c.l.i[2] = 0, c.l.i[3] = 2;
  run_case(bk, &c, 0);
  c = mk("slice", GS_OP_SLICE, F(GS_SHAPE(2, 3, 5)), 1, F(GS_SHAPE(4, 6, 5)));
  c.l.i[0] = 1, c.l.i[1] = 2, c.l.i[2] = 0;
  run_case(bk, &c, 0);
  c = mk("insert", GS_OP_INSERT, F(GS_SHAPE(4, 6, 5)), 1, F(GS_SHAPE(2, 3, 5)));
  c.l.i[0] = 1, c.l.i[1] = 2, c.l.i[2] = 0;
  run_case(bk, &c, 0);

  struct {
    int ba, bb, bt, m, k, n, ta, tb;
  } mm[] = {{2, 2, 2, 5, 7, 3, 0, 0},    {2, 2, 2, 5, 7, 3, 1, 0}, {2, 2, 2, 5, 7, 3, 0, 1},
            {1, 3, 3, 6, 4, 9, 1, 1},    {3, 1, 3, 6, 4, 9, 0, 0}, {1, 1, 1, 70, 45, 66, 0, 0},
            {1, 1, 1, 67, 130, 5, 1, 0}, {2, 2, 2, 1, 1, 1, 0, 0}};
  for (size_t i = 0; i < sizeof mm / sizeof mm[0]; i++) {
    snprintf(name, sizeof name, "matmul [%d,%d,%d]%s x [%d,%d,%d]%s", mm[i].ba, mm[i].m, mm[i].k,
             mm[i].ta ? "^T" : "", mm[i].bb, mm[i].k, mm[i].n, mm[i].tb ? "^T" : "");
    gs_shape sa =
        mm[i].ta ? GS_SHAPE(mm[i].ba, mm[i].k, mm[i].m) : GS_SHAPE(mm[i].ba, mm[i].m, mm[i].k);
    gs_shape sb =
        mm[i].tb ? GS_SHAPE(mm[i].bb, mm[i].n, mm[i].k) : GS_SHAPE(mm[i].bb, mm[i].k, mm[i].n);
    c = mk(name, GS_OP_MATMUL, F(GS_SHAPE(mm[i].bt, mm[i].m, mm[i].n)), 2, F(sa), F(sb));
    c.l.i[0] = mm[i].ta, c.l.i[1] = mm[i].tb;
    run_case(bk, &c, 1e-9);
  }

  c = mk("gather_rows", GS_OP_GATHER_ROWS, F(GS_SHAPE(8, 5)), 2, F(GS_SHAPE(6, 5)), I(GS_SHAPE(8)));
  c.lo[1] = -1, c.hi[1] = 6;
  run_case(bk, &c, 0);
  c = mk("scatter_add_rows", GS_OP_SCATTER_ADD_ROWS, F(GS_SHAPE(6, 5)), 2, F(GS_SHAPE(8, 5)),
         I(GS_SHAPE(8)));
  c.lo[1] = -1, c.hi[1] = 3;
  run_case(bk, &c, 1e-9);
  c = mk("onehot", GS_OP_ONEHOT, F(GS_SHAPE(7, 4)), 1, I(GS_SHAPE(7)));
  c.lo[0] = -1, c.hi[0] = 4;
  run_case(bk, &c, 0);

  /* Convolutions: x [2,3,7,6], w [4,3,3,3]; (stride, pad) = (1,1) and (2,0). */
  int cv[2][2] = {{1, 1}, {2, 0}};
  for (int v = 0; v < 2; v++) {
    int s = cv[v][0], pd = cv[v][1];
    int oh = (7 + 2 * pd - 3) / s + 1, ow = (6 + 2 * pd - 3) / s + 1;
    gs_shape xs = GS_SHAPE(2, 3, 7, 6), ws = GS_SHAPE(4, 3, 3, 3), ys = GS_SHAPE(2, 4, oh, ow);
    snprintf(name, sizeof name, "conv2d stride %d pad %d", s, pd);
    c = mk(name, GS_OP_CONV2D, F(ys), 2, F(xs), F(ws));
    c.l.i[0] = c.l.i[1] = s, c.l.i[2] = c.l.i[3] = pd;
    run_case(bk, &c, 1e-9);
    snprintf(name, sizeof name, "conv2d_bwd_data stride %d pad %d", s, pd);
    c = mk(name, GS_OP_CONV2D_BWD_DATA, F(xs), 2, F(ys), F(ws));
    c.l.i[0] = c.l.i[1] = s, c.l.i[2] = c.l.i[3] = pd;
    run_case(bk, &c, 1e-9);
    snprintf(name, sizeof name, "conv2d_bwd_filter stride %d pad %d", s, pd);
    c = mk(name, GS_OP_CONV2D_BWD_FILTER, F(ws), 2, F(xs), F(ys));
    c.l.i[0] = c.l.i[1] = s, c.l.i[2] = c.l.i[3] = pd;
    run_case(bk, &c, 1e-9);
  }
  /* Pooling: x [2,3,7,6], window 3, stride 2, pad 1 -> [2,3,4,3]; and 2x2 stride 2. */
  int pl[2][3] = {{3, 2, 1}, {2, 2, 0}};
  for (int v = 0; v < 2; v++) {
    int kk = pl[v][0], s = pl[v][1], pd = pl[v][2];
    int oh = (7 + 2 * pd - kk) / s + 1, ow = (6 + 2 * pd - kk) / s + 1;
    gs_shape xs = GS_SHAPE(2, 3, 7, 6), ys = GS_SHAPE(2, 3, oh, ow);
    int attrs[6] = {kk, kk, s, s, pd, pd};
    gs_opcode ops[4] = {GS_OP_MAXPOOL2D, GS_OP_MAXPOOL2D_BWD, GS_OP_AVGPOOL2D, GS_OP_AVGPOOL2D_BWD};
    const char *names[4] = {"maxpool2d", "maxpool2d_bwd", "avgpool2d", "avgpool2d_bwd"};
    for (int o = 0; o < 4; o++) {
      snprintf(name, sizeof name, "%s k%d s%d p%d", names[o], kk, s, pd);
      if (o == 0 || o == 2)
        c = mk(name, ops[o], F(ys), 1, F(xs));
      else if (o == 1)
        c = mk(name, ops[o], F(xs), 2, F(xs), F(ys));
      else
        c = mk(name, ops[o], F(xs), 1, F(ys));
      memcpy(c.l.i, attrs, sizeof attrs);
      run_case(bk, &c, 1e-9);
    }
  }
  for (int nest = 0; nest < 2; nest++) {
    snprintf(name, sizeof name, "sgd nesterov %d", nest);
    c = mk(name, GS_OP_SGD, F(GS_SHAPE(41)), 4, F(GS_SHAPE(41)), F(GS_SHAPE(41)), F(GS_SHAPE(41)),
           F(GS_SHAPE(1)));
    c.l.f[0] = 0.9f, c.l.f[1] = 1e-2f, c.l.i[0] = nest, c.alias = 0;
    c.lo[3] = 0.01f, c.hi[3] = 0.1f;
    run_case(bk, &c, 1e-9);
  }
  c = mk("adamw", GS_OP_ADAMW, F(GS_SHAPE(41)), 6, F(GS_SHAPE(41)), F(GS_SHAPE(41)),
         F(GS_SHAPE(41)), F(GS_SHAPE(41)), F(GS_SHAPE(1)), F(GS_SHAPE(1)));
  c.l.f[0] = 0.9f, c.l.f[1] = 0.999f, c.l.f[2] = 1e-8f, c.l.f[3] = 0.05f, c.alias = 0;
  c.lo[3] = 0, c.hi[3] = 1, c.lo[4] = 0.001f, c.hi[4] = 0.01f;
  c.g[5] = G_SMALLINT, c.lo[5] = 1, c.hi[5] = 5;
  run_case(bk, &c, 1e-9);
  c = mk("ema", GS_OP_EMA, F(GS_SHAPE(41)), 3, F(GS_SHAPE(41)), F(GS_SHAPE(41)), F(GS_SHAPE(1)));
  c.lo[2] = 0.9f, c.hi[2] = 0.99f, c.alias = 0;
  run_case(bk, &c, 1e-9);
}

/* ---- a program of dependent launches in one arena ---- */

/* conv -> relu (in place) -> maxpool -> reduce over H,W -> dot with itself, every tensor at its
 * own offset in one buffer; run, rewrite the input, run again. */
static void program_case(be *bk) {
  gs_shape xs = GS_SHAPE(2, 3, 8, 8), ws = GS_SHAPE(4, 3, 3, 3), ys = GS_SHAPE(2, 4, 8, 8);
  gs_shape ps = GS_SHAPE(2, 4, 4, 4), rs = GS_SHAPE(2, 4, 1, 1), ss = GS_SHAPE(1);
  int64_t nx = gs_shape_numel(&xs), nw = gs_shape_numel(&ws), ny = gs_shape_numel(&ys);
  int64_t np = gs_shape_numel(&ps), nr = gs_shape_numel(&rs);
  size_t ox = 1, ow = ox + nx + 1, oy = ow + nw + 5, op = oy + ny + 3, orr = op + np + 1,
         os = orr + nr + 2;
  int64_t total = (int64_t)os + 1 - GUARD; /* top_make adds guards; offsets here are absolute */
  top arena;
  int ok = top_make(bk, &arena, total, G_UNI, -1, 1);
  gs_bprog *p[2] = {NULL, NULL};
  for (int k = 0; k < 2 && ok; k++) {
    gs_bbuf *b = arena.b[k];
    gs_launch l[5];
    memset(l, 0, sizeof l);
    l[0] = (gs_launch){.op = GS_OP_CONV2D,
                       .n_in = 2,
                       .in = {{b, ox}, {b, ow}},
                       .in_desc = {F(xs), F(ws)},
                       .out = {b, oy},
                       .out_desc = F(ys),
                       .i = {1, 1, 1, 1}};
    l[1] = (gs_launch){.op = GS_OP_UNARY,
                       .n_in = 1,
                       .in = {{b, oy}},
                       .in_desc = {F(ys)},
                       .out = {b, oy},
                       .out_desc = F(ys),
                       .i = {GS_UN_RELU}};
    l[2] = (gs_launch){.op = GS_OP_MAXPOOL2D,
                       .n_in = 1,
                       .in = {{b, oy}},
                       .in_desc = {F(ys)},
                       .out = {b, op},
                       .out_desc = F(ps),
                       .i = {2, 2, 2, 2, 0, 0}};
    l[3] = (gs_launch){.op = GS_OP_REDUCE,
                       .n_in = 1,
                       .in = {{b, op}},
                       .in_desc = {F(ps)},
                       .out = {b, orr},
                       .out_desc = F(rs),
                       .i = {GS_RED_MEAN}};
    l[4] = (gs_launch){.op = GS_OP_DOT,
                       .n_in = 2,
                       .in = {{b, orr}, {b, orr}},
                       .in_desc = {F(GS_SHAPE(8)), F(GS_SHAPE(8))},
                       .out = {b, os},
                       .out_desc = F(ss)};
    if (bk[k].it->prog_compile(bk[k].dev, l, 5, &p[k]) != GS_OK) {
      fprintf(stderr, "program compile on %s: %s\n", bk[k].it->name, gs_errmsg());
      ok = 0;
    }
  }
  for (int run = 0; run < 3 && ok; run++) {
    if (run > 0) { /* new input between runs, written while nothing else is queued */
      float *x = malloc((size_t)nx * 4);
      for (int64_t i = 0; i < nx; i++) x[i] = (float)(urand() * 2 - 1);
      for (int k = 0; k < 2 && ok; k++)
        ok = bk[k].it->buf_write(bk[k].dev, arena.b[k], ox * 4, x, (size_t)nx * 4) == GS_OK;
      free(x);
    }
    for (int k = 0; k < 2 && ok; k++) {
      /* Two queued runs back to back: the second must wait for the first, not race it. */
      ok = bk[k].it->prog_run(bk[k].dev, p[k]) == GS_OK &&
           bk[k].it->prog_run(bk[k].dev, p[k]) == GS_OK;
      if (!ok) fprintf(stderr, "program run on %s: %s\n", bk[k].it->name, gs_errmsg());
    }
    if (ok) ok = compare(bk, "program arena", &arena, GS_F32, 1e-9);
    if (ok) ok = bk[1].it->sync(bk[1].dev) == GS_OK;
  }
  for (int k = 0; k < 2; k++)
    if (p[k]) bk[k].it->prog_free(bk[k].dev, p[k]);
  top_free(bk, &arena);
  CHECKF(ok, "program of 5 dependent launches in one arena");
  if (ok) printf("ok   program of 5 dependent launches, 3 runs\n");
}

/* Host writes and reruns queued behind running work keep stream order: x is rewritten between
 * runs of acc += x without any wait, then acc must hold the sum of every x. A program and a
 * buffer freed while a run that uses them is queued must survive until it ends. */
static void stream_case(be *bk) {
  const gs_backend_iface *it = bk[1].it;
  gs_bdev *dev = bk[1].dev;
  enum { N = 1 << 16, RUNS = 6 };
  gs_bbuf *x = NULL, *acc = NULL, *tmp = NULL;
  gs_bprog *p = NULL, *q = NULL;
  float *h = malloc(N * sizeof *h);
  int ok = h && it->buf_alloc(dev, N * 4, &x) == GS_OK &&
           it->buf_alloc(dev, N * 4, &acc) == GS_OK && it->buf_alloc(dev, N * 4, &tmp) == GS_OK;
  gs_tdesc d = F(GS_SHAPE(N));
  gs_launch add = {.op = GS_OP_AXPBY,
                   .n_in = 2,
                   .in = {{x, 0}, {acc, 0}},
                   .in_desc = {d, d},
                   .out = {acc, 0},
                   .out_desc = d,
                   .f = {1.0f, 1.0f}};
  gs_launch copy = {.op = GS_OP_UNARY,
                    .n_in = 1,
                    .in = {{acc, 0}},
                    .in_desc = {d},
                    .out = {tmp, 0},
                    .out_desc = d,
                    .i = {GS_UN_AFFINE},
                    .f = {-1.0f, 0.0f}};
  if (ok) ok = it->prog_compile(dev, &add, 1, &p) == GS_OK;
  if (ok) ok = it->prog_compile(dev, &copy, 1, &q) == GS_OK;
  for (int i = 0; i < N && ok; i++) h[i] = (float)(i % 7);
  if (ok) ok = it->buf_write(dev, acc, 0, h, N * 4) == GS_OK;
  for (int r = 1; r <= RUNS && ok; r++) {
    for (int i = 0; i < N; i++) h[i] = (float)r;
    ok = it->buf_write(dev, x, 0, h, N * 4) == GS_OK && it->prog_run(dev, p) == GS_OK;
    if (ok && r == RUNS / 2) ok = it->prog_run(dev, q) == GS_OK;
  }
  if (ok) {
    it->prog_free(dev, q), q = NULL;
    it->buf_free(dev, tmp), tmp = NULL;
    ok = it->buf_read(dev, acc, 0, h, N * 4) == GS_OK;
  }
  int bad = -1;
  for (int i = 0; i < N && ok && bad < 0; i++)
    if (h[i] != (float)(i % 7 + RUNS * (RUNS + 1) / 2)) bad = i;
  if (!ok) fprintf(stderr, "stream case: %s\n", gs_errmsg());
  if (bad >= 0) fprintf(stderr, "stream case: acc[%d] = %g\n", bad, h[bad]);
  CHECKF(ok && bad < 0, "writes and reruns queued without waits keep stream order");
  if (p) it->prog_free(dev, p);
  if (q) it->prog_free(dev, q);
  it->buf_free(dev, x);
  it->buf_free(dev, acc);
  it->buf_free(dev, tmp);
  free(h);
  if (ok && bad < 0) printf("ok   %d writes and reruns queued without waits\n", RUNS);
}

static int cache_files(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  if (!d) return 0;
  struct dirent *e;
  while ((e = readdir(d)))
    n += strncmp(e->d_name, "vulkan-pipelines-", 17) == 0 && !strstr(e->d_name, ".tmp");
  closedir(d);
  return n;
}

int main(int argc, char **argv) {
  const char *ref = NULL, *backend = NULL, *device = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--ref"))
      ref = argv[i + 1];
    else if (!strcmp(argv[i], "--backend"))
      backend = argv[i + 1];
    else if (!strcmp(argv[i], "--device"))
      device = argv[i + 1];
  }
  if (!ref || !backend) {
    fprintf(stderr, "usage: %s --ref CPU_PLUGIN --backend VULKAN_PLUGIN [--device NAME]\n",
            argv[0]);
    return 2;
  }
  char cache[] = "/tmp/gessl-vk-cache-XXXXXX";
  CHECK(mkdtemp(cache) != NULL);
  be bk[2];
  int up = load(&bk[0], ref, NULL, NULL);
  CHECKF(up, "reference plugin %s loads and opens a device", ref);
  int vk = load(&bk[1], backend, device, cache);
  CHECKF(vk, "Vulkan plugin %s opens device '%s'", backend, device ? device : "(first)");
  if (!up || !vk) return check_summary();
  printf("testing %s against %s\n", bk[1].name, bk[0].name);

  op_cases(bk);
  program_case(bk);
  stream_case(bk);

  /* Closing saves the pipeline cache; reopening reads it back. */
  unload(&bk[1]);
  CHECKF(cache_files(cache) == 1, "one pipeline cache file in %s", cache);
  int n = 0;
  char why[256];
  CHECK(bk[1].it->probe(bk[1].ctx, &n, why, sizeof why) == GS_OK);
  for (int i = 0; i < n && !bk[1].dev; i++) {
    gs_device_info info;
    if (bk[1].it->device_info(bk[1].ctx, i, &info) == GS_OK &&
        (!device || icontains(info.name, device)))
      CHECK(bk[1].it->open(bk[1].ctx, i, &bk[1].dev) == GS_OK);
  }
  if (bk[1].dev) {
    tcase c = mk("matmul after cache reload", GS_OP_MATMUL, F(GS_SHAPE(1, 9, 5)), 2,
                 F(GS_SHAPE(1, 9, 4)), F(GS_SHAPE(1, 4, 5)));
    run_case(bk, &c, 1e-9);
    unload(&bk[1]);
  }
  /* An unusable cache directory is a miss, never an error. */
  bk[1].host.cache_dir = "/proc/gessl-no-such-dir";
  for (int i = 0; i < n && !bk[1].dev; i++) {
    gs_device_info info;
    if (bk[1].it->device_info(bk[1].ctx, i, &info) == GS_OK &&
        (!device || icontains(info.name, device)))
      CHECKF(bk[1].it->open(bk[1].ctx, i, &bk[1].dev) == GS_OK,
             "open with an unwritable cache dir: %s", gs_errmsg());
  }
  if (bk[1].dev) {
    tcase c = mk("fill with an unwritable cache dir", GS_OP_FILL, F(GS_SHAPE(3)), 0);
    run_case(bk, &c, 0);
    unload(&bk[1]);
  }
  /* Opening an out-of-range device fails with a message. */
  gs_bdev *none = NULL;
  CHECK(bk[1].it->open(bk[1].ctx, 99, &none) != GS_OK && none == NULL && gs_errmsg()[0]);

  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", cache);
  CHECK(system(cmd) == 0);
  unload(&bk[0]);
  for (int k = 0; k < 2; k++)
    if (bk[k].it) bk[k].it->destroy(bk[k].ctx);
  return check_summary();
}
