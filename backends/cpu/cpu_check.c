/* Launch validation: what makes a launch well formed for each opcode, as op.h states it. The
 * backend checks everything once, at compile time, so the kernels can trust their operands. */
#include "cpu_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int bad(char *why, size_t len, const char *fmt, ...) GS_PRINTF(3, 4);
static int bad(char *why, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, len, fmt, ap);
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

static int same_shape(const gs_shape *a, const gs_shape *b) {
  if (a->rank != b->rank) return 0;
  for (int k = 0; k < a->rank; k++)
    if (a->dim[k] != b->dim[k]) return 0;
  return 1;
}

/* Every dim of `in` is 1 or equal to out's, same rank. */
static int bcastable(const gs_shape *in, const gs_shape *out) {
  if (in->rank != out->rank) return 0;
  for (int k = 0; k < in->rank; k++)
    if (in->dim[k] != 1 && in->dim[k] != out->dim[k]) return 0;
  return 1;
}

static const char *sh(const gs_shape *s, char *buf, size_t len) {
  size_t o = 0;
  o += (size_t)snprintf(buf + o, len - o, "[");
  for (int k = 0; k < s->rank && k < GS_MAX_RANK && o < len; k++)
    o += (size_t)snprintf(buf + o, len - o, k ? ", %lld" : "%lld", (long long)s->dim[k]);
  if (o < len) snprintf(buf + o, len - o, "]");
  return buf;
}

/* Checks n_in, and that every operand is f32 unless `i32mask` marks it i32 (bit k: in k,
 * bit 7: out). */
static int operands(const gs_launch *l, int n_in, unsigned i32mask, char *why, size_t len) {
  if (l->n_in != n_in) return bad(why, len, "needs %d inputs, got %d", n_in, l->n_in);
  for (int k = 0; k < n_in; k++) {
    gs_dtype want = (i32mask >> k) & 1 ? GS_I32 : GS_F32;
    if (l->in_desc[k].dtype != want)
      return bad(why, len, "input %d is %s, needs %s", k, dtn(l->in_desc[k].dtype), dtn(want));
    if (!shape_ok(&l->in_desc[k].shape)) return bad(why, len, "input %d has a bad shape", k);
  }
  gs_dtype want = (i32mask >> 7) & 1 ? GS_I32 : GS_F32;
  if (l->out_desc.dtype != want)
    return bad(why, len, "output is %s, needs %s", dtn(l->out_desc.dtype), dtn(want));
  if (!shape_ok(&l->out_desc.shape)) return bad(why, len, "output has a bad shape");
  return 1;
}

/* Data-movement ops carry either dtype as long as input and output agree. */
static int any_dtype(const gs_launch *l) {
  return l->n_in >= 1 && l->in_desc[0].dtype == GS_I32 && l->out_desc.dtype == GS_I32 ? 0x81u : 0u;
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
  int64_t sh_ = l->i[0], sw = l->i[1], ph = l->i[2], pw = l->i[3];
  if (sh_ < 1 || sw < 1 || ph < 0 || pw < 0)
    return bad(why, len, "bad stride %lld,%lld or padding %lld,%lld", (long long)sh_, (long long)sw,
               (long long)ph, (long long)pw);
  if (w->dim[1] != x->dim[1]) return bad(why, len, "weight channels differ from input channels");
  int64_t oh = x->dim[2] + 2 * ph - w->dim[2], ow = x->dim[3] + 2 * pw - w->dim[3];
  if (oh < 0 || ow < 0) return bad(why, len, "kernel larger than the padded input");
  oh = oh / sh_ + 1, ow = ow / sw + 1;
  if (y->dim[0] != x->dim[0] || y->dim[1] != w->dim[0] || y->dim[2] != oh || y->dim[3] != ow)
    return bad(why, len, "output shape does not follow from input, weight, stride and padding");
  return 1;
}

static int check_pool(const gs_launch *l, const gs_shape *x, const gs_shape *y, char *why,
                      size_t len) {
  if (x->rank != 4 || y->rank != 4) return bad(why, len, "operands must be rank 4");
  int64_t kh = l->i[0], kw = l->i[1], sh_ = l->i[2], sw = l->i[3], ph = l->i[4], pw = l->i[5];
  if (kh < 1 || kw < 1 || sh_ < 1 || sw < 1 || ph < 0 || pw < 0)
    return bad(why, len, "bad window, stride or padding");
  int64_t oh = x->dim[2] + 2 * ph - kh, ow = x->dim[3] + 2 * pw - kw;
  if (oh < 0 || ow < 0) return bad(why, len, "window larger than the padded input");
  oh = oh / sh_ + 1, ow = ow / sw + 1;
  if (y->dim[0] != x->dim[0] || y->dim[1] != x->dim[1] || y->dim[2] != oh || y->dim[3] != ow)
    return bad(why, len, "output shape does not follow from input, window, stride and padding");
  return 1;
}

static int check_scalar(const gs_launch *l, int k, char *why, size_t len) {
  if (cpu_numel(&l->in_desc[k]) != 1) return bad(why, len, "input %d must hold one element", k);
  return 1;
}

int cpu_check_launch(const gs_launch *l, char *why, size_t len) {
  char b1[96], b2[96], b3[96];
  const gs_shape *o = &l->out_desc.shape;
  const gs_shape *a = &l->in_desc[0].shape, *b = &l->in_desc[1].shape;
  if (l->n_in < 0 || l->n_in > GS_LAUNCH_MAX_IN) return bad(why, len, "bad input count");
  switch (l->op) {
  case GS_OP_NOP: return 1;
  case GS_OP_FILL:
    if (l->out_desc.dtype != GS_F32 && l->out_desc.dtype != GS_I32)
      return bad(why, len, "bad output dtype");
    return l->n_in == 0 ? shape_ok(o) || bad(why, len, "bad output shape")
                        : bad(why, len, "takes no inputs");
  case GS_OP_UNARY:
    if (!operands(l, 1, 0, why, len)) return 0;
    if (l->i[0] < 0 || l->i[0] >= GS_UN_COUNT) return bad(why, len, "unknown function %d", l->i[0]);
    if (!same_shape(a, o))
      return bad(why, len, "shapes %s -> %s differ", sh(a, b1, 96), sh(o, b2, 96));
    return 1;
  case GS_OP_UNARY_BWD:
    if (!operands(l, 3, 0, why, len)) return 0;
    if (l->i[0] < 0 || l->i[0] >= GS_UN_COUNT) return bad(why, len, "unknown function %d", l->i[0]);
    for (int k = 0; k < 3; k++)
      if (!same_shape(&l->in_desc[k].shape, o)) return bad(why, len, "input %d shape differs", k);
    return 1;
  case GS_OP_BINARY:
    if (!operands(l, 2, 0, why, len)) return 0;
    if (l->i[0] < 0 || l->i[0] >= GS_BIN_COUNT)
      return bad(why, len, "unknown function %d", l->i[0]);
    if (!bcastable(a, o) || !bcastable(b, o))
      return bad(why, len, "%s and %s do not broadcast to %s", sh(a, b1, 96), sh(b, b2, 96),
                 sh(o, b3, 96));
    return 1;
  case GS_OP_AXPBY:
    if (!operands(l, 2, 0, why, len)) return 0;
    if (!same_shape(a, o) || !same_shape(b, o))
      return bad(why, len, "shapes %s, %s, %s differ", sh(a, b1, 96), sh(b, b2, 96), sh(o, b3, 96));
    return 1;
  case GS_OP_REDUCE:
    if (!operands(l, 1, 0, why, len)) return 0;
    if (l->i[0] < 0 || l->i[0] >= GS_RED_COUNT) return bad(why, len, "unknown kind %d", l->i[0]);
    if (!bcastable(o, a))
      return bad(why, len, "%s does not reduce to %s", sh(a, b1, 96), sh(o, b2, 96));
    for (int k = 0; k < a->rank; k++)
      if (a->dim[k] == 0) return bad(why, len, "reducing an empty tensor");
    return 1;
  case GS_OP_EXPAND:
    if (!operands(l, 1, any_dtype(l), why, len)) return 0;
    if (!bcastable(a, o))
      return bad(why, len, "%s does not expand to %s", sh(a, b1, 96), sh(o, b2, 96));
    return 1;
  case GS_OP_DOT:
    if (!operands(l, 2, 0, why, len)) return 0;
    if (!same_shape(a, b))
      return bad(why, len, "shapes %s and %s differ", sh(a, b1, 96), sh(b, b2, 96));
    if (cpu_numel(&l->out_desc) != 1) return bad(why, len, "output must hold one element");
    return 1;
  case GS_OP_PERMUTE: {
    if (!operands(l, 1, any_dtype(l), why, len)) return 0;
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
    if (!operands(l, 1, any_dtype(l), why, len)) return 0;
    if (a->rank != o->rank) return bad(why, len, "ranks differ");
    const gs_shape *win = l->op == GS_OP_SLICE ? o : a, *whole = l->op == GS_OP_SLICE ? a : o;
    for (int k = 0; k < o->rank; k++)
      if (l->i[k] < 0 || l->i[k] + win->dim[k] > whole->dim[k])
        return bad(why, len, "window %s at dim %d start %d leaves %s", sh(win, b1, 96), k, l->i[k],
                   sh(whole, b2, 96));
    return 1;
  }
  case GS_OP_MATMUL: {
    if (!operands(l, 2, 0, why, len)) return 0;
    if (a->rank != 3 || b->rank != 3 || o->rank != 3)
      return bad(why, len, "operands must be rank 3");
    int ta = l->i[0] != 0, tb = l->i[1] != 0;
    int64_t m = ta ? a->dim[2] : a->dim[1], ka = ta ? a->dim[1] : a->dim[2];
    int64_t kb = tb ? b->dim[2] : b->dim[1], n = tb ? b->dim[1] : b->dim[2], bt = o->dim[0];
    if (ka != kb || o->dim[1] != m || o->dim[2] != n || (a->dim[0] != 1 && a->dim[0] != bt) ||
        (b->dim[0] != 1 && b->dim[0] != bt))
      return bad(why, len, "%s x %s (transpose %d,%d) does not give %s", sh(a, b1, 96),
                 sh(b, b2, 96), ta, tb, sh(o, b3, 96));
    return 1;
  }
  case GS_OP_GATHER_ROWS:
  case GS_OP_SCATTER_ADD_ROWS: {
    if (!operands(l, 2, 0x2u, why, len)) return 0;
    const gs_shape *src = a, *dst = o;
    if (src->rank != 2 || dst->rank != 2 || b->rank != 1)
      return bad(why, len, "needs [R, D], [N] i32 and [N, D]");
    int64_t nrows = l->op == GS_OP_GATHER_ROWS ? dst->dim[0] : src->dim[0];
    if (src->dim[1] != dst->dim[1] || b->dim[0] != nrows)
      return bad(why, len, "shapes %s, %s, %s do not fit", sh(a, b1, 96), sh(b, b2, 96),
                 sh(o, b3, 96));
    return 1;
  }
  case GS_OP_ONEHOT:
    if (!operands(l, 1, 0x1u, why, len)) return 0;
    if (a->rank != 1 || o->rank != 2 || o->dim[0] != a->dim[0])
      return bad(why, len, "needs labels [N] and output [N, C]");
    return 1;
  case GS_OP_CONV2D:
  case GS_OP_CONV2D_BWD_DATA:
  case GS_OP_CONV2D_BWD_FILTER: return operands(l, 2, 0, why, len) && check_conv(l, why, len);
  case GS_OP_MAXPOOL2D:
  case GS_OP_AVGPOOL2D: return operands(l, 1, 0, why, len) && check_pool(l, a, o, why, len);
  case GS_OP_MAXPOOL2D_BWD:
    if (!operands(l, 2, 0, why, len) || !check_pool(l, a, b, why, len)) return 0;
    if (!same_shape(a, o)) return bad(why, len, "dx shape differs from x");
    return 1;
  case GS_OP_AVGPOOL2D_BWD: return operands(l, 1, 0, why, len) && check_pool(l, o, a, why, len);
  case GS_OP_SGD:
    if (!operands(l, 4, 0, why, len) || !check_scalar(l, 3, why, len)) return 0;
    for (int k = 1; k < 3; k++)
      if (!same_shape(&l->in_desc[k].shape, a))
        return bad(why, len, "input %d shape differs from w", k);
    if (cpu_numel(&l->out_desc) != cpu_numel(&l->in_desc[0]))
      return bad(why, len, "out must alias w");
    return 1;
  case GS_OP_ADAMW:
    if (!operands(l, 6, 0, why, len) || !check_scalar(l, 4, why, len) ||
        !check_scalar(l, 5, why, len))
      return 0;
    for (int k = 1; k < 4; k++)
      if (!same_shape(&l->in_desc[k].shape, a))
        return bad(why, len, "input %d shape differs from w", k);
    if (cpu_numel(&l->out_desc) != cpu_numel(&l->in_desc[0]))
      return bad(why, len, "out must alias w");
    return 1;
  case GS_OP_EMA:
    if (!operands(l, 3, 0, why, len) || !check_scalar(l, 2, why, len)) return 0;
    if (!same_shape(b, a)) return bad(why, len, "online shape differs from target");
    if (cpu_numel(&l->out_desc) != cpu_numel(&l->in_desc[0]))
      return bad(why, len, "out must alias target");
    return 1;
  case GS_OP_COUNT: break;
  }
  return bad(why, len, "unknown opcode %d", (int)l->op);
}

static int ref_ok(gs_bref r, const gs_tdesc *d, const char *what, int k, char *why, size_t len) {
  int64_t n = cpu_numel(d);
  if (n == 0) return 1;
  if (!r.buf) return bad(why, len, "%s %d has no buffer", what, k);
  size_t cap = r.buf->bytes / 4;
  if (r.off > cap || (uint64_t)n > cap - r.off)
    return bad(why, len, "%s %d: %lld elements at offset %zu overrun a %zu-element buffer", what, k,
               (long long)n, r.off, cap);
  return 1;
}

int cpu_check_bounds(const gs_launch *l, char *why, size_t len) {
  for (int k = 0; k < l->n_in; k++)
    if (!ref_ok(l->in[k], &l->in_desc[k], "input", k, why, len)) return 0;
  if (l->op == GS_OP_NOP) return 1;
  return ref_ok(l->out, &l->out_desc, "output", 0, why, len);
}
