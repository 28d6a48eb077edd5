/* Reverse-mode differentiation. Node creation order is a topological order, so one backward
 * sweep over the nodes that existed when gs_grad was called visits every node after all of its
 * consumers. The per-op rules live beside each op family (grad_rules.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grad_rules.h"
#include "graph/graph_impl.h"
#include "ops_impl.h"

static gs_grad_rule rule_for(const struct gs_node *y) {
  if (y->kind == GS_NODE_ALIAS || y->kind == GS_NODE_CONCAT) return gs_grad_shape;
  if (y->kind == GS_NODE_COLLECTIVE) return gs_grad_collective;
  if (y->kind != GS_NODE_OP) return NULL;
  switch (y->op) {
  case GS_OP_UNARY:
  case GS_OP_BINARY:
  case GS_OP_AXPBY: return gs_grad_elementwise;
  case GS_OP_REDUCE:
  case GS_OP_EXPAND:
  case GS_OP_DOT: return gs_grad_reduce;
  case GS_OP_PERMUTE:
  case GS_OP_SLICE:
  case GS_OP_GATHER_ROWS:
  case GS_OP_SCATTER_ADD_ROWS: return gs_grad_shape;
  case GS_OP_MATMUL: return gs_grad_matmul;
  case GS_OP_CONV2D:
  case GS_OP_MAXPOOL2D:
  case GS_OP_AVGPOOL2D: return gs_grad_conv;
  default: return NULL;
  }
}

static gs_status graph_status(gs_graph *g) {
  if (g->status != GS_OK) gs_fail(g->status, "%s", g->err);
  return g->status;
}

/* The nodes from `first` on were made while differentiating y (its rule, and the sums of
 * gradients that meet at its inputs): --detect-anomaly names y when one of them is not finite. */
static void tag_backward(gs_graph *g, int first, const struct gs_node *y) {
  for (int id = first; id < g->n; id++)
    if (!g->nodes[id]->grad_of) g->nodes[id]->grad_of = y->id + 1;
}

/* Marks the nodes whose value depends, through differentiable edges, on a requested node. */
static char *mark_needed(gs_graph *g, int n0, gs_tensor *const *params, int n) {
  char *needs = calloc((size_t)n0, 1);
  if (!needs) return NULL;
  for (int k = 0; k < n; k++) needs[params[k]->id] = 1;
  for (int id = 0; id < n0; id++) {
    struct gs_node *y = g->nodes[id];
    if (needs[id] || y->no_grad || y->is_sink || y->desc.dtype != GS_F32) continue;
    for (int k = 0; k < y->n_in && !needs[id]; k++) needs[id] = needs[y->in[k]->id];
  }
  return needs;
}

gs_status gs_grad(gs_graph *g, gs_tensor *loss, gs_tensor *const *params, int n,
                  gs_tensor **grads) {
  if (!g) return gs_fail(GS_ERR_INVALID, "grad: NULL graph");
  if (n > 0 && grads)
    for (int k = 0; k < n; k++) grads[k] = NULL;
  if (g->status != GS_OK) return graph_status(g);
  if (n < 0 || (n > 0 && (!params || !grads))) {
    gs_graph_fail(g, GS_ERR_INVALID, "grad: bad parameter list");
    return graph_status(g);
  }
  if (!gs_graph_check(g, "grad", &loss, 1) || !gs_graph_check(g, "grad", params, n))
    return g->status != GS_OK ? graph_status(g) : gs_fail(GS_ERR_INVALID, "grad: NULL operand");
  if (gs_shape_numel(&loss->desc.shape) != 1 || loss->desc.dtype != GS_F32) {
    char b[GS_SHAPE_BUF];
    gs_graph_fail(g, GS_ERR_SHAPE, "grad: loss must be one f32 value, got %s",
                  gs_op_shp(&loss->desc.shape, b));
    return graph_status(g);
  }
  int n0 = g->n, max_in = 1;
  for (int id = 0; id < n0; id++)
    if (g->nodes[id]->n_in > max_in) max_in = g->nodes[id]->n_in;
  char *needs = mark_needed(g, n0, params, n);
  struct gs_node **dys = calloc((size_t)n0, sizeof *dys);
  struct gs_node **dx = calloc((size_t)max_in, sizeof *dx);
  char *want = calloc((size_t)max_in, 1);
  if (!needs || !dys || !dx || !want) {
    gs_graph_fail(g, GS_ERR_NOMEM, "grad: out of memory");
    goto done;
  }
  if (needs[loss->id]) {
    int first_new = g->n;
    dys[loss->id] = gs_op_alias(g, gs_fill(g, GS_SHAPE(1), 1.0f), loss->desc.shape);
    tag_backward(g, first_new, loss);
  }
  for (int id = loss->id; id >= 0 && g->status == GS_OK; id--) {
    struct gs_node *y = g->nodes[id], *dy = dys[id];
    if (!dy || y->no_grad || y->is_sink || y->n_in == 0) continue;
    int any = 0;
    for (int k = 0; k < y->n_in; k++) {
      want[k] = needs[y->in[k]->id] && y->in[k]->desc.dtype == GS_F32;
      any |= want[k];
      dx[k] = NULL;
    }
    if (!any) continue;
    gs_grad_rule rule = rule_for(y);
    if (!rule) {
      gs_graph_fail(g, GS_ERR_UNSUPPORTED, "grad: no gradient rule for %s",
                    y->kind == GS_NODE_OP ? gs_opcode_name(y->op) : "this node kind");
      break;
    }
    int first_new = g->n;
    if (!rule(g, y, dy, want, dx)) break;
    for (int k = 0; k < y->n_in; k++) {
      struct gs_node *x = y->in[k];
      if (!want[k] || !dx[k]) continue;
      if (!gs_shape_eq(&dx[k]->desc.shape, &x->desc.shape)) {
        char b1[GS_SHAPE_BUF], b2[GS_SHAPE_BUF];
        gs_graph_fail(g, GS_ERR_SHAPE, "grad: rule for %s gave %s for input %d of shape %s",
                      y->kind == GS_NODE_OP ? gs_opcode_name(y->op) : "alias/concat",
                      gs_op_shp(&dx[k]->desc.shape, b1), k, gs_op_shp(&x->desc.shape, b2));
        break;
      }
      dys[x->id] = dys[x->id] ? gs_op_grad_add(g, dys[x->id], dx[k]) : dx[k];
    }
    tag_backward(g, first_new, y);
  }
  for (int k = 0; k < n && g->status == GS_OK; k++) {
    struct gs_node *p = params[k];
    int first_new = g->n;
    /* Zeros are filled as [1] at least: backends are never handed a rank-0 launch. */
    grads[k] = dys[p->id]           ? dys[p->id]
               : p->desc.shape.rank ? gs_fill(g, p->desc.shape, 0.0f)
                                    : gs_op_alias(g, gs_fill(g, GS_SHAPE(1), 0.0f), p->desc.shape);
    tag_backward(g, first_new, loss);
  }
done:
  free(needs);
  free(dys);
  free(dx);
  free(want);
  if (g->status != GS_OK) {
    for (int k = 0; k < n; k++) grads[k] = NULL;
    return graph_status(g);
  }
  return GS_OK;
}
