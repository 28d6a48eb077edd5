/* The sigma-measurement: the auxiliary instance-discrimination head's cross-entropy against the
 * partner view, at a fixed temperature and task size (DESIGN.md §5), on the method's embedding
 * and on the backbone's features. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval_impl.h"

gs_status gs_sigma_from_embed(const float *embed, int64_t n2, int64_t d, float tau, double *raw,
                              double *norm) {
  if (!embed || !raw || n2 < 4 || n2 % 2 || d < 1 || !(tau > 0))
    return gs_fail(GS_ERR_INVALID,
                   "sigma: needs an even number (>= 4) of embeddings, a width and tau > 0 "
                   "(got %lld rows, width %lld, tau %g)",
                   (long long)n2, (long long)d, (double)tau);
  double *z = malloc((size_t)n2 * (size_t)d * sizeof *z);
  double *s = malloc((size_t)n2 * sizeof *s);
  if (!z || !s) {
    free(z);
    free(s);
    return gs_fail(GS_ERR_NOMEM, "sigma: out of memory");
  }
  for (int64_t i = 0; i < n2; i++) {
    double q = 0;
    for (int64_t j = 0; j < d; j++) {
      double v = embed[(size_t)i * (size_t)d + j];
      if (!isfinite(v)) {
        free(z);
        free(s);
        return gs_fail(GS_ERR_NUMERIC, "sigma: embedding row %lld is not finite", (long long)i);
      }
      q += v * v;
    }
    double inv = 1.0 / fmax(sqrt(q), 1e-12);
    for (int64_t j = 0; j < d; j++)
      z[(size_t)i * (size_t)d + j] = embed[(size_t)i * (size_t)d + j] * inv;
  }
  int64_t half = n2 / 2;
  double total = 0;
  for (int64_t i = 0; i < n2; i++) {
    const double *zi = z + (size_t)i * (size_t)d;
    double mx = -INFINITY;
    for (int64_t j = 0; j < n2; j++) {
      if (j == i) continue;
      const double *zj = z + (size_t)j * (size_t)d;
      double dot = 0;
      for (int64_t t = 0; t < d; t++) dot += zi[t] * zj[t];
      s[j] = dot / tau;
      if (s[j] > mx) mx = s[j];
    }
    double sum = 0;
    for (int64_t j = 0; j < n2; j++)
      if (j != i) sum += exp(s[j] - mx);
    int64_t p = i < half ? i + half : i - half;
    total += mx + log(sum) - s[p];
  }
  free(z);
  free(s);
  *raw = total / (double)n2;
  if (norm) *norm = *raw / log((double)(n2 - 1));
  return GS_OK;
}

/* Snapshot of every persistent tensor a method's graph may write, restored after measuring. */
typedef struct saved_state {
  gs_pset *live, *copy;
} saved_state;

static gs_status save_state(const gs_method_iface *method, void *self, gs_model *backbone,
                            saved_state *s) {
  s->live = gs_pset_new();
  s->copy = NULL;
  if (!s->live) return gs_fail(GS_ERR_NOMEM, "sigma: out of memory");
  const gs_pset *bs = gs_model_state(backbone);
  gs_status st = GS_OK;
  for (int k = 0; k < gs_pset_count(bs) && st == GS_OK; k++)
    st = gs_pset_add(s->live, gs_pset_get(bs, k));
  if (st == GS_OK && method->state) st = method->state(self, s->live);
  if (st != GS_OK) return eval_wrap(st, "sigma: collecting the state to keep");
  if (gs_pset_count(s->live) == 0) return GS_OK;
  s->copy = gs_pset_clone(s->live, ".sigma_saved", 1);
  if (!s->copy) return eval_wrap(GS_ERR_NOMEM, "sigma: saving the state");
  return GS_OK;
}

static gs_status restore_state(saved_state *s) {
  gs_status st = GS_OK;
  if (s->copy) st = gs_pset_copy(s->live, s->copy);
  if (s->copy) gs_pset_free_params(s->copy);
  gs_pset_free(s->live);
  s->live = s->copy = NULL;
  return st;
}

/* Sigma on the backbone's features of the first two views, in eval mode (BN with running
 * statistics, so nothing moves and each image's features do not depend on its batch), for the
 * same tasks the loader options give the method's figure. */
static gs_status backbone_sigma(gs_device *dev, gs_model *backbone, const gs_dataset *ds,
                                const gs_loader_options *lo, int tasks, float tau, double *raw) {
  const int n = lo->batch, c = gs_dataset_channels(ds);
  gs_loader *loader = gs_loader_new(ds, lo);
  if (!loader) return eval_wrap(GS_ERR_INVALID, "sigma: data loader");
  eval_fwd f[2];
  int size[2] = {lo->recipe.views[0].size, lo->recipe.views[1].size};
  int nf = size[1] == size[0] ? 1 : 2;
  gs_status st = eval_fwd_init(&f[0], dev, backbone, n, size[0]);
  if (st == GS_OK && nf == 2) st = eval_fwd_init(&f[1], dev, backbone, n, size[1]);
  if (st != GS_OK) {
    if (nf == 2 && f[0].prog) eval_fwd_free(&f[0]);
    gs_loader_free(loader);
    return eval_wrap(st, "sigma on the backbone");
  }
  int64_t d = f[0].d;
  float *feat = malloc((size_t)2 * (size_t)n * (size_t)d * sizeof *feat);
  if (!feat) st = gs_fail(GS_ERR_NOMEM, "sigma: out of memory");
  double sum = 0;
  for (int t = 0; t < tasks && st == GS_OK; t++) {
    gs_batch b;
    st = gs_loader_next(loader, &b);
    for (int v = 0; v < 2 && st == GS_OK; v++)
      st = eval_fwd_run(&f[v < nf ? v : 0], b.views[v], n, c, size[v], size[v],
                        feat + (size_t)v * (size_t)n * (size_t)d);
    double r = 0;
    if (st == GS_OK) st = gs_sigma_from_embed(feat, 2 * (int64_t)n, d, tau, &r, NULL);
    sum += r;
  }
  if (st == GS_OK) *raw = sum / tasks;
  for (int k = 0; k < nf; k++) eval_fwd_free(&f[k]);
  free(feat);
  gs_loader_free(loader);
  return st;
}

gs_status gs_sigma_measure(gs_device *dev, const gs_method_iface *method, void *self,
                           gs_model *backbone, const gs_dataset *ds, const gs_sigma_options *opt,
                           gs_sigma_result *out) {
  if (!dev || !method || !method->build_loss || !backbone || !ds || !out)
    return gs_fail(GS_ERR_INVALID, "gs_sigma_measure: missing argument");
  gs_sigma_options o = {0};
  if (opt) o = *opt;
  int n = o.task_size > 0 ? o.task_size : 128, tasks = o.tasks > 0 ? o.tasks : 8;
  float tau = o.tau > 0 ? o.tau : 0.1f;
  memset(out, 0, sizeof *out);
  if (n < 2) return gs_fail(GS_ERR_INVALID, "sigma: task size %d, needs at least 2 images", n);
  if (gs_dataset_size(ds) < n)
    return gs_fail(GS_ERR_INVALID, "sigma: %s has %lld images, fewer than a task of %d",
                   gs_dataset_name(ds), (long long)gs_dataset_size(ds), n);
  if (gs_dataset_height(ds) != gs_dataset_width(ds) && o.image_size <= 0)
    return gs_fail(GS_ERR_SHAPE, "sigma: %s images are not square; give an image size",
                   gs_dataset_name(ds));
  int size = o.image_size > 0 ? o.image_size : gs_dataset_height(ds);
  int c = gs_dataset_channels(ds), mc = gs_model_in_channels(backbone);
  gs_loader_options lo = {0};
  gs_status vst = gs_method_views(method, o.method_hp, size, &lo.recipe);
  if (vst != GS_OK) return eval_wrap(vst, "sigma");
  int n_views = lo.recipe.n_views < 2 ? 2 : lo.recipe.n_views;
  if (lo.recipe.n_views < 2) lo.recipe = gs_aug_recipe_make(NULL, size, 2);
  lo.batch = n;
  lo.threads = o.threads;
  lo.seed = o.seed;
  lo.drop_last = 1;
  double bb_raw = 0;
  gs_status bst = backbone_sigma(dev, backbone, ds, &lo, tasks, tau, &bb_raw);
  if (bst != GS_OK) return bst;
  gs_loader *loader = gs_loader_new(ds, &lo);
  if (!loader) return eval_wrap(GS_ERR_INVALID, "sigma: data loader");

  saved_state saved = {NULL, NULL};
  gs_graph *g = gs_graph_new();
  gs_program *prog = NULL;
  float *embed = NULL, *vbuf = NULL;
  gs_tensor *views[GS_MAX_VIEWS];
  char names[GS_MAX_VIEWS][16];
  gs_status st = g ? save_state(method, self, backbone, &saved) : GS_ERR_NOMEM;
  if (!g) gs_fail(GS_ERR_NOMEM, "sigma: out of memory");
  size_t vmax = 0;
  for (int v = 0; v < n_views && st == GS_OK; v++) {
    int vs = lo.recipe.views[v].size;
    snprintf(names[v], sizeof names[v], "view%d", v);
    views[v] = gs_input(g, names[v], GS_F32, GS_SHAPE(n, mc, vs, vs));
    size_t numel = (size_t)n * (size_t)mc * (size_t)vs * (size_t)vs;
    if (numel > vmax) vmax = numel;
  }
  gs_method_out mo = {NULL, NULL};
  if (st == GS_OK) {
    st = method->build_loss(self, g, views, n_views, &mo);
    if (st != GS_OK) st = eval_wrap(st, "sigma: building the method's graph");
  }
  int64_t d = 0;
  if (st == GS_OK) {
    gs_shape es = mo.embed ? gs_tensor_shape(mo.embed) : (gs_shape){0, {0}};
    if (es.rank != 2 || es.dim[0] != 2 * (int64_t)n) {
      char b[96];
      st = gs_fail(GS_ERR_SHAPE, "sigma: method %s's embedding is %s, not [%d, D]", method->name,
                   gs_shape_str(&es, b, sizeof b), 2 * n);
    } else {
      d = es.dim[1];
    }
  }
  if (st == GS_OK) {
    prog = gs_compile(dev, g, &mo.embed, 1);
    if (!prog) st = eval_wrap(GS_ERR_BACKEND, "sigma: compiling the method's graph");
  }
  if (st == GS_OK) {
    embed = malloc((size_t)2 * (size_t)n * (size_t)d * sizeof *embed);
    vbuf = c != mc ? malloc(vmax * sizeof *vbuf) : NULL;
    if (!embed || (c != mc && !vbuf)) st = gs_fail(GS_ERR_NOMEM, "sigma: out of memory");
  }
  double sum_raw = 0;
  for (int t = 0; t < tasks && st == GS_OK; t++) {
    gs_batch b;
    st = gs_loader_next(loader, &b);
    for (int v = 0; v < n_views && st == GS_OK; v++) {
      if (!gs_program_has_input(prog, names[v])) continue;
      const float *data = b.views[v];
      if (c != mc) {
        int vs = lo.recipe.views[v].size;
        st = eval_adapt_images(b.views[v], n, c, vs, vs, mc, vs, vbuf);
        data = vbuf;
      }
      if (st == GS_OK) st = gs_program_feed_name(prog, names[v], data);
    }
    if (st == GS_OK && method->feed) st = method->feed(self, prog, &o.step);
    if (st == GS_OK) st = gs_program_run(prog);
    if (st == GS_OK) st = gs_program_fetch(prog, mo.embed, embed);
    double raw = 0;
    if (st == GS_OK) st = gs_sigma_from_embed(embed, 2 * (int64_t)n, d, tau, &raw, NULL);
    sum_raw += raw;
  }
  if (st == GS_OK) {
    out->raw = sum_raw / tasks;
    out->norm = out->raw / log(2.0 * n - 1.0);
    out->tasks = tasks;
    out->task_size = n;
    out->backbone_raw = bb_raw;
    out->backbone_norm = bb_raw / log(2.0 * n - 1.0);
  }
  gs_program_free(prog);
  gs_graph_free(g);
  /* Restore even after a failure: a half-run program may already have moved the statistics. */
  if (saved.live) {
    char why[768];
    snprintf(why, sizeof why, "%s", gs_errmsg());
    gs_status rs = restore_state(&saved);
    if (st == GS_OK && rs != GS_OK)
      st = eval_wrap(rs, "sigma: restoring the state");
    else if (st != GS_OK)
      gs_fail(st, "%s", why);
  }
  gs_loader_free(loader);
  free(embed);
  free(vbuf);
  return st;
}
