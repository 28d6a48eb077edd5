/* The opcode contract in one place: each opcode's name, family, operands and attributes
 * (gs_opcode_info), and the one check every launch passes before a backend sees it
 * (gs_launch_check). op.h's comments state the arithmetic; this file states what makes a launch
 * well formed, so backends need not check it again and judge only their device's limits. */
#include <stdarg.h>
#include <stdio.h>

#include "gessl/op.h"

#define IN0 0x1u
#define IN1 0x2u

/* clang-format off */
static const gs_opcode_info infos[] = {
  [GS_OP_NOP]        = {"nop", GS_FAM_ELEMENTWISE, 0, 0, 0, 0, ""},
  [GS_OP_FILL]       = {"fill", GS_FAM_ELEMENTWISE, 0, 0, 1, 0, "f0 value"},
  [GS_OP_UNARY]      = {"unary", GS_FAM_ELEMENTWISE, 1, 0, 0, 1, "i0 gs_unary; f0, f1 affine's scale and shift"},
  [GS_OP_UNARY_BWD]  = {"unary_bwd", GS_FAM_ELEMENTWISE, 3, 0, 0, 0, "i0 gs_unary; f as forward"},
  [GS_OP_BINARY]     = {"binary", GS_FAM_ELEMENTWISE, 2, 0, 0, 0, "i0 gs_binary"},
  [GS_OP_AXPBY]      = {"axpby", GS_FAM_ELEMENTWISE, 2, 0, 0, 1, "f0 a, f1 b"},
  [GS_OP_REDUCE]     = {"reduce", GS_FAM_REDUCE, 1, 0, 0, 0, "i0 gs_reduce"},
  [GS_OP_EXPAND]     = {"expand", GS_FAM_MOVE, 1, 0, 1, 0, ""},
  [GS_OP_DOT]        = {"dot", GS_FAM_GEMM, 2, 0, 0, 0, ""},
  [GS_OP_PERMUTE]    = {"permute", GS_FAM_MOVE, 1, 0, 1, 0, "i[k] input axis of output axis k"},
  [GS_OP_SLICE]      = {"slice", GS_FAM_MOVE, 1, 0, 1, 0, "i[k] start in dim k"},
  [GS_OP_INSERT]     = {"insert", GS_FAM_MOVE, 1, 0, 1, 0, "i[k] start in dim k"},
  [GS_OP_MATMUL]     = {"matmul", GS_FAM_GEMM, 2, 0, 0, 0, "i0 transpose A, i1 transpose B"},
  [GS_OP_GATHER_ROWS] = {"gather_rows", GS_FAM_MOVE, 2, IN1, 0, 0, ""},
  [GS_OP_SCATTER_ADD_ROWS] = {"scatter_add_rows", GS_FAM_MOVE, 2, IN1, 0, 0, ""},
  [GS_OP_ONEHOT]     = {"onehot", GS_FAM_MOVE, 1, IN0, 0, 0, ""},
  [GS_OP_CONV2D]     = {"conv2d", GS_FAM_CONV, 2, 0, 0, 0, "i0, i1 stride h, w; i2, i3 padding h, w"},
  [GS_OP_CONV2D_BWD_DATA] = {"conv2d_bwd_data", GS_FAM_CONV, 2, 0, 0, 0, "as conv2d"},
  [GS_OP_CONV2D_BWD_FILTER] = {"conv2d_bwd_filter", GS_FAM_CONV, 2, 0, 0, 0, "as conv2d"},
  [GS_OP_MAXPOOL2D]  = {"max_pool2d", GS_FAM_POOL, 1, 0, 0, 0, "i0, i1 window h, w; i2, i3 stride h, w; i4, i5 padding h, w"},
  [GS_OP_MAXPOOL2D_BWD] = {"max_pool2d_bwd", GS_FAM_POOL, 2, 0, 0, 0, "as max_pool2d"},
  [GS_OP_AVGPOOL2D]  = {"avg_pool2d", GS_FAM_POOL, 1, 0, 0, 0, "as max_pool2d"},
  [GS_OP_AVGPOOL2D_BWD] = {"avg_pool2d_bwd", GS_FAM_POOL, 1, 0, 0, 0, "as max_pool2d"},
  [GS_OP_SGD]        = {"sgd", GS_FAM_OPTIM, 4, 0, 0, 2, "f0 momentum, f1 weight decay; i0 nesterov"},
  [GS_OP_ADAMW]      = {"adamw", GS_FAM_OPTIM, 6, 0, 0, 2, "f0 beta1, f1 beta2, f2 eps, f3 weight decay"},
  [GS_OP_EMA]        = {"ema", GS_FAM_OPTIM, 3, 0, 0, 2, ""},
};
/* clang-format on */
_Static_assert(sizeof infos / sizeof *infos == GS_OP_COUNT, "one gs_opcode_info per opcode");

static const char *const unary_names[] = {"affine", "exp",  "log",     "sqrt", "rsqrt", "square",
                                          "abs",    "relu", "sigmoid", "tanh", "recip"};
_Static_assert(sizeof unary_names / sizeof *unary_names == GS_UN_COUNT, "unary names");

static const char *const binary_names[] = {"add", "sub", "mul", "div", "max", "min", "eq", "gt"};
_Static_assert(sizeof binary_names / sizeof *binary_names == GS_BIN_COUNT, "binary names");

static const char *const family_names[] = {"gemm",        "conv", "pool", "reduce",
                                           "elementwise", "move", "optim"};
_Static_assert(sizeof family_names / sizeof *family_names == GS_FAM_COUNT, "family names");

const gs_opcode_info *gs_opcode_info_of(gs_opcode op) {
  return (unsigned)op < GS_OP_COUNT ? &infos[op] : NULL;
}
const char *gs_opcode_name(gs_opcode op) {
  return (unsigned)op < GS_OP_COUNT ? infos[op].name : "?";
}
gs_opfamily gs_opcode_family(gs_opcode op) {
  return (unsigned)op < GS_OP_COUNT ? infos[op].family : GS_FAM_ELEMENTWISE;
}
const char *gs_opfamily_name(gs_opfamily f) {
  return f >= 0 && f < GS_FAM_COUNT ? family_names[f] : "?";
}
const char *gs_unary_name(gs_unary fn) {
  return (unsigned)fn < GS_UN_COUNT ? unary_names[fn] : "?";
}
const char *gs_binary_name(gs_binary fn) {
  return (unsigned)fn < GS_BIN_COUNT ? binary_names[fn] : "?";
}

/* ---- gs_launch_check ---- */

static int bad(char *why, size_t len, const char *fmt, ...) GS_PRINTF(3, 4);
static int bad(char *why, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (why && len) vsnprintf(why, len, fmt, ap);
  va_end(ap);
  return 0;
}

static const char *dtn(gs_dtype t) { return t == GS_F32 ? "f32" : t == GS_I32 ? "i32" : "?"; }

static int shape_ok(const gs_shape *s) {
  if (s->rank < 0 || s->rank > GS_MAX_RANK) return 0;
  for (int k = 0; k < s->rank; k++)
    if (s->dim[k] < 0) return 0;
  return 1;
}

/* Every dim of `in` is 1 or equal to out's, same rank. */
static int bcastable(const gs_shape *in, const gs_shape *out) {
  if (in->rank != out->rank) return 0;
  for (int k = 0; k < in->rank; k++)
    if (in->dim[k] != 1 && in->dim[k] != out->dim[k]) return 0;
  return 1;
}

/* The input count and every operand's dtype and shape, from the table: f32 unless the table
 * marks an input i32; data movement carries i32 too when input and output agree. */
static int operands(const gs_launch *l, const gs_opcode_info *in, char *why, size_t len) {
  if (l->n_in != in->n_in) return bad(why, len, "needs %d inputs, got %d", in->n_in, l->n_in);
  int i32 = in->any_dtype && l->out_desc.dtype == GS_I32 &&
            (l->n_in == 0 || l->in_desc[0].dtype == GS_I32);
  for (int k = 0; k < l->n_in; k++) {
    gs_dtype want = (in->i32_in >> k) & 1 || i32 ? GS_I32 : GS_F32;
    if (l->in_desc[k].dtype != want)
      return bad(why, len, "input %d is %s, needs %s", k, dtn(l->in_desc[k].dtype), dtn(want));
    if (!shape_ok(&l->in_desc[k].shape)) return bad(why, len, "input %d has a bad shape", k);
  }
  gs_dtype want = i32 ? GS_I32 : GS_F32;
  if (l->out_desc.dtype != want)
    return bad(why, len, "output is %s, needs %s", dtn(l->out_desc.dtype), dtn(want));
  if (!shape_ok(&l->out_desc.shape)) return bad(why, len, "output has a bad shape");
  return 1;
}

static int check_conv(const gs_launch *l, char *why, size_t len) {
  const gs_shape *o = &l->out_desc.shape;
  const gs_shape *x, *w, *y;
  if (l->op == GS_OP_CONV2D) {
    x = &l->in_desc[0].shape, w = &l->in_desc[1].shape, y = o;
  } else if (l->op == GS_OP_CONV2D_BWD_DATA) {
    y = &l->in_desc[0].shape, w = &l->in_desc[1].shape, x = o;
  } else {
    x = &l->in_desc[0].shape, y = &l->in_desc[1].shape, w = o;
  }
  if (x->rank != 4 || w->rank != 4 || y->rank != 4) return bad(why, len, "operands must be rank 4");
  int64_t sh = l->i[0], sw = l->i[1], ph = l->i[2], pw = l->i[3];
  if (sh < 1 || sw < 1 || ph < 0 || pw < 0)
    return bad(why, len, "bad stride %lld,%lld or padding %lld,%lld", (long long)sh, (long long)sw,
               (long long)ph, (long long)pw);
  if (w->dim[1] != x->dim[1]) return bad(why, len, "weight channels differ from input channels");
  int64_t oh = x->dim[2] + 2 * ph - w->dim[2], ow = x->dim[3] + 2 * pw - w->dim[3];
  if (oh < 0 || ow < 0) return bad(why, len, "kernel larger than the padded input");
  oh = oh / sh + 1, ow = ow / sw + 1;
  if (y->dim[0] != x->dim[0] || y->dim[1] != w->dim[0] || y->dim[2] != oh || y->dim[3] != ow)
    return bad(why, len, "output shape does not follow from input, weight, stride and padding");
  return 1;
}

static int check_pool(const gs_launch *l, const gs_shape *x, const gs_shape *y, char *why,
                      size_t len) {
  if (x->rank != 4 || y->rank != 4) return bad(why, len, "operands must be rank 4");
  int64_t kh = l->i[0], kw = l->i[1], sh = l->i[2], sw = l->i[3], ph = l->i[4], pw = l->i[5];
  if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0)
    return bad(why, len, "bad window, stride or padding");
  int64_t oh = x->dim[2] + 2 * ph - kh, ow = x->dim[3] + 2 * pw - kw;
  if (oh < 0 || ow < 0) return bad(why, len, "window larger than the padded input");
  oh = oh / sh + 1, ow = ow / sw + 1;
  if (y->dim[0] != x->dim[0] || y->dim[1] != x->dim[1] || y->dim[2] != oh || y->dim[3] != ow)
    return bad(why, len, "output shape does not follow from input, window, stride and padding");
  return 1;
}

/* The optimizer ops: inputs 1..n_like have w's shape, inputs from `scalars` on hold one element,
 * and out aliases in0 (same size). */
static int check_update(const gs_launch *l, int n_like, int scalars, char *why, size_t len) {
  const gs_shape *w = &l->in_desc[0].shape;
  for (int k = 1; k <= n_like; k++)
    if (!gs_shape_eq(&l->in_desc[k].shape, w))
      return bad(why, len, "input %d shape differs from input 0", k);
  for (int k = scalars; k < l->n_in; k++)
    if (gs_shape_numel(&l->in_desc[k].shape) != 1)
      return bad(why, len, "input %d must hold one element", k);
  if (gs_shape_numel(&l->out_desc.shape) != gs_shape_numel(w))
    return bad(why, len, "out must alias input 0");
  return 1;
}

static int check_shapes(const gs_launch *l, char *why, size_t len) {
  char b1[96], b2[96], b3[96];
  const gs_shape *o = &l->out_desc.shape;
  const gs_shape *a = &l->in_desc[0].shape, *b = &l->in_desc[1].shape;
  switch (l->op) {
  case GS_OP_NOP:
  case GS_OP_FILL: return 1;
  case GS_OP_UNARY:
  case GS_OP_UNARY_BWD:
    if (l->i[0] < 0 || l->i[0] >= GS_UN_COUNT) return bad(why, len, "unknown function %d", l->i[0]);
    for (int k = 0; k < l->n_in; k++)
      if (!gs_shape_eq(&l->in_desc[k].shape, o))
        return bad(why, len, "input %d shape %s differs from the output's %s", k,
                   gs_shape_str(&l->in_desc[k].shape, b1, 96), gs_shape_str(o, b2, 96));
    return 1;
  case GS_OP_BINARY:
    if (l->i[0] < 0 || l->i[0] >= GS_BIN_COUNT)
      return bad(why, len, "unknown function %d", l->i[0]);
    if (!bcastable(a, o) || !bcastable(b, o))
      return bad(why, len, "%s and %s do not broadcast to %s", gs_shape_str(a, b1, 96),
                 gs_shape_str(b, b2, 96), gs_shape_str(o, b3, 96));
    return 1;
  case GS_OP_AXPBY:
    if (!gs_shape_eq(a, o) || !gs_shape_eq(b, o))
      return bad(why, len, "shapes %s, %s, %s differ", gs_shape_str(a, b1, 96),
                 gs_shape_str(b, b2, 96), gs_shape_str(o, b3, 96));
    return 1;
  case GS_OP_REDUCE:
    if (l->i[0] < 0 || l->i[0] >= GS_RED_COUNT) return bad(why, len, "unknown kind %d", l->i[0]);
    if (!bcastable(o, a))
      return bad(why, len, "%s does not reduce to %s", gs_shape_str(a, b1, 96),
                 gs_shape_str(o, b2, 96));
    for (int k = 0; k < a->rank; k++)
      if (a->dim[k] == 0) return bad(why, len, "reducing an empty tensor");
    return 1;
  case GS_OP_EXPAND:
    if (!bcastable(a, o))
      return bad(why, len, "%s does not expand to %s", gs_shape_str(a, b1, 96),
                 gs_shape_str(o, b2, 96));
    return 1;
  case GS_OP_DOT:
    if (!gs_shape_eq(a, b))
      return bad(why, len, "shapes %s and %s differ", gs_shape_str(a, b1, 96),
                 gs_shape_str(b, b2, 96));
    if (gs_shape_numel(o) != 1) return bad(why, len, "output must hold one element");
    return 1;
  case GS_OP_PERMUTE: {
    if (a->rank != o->rank) return bad(why, len, "ranks differ");
    int seen[GS_MAX_RANK] = {0};
    for (int k = 0; k < o->rank; k++) {
      int p = l->i[k];
      if (p < 0 || p >= o->rank || seen[p]++) return bad(why, len, "bad permutation");
      if (o->dim[k] != a->dim[p]) return bad(why, len, "output dim %d is not input dim %d", k, p);
    }
    return 1;
  }
  case GS_OP_SLICE:
  case GS_OP_INSERT: {
    if (a->rank != o->rank) return bad(why, len, "ranks differ");
    const gs_shape *win = l->op == GS_OP_SLICE ? o : a, *whole = l->op == GS_OP_SLICE ? a : o;
    for (int k = 0; k < o->rank; k++)
      if (l->i[k] < 0 || l->i[k] + win->dim[k] > whole->dim[k])
        return bad(why, len, "window %s at dim %d start %d leaves %s", gs_shape_str(win, b1, 96), k,
                   l->i[k], gs_shape_str(whole, b2, 96));
    return 1;
  }
  case GS_OP_MATMUL: {
    if (a->rank != 3 || b->rank != 3 || o->rank != 3)
      return bad(why, len, "operands must be rank 3");
    int ta = l->i[0] != 0, tb = l->i[1] != 0;
    int64_t m = ta ? a->dim[2] : a->dim[1], ka = ta ? a->dim[1] : a->dim[2];
    int64_t kb = tb ? b->dim[2] : b->dim[1], n = tb ? b->dim[1] : b->dim[2], bt = o->dim[0];
    if (ka != kb || o->dim[1] != m || o->dim[2] != n || (a->dim[0] != 1 && a->dim[0] != bt) ||
        (b->dim[0] != 1 && b->dim[0] != bt))
      return bad(why, len, "%s x %s (transpose %d,%d) does not give %s", gs_shape_str(a, b1, 96),
                 gs_shape_str(b, b2, 96), ta, tb, gs_shape_str(o, b3, 96));
    return 1;
  }
  case GS_OP_GATHER_ROWS:
  case GS_OP_SCATTER_ADD_ROWS: {
    if (a->rank != 2 || o->rank != 2 || b->rank != 1)
      return bad(why, len, "needs [R, D], [N] i32 and [N, D]");
    int64_t nrows = l->op == GS_OP_GATHER_ROWS ? o->dim[0] : a->dim[0];
    if (a->dim[1] != o->dim[1] || b->dim[0] != nrows)
      return bad(why, len, "shapes %s, %s, %s do not fit", gs_shape_str(a, b1, 96),
                 gs_shape_str(b, b2, 96), gs_shape_str(o, b3, 96));
    return 1;
  }
  case GS_OP_ONEHOT:
    if (a->rank != 1 || o->rank != 2 || o->dim[0] != a->dim[0])
      return bad(why, len, "needs labels [N] and output [N, C]");
    return 1;
  case GS_OP_CONV2D:
  case GS_OP_CONV2D_BWD_DATA:
  case GS_OP_CONV2D_BWD_FILTER: return check_conv(l, why, len);
  case GS_OP_MAXPOOL2D:
  case GS_OP_AVGPOOL2D: return check_pool(l, a, o, why, len);
  case GS_OP_MAXPOOL2D_BWD:
    if (!check_pool(l, a, b, why, len)) return 0;
    if (!gs_shape_eq(a, o)) return bad(why, len, "dx shape differs from x");
    return 1;
  case GS_OP_AVGPOOL2D_BWD: return check_pool(l, o, a, why, len);
  case GS_OP_SGD: return check_update(l, 2, 3, why, len);
  case GS_OP_ADAMW: return check_update(l, 3, 4, why, len);
  case GS_OP_EMA: return check_update(l, 1, 2, why, len);
  case GS_OP_COUNT: break;
  }
  return bad(why, len, "unknown opcode %d", (int)l->op);
}

int gs_launch_check(const gs_launch *l, char *why, size_t len) {
  if (!l) return bad(why, len, "no launch");
  const gs_opcode_info *in = gs_opcode_info_of(l->op);
  if (!in) return bad(why, len, "unknown opcode %d", (int)l->op);
  if (l->op == GS_OP_NOP) return 1;
  return operands(l, in, why, len) && check_shapes(l, why, len);
}
