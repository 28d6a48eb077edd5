/* Full-size memory passes of backward graphs. Each elementwise or reduction launch of a
 * normalisation layer's backward pass is a pass over the whole activation, and on a device with
 * fast GEMMs these passes take most of a step, so their number is held here: for batch norm +
 * ReLU, and for each of the gradient builders' rewrites (a broadcast gradient added, negated,
 * squared or reduced without being written out at full size).
 *
 * A pass is a launch of the compiled program that reads or writes a value of the activation's
 * size. The graph walk below counts what gs_compile keeps (the nodes the outputs and the sinks
 * need; one launch per op node in these graphs, which have no concat), and the program's own
 * launch count is checked against it, so nodes that a rewrite left unused are never launched. */
#include "check.h"
#include "graph/graph_impl.h"
#include "op_harness.h"

typedef struct passes {
  int full;    /* backward launches that read or write a full-size value */
  int expands; /* of which full-size EXPANDs */
  int launches;
} passes;

static void mark(const struct gs_node *n, char *needed) {
  if (needed[n->id]) return;
  needed[n->id] = 1;
  for (int k = 0; k < n->n_in; k++) mark(n->in[k], needed);
}

static int is_full(const struct gs_node *n, int64_t full) {
  return gs_shape_numel(&n->desc.shape) == full;
}

/* Counts the launches the outputs need; the backward ones of the forward nodes [first, last]. */
static passes count(gs_graph *g, gs_tensor *const *outs, int n_outs, int first, int last,
                    int64_t full) {
  passes p = {0, 0, 0};
  char *needed = calloc((size_t)g->n, 1);
  if (!needed) return p;
  for (int k = 0; k < n_outs; k++) mark(outs[k], needed);
  for (int id = 0; id < g->n; id++)
    if (g->nodes[id]->is_sink) mark(g->nodes[id], needed);
  for (int id = 0; id < g->n; id++) {
    const struct gs_node *n = g->nodes[id];
    if (!needed[id] || n->kind != GS_NODE_OP) continue;
    p.launches++;
    if (n->grad_of - 1 < first || n->grad_of - 1 > last) continue;
    int touches = is_full(n, full);
    for (int k = 0; k < n->n_in; k++) touches |= is_full(n->in[k], full);
    p.full += touches;
    p.expands += n->op == GS_OP_EXPAND && is_full(n, full);
  }
  free(needed);
  return p;
}

typedef gs_tensor *(*build_fn)(gs_graph *g, gs_tensor **x, gs_param **st);

/* Builds y = f(params) and the gradients of sum(y * r); returns the passes of f's backward. */
static passes run(gs_device *dev, const char *name, int nf, const gs_shape *fs, build_fn f,
                  int64_t full) {
  passes p = {-1, -1, -1};
  gs_graph *g = gs_graph_new();
  gs_param *fp[3] = {0}, *st[2] = {0};
  gs_tensor *x[3], *grads[3];
  for (int k = 0; k < nf; k++) {
    fp[k] = gs_param_new(dev, k ? "v" : "x", fs[k], 1);
    x[k] = gs_param_ref(g, fp[k]);
  }
  for (int k = 0; k < 2; k++) st[k] = gs_param_new(dev, k ? "var" : "mean", fs[1], 0);
  int first = g->n;
  gs_tensor *y = f(g, x, st);
  int last = g->n - 1;
  gs_tensor *r = gs_input(g, "r", GS_F32, gs_tensor_shape(y));
  gs_tensor *loss = gs_sum_all(g, gs_mul(g, y, r));
  if (gs_grad(g, loss, x, nf, grads) != GS_OK) {
    fprintf(stderr, "[%s] grad: %s\n", name, gs_graph_error(g));
    goto done;
  }
  gs_tensor *outs[4] = {loss, grads[0], grads[1], grads[2]};
  p = count(g, outs, 1 + nf, first, last, full);
  gs_program *prog = gs_compile(dev, g, outs, 1 + nf);
  CHECKF(prog != NULL, "[%s] compile: %s", name, gs_errmsg());
  if (prog)
    CHECKF(gs_program_launch_count(prog) == (size_t)p.launches,
           "[%s] the program has %zu launches, the needed nodes %d", name,
           gs_program_launch_count(prog), p.launches);
  gs_program_free(prog);
  printf("%-28s %2d full-size backward passes (%d expands), %d launches in all\n", name, p.full,
         p.expands, p.launches);
done:
  gs_graph_free(g);
  for (int k = 0; k < 3; k++)
    if (fp[k]) gs_param_free(fp[k]);
  for (int k = 0; k < 2; k++) gs_param_free(st[k]);
  return p;
}

static gs_tensor *bn_relu(gs_graph *g, gs_tensor **x, gs_param **st) {
  return gs_relu(g, gs_batch_norm(g, x[0], x[1], x[2], st[0], st[1], 1, 0.1f, 1e-5f));
}
static gs_tensor *center(gs_graph *g, gs_tensor **x, gs_param **st) {
  (void)st;
  return gs_sub(g, x[0], gs_mean(g, x[0], (const int[]){0, 2, 3}, 3, 1));
}
static gs_tensor *mean_square(gs_graph *g, gs_tensor **x, gs_param **st) {
  (void)st;
  return gs_mean(g, gs_square(g, x[0]), (const int[]){0, 2, 3}, 3, 1);
}
static gs_tensor *sum_add(gs_graph *g, gs_tensor **x, gs_param **st) {
  (void)st;
  return gs_sum(g, gs_add(g, x[0], gs_reshape(g, x[1], GS_SHAPE(1, 3, 1, 1))),
                (const int[]){0, 2, 3}, 3, 0);
}

int main(void) {
  gs_runtime *rt;
  gs_device *dev = harness_open_cpu(&rt);
  CHECK(dev != NULL);
  if (!dev) return check_summary();
  const gs_shape s[3] = {GS_SHAPE(4, 3, 5, 6), GS_SHAPE(3), GS_SHAPE(3)};
  const int64_t full = 4 * 3 * 5 * 6;
  /* ReLU's backward, then per batch norm: the shift's reduction, the scale's product and
   * reduction, xc's gradient from the scale (a product), from the variance (a product with the
   * broadcast small gradient) and their sum, the mean's reduction, and the mean's gradient added
   * to x's from its small source. */
  passes p = run(dev, "batch_norm + relu", 3, s, bn_relu, full);
  CHECKF(p.full == 9 && p.expands == 0, "batch norm + relu backward: %d passes, %d expands", p.full,
         p.expands);
  /* dx = dy - expand(sum(dy)/n): the reduction and the broadcasting add. */
  p = run(dev, "x - mean(x)", 1, s, center, full);
  CHECKF(p.full == 2 && p.expands == 0, "x - mean(x): %d passes, %d expands", p.full, p.expands);
  /* dx = 2 x expand(dy/n): one product, no expand. */
  p = run(dev, "mean(x^2)", 1, s, mean_square, full);
  CHECKF(p.full == 1 && p.expands == 0, "mean(x^2): %d passes, %d expands", p.full, p.expands);
  /* The sum's gradient reaches both operands of the add as a broadcast: x's is the one expand
   * (it is an output), v's is a scale of the small source. */
  p = run(dev, "sum(x + v)", 2, s, sum_add, full);
  CHECKF(p.full == 1 && p.expands == 1, "sum(x + v): %d passes, %d expands", p.full, p.expands);
  gs_device_close(dev);
  gs_runtime_close(rt);
  return check_summary();
}
