/* MLP heads (projectors, predictors) as PyTorch's nn.Sequential of Linear, BatchNorm1d, ReLU, so
 * names and state_dict order match: prefix.0 Linear, prefix.1 BN, prefix.2 ReLU, prefix.3 ... */
#include <stdio.h>
#include <stdlib.h>

#include "gessl/model.h"
#include "layers.h"

typedef struct mlp_layer {
  gs_param *w, *b; /* b NULL when a BN follows */
  int has_bn, relu;
  gs_lbn bn;
} mlp_layer;

struct gs_mlp {
  int n; /* linear layers */
  int64_t in_dim;
  gs_lbuild b;
  mlp_layer *layers;
};

gs_mlp *gs_mlp_new(gs_device *dev, const char *prefix, const int64_t *dims, int n, int last_bn,
                   int last_bn_affine, uint64_t seed) {
  if (!dev || !dims || n < 2) {
    gs_fail(GS_ERR_INVALID, "mlp %s: needs a device and at least two dims", prefix ? prefix : "");
    return NULL;
  }
  for (int k = 0; k < n; k++)
    if (dims[k] < 1) {
      gs_fail(GS_ERR_INVALID, "mlp %s: dim %d is %lld, not positive", prefix ? prefix : "", k,
              (long long)dims[k]);
      return NULL;
    }
  gs_mlp *h = calloc(1, sizeof *h);
  if (h) h->layers = calloc((size_t)(n - 1), sizeof *h->layers);
  if (!h || !h->layers) {
    free(h);
    gs_fail(GS_ERR_NOMEM, "mlp: out of memory");
    return NULL;
  }
  h->n = n - 1;
  h->in_dim = dims[0];
  char pre[160];
  snprintf(pre, sizeof pre, "%s%s", prefix ? prefix : "", prefix && *prefix ? "." : "");
  if (gs_lbuild_init(&h->b, dev, pre, seed) != GS_OK) {
    free(h->layers);
    free(h);
    return NULL;
  }
  int idx = 0; /* the nn.Sequential index */
  for (int k = 0; k < h->n; k++) {
    mlp_layer *L = &h->layers[k];
    int last = k == h->n - 1;
    L->has_bn = !last || last_bn;
    L->relu = !last;
    char name[32];
    snprintf(name, sizeof name, "%d", idx++);
    L->w = gs_llinear(&h->b, name, dims[k + 1], dims[k], L->has_bn ? NULL : &L->b);
    if (L->has_bn) {
      snprintf(name, sizeof name, "%d", idx++);
      L->bn = gs_lbn_new(&h->b, name, dims[k + 1], !last || last_bn_affine);
    }
    if (L->relu) idx++;
  }
  if (h->b.status != GS_OK) {
    gs_mlp_free(h);
    return NULL;
  }
  return h;
}

void gs_mlp_free(gs_mlp *h) {
  if (!h) return;
  gs_lbuild_free_all(&h->b);
  free(h->layers);
  free(h);
}

gs_tensor *gs_mlp_forward(gs_mlp *h, gs_graph *g, gs_tensor *x, int train) {
  if (!h || !g || !x) return NULL;
  if (gs_tensor_shape(x).rank != 2 || gs_tensor_dim(x, 1) != h->in_dim) {
    gs_shape s = gs_tensor_shape(x);
    char b[96];
    return gs_graph_fail(g, GS_ERR_SHAPE, "mlp: input %s is not [N, %lld]",
                         gs_shape_str(&s, b, sizeof b), (long long)h->in_dim);
  }
  for (int k = 0; k < h->n; k++) {
    mlp_layer *L = &h->layers[k];
    x = gs_linear(g, x, gs_param_ref(g, L->w), L->b ? gs_param_ref(g, L->b) : NULL);
    if (L->has_bn) x = gs_lbn_forward(g, &L->bn, x, train);
    if (L->relu) x = gs_relu(g, x);
  }
  return x;
}

const gs_pset *gs_mlp_params(const gs_mlp *h) { return h ? h->b.params : NULL; }
const gs_pset *gs_mlp_state(const gs_mlp *h) { return h ? h->b.state : NULL; }
