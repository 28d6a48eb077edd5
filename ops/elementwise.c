/* Elementwise ops: unary functions, binary functions with numpy broadcasting, axpby, affine.
 * Broadcast operands are padded with leading 1s (alias reshapes) so the BINARY launch sees equal
 * ranks, and rank-0 results are computed as [1]. */
#include <stdio.h>

#include "grad_rules.h"
#include "ops_impl.h"

const char *gs_op_shp(const gs_shape *s, char *buf) { return gs_shape_str(s, buf, GS_SHAPE_BUF); }

int gs_op_axis(gs_graph *g, const char *op, int axis, const gs_shape *s) {
  int a = axis < 0 ? axis + s->rank : axis;
  if (a < 0 || a >= s->rank) {
    char b[GS_SHAPE_BUF];
    gs_graph_fail(g, GS_ERR_SHAPE, "%s: axis %d out of range for %s", op, axis, gs_op_shp(s, b));
    return -1;
  }
  return a;
}

struct gs_node *gs_op_node(gs_graph *g, gs_opcode op, gs_shape shape, struct gs_node *const *in,
                           int n_in) {
  return gs_node_new(g, GS_NODE_OP, op, GS_F32, shape, in, n_in);
}

static int need_f32(gs_graph *g, const char *op, struct gs_node *x) {
  if (x->desc.dtype == GS_F32) return 1;
  char b[GS_SHAPE_BUF];
  gs_graph_fail(g, GS_ERR_INVALID, "%s: operand %s is i32, expected f32", op,
                gs_op_shp(&x->desc.shape, b));
  return 0;
}

static const char *const binary_op_names[GS_BIN_COUNT] = {"add",     "sub",     "mul",   "div",
                                                          "maximum", "minimum", "equal", "greater"};

struct gs_node *gs_op_unary(gs_graph *g, struct gs_node *x, gs_unary fn, float f0, float f1) {
  const char *name = gs_unary_name(fn);
  if (!gs_graph_check(g, name, &x, 1) || !need_f32(g, name, x)) return NULL;
  gs_shape s = x->desc.shape;
  struct gs_node *xin = gs_op_lift0(g, x);
  struct gs_node *y = gs_op_node(g, GS_OP_UNARY, xin ? xin->desc.shape : s, &xin, 1);
  if (!y) return NULL;
  y->i[0] = fn;
  y->f[0] = f0;
  y->f[1] = f1;
  return gs_op_alias(g, y, s);
}

/* numpy broadcasting of a and b into *out; 0 with a message when they do not fit. */
static int broadcast_shape(gs_graph *g, const char *op, const gs_shape *a, const gs_shape *b,
                           gs_shape *out) {
  int r = a->rank > b->rank ? a->rank : b->rank;
  out->rank = r;
  for (int k = 0; k < r; k++) {
    int ka = k - (r - a->rank), kb = k - (r - b->rank);
    int64_t da = ka >= 0 ? a->dim[ka] : 1, db = kb >= 0 ? b->dim[kb] : 1;
    if (da != db && da != 1 && db != 1) {
      char ba[GS_SHAPE_BUF], bb[GS_SHAPE_BUF];
      gs_graph_fail(g, GS_ERR_SHAPE, "%s: shapes do not broadcast: a %s b %s", op, gs_op_shp(a, ba),
                    gs_op_shp(b, bb));
      return 0;
    }
    out->dim[k] = da > db ? da : db;
  }
  return 1;
}

struct gs_node *gs_op_binary(gs_graph *g, struct gs_node *a, struct gs_node *b, gs_binary fn) {
  const char *name = (unsigned)fn < GS_BIN_COUNT ? binary_op_names[fn] : "binary";
  struct gs_node *ab[2] = {a, b};
  if (!gs_graph_check(g, name, ab, 2) || !need_f32(g, name, a) || !need_f32(g, name, b))
    return NULL;
  gs_shape s;
  if (!broadcast_shape(g, name, &a->desc.shape, &b->desc.shape, &s)) return NULL;
  int r = s.rank ? s.rank : 1;
  gs_shape ls = s.rank ? s : GS_SHAPE(1);
  struct gs_node *in[2] = {gs_op_pad_rank(g, a, r), gs_op_pad_rank(g, b, r)};
  struct gs_node *y = gs_op_node(g, GS_OP_BINARY, ls, in, 2);
  if (!y) return NULL;
  y->i[0] = fn;
  if (fn == GS_BIN_EQ || fn == GS_BIN_GT) y->no_grad = 1;
  return gs_op_alias(g, y, s);
}

struct gs_node *gs_op_axpby(gs_graph *g, float a, struct gs_node *x, float b, struct gs_node *y) {
  struct gs_node *xy[2] = {x, y};
  if (!gs_graph_check(g, "axpby", xy, 2) || !need_f32(g, "axpby", x) || !need_f32(g, "axpby", y))
    return NULL;
  const gs_shape *sx = &x->desc.shape, *sy = &y->desc.shape;
  int same = sx->rank == sy->rank;
  for (int k = 0; same && k < sx->rank; k++) same = sx->dim[k] == sy->dim[k];
  if (!same) {
    char bx[GS_SHAPE_BUF], by[GS_SHAPE_BUF];
    return gs_graph_fail(g, GS_ERR_SHAPE, "axpby: shapes differ: x %s y %s", gs_op_shp(sx, bx),
                         gs_op_shp(sy, by));
  }
  struct gs_node *in[2] = {gs_op_lift0(g, x), gs_op_lift0(g, y)};
  struct gs_node *z = gs_op_node(g, GS_OP_AXPBY, in[0] ? in[0]->desc.shape : *sx, in, 2);
  if (!z) return NULL;
  z->f[0] = a;
  z->f[1] = b;
  return gs_op_alias(g, z, *sx);
}

gs_tensor *gs_add(gs_graph *g, gs_tensor *a, gs_tensor *b) {
  return gs_op_binary(g, a, b, GS_BIN_ADD);
}
gs_tensor *gs_sub(gs_graph *g, gs_tensor *a, gs_tensor *b) {
  return gs_op_binary(g, a, b, GS_BIN_SUB);
}
gs_tensor *gs_mul(gs_graph *g, gs_tensor *a, gs_tensor *b) {
  return gs_op_binary(g, a, b, GS_BIN_MUL);
}
gs_tensor *gs_div(gs_graph *g, gs_tensor *a, gs_tensor *b) {
  return gs_op_binary(g, a, b, GS_BIN_DIV);
}
gs_tensor *gs_maximum(gs_graph *g, gs_tensor *a, gs_tensor *b) {
  return gs_op_binary(g, a, b, GS_BIN_MAX);
}
gs_tensor *gs_minimum(gs_graph *g, gs_tensor *a, gs_tensor *b) {
  return gs_op_binary(g, a, b, GS_BIN_MIN);
}
gs_tensor *gs_equal(gs_graph *g, gs_tensor *a, gs_tensor *b) {
  return gs_op_binary(g, a, b, GS_BIN_EQ);
}
gs_tensor *gs_greater(gs_graph *g, gs_tensor *a, gs_tensor *b) {
  return gs_op_binary(g, a, b, GS_BIN_GT);
}
gs_tensor *gs_axpby(gs_graph *g, float a, gs_tensor *x, float b, gs_tensor *y) {
  return gs_op_axpby(g, a, x, b, y);
}
gs_tensor *gs_affine(gs_graph *g, gs_tensor *x, float scale, float shift) {
  return gs_op_unary(g, x, GS_UN_AFFINE, scale, shift);
}
gs_tensor *gs_scale(gs_graph *g, gs_tensor *x, float s) {
  return gs_op_unary(g, x, GS_UN_AFFINE, s, 0.0f);
}
gs_tensor *gs_add_scalar(gs_graph *g, gs_tensor *x, float c) {
  return gs_op_unary(g, x, GS_UN_AFFINE, 1.0f, c);
}
gs_tensor *gs_neg(gs_graph *g, gs_tensor *x) { return gs_op_unary(g, x, GS_UN_AFFINE, -1.0f, 0); }
gs_tensor *gs_exp(gs_graph *g, gs_tensor *x) { return gs_op_unary(g, x, GS_UN_EXP, 0, 0); }
gs_tensor *gs_log(gs_graph *g, gs_tensor *x) { return gs_op_unary(g, x, GS_UN_LOG, 0, 0); }
gs_tensor *gs_sqrt(gs_graph *g, gs_tensor *x) { return gs_op_unary(g, x, GS_UN_SQRT, 0, 0); }
gs_tensor *gs_rsqrt(gs_graph *g, gs_tensor *x) { return gs_op_unary(g, x, GS_UN_RSQRT, 0, 0); }
gs_tensor *gs_square(gs_graph *g, gs_tensor *x) { return gs_op_unary(g, x, GS_UN_SQUARE, 0, 0); }
gs_tensor *gs_abs(gs_graph *g, gs_tensor *x) { return gs_op_unary(g, x, GS_UN_ABS, 0, 0); }
gs_tensor *gs_relu(gs_graph *g, gs_tensor *x) { return gs_op_unary(g, x, GS_UN_RELU, 0, 0); }
gs_tensor *gs_sigmoid(gs_graph *g, gs_tensor *x) { return gs_op_unary(g, x, GS_UN_SIGMOID, 0, 0); }
gs_tensor *gs_tanh(gs_graph *g, gs_tensor *x) { return gs_op_unary(g, x, GS_UN_TANH, 0, 0); }
gs_tensor *gs_recip(gs_graph *g, gs_tensor *x) { return gs_op_unary(g, x, GS_UN_RECIP, 0, 0); }

/* ---- Gradients ---- */

/* The operand of UNARY_BWD a derivative reads (op.h): x, or y = fn(x). The other slot gets the
 * same node, so the value the backward pass never reads is not kept alive until it runs (a
 * square's output, an exp's input). ReLU's reads x only as x > 0, which is y > 0: it gets y, which
 * the next layer keeps anyway, and the pre-activation is freed after the forward pass. */
static struct gs_node *unary_bwd_operand(struct gs_node *y) {
  switch ((gs_unary)y->i[0]) {
  case GS_UN_EXP:
  case GS_UN_SQRT:
  case GS_UN_RSQRT:
  case GS_UN_RELU:
  case GS_UN_SIGMOID:
  case GS_UN_TANH:
  case GS_UN_RECIP: return y;
  default: return y->in[0];
  }
}

struct gs_node *gs_op_broadcast_src(struct gs_node *x) {
  return x && x->kind == GS_NODE_OP && x->op == GS_OP_EXPAND ? x->in[0] : NULL;
}

struct gs_node *gs_op_scale_src(struct gs_node *x) {
  return x && x->kind == GS_NODE_OP && x->op == GS_OP_UNARY && x->i[0] == GS_UN_AFFINE &&
                 x->f[1] == 0.0f
             ? x->in[0]
             : NULL;
}

struct gs_node *gs_op_grad_scale(gs_graph *g, struct gs_node *dy, float s) {
  if (!dy) return NULL;
  struct gs_node *src = gs_op_broadcast_src(dy);
  if (src) return gs_op_expand_same_rank(g, gs_op_grad_scale(g, src, s), dy->desc.shape);
  if (s == 1.0f) return dy;
  if (gs_op_scale_src(dy)) return gs_op_unary(g, dy->in[0], GS_UN_AFFINE, dy->f[0] * s, 0.0f);
  return gs_op_unary(g, dy, GS_UN_AFFINE, s, 0.0f);
}

struct gs_node *gs_op_grad_add(gs_graph *g, struct gs_node *a, struct gs_node *b) {
  if (!a || !b) return NULL;
  struct gs_node *sa = gs_op_broadcast_src(a), *sb = gs_op_broadcast_src(b);
  if (sa && sb) return gs_op_expand_same_rank(g, gs_op_grad_add(g, sa, sb), a->desc.shape);
  if (sa || sb || !gs_shape_eq(&a->desc.shape, &b->desc.shape))
    return gs_op_binary(g, sa ? sa : a, sb ? sb : b, GS_BIN_ADD);
  return gs_op_axpby(g, 1.0f, a, 1.0f, b);
}

/* dy `fn` v for a gradient dy: a broadcast dy enters as its source where v alone has the
 * result's shape, so the broadcast is never written out. */
static struct gs_node *grad_binary(gs_graph *g, struct gs_node *dy, struct gs_node *v,
                                   gs_binary fn) {
  struct gs_node *src = gs_op_broadcast_src(dy);
  if (src && gs_shape_eq(&v->desc.shape, &dy->desc.shape)) dy = src;
  return gs_op_binary(g, dy, v, fn);
}

static struct gs_node *unary_grad(gs_graph *g, struct gs_node *y, struct gs_node *dy) {
  if (y->i[0] == GS_UN_AFFINE) return gs_op_grad_scale(g, dy, y->f[0]);
  struct gs_node *v = unary_bwd_operand(y);
  /* A broadcast dy meets the derivatives that are one product or quotient as a BINARY. */
  struct gs_node *src = gs_op_broadcast_src(dy);
  if (src && y->i[0] == GS_UN_SQUARE)
    return gs_op_binary(g, v, gs_op_grad_scale(g, src, 2.0f), GS_BIN_MUL);
  if (src && y->i[0] == GS_UN_EXP) return grad_binary(g, dy, v, GS_BIN_MUL);
  if (src && y->i[0] == GS_UN_LOG) return grad_binary(g, dy, v, GS_BIN_DIV);
  struct gs_node *in[3] = {v, v, dy};
  struct gs_node *dx = gs_op_node(g, GS_OP_UNARY_BWD, y->desc.shape, in, 3);
  if (!dx) return NULL;
  dx->i[0] = y->i[0];
  dx->f[0] = y->f[0];
  dx->f[1] = y->f[1];
  return dx;
}

/* Gradients of a BINARY node, whose operands already have the output's rank. */
static int binary_grad(gs_graph *g, struct gs_node *y, struct gs_node *dy, const char *want,
                       struct gs_node **dx) {
  struct gs_node *a = y->in[0], *b = y->in[1], *da = NULL, *db = NULL;
  switch ((gs_binary)y->i[0]) {
  case GS_BIN_ADD:
    da = dy;
    db = dy;
    break;
  case GS_BIN_SUB:
    /* b's gradient is negated after its reduction to b's shape (reduction is linear). */
    if (want[0]) dx[0] = gs_op_reduce_to(g, dy, a->desc.shape);
    if (want[1]) dx[1] = gs_op_grad_scale(g, gs_op_reduce_to(g, dy, b->desc.shape), -1.0f);
    return gs_graph_status(g) == GS_OK;
  case GS_BIN_MUL:
    da = want[0] ? grad_binary(g, dy, b, GS_BIN_MUL) : NULL;
    db = want[1] ? grad_binary(g, dy, a, GS_BIN_MUL) : NULL;
    break;
  case GS_BIN_DIV:
    /* d(a/b)/db = -(a/b)/b, written with the forward output y; negated after the reduction. */
    da = grad_binary(g, dy, b, GS_BIN_DIV);
    if (want[0]) dx[0] = gs_op_reduce_to(g, da, a->desc.shape);
    if (want[1])
      dx[1] = gs_op_grad_scale(
          g, gs_op_reduce_to(g, gs_op_binary(g, da, y, GS_BIN_MUL), b->desc.shape), -1.0f);
    return gs_graph_status(g) == GS_OK;
  case GS_BIN_MAX:
  case GS_BIN_MIN: {
    /* Ties send the gradient to b. */
    struct gs_node *m =
        y->i[0] == GS_BIN_MAX ? gs_op_binary(g, a, b, GS_BIN_GT) : gs_op_binary(g, b, a, GS_BIN_GT);
    da = want[0] ? grad_binary(g, dy, m, GS_BIN_MUL) : NULL;
    db = want[1] ? grad_binary(g, dy, gs_op_unary(g, m, GS_UN_AFFINE, -1.0f, 1.0f), GS_BIN_MUL)
                 : NULL;
    break;
  }
  default: return 1; /* EQ, GT: no gradient */
  }
  if (want[0] && da) dx[0] = gs_op_reduce_to(g, da, a->desc.shape);
  if (want[1] && db) dx[1] = gs_op_reduce_to(g, db, b->desc.shape);
  return gs_graph_status(g) == GS_OK;
}

int gs_grad_elementwise(gs_graph *g, struct gs_node *y, struct gs_node *dy, const char *want,
                        struct gs_node **dx) {
  switch (y->op) {
  case GS_OP_UNARY: dx[0] = unary_grad(g, y, dy); break;
  case GS_OP_BINARY: return binary_grad(g, y, dy, want, dx);
  case GS_OP_AXPBY:
    if (want[0]) dx[0] = gs_op_grad_scale(g, dy, y->f[0]);
    if (want[1]) dx[1] = gs_op_grad_scale(g, dy, y->f[1]);
    break;
  default: break;
  }
  return gs_graph_status(g) == GS_OK;
}
