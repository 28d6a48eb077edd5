/* "collapsed": a method whose embedding is one constant vector for every view, collapsed by
 * construction, so the training loop's collapse check must warn on its first logged step. Its
 * loss, the squared distance of the two views' backbone features, is finite and trains the
 * backbone, so the run itself is ordinary. Built for the tests only, into a directory of its own.
 */
#include <gessl/gessl.h>
#include <stdlib.h>

typedef struct collapsed {
  gs_model *backbone; /* the host's */
} collapsed;

static gs_status collapsed_create(const gs_method_ctx *ctx, void **self) {
  collapsed *s = calloc(1, sizeof *s);
  if (!s) return gs_fail(GS_ERR_NOMEM, "collapsed: out of memory");
  s->backbone = ctx->backbone;
  *self = s;
  return GS_OK;
}

static void collapsed_destroy(void *self) { free(self); }

static gs_status collapsed_params(void *self, gs_pset *out) {
  (void)self;
  (void)out;
  return GS_OK;
}

static gs_status collapsed_build_loss(void *self, gs_graph *g, gs_tensor *const *views, int n_views,
                                      gs_method_out *out) {
  collapsed *s = self;
  if (n_views < 2) return gs_fail(GS_ERR_INVALID, "collapsed: needs 2 views, got %d", n_views);
  gs_tensor *x = gs_concat(g, views, 2, 0);
  gs_tensor *h = gs_model_forward(s->backbone, g, x, 1); /* [2N, feat] */
  int64_t n = gs_tensor_dim(views[0], 0);
  gs_tensor *d = gs_sub(g, gs_slice(g, h, 0, 0, n), gs_slice(g, h, 0, n, n));
  out->loss = gs_mean_all(g, gs_square(g, d));
  /* 0 * h + 1: every row the same vector, whatever the network computes. */
  out->embed = gs_add_scalar(g, gs_scale(g, gs_detach(g, h), 0.0f), 1.0f);
  if (gs_graph_status(g) != GS_OK)
    return gs_fail(gs_graph_status(g), "collapsed: %s", gs_graph_error(g));
  return GS_OK;
}

static const gs_method_iface collapsed_iface = {
    .abi_version = GS_METHOD_ABI_VERSION,
    .struct_size = sizeof(gs_method_iface),
    .name = "collapsed",
    .summary = "test: a constant embedding (collapsed by construction)",
    .hparams = NULL,
    .n_hparams = 0,
    .n_views = 2,
    .create = collapsed_create,
    .destroy = collapsed_destroy,
    .params = collapsed_params,
    .build_loss = collapsed_build_loss,
};

GS_API const gs_method_iface *gessl_method_entry(void) { return &collapsed_iface; }
