/* Collective ops: all-reduce and all-gather across the ranks of the world (comm.h), as graph
 * nodes so that autodiff differentiates through them and the compiler turns them into host-side
 * collectives between program segments. In a world of one they are the identity and add no node.
 *
 * Gradient rules, for the convention that each rank's parameter gradients are averaged across
 * ranks afterwards (data-parallel training): an all-reduce's gradient is the same all-reduce of
 * the upstream gradients; an all-gather's is the sum over ranks of the upstream gradients (an
 * all-reduce sum) restricted to this rank's rows (a reduce-scatter). */
#include <stdio.h>

#include "gessl/comm.h"
#include "grad_rules.h"
#include "ops_impl.h"

/* A collective node over xs (f32). SUM/MEAN: the flat concatenation of xs reduced over ranks,
 * shaped [total] (or x's shape for one input); GATHER: x's rows of every rank, rank-major. */
static struct gs_node *collective(gs_graph *g, int kind, struct gs_node *const *xs, int n) {
  if (!gs_graph_check(g, "collective", xs, n)) return NULL;
  int64_t total = 0;
  for (int k = 0; k < n; k++) {
    if (xs[k]->desc.dtype != GS_F32)
      return gs_graph_fail(g, GS_ERR_INVALID, "collective: operand %d is not f32", k);
    total += gs_shape_numel(&xs[k]->desc.shape);
  }
  gs_shape s = GS_SHAPE(total);
  if (n == 1) s = xs[0]->desc.shape;
  if (kind == GS_COLL_GATHER) {
    if (n != 1 || s.rank < 1)
      return gs_graph_fail(g, GS_ERR_SHAPE, "all_gather: needs one operand of rank >= 1");
    s.dim[0] *= gs_world_batch_ranks();
  }
  struct gs_node *y = gs_node_new(g, GS_NODE_COLLECTIVE, GS_OP_NOP, GS_F32, s, xs, n);
  if (y) y->i[0] = kind;
  return y;
}

gs_tensor *gs_all_reduce(gs_graph *g, gs_tensor *x, int mean) {
  if (!gs_graph_check(g, "all_reduce", &x, 1)) return NULL;
  if (gs_world_batch_ranks() < 2) return x;
  return collective(g, mean ? GS_COLL_MEAN : GS_COLL_SUM, &x, 1);
}

struct gs_node *gs_op_all_reduce_flat(gs_graph *g, struct gs_node *const *xs, int n, int mean) {
  if (n == 1 && gs_graph_check(g, "all_reduce", xs, 1)) { /* one operand keeps its shape: flatten */
    struct gs_node *x = gs_op_alias(g, xs[0], GS_SHAPE(gs_shape_numel(&xs[0]->desc.shape)));
    return collective(g, mean ? GS_COLL_MEAN : GS_COLL_SUM, &x, 1);
  }
  return collective(g, mean ? GS_COLL_MEAN : GS_COLL_SUM, xs, n);
}

gs_tensor *gs_all_gather(gs_graph *g, gs_tensor *x, int chunks) {
  if (!gs_graph_check(g, "all_gather", &x, 1)) return NULL;
  const gs_shape *sx = &x->desc.shape;
  char b[GS_SHAPE_BUF];
  if (sx->rank < 1 || chunks < 1 || sx->dim[0] % chunks != 0)
    return gs_graph_fail(g, GS_ERR_SHAPE, "all_gather: %d chunks do not divide the rows of %s",
                         chunks, gs_op_shp(sx, b));
  if (gs_world_batch_ranks() < 2) return x;
  if (chunks == 1) return collective(g, GS_COLL_GATHER, &x, 1);
  struct gs_node *parts[GS_MAX_GATHER_CHUNKS];
  if (chunks > GS_MAX_GATHER_CHUNKS)
    return gs_graph_fail(g, GS_ERR_INVALID, "all_gather: %d chunks, at most %d", chunks,
                         GS_MAX_GATHER_CHUNKS);
  int64_t rows = sx->dim[0] / chunks;
  for (int k = 0; k < chunks; k++)
    parts[k] =
        collective(g, GS_COLL_GATHER, (struct gs_node *[]){gs_slice(g, x, 0, k * rows, rows)}, 1);
  return gs_concat(g, parts, chunks, 0);
}

int gs_grad_collective(gs_graph *g, struct gs_node *y, struct gs_node *dy, const char *want,
                       struct gs_node **dx) {
  if (y->i[0] == GS_COLL_GATHER) {
    struct gs_node *s = collective(g, GS_COLL_SUM, &dy, 1);
    int64_t rows = y->in[0]->desc.shape.dim[0];
    dx[0] = gs_slice(g, s, 0, (int64_t)gs_world_rank() * rows, rows);
    return g->status == GS_OK;
  }
  struct gs_node *d = collective(g, y->i[0], &dy, 1);
  if (y->n_in == 1) {
    dx[0] = d;
    return g->status == GS_OK;
  }
  int64_t at = 0;
  for (int k = 0; k < y->n_in; k++) {
    const gs_shape *sk = &y->in[k]->desc.shape;
    int64_t nk = gs_shape_numel(sk);
    if (want[k]) dx[k] = gs_op_alias(g, gs_slice(g, d, 0, at, nk), *sk);
    at += nk;
  }
  return g->status == GS_OK;
}
