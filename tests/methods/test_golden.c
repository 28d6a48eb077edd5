/* Golden values: a method's loss and gradients on fixed inputs against PyTorch's.
 *
 * Usage: test_golden FILE.json [DEVICE]   (DEVICE defaults to "cpu")
 *
 * FILE.json is written by tests/methods/golden/<method>.py (run regenerate.sh there) and holds:
 *   "method":      plugin name, e.g. "simclr"
 *   "description": one line, for people
 *   "hparams":     {"name": number or "word"} overriding the plugin's declared defaults
 *   "batch", "dim": N and D; every view is an [N, D] embedding, fed as an [N, D, 1, 1] image to
 *                  an "identity" backbone (features = the input flattened), so the values reach
 *                  the method's heads unchanged
 *   "step", "total_steps": the gs_step_info handed to the method's feed() (schedules), and
 *                  total_steps also the gs_method_ctx's
 *   "views":       [[N*D numbers, row-major], ...], one per view, in view order
 *   "params":      {"name": [numbers]} written into the method's trainable params by name (every
 *                  trainable param must have a value: nothing is left to random initialisation)
 *   "state":       {"name": [numbers]} written into non-trainable state (teachers, queues,
 *                  centres, BN statistics) by name; tensors not listed keep their initial values
 *   "loss":        the expected loss
 *   "grad_views":  [[N*D numbers], ...] d loss / d view, per view
 *   "grad_params": {"name": [numbers]} d loss / d param, for every trainable param
 *   "rtol":        optional, tolerance when a method's arithmetic legitimately needs more than
 *                  the default 1e-4
 * Shapes come from the plugin's tensors; the file gives flat row-major values. The relative error
 * of a tensor is ||got - want||_2 / ||want||_2. A gradient that is zero in exact arithmetic (the
 * bias just before a batch normalisation) comes out as rounding noise on both sides, so the
 * denominator is never less than 1e-3 of the largest golden gradient norm of the file. The
 * reference is computed in float64 from float32-representable inputs. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gessl/gessl.h"
#include "method_fixture.h"

enum { MAX_VIEWS = 8, MAX_PARAMS = 256 };

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  if (buf) buf[n] = '\0';
  fclose(f);
  return buf;
}

/* The numbers of a JSON array as floats; NULL unless it holds exactly `want` numbers. */
static float *floats(const cJSON *arr, int64_t want) {
  if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != want) return NULL;
  float *v = malloc((size_t)(want > 0 ? want : 1) * sizeof *v);
  if (!v) return NULL;
  int64_t k = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) {
    if (!cJSON_IsNumber(e)) {
      free(v);
      return NULL;
    }
    v[k++] = (float)e->valuedouble;
  }
  return v;
}

static double norm_of(const cJSON *arr) {
  double s = 0.0;
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) s += e->valuedouble * e->valuedouble;
  return sqrt(s);
}

/* The largest norm among the golden gradients. */
static double largest_grad_norm(const cJSON *gviews, const cJSON *gparams) {
  double m = 0.0;
  const cJSON *e;
  cJSON_ArrayForEach(e, gviews) m = fmax(m, norm_of(e));
  cJSON_ArrayForEach(e, gparams) m = fmax(m, norm_of(e));
  return m;
}

static double rel_err(const float *got, const cJSON *want, int64_t n, double floor_norm, int *ok) {
  double d2 = 0.0, w2 = 0.0;
  int64_t k = 0;
  const cJSON *e;
  *ok = cJSON_IsArray(want) && cJSON_GetArraySize(want) == n;
  if (!*ok) return 0.0;
  cJSON_ArrayForEach(e, want) {
    double w = e->valuedouble, a = got[k++];
    d2 += (a - w) * (a - w);
    w2 += w * w;
  }
  double den = fmax(sqrt(w2), floor_norm);
  return den > 0.0 ? sqrt(d2) / den : sqrt(d2);
}

static gs_param *find_param(const gs_pset *s, const char *name) {
  for (int k = 0; k < gs_pset_count(s); k++)
    if (strcmp(gs_param_name(gs_pset_get(s, k)), name) == 0) return gs_pset_get(s, k);
  return NULL;
}

/* Writes every entry of obj into the param of that name in `set`; counts what was written. */
static int write_values(const cJSON *obj, const gs_pset *set, const char *what) {
  int written = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, obj) {
    gs_param *p = find_param(set, e->string);
    CHECKF(p != NULL, "%s '%s' of the golden file is not a tensor of the method", what, e->string);
    if (!p) continue;
    gs_shape s = gs_param_shape(p);
    float *v = floats(e, gs_shape_numel(&s));
    CHECKF(v != NULL, "%s '%s': expected %lld numbers", what, e->string,
           (long long)gs_shape_numel(&s));
    if (!v) continue;
    CHECKF(gs_param_write(p, v) == GS_OK, "%s", gs_errmsg());
    free(v);
    written++;
  }
  return written;
}

/* Hyperparameter values: declared defaults, then the file's overrides by name. */
static double *resolve_hparams(const gs_method_iface *m, const cJSON *over) {
  double *hp = calloc((size_t)(m->n_hparams > 0 ? m->n_hparams : 1), sizeof *hp);
  if (!hp) return NULL;
  for (int k = 0; k < m->n_hparams; k++) hp[k] = m->hparams[k].def;
  const cJSON *e;
  cJSON_ArrayForEach(e, over) {
    int k = 0;
    while (k < m->n_hparams && strcmp(m->hparams[k].name, e->string) != 0) k++;
    CHECKF(k < m->n_hparams, "hyperparameter '%s' is not declared by %s", e->string, m->name);
    if (k == m->n_hparams) continue;
    char text[64];
    if (cJSON_IsString(e))
      snprintf(text, sizeof text, "%s", e->valuestring);
    else
      snprintf(text, sizeof text, "%.17g", e->valuedouble);
    CHECKF(gs_hparam_parse(&m->hparams[k], text, &hp[k]) == GS_OK, "%s", gs_errmsg());
  }
  return hp;
}

static void run_golden(gs_runtime *rt, gs_device *dev, const cJSON *doc) {
  const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "method"));
  const cJSON *views_j = cJSON_GetObjectItem(doc, "views");
  const cJSON *gviews_j = cJSON_GetObjectItem(doc, "grad_views");
  const cJSON *gparams_j = cJSON_GetObjectItem(doc, "grad_params");
  int64_t n = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "batch"));
  int64_t d = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "dim"));
  int n_views = cJSON_GetArraySize(views_j);
  const cJSON *rtol_j = cJSON_GetObjectItem(doc, "rtol");
  double rtol = cJSON_IsNumber(rtol_j) ? rtol_j->valuedouble : 1e-4;
  CHECKF(name && n > 0 && d > 0 && n_views >= 1 && n_views <= MAX_VIEWS &&
             cJSON_GetArraySize(gviews_j) == n_views && cJSON_IsObject(gparams_j),
         "malformed golden file");
  if (!name || n <= 0 || d <= 0 || n_views < 1 || n_views > MAX_VIEWS) return;

  const gs_method_iface *m = gs_runtime_method(rt, name);
  CHECKF(m != NULL, "%s", gs_errmsg());
  if (!m) return;
  double *hp = resolve_hparams(m, cJSON_GetObjectItem(doc, "hparams"));
  int64_t total = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "total_steps"));
  int64_t step = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "step"));
  method_fixture f;
  int opened = method_fixture_open(&f, dev, m, hp, n, d, total > 0 ? total : 100, 0);
  void *self = f.self;
  gs_pset *params = f.params, *state = f.state;
  gs_graph *g = gs_graph_new();
  gs_program *prog = NULL;
  if (!opened || !g) goto done;
  int np = gs_pset_count(params);
  CHECK(np <= MAX_PARAMS);
  if (np > MAX_PARAMS) goto done;
  int written = write_values(cJSON_GetObjectItem(doc, "params"), params, "param");
  CHECKF(written == np, "%d of the method's %d trainable params have golden values", written, np);
  write_values(cJSON_GetObjectItem(doc, "state"), state, "state tensor");

  gs_tensor *views[MAX_VIEWS];
  for (int v = 0; v < n_views; v++) {
    char in_name[16];
    snprintf(in_name, sizeof in_name, "view%d", v);
    views[v] = gs_input(g, in_name, GS_F32, GS_SHAPE(n, d, 1, 1));
  }
  gs_method_out out = {0};
  gs_status st = m->build_loss(self, g, views, n_views, &out);
  CHECKF(st == GS_OK, "build_loss: %s", gs_errmsg());
  if (st != GS_OK) goto done;
  gs_shape ls = gs_tensor_shape(out.loss);
  CHECKF(out.loss && gs_shape_numel(&ls) == 1, "the loss must have one element");
  CHECKF(out.embed && gs_tensor_shape(out.embed).rank == 2 && gs_tensor_dim(out.embed, 0) == 2 * n,
         "embed must be [2N, D]");
  gs_tensor *wrt[MAX_VIEWS + MAX_PARAMS], *grads[MAX_VIEWS + MAX_PARAMS];
  for (int v = 0; v < n_views; v++) wrt[v] = views[v];
  for (int k = 0; k < np; k++) wrt[n_views + k] = gs_param_ref(g, gs_pset_get(params, k));
  st = gs_grad(g, out.loss, wrt, n_views + np, grads);
  CHECKF(st == GS_OK, "grad: %s", gs_graph_error(g));
  if (st != GS_OK) goto done;
  gs_tensor *outs[2 + MAX_VIEWS + MAX_PARAMS];
  outs[0] = out.loss;
  outs[1] = out.embed;
  for (int k = 0; k < n_views + np; k++) outs[2 + k] = grads[k];
  prog = gs_compile(dev, g, outs, 2 + n_views + np);
  CHECKF(prog != NULL, "compile: %s", gs_errmsg());
  if (!prog) goto done;
  for (int v = 0; v < n_views; v++) {
    float *x = floats(cJSON_GetArrayItem(views_j, v), n * d);
    CHECKF(x != NULL, "view %d: expected %lld numbers", v, (long long)(n * d));
    if (x) CHECKF(gs_program_feed(prog, views[v], x) == GS_OK, "%s", gs_errmsg());
    free(x);
  }
  gs_step_info info = {step, total > 0 ? total : 100, 0};
  if (m->feed) CHECKF(m->feed(self, prog, &info) == GS_OK, "feed: %s", gs_errmsg());
  CHECKF(gs_program_run(prog) == GS_OK, "run: %s", gs_errmsg());

  float loss = 0.0f;
  CHECKF(gs_program_fetch(prog, out.loss, &loss) == GS_OK, "%s", gs_errmsg());
  double want = cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "loss"));
  double lerr = fabs((double)loss - want) / (fabs(want) > 0 ? fabs(want) : 1.0);
  printf("%s: loss %.7g, golden %.7g, relative error %.2e\n", name, (double)loss, want, lerr);
  CHECKF(lerr <= rtol, "%s: loss %.7g, golden %.7g", name, (double)loss, want);

  double floor_norm = 1e-3 * largest_grad_norm(gviews_j, gparams_j);
  for (int k = 0; k < n_views + np; k++) {
    gs_shape s = gs_tensor_shape(grads[k]);
    int64_t numel = gs_shape_numel(&s);
    float *gv = malloc((size_t)numel * sizeof *gv);
    if (!gv) continue;
    CHECKF(gs_program_fetch(prog, grads[k], gv) == GS_OK, "%s", gs_errmsg());
    char what[160];
    const cJSON *ref;
    if (k < n_views) {
      snprintf(what, sizeof what, "d loss / d view%d", k);
      ref = cJSON_GetArrayItem(gviews_j, k);
    } else {
      const char *pn = gs_param_name(gs_pset_get(params, k - n_views));
      snprintf(what, sizeof what, "d loss / d %s", pn);
      ref = cJSON_GetObjectItem(gparams_j, pn);
    }
    int ok;
    double err = rel_err(gv, ref, numel, floor_norm, &ok);
    CHECKF(ok, "%s: %s: no golden gradient with %lld numbers", name, what, (long long)numel);
    if (ok) {
      printf("%s: %-40s relative error %.2e\n", name, what, err);
      CHECKF(err <= rtol, "%s: %s: relative error %.3g above %.3g", name, what, err, rtol);
    }
    free(gv);
  }
done:
  if (prog) gs_program_free(prog);
  gs_graph_free(g);
  method_fixture_close(&f);
  free(hp);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_golden FILE.json [DEVICE]\n");
    return 2;
  }
  char *text = read_text(argv[1]);
  CHECKF(text != NULL, "cannot read %s", argv[1]);
  cJSON *doc = text ? cJSON_Parse(text) : NULL;
  CHECKF(doc != NULL, "%s is not JSON", argv[1]);
  gs_runtime *rt = gs_runtime_open(NULL);
  gs_device *dev = rt ? gs_device_open(rt, argc > 2 ? argv[2] : "cpu") : NULL;
  CHECKF(dev != NULL, "%s", gs_errmsg());
  if (doc && dev) run_golden(rt, dev, doc);
  if (dev) gs_device_close(dev);
  if (rt) gs_runtime_close(rt);
  cJSON_Delete(doc);
  free(text);
  return check_summary();
}
