/* The plain meta-optimizer: one batch, one gradient, one optimizer step.
 *
 * Forward, backward and the parameter updates are one compiled program, built once at create and
 * run every step with new views; only the loss scalar comes back to the host. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gessl/gessl.h"

typedef struct meta_none {
  const gs_meta_host *host;
  gs_graph *g; /* kept alive while prog refers to its nodes for feeds and fetches */
  gs_program *prog;
  gs_tensor *loss;
  gs_tensor **views;
  int n_views;
} meta_none;

static void none_destroy(void *self) {
  meta_none *m = self;
  if (!m) return;
  if (m->prog) gs_program_free(m->prog);
  gs_graph_free(m->g);
  free(m->views);
  free(m);
}

static gs_status build(meta_none *m) {
  const gs_meta_host *h = m->host;
  m->g = gs_graph_new();
  m->views = calloc((size_t)h->n_views, sizeof *m->views);
  if (!m->g || !m->views) return gs_fail(GS_ERR_NOMEM, "meta none: out of memory");
  m->n_views = h->n_views;
  for (int v = 0; v < h->n_views; v++) {
    char name[32];
    snprintf(name, sizeof name, "view%d", v);
    /* Multi-crop's local crops are smaller than the global views: each input in its own shape. */
    m->views[v] =
        gs_input(m->g, name, GS_F32, GS_HAS(h, view_shapes) ? h->view_shapes[v] : h->view_shape);
  }
  if (gs_graph_status(m->g) != GS_OK)
    return gs_fail(gs_graph_status(m->g), "meta none: %s", gs_graph_error(m->g));
  gs_method_out out = {0};
  gs_status st = h->build_loss(h->host, m->g, m->views, m->n_views, &out);
  if (st != GS_OK) return st;
  m->loss = out.loss;

  int n = gs_pset_count(h->params);
  gs_tensor **refs = calloc((size_t)n + 1, sizeof *refs);
  gs_tensor **grads = calloc((size_t)n + 1, sizeof *grads);
  if (!refs || !grads) {
    free(refs);
    free(grads);
    return gs_fail(GS_ERR_NOMEM, "meta none: out of memory");
  }
  for (int k = 0; k < n; k++) refs[k] = gs_param_ref(m->g, gs_pset_get(h->params, k));
  st = gs_graph_status(m->g);
  if (st == GS_OK) st = gs_grad(m->g, m->loss, refs, n, grads);
  if (st == GS_OK) st = h->add_update(h->host, m->g, grads, 1.0f);
  free(refs);
  free(grads);
  if (st != GS_OK) return gs_fail_context(st, "meta none: building the training step");
  m->prog = gs_compile(h->dev, m->g, &m->loss, 1);
  if (!m->prog) return gs_fail_context(GS_ERR_INVALID, "meta none: compiling the training step");
  return GS_OK;
}

static gs_status none_create(const gs_meta_host *host, void **self) {
  if (!GS_HAS(host, run)) return gs_fail(GS_ERR_INVALID, "meta none: the host has no run service");
  meta_none *m = calloc(1, sizeof *m);
  if (!m) return gs_fail(GS_ERR_NOMEM, "meta none: out of memory");
  m->host = host;
  gs_status st = build(m);
  if (st != GS_OK) {
    none_destroy(m);
    return st;
  }
  *self = m;
  return GS_OK;
}

static int none_batches_per_step(void *self) { return 1; }

static gs_status none_step(void *self, gs_meta_result *res) {
  meta_none *m = self;
  const gs_meta_host *h = m->host;
  const float *const *views = NULL;
  gs_status st = h->next_batch(h->host, &views);
  if (st != GS_OK) return st;
  for (int v = 0; v < m->n_views && st == GS_OK; v++)
    st = gs_program_feed(m->prog, m->views[v], views[v]);
  if (st == GS_OK) st = h->run(h->host, m->prog);
  float loss = 0.0f;
  if (st == GS_OK) st = gs_program_fetch(m->prog, m->loss, &loss);
  if (st == GS_OK) st = h->after_step(h->host);
  if (st != GS_OK) return st;
  memset(res, 0, sizeof *res);
  res->loss = loss;
  res->batches = 1;
  return GS_OK;
}

static size_t none_extra_bytes(void *self) { return 0; }

static const gs_meta_iface none_iface = {
    .abi_version = GS_META_ABI_VERSION,
    .struct_size = sizeof(gs_meta_iface),
    .name = "none",
    .summary = "plain training: one optimizer step per batch on the method's loss",
    .hparams = NULL,
    .n_hparams = 0,
    .create = none_create,
    .destroy = none_destroy,
    .batches_per_step = none_batches_per_step,
    .step = none_step,
    .extra_bytes = none_extra_bytes,
};

GS_API const gs_meta_iface *gessl_meta_entry(void) { return &none_iface; }
