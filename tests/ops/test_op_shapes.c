/* Shape errors at build time: each mismatch returns NULL, puts the graph in an error state whose
 * message names the op and the shapes involved, and later ops on the failed graph return NULL
 * without replacing that first message. Needs no backend. */
#include <string.h>

#include "check.h"
#include "gessl/graph.h"

typedef struct err_case {
  const char *name;
  /* Builds the failing op on a graph with inputs made from the shapes below. */
  gs_tensor *(*build)(gs_graph *g, gs_tensor **x);
  int n;
  gs_shape s[3];
  gs_dtype dt[3];
  const char *expect[4]; /* substrings of the message; NULL-terminated */
} err_case;

#define BUILD(nm) static gs_tensor *e_##nm(gs_graph *g, gs_tensor **x)
BUILD(matmul) { return gs_matmul(g, x[0], x[1], 0, 0); }
BUILD(matmul_tb) { return gs_matmul(g, x[0], x[1], 0, 1); }
BUILD(add) { return gs_add(g, x[0], x[1]); }
BUILD(mul) { return gs_mul(g, x[0], x[1]); }
BUILD(div) { return gs_div(g, x[0], x[1]); }
BUILD(maximum) { return gs_maximum(g, x[0], x[1]); }
BUILD(greater) { return gs_greater(g, x[0], x[1]); }
BUILD(axpby) { return gs_axpby(g, 1, x[0], 1, x[1]); }
BUILD(exp_i32) { return gs_exp(g, x[0]); }
BUILD(conv) { return gs_conv2d(g, x[0], x[1], 1, 0); }
BUILD(conv_pad) { return gs_conv2d(g, x[0], x[1], 1, 1); }
BUILD(maxpool) { return gs_max_pool2d(g, x[0], 3, 1, 0); }
BUILD(avgpool_rank) { return gs_avg_pool2d(g, x[0], 2, 2, 0); }
BUILD(gap) { return gs_global_avg_pool(g, x[0]); }
BUILD(concat) { return gs_concat(g, x, 2, 0); }
BUILD(concat_axis) { return gs_concat(g, x, 2, 2); }
BUILD(slice) { return gs_slice(g, x[0], 1, 4, 2); }
BUILD(reshape) { return gs_reshape(g, x[0], GS_SHAPE(5, -1)); }
BUILD(reshape_fixed) { return gs_reshape(g, x[0], GS_SHAPE(5, 2)); }
BUILD(permute) { return gs_permute(g, x[0], (const int[]){0, 0, 1}); }
BUILD(transpose) { return gs_transpose(g, x[0]); }
BUILD(sum) { return gs_sum(g, x[0], (const int[]){2}, 1, 0); }
BUILD(mean_twice) { return gs_mean(g, x[0], (const int[]){1, -1}, 2, 0); }
BUILD(max) { return gs_max(g, x[0], (const int[]){-3}, 1, 0); }
BUILD(expand) { return gs_expand(g, x[0], GS_SHAPE(3, 4)); }
BUILD(gather) { return gs_gather_rows(g, x[0], x[1]); }
BUILD(scatter) { return gs_scatter_add_rows(g, x[0], x[1], 5); }
BUILD(onehot) { return gs_onehot(g, x[0], 4); }
BUILD(linear) { return gs_linear(g, x[0], x[1], NULL); }
BUILD(linear_bias) { return gs_linear(g, x[0], x[1], x[2]); }
BUILD(bn) { return gs_batch_norm(g, x[0], x[1], NULL, NULL, NULL, 1, 0.1f, 1e-5f); }
BUILD(bn_rank) { return gs_batch_norm(g, x[0], NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f); }
BUILD(ln) { return gs_layer_norm(g, x[0], x[1], NULL, 1e-5f); }
BUILD(l2n) { return gs_l2_normalize(g, x[0], 2, 1e-6f); }
BUILD(softmax) { return gs_softmax(g, x[0], 2); }
BUILD(log_softmax) { return gs_log_softmax(g, x[0], -3); }
BUILD(ce) { return gs_cross_entropy(g, x[0], x[1]); }
BUILD(kl) { return gs_kl_div(g, x[0], x[1]); }

#define S(...) GS_SHAPE(__VA_ARGS__)
#define F GS_F32
#define I GS_I32
static const err_case cases[] = {
    {"matmul inner",
     e_matmul,
     2,
     {S(3, 4), S(5, 6)},
     {F, F},
     {"matmul: inner dims differ: a [3, 4] b [5, 6]"}},
    {"matmul inner tb", e_matmul_tb, 2, {S(3, 4), S(4, 5)}, {F, F}, {"matmul", "[3, 4]", "[4, 5]"}},
    {"matmul batch",
     e_matmul,
     2,
     {S(2, 3, 4), S(3, 4, 5)},
     {F, F},
     {"matmul", "batch", "[2, 3, 4]", "[3, 4, 5]"}},
    {"matmul rank", e_matmul, 2, {S(4), S(4, 2)}, {F, F}, {"matmul", "[4]", "[4, 2]"}},
    {"add", e_add, 2, {S(3, 4), S(5)}, {F, F}, {"add", "[3, 4]", "[5]"}},
    {"mul", e_mul, 2, {S(2, 3), S(3, 2)}, {F, F}, {"mul", "[2, 3]", "[3, 2]"}},
    {"div", e_div, 2, {S(4, 1, 3), S(2, 4)}, {F, F}, {"div", "[4, 1, 3]", "[2, 4]"}},
    {"maximum", e_maximum, 2, {S(2), S(3)}, {F, F}, {"maximum", "[2]", "[3]"}},
    {"greater", e_greater, 2, {S(2, 2), S(3, 1)}, {F, F}, {"greater", "[2, 2]", "[3, 1]"}},
    {"axpby", e_axpby, 2, {S(3), S(1, 3)}, {F, F}, {"axpby", "[3]", "[1, 3]"}},
    {"exp of i32", e_exp_i32, 1, {S(3)}, {I}, {"exp", "i32", "[3]"}},
    {"conv2d channels",
     e_conv,
     2,
     {S(1, 3, 5, 5), S(4, 2, 3, 3)},
     {F, F},
     {"conv2d", "[1, 3, 5, 5]", "[4, 2, 3, 3]"}},
    {"conv2d kernel",
     e_conv_pad,
     2,
     {S(1, 1, 2, 2), S(1, 1, 5, 5)},
     {F, F},
     {"conv2d", "[1, 1, 2, 2]", "[1, 1, 5, 5]"}},
    {"conv2d rank", e_conv, 2, {S(3, 5, 5), S(4, 3, 3, 3)}, {F, F}, {"conv2d", "[3, 5, 5]"}},
    {"max_pool2d", e_maxpool, 1, {S(1, 1, 2, 5)}, {F}, {"max_pool2d", "[1, 1, 2, 5]"}},
    {"avg_pool2d", e_avgpool_rank, 1, {S(4, 4)}, {F}, {"avg_pool2d", "[4, 4]"}},
    {"global_avg_pool", e_gap, 1, {S(2, 3)}, {F}, {"global_avg_pool", "[2, 3]"}},
    {"concat", e_concat, 2, {S(2, 3), S(2, 4)}, {F, F}, {"concat", "[2, 3]", "[2, 4]"}},
    {"concat rank", e_concat, 2, {S(2, 3), S(2, 3, 1)}, {F, F}, {"concat", "[2, 3]", "[2, 3, 1]"}},
    {"concat axis", e_concat_axis, 2, {S(2, 3), S(2, 3)}, {F, F}, {"concat", "axis 2", "[2, 3]"}},
    {"slice", e_slice, 1, {S(3, 5)}, {F}, {"slice", "[3, 5]", "[4, 6)"}},
    {"reshape infer", e_reshape, 1, {S(3, 4)}, {F}, {"reshape", "[3, 4]", "[5, -1]"}},
    {"reshape count", e_reshape_fixed, 1, {S(3, 4)}, {F}, {"reshape", "[3, 4]", "[5, 2]"}},
    {"permute", e_permute, 1, {S(2, 3, 4)}, {F}, {"permute", "[2, 3, 4]"}},
    {"transpose", e_transpose, 1, {S(5)}, {F}, {"transpose", "[5]"}},
    {"sum axis", e_sum, 1, {S(3, 4)}, {F}, {"sum", "axis 2", "[3, 4]"}},
    {"mean axis twice", e_mean_twice, 1, {S(3, 4)}, {F}, {"mean", "[3, 4]"}},
    {"max axis", e_max, 1, {S(3, 4)}, {F}, {"max", "axis -3", "[3, 4]"}},
    {"expand", e_expand, 1, {S(3, 2)}, {F}, {"expand", "[3, 2]", "[3, 4]"}},
    {"gather idx dtype", e_gather, 2, {S(5, 3), S(4)}, {F, F}, {"gather_rows", "idx", "[4]"}},
    {"gather rank", e_gather, 2, {S(5), S(4)}, {F, I}, {"gather_rows", "[5]", "[4]"}},
    {"scatter", e_scatter, 2, {S(3, 2), S(4)}, {F, I}, {"scatter_add_rows", "[3, 2]", "[4]"}},
    {"onehot", e_onehot, 1, {S(2, 2)}, {I}, {"onehot", "[2, 2]"}},
    {"linear", e_linear, 2, {S(3, 4), S(5, 3)}, {F, F}, {"linear", "[3, 4]", "[5, 3]"}},
    {"linear bias",
     e_linear_bias,
     3,
     {S(3, 4), S(5, 4), S(4)},
     {F, F, F},
     {"linear", "[4]", "[5, 4]"}},
    {"batch_norm gamma", e_bn, 2, {S(2, 3), S(4)}, {F, F}, {"batch_norm", "[2, 3]", "[4]"}},
    {"batch_norm rank", e_bn_rank, 1, {S(2, 3, 4)}, {F}, {"batch_norm", "[2, 3, 4]"}},
    {"layer_norm", e_ln, 2, {S(2, 5), S(4)}, {F, F}, {"layer_norm", "[2, 5]", "[4]"}},
    {"l2_normalize", e_l2n, 1, {S(2, 5)}, {F}, {"l2_normalize", "[2, 5]"}},
    {"softmax", e_softmax, 1, {S(3, 4)}, {F}, {"softmax", "axis 2", "[3, 4]"}},
    {"log_softmax", e_log_softmax, 1, {S(3, 4)}, {F}, {"log_softmax", "[3, 4]"}},
    {"cross_entropy", e_ce, 2, {S(4, 5), S(3)}, {F, I}, {"cross_entropy", "[4, 5]", "[3]"}},
    {"cross_entropy dtype", e_ce, 2, {S(4, 5), S(4)}, {F, F}, {"cross_entropy", "[4, 5]", "[4]"}},
    {"kl_div", e_kl, 2, {S(3, 4), S(3, 5)}, {F, F}, {"kl_div", "[3, 4]", "[3, 5]"}},
};

static void run_case(const err_case *c) {
  gs_graph *g = gs_graph_new();
  gs_tensor *x[3];
  for (int k = 0; k < c->n; k++) {
    char name[8] = {'x', (char)('0' + k), 0};
    x[k] = gs_input(g, name, c->dt[k], c->s[k]);
  }
  CHECKF(gs_graph_status(g) == GS_OK, "%s: inputs: %s", c->name, gs_graph_error(g));
  gs_tensor *y = c->build(g, x);
  CHECKF(y == NULL, "%s: op did not fail", c->name);
  CHECKF(gs_graph_status(g) != GS_OK, "%s: graph status still ok", c->name);
  const char *msg = gs_graph_error(g);
  for (int k = 0; k < 4 && c->expect[k]; k++)
    CHECKF(strstr(msg, c->expect[k]) != NULL, "%s: message \"%s\" lacks \"%s\"", c->name, msg,
           c->expect[k]);
  CHECKF(strstr(gs_errmsg(), c->expect[0]) != NULL, "%s: gs_errmsg \"%s\"", c->name, gs_errmsg());
  /* Sticky: later ops return NULL and leave the first message alone. */
  char first[512];
  snprintf(first, sizeof first, "%s", msg);
  gs_status st = gs_graph_status(g);
  CHECK(gs_add(g, x[0], x[0]) == NULL);
  CHECK(gs_matmul(g, x[0], x[0], 0, 0) == NULL);
  CHECK(gs_exp(g, y) == NULL);
  CHECK(gs_input(g, "late", GS_F32, GS_SHAPE(2)) == NULL);
  CHECK(gs_fill(g, GS_SHAPE(0), 1.0f) == NULL);
  gs_tensor *gr = x[0];
  CHECK(gs_grad(g, x[0], &x[0], 1, &gr) != GS_OK && gr == NULL);
  CHECK(gs_graph_status(g) == st);
  CHECKF(strcmp(gs_graph_error(g), first) == 0, "%s: message replaced by \"%s\"", c->name,
         gs_graph_error(g));
  gs_graph_free(g);
}

/* A NULL operand (from an earlier failure elsewhere) gives NULL without a new message. */
static void test_null_operand(void) {
  gs_graph *g = gs_graph_new();
  gs_tensor *a = gs_input(g, "a", GS_F32, GS_SHAPE(2, 2));
  CHECK(gs_add(g, a, NULL) == NULL);
  CHECK(gs_softmax(g, NULL, 1) == NULL);
  CHECK(gs_concat(g, (gs_tensor *const[]){a, NULL}, 2, 0) == NULL);
  CHECK(gs_graph_status(g) == GS_OK);
  gs_graph_free(g);
}

/* Operands of another graph are refused with a message. */
static void test_foreign_operand(void) {
  gs_graph *g1 = gs_graph_new(), *g2 = gs_graph_new();
  gs_tensor *a = gs_input(g1, "a", GS_F32, GS_SHAPE(2));
  gs_tensor *b = gs_input(g2, "b", GS_F32, GS_SHAPE(2));
  CHECK(gs_add(g1, a, b) == NULL);
  CHECK(gs_graph_status(g1) != GS_OK);
  CHECK(strstr(gs_graph_error(g1), "add") != NULL);
  CHECK(strstr(gs_graph_error(g1), "another graph") != NULL);
  gs_graph_free(g1);
  gs_graph_free(g2);
}

/* Shapes the builders compute. */
static void test_result_shapes(void) {
  gs_graph *g = gs_graph_new();
  gs_tensor *x = gs_input(g, "x", GS_F32, GS_SHAPE(2, 3, 9, 8));
  gs_tensor *w = gs_input(g, "w", GS_F32, GS_SHAPE(5, 3, 3, 3));
  gs_shape s = gs_tensor_shape(gs_conv2d(g, x, w, 2, 1));
  CHECK(s.rank == 4 && s.dim[0] == 2 && s.dim[1] == 5 && s.dim[2] == 5 && s.dim[3] == 4);
  s = gs_tensor_shape(gs_max_pool2d(g, x, 3, 2, 1));
  CHECK(s.rank == 4 && s.dim[2] == 5 && s.dim[3] == 4);
  s = gs_tensor_shape(gs_global_avg_pool(g, x));
  CHECK(s.rank == 2 && s.dim[0] == 2 && s.dim[1] == 3);
  s = gs_tensor_shape(gs_sum(g, x, (const int[]){1, -1}, 2, 0));
  CHECK(s.rank == 2 && s.dim[0] == 2 && s.dim[1] == 9);
  s = gs_tensor_shape(gs_sum_all(g, x));
  CHECK(s.rank == 0);
  gs_tensor *a = gs_input(g, "a", GS_F32, GS_SHAPE(3, 1, 5));
  gs_tensor *b = gs_input(g, "b", GS_F32, GS_SHAPE(4, 1));
  s = gs_tensor_shape(gs_add(g, a, b));
  CHECK(s.rank == 3 && s.dim[0] == 3 && s.dim[1] == 4 && s.dim[2] == 5);
  gs_tensor *m = gs_input(g, "m", GS_F32, GS_SHAPE(1, 4, 3));
  gs_tensor *n = gs_input(g, "n", GS_F32, GS_SHAPE(6, 5, 4));
  s = gs_tensor_shape(gs_matmul(g, m, n, 1, 1));
  CHECK(s.rank == 3 && s.dim[0] == 6 && s.dim[1] == 3 && s.dim[2] == 5);
  s = gs_tensor_shape(gs_reshape(g, x, GS_SHAPE(-1, 8)));
  CHECK(s.rank == 2 && s.dim[0] == 54 && s.dim[1] == 8);
  s = gs_tensor_shape(gs_permute(g, x, (const int[]){0, 2, 3, 1}));
  CHECK(s.rank == 4 && s.dim[1] == 9 && s.dim[3] == 3);
  CHECKF(gs_graph_status(g) == GS_OK, "%s", gs_graph_error(g));
  gs_graph_free(g);
}

/* Every GS_NODE_OP node the builders make is launch-ready: BINARY/EXPAND/REDUCE operands have
 * the output's rank, MATMUL operands are rank 3, and no op node is rank 0. */
#include "graph/graph_impl.h"
static void test_launch_ready(void) {
  gs_graph *g = gs_graph_new();
  gs_tensor *x = gs_input(g, "x", GS_F32, GS_SHAPE(4, 3));
  gs_tensor *w = gs_input(g, "w", GS_F32, GS_SHAPE(5, 3));
  gs_tensor *b = gs_input(g, "b", GS_F32, GS_SHAPE(5));
  gs_tensor *lbl = gs_input(g, "lbl", GS_I32, GS_SHAPE(4));
  gs_tensor *h = gs_layer_norm(g, gs_linear(g, x, w, b), NULL, NULL, 1e-5f);
  gs_tensor *loss = gs_add(g, gs_cross_entropy(g, h, lbl), gs_mean_all(g, gs_softmax(g, h, 0)));
  gs_tensor *params[3] = {x, w, b}, *grads[3];
  CHECK(gs_grad(g, loss, params, 3, grads) == GS_OK);
  int bad = 0;
  for (int k = 0; k < g->n; k++) {
    struct gs_node *nd = g->nodes[k];
    if (nd->kind != GS_NODE_OP) continue;
    int r = nd->desc.shape.rank;
    if (r == 0) bad++;
    if (nd->op == GS_OP_BINARY || nd->op == GS_OP_EXPAND || nd->op == GS_OP_REDUCE)
      for (int i = 0; i < nd->n_in; i++) bad += nd->in[i]->desc.shape.rank != r;
    if (nd->op == GS_OP_MATMUL)
      bad += nd->in[0]->desc.shape.rank != 3 || nd->in[1]->desc.shape.rank != 3 || r != 3;
  }
  CHECKF(bad == 0, "%d op nodes not launch-ready", bad);
  gs_graph_free(g);
}

int main(void) {
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) run_case(&cases[k]);
  test_null_operand();
  test_foreign_operand();
  test_result_shapes();
  test_launch_ready();
  return check_summary();
}
