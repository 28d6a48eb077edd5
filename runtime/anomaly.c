/* Checked execution (gs_device_set_detect_anomaly): the words that name a node in a message, and
 * the check of a node's value after it ran. It lives in the runtime, not in a backend, so it
 * works the same on every backend: the compiler cuts a checked program into one segment per
 * node (compile.c), and the run reads each segment's value back through the backend's buf_read.
 *
 * Graphs carry no layer names; parameters do ("backbone.layer3.0.conv1.weight"). A node that
 * reads a parameter is "in" that parameter's layer; another is "after" the nearest layer
 * upstream of it; a backward node is named by the forward node it differentiates (gs_node's
 * grad_of, set by gs_grad). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph_impl.h"
#include "program_impl.h"

/* The param a node reads directly: through aliases and the ops that only move a weight's values
 * (a broadcast scale, a transposed matrix). */
static const gs_param *param_read(const struct gs_node *n) {
  for (int k = 0; k < n->n_in; k++) {
    const struct gs_node *x = n->in[k];
    while (x->n_in == 1 &&
           (x->kind == GS_NODE_ALIAS ||
            (x->kind == GS_NODE_OP && (x->op == GS_OP_EXPAND || x->op == GS_OP_PERMUTE))))
      x = x->in[0];
    if (x->kind == GS_NODE_PARAM && x->param) return x->param;
  }
  return NULL;
}

/* "layer3.conv1" of "layer3.conv1.weight": a parameter's layer is its name less the last part. */
static void layer_name(const gs_param *p, char *buf, size_t len) {
  const char *name = gs_param_name(p);
  const char *dot = strrchr(name, '.');
  int n = dot && dot != name ? (int)(dot - name) : (int)strlen(name);
  snprintf(buf, len, "%.*s", n, name);
}

/* ", in layer L" when n reads a param of layer L, ", after layer L" for the nearest such node
 * upstream (breadth first, so the closest layer wins), "" when none is found within a bounded
 * search. */
static void where(const gs_graph *g, const struct gs_node *n, char *buf, size_t len) {
  enum { MAX_VISIT = 512 };
  const gs_param *p = param_read(n);
  char layer[200];
  buf[0] = 0;
  if (p) {
    layer_name(p, layer, sizeof layer);
    snprintf(buf, len, ", in layer %s", layer);
    return;
  }
  const struct gs_node *queue[MAX_VISIT];
  char *seen = calloc((size_t)(g->n ? g->n : 1), 1);
  if (!seen) return;
  int head = 0, tail = 0;
  queue[tail++] = n;
  seen[n->id] = 1;
  while (head < tail && !p) {
    const struct gs_node *x = queue[head++];
    for (int k = 0; k < x->n_in && !p; k++) {
      const struct gs_node *up = x->in[k];
      if (up->id >= g->n || seen[up->id]) continue;
      seen[up->id] = 1;
      if ((p = param_read(up)) == NULL && tail < MAX_VISIT) queue[tail++] = up;
    }
  }
  free(seen);
  if (p) {
    layer_name(p, layer, sizeof layer);
    snprintf(buf, len, ", after layer %s", layer);
  }
}

/* "unary(log)", "binary(div)", "conv2d". */
static void op_name(const struct gs_node *n, char *buf, size_t len) {
  if (n->kind == GS_NODE_CONCAT)
    snprintf(buf, len, "concat");
  else if (n->kind == GS_NODE_COLLECTIVE)
    snprintf(buf, len, "collective");
  else if (n->op == GS_OP_UNARY || n->op == GS_OP_UNARY_BWD)
    snprintf(buf, len, "%s(%s)", gs_opcode_name(n->op), gs_unary_name((gs_unary)n->i[0]));
  else if (n->op == GS_OP_BINARY)
    snprintf(buf, len, "%s(%s)", gs_opcode_name(n->op), gs_binary_name((gs_binary)n->i[0]));
  else
    snprintf(buf, len, "%s", gs_opcode_name(n->op));
}

char *rt_anomaly_label(const gs_graph *g, const struct gs_node *n) {
  char op[64], fwd_op[64], at[256], label[512];
  op_name(n, op, sizeof op);
  if (n->is_sink && n->param) {
    snprintf(label, sizeof label, "%s (node %d, update of parameter %s)", op, n->id,
             gs_param_name(n->param));
  } else if (n->grad_of > 0 && n->grad_of <= g->n) {
    const struct gs_node *y = g->nodes[n->grad_of - 1];
    op_name(y, fwd_op, sizeof fwd_op);
    where(g, y, at, sizeof at);
    snprintf(label, sizeof label, "%s (node %d, backward: gradient of %s, node %d%s)", op, n->id,
             fwd_op, y->id, at);
  } else {
    where(g, n, at, sizeof at);
    snprintf(label, sizeof label, "%s (node %d, forward%s)", op, n->id, at);
  }
  return strdup(label);
}

gs_status rt_anomaly_check(gs_program *prog, int seg) {
  const prog_check *ck = &prog->checks[seg];
  if (ck->n == 0) return GS_OK;
  gs_device *dev = prog->dev;
  float *v = prog->check_stage;
  /* buf_read waits for the segment that wrote the value. */
  gs_status st = dev->iface->buf_read(dev->bdev, ck->ref.buf, ck->ref.off * 4, v, ck->n * 4);
  if (st != GS_OK) return st;
  size_t bad = 0, first = 0, nan = 0;
  for (size_t k = 0; k < ck->n; k++)
    if (!isfinite(v[k])) {
      if (!bad++) first = k;
      nan += isnan(v[k]) != 0;
    }
  if (!bad) return GS_OK;
  return gs_fail(GS_ERR_NUMERIC,
                 "detect-anomaly: %s produced %s on %s: %zu of %zu values are not finite "
                 "(%zu NaN), the first at element %zu (%g)",
                 ck->label, nan ? "NaN" : "Inf", dev->info.name, bad, ck->n, nan, first,
                 (double)v[first]);
}
