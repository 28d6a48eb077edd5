/* From a launch record (op.h) to one dispatch: which pipeline, which buffer on which binding,
 * the push-constant words each shader documents, and the work-group counts. Offsets of operands
 * travel as push constants and whole buffers are bound, so minStorageBufferOffsetAlignment never
 * matters. */
#include "vk_internal.h"

#include <string.h>

#define R6 GS_MAX_RANK

static int ceil_div(int64_t a, int64_t b) { return (int)((a + b - 1) / b); }

int vkb_gemm_lanes(const gs_bdev *d, vkb_pipe p) {
  return d->gemm_lanes && (p == VKB_P_GEMM || p == VKB_P_CONV_FWD || p == VKB_P_CONV_BWD_DATA ||
                           p == VKB_P_CONV_BWD_FILTER);
}

/* Rows of C one work group of pipeline p covers. */
static int64_t gemm_rows(const gs_bdev *d, vkb_pipe p) {
  return vkb_gemm_lanes(d, p) ? VKB_LANES_RM : 4 * (int64_t)d->gemm_ts;
}

/* Why this device cannot run the launch, or NULL. The runtime has checked the launch against its
 * opcode's contract (gs_launch_check), so only the device's limits are judged here: f32 results
 * (the shaders move 4-byte floats), sizes that fit the shaders' 32-bit indices, dispatch limits,
 * and, when `buffers` is set, each operand's window inside its buffer (supports() may be asked
 * before the runtime has allocated them). */
static const char *refusal(gs_bdev *d, const gs_launch *l, int buffers) {
  if (l->op <= GS_OP_NOP || l->op >= GS_OP_COUNT)
    return l->op == GS_OP_NOP ? NULL : "unknown opcode";
  if (l->out_desc.dtype != GS_F32) return "i32 results";
  const int64_t lim = INT32_MAX;
  for (int k = 0; k <= l->n_in; k++) {
    const gs_tdesc *t = k < l->n_in ? &l->in_desc[k] : &l->out_desc;
    const gs_bref *b = k < l->n_in ? &l->in[k] : &l->out;
    for (int j = 0; j < t->shape.rank; j++)
      if (t->shape.dim[j] < 1 || t->shape.dim[j] > lim) return "dimension out of range";
    int64_t n = gs_shape_numel(&t->shape);
    if (n > lim || (int64_t)b->off > lim - n) return "more than 2^31 elements";
    if (!buffers) continue;
    if (!b->buf) return "operand without a buffer";
    if ((uint64_t)(b->off + (size_t)n) * 4 > b->buf->size) return "operand outside its buffer";
  }
  switch (l->op) {
  case GS_OP_MATMUL: {
    const gs_shape *o = &l->out_desc.shape;
    int64_t bm = gemm_rows(d, VKB_P_GEMM);
    if (ceil_div(o->dim[1], bm) > (int64_t)d->max_groups[1] || o->dim[0] > d->max_groups[2])
      return "matrix too large for the dispatch limits";
    break;
  }
  case GS_OP_CONV2D:
  case GS_OP_CONV2D_BWD_DATA:
  case GS_OP_CONV2D_BWD_FILTER: {
    /* M is the output (forward, filter gradient) or input (data gradient) channel count. */
    int64_t m = l->op == GS_OP_CONV2D_BWD_DATA ? l->out_desc.shape.dim[1]
                : l->op == GS_OP_CONV2D        ? l->in_desc[1].shape.dim[0]
                                               : l->out_desc.shape.dim[0];
    vkb_pipe p = l->op == GS_OP_CONV2D_BWD_DATA ? VKB_P_CONV_BWD_DATA
                 : l->op == GS_OP_CONV2D        ? VKB_P_CONV_FWD
                                                : VKB_P_CONV_BWD_FILTER;
    if (ceil_div(m, gemm_rows(d, p)) > (int64_t)d->max_groups[1])
      return "too many channels for the dispatch limits";
    break;
  }
  default: break;
  }
  return NULL;
}

int vkb_supports(gs_bdev *d, const gs_launch *l) { return refusal(d, l, 0) == NULL; }

/* dims padded with leading 1s to 6, and the matching contiguous strides. */
static void pad6(const gs_shape *s, uint32_t dims[R6], uint32_t strides[R6]) {
  int lead = R6 - s->rank;
  uint32_t st = 1;
  for (int k = R6 - 1; k >= 0; k--) {
    dims[k] = k < lead ? 1u : (uint32_t)s->dim[k - lead];
    strides[k] = k < lead ? 0u : st;
    st *= dims[k];
  }
}

static uint32_t groups_1d(gs_bdev *d, int64_t n) {
  int64_t g = (n + d->wg - 1) / d->wg;
  if (g > d->max_groups[0]) g = d->max_groups[0];
  return g < 1 ? 1u : (uint32_t)g;
}

/* For the shaders that find an element's index by division once per invocation and then step
 * (strided.comp): on CPU devices each invocation takes at least VKB_RUN elements, so the
 * divisions, which a CPU does lane by lane, are spread over them; GPUs keep an invocation per
 * element. */
#define VKB_RUN 64
static uint32_t groups_runs(gs_bdev *d, int64_t n) {
  if (d->props.deviceType != VK_PHYSICAL_DEVICE_TYPE_CPU) return groups_1d(d, n);
  int64_t g = (n + (int64_t)d->wg * VKB_RUN - 1) / ((int64_t)d->wg * VKB_RUN);
  if (g > d->max_groups[0]) g = d->max_groups[0];
  return g < 1 ? 1u : (uint32_t)g;
}

static uint32_t f2u(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static void plan_elementwise(gs_bdev *d, const gs_launch *l, vkb_dispatch *x) {
  static const uint32_t mode[GS_OP_COUNT] = {
      [GS_OP_FILL] = 0, [GS_OP_UNARY] = 1, [GS_OP_UNARY_BWD] = 2, [GS_OP_AXPBY] = 3,
      [GS_OP_SGD] = 4,  [GS_OP_ADAMW] = 5, [GS_OP_EMA] = 6};
  int64_t n = gs_shape_numel(&l->out_desc.shape);
  x->pipe = VKB_P_ELEMENTWISE;
  x->pc[0] = mode[l->op];
  x->pc[1] = (uint32_t)l->i[0];
  x->pc[2] = (uint32_t)n;
  for (int k = 0; k < l->n_in; k++) {
    x->bind[k] = l->in[k].buf;
    x->pc[3 + k] = (uint32_t)l->in[k].off;
  }
  x->pc[9] = (uint32_t)l->out.off;
  for (int k = 0; k < 4; k++) x->pc[10 + k] = f2u(l->f[k]);
  x->groups[0] = groups_1d(d, n);
}

/* Broadcast strides: a size-1 dim of an operand is read with stride 0. */
static void bcast(const gs_shape *s, uint32_t st[R6]) {
  uint32_t dims[R6];
  pad6(s, dims, st);
  for (int k = 0; k < R6; k++)
    if (dims[k] == 1) st[k] = 0;
}

/* Merges adjacent dims that every operand walks contiguously (outer stride == inner stride * inner
 * size) and drops size-1 dims, then pads at the front again: the shader divides once per dim
 * that is left, and stops at the first padding dim. */
static void coalesce(uint32_t dims[R6], uint32_t *st[], int nst) {
  uint32_t nd[R6], ns[3][R6];
  int n = 0;
  for (int k = 0; k < R6; k++) {
    if (dims[k] == 1) continue;
    int merge = n > 0;
    for (int j = 0; j < nst && merge; j++) merge = ns[j][n - 1] == st[j][k] * dims[k];
    if (merge) {
      nd[n - 1] *= dims[k];
      for (int j = 0; j < nst; j++) ns[j][n - 1] = st[j][k];
      continue;
    }
    nd[n] = dims[k];
    for (int j = 0; j < nst; j++) ns[j][n] = st[j][k];
    n++;
  }
  int lead = R6 - n;
  for (int k = 0; k < R6; k++) {
    dims[k] = k < lead ? 1u : nd[k - lead];
    for (int j = 0; j < nst; j++) st[j][k] = k < lead ? 0u : ns[j][k - lead];
  }
}

static void plan_strided(gs_bdev *d, const gs_launch *l, vkb_dispatch *x) {
  uint32_t *dims = x->pc, *so = x->pc + 6, *s0 = x->pc + 12, *s1 = x->pc + 18;
  uint32_t ooff = (uint32_t)l->out.off, i0off = (uint32_t)l->in[0].off;
  uint32_t tmp[R6];
  const gs_shape *space = &l->out_desc.shape;
  x->pc[27] = 0;
  switch (l->op) {
  case GS_OP_BINARY:
    pad6(space, dims, so);
    bcast(&l->in_desc[0].shape, s0);
    bcast(&l->in_desc[1].shape, s1);
    x->pc[26] = (uint32_t)l->in[1].off;
    x->pc[27] = 1u + (uint32_t)l->i[0];
    x->bind[1] = l->in[1].buf;
    break;
  case GS_OP_EXPAND:
    pad6(space, dims, so);
    bcast(&l->in_desc[0].shape, s0);
    break;
  case GS_OP_PERMUTE: {
    pad6(space, dims, so);
    int r = space->rank, lead = R6 - r;
    pad6(&l->in_desc[0].shape, tmp, s0);
    uint32_t ins[R6];
    memcpy(ins, s0, sizeof ins);
    for (int k = 0; k < R6; k++) s0[k] = k < lead ? 0u : ins[lead + l->i[k - lead]];
    break;
  }
  case GS_OP_SLICE: {
    pad6(space, dims, so);
    pad6(&l->in_desc[0].shape, tmp, s0);
    int lead = R6 - space->rank;
    for (int k = lead; k < R6; k++) i0off += (uint32_t)l->i[k - lead] * s0[k];
    break;
  }
  case GS_OP_INSERT: {
    space = &l->in_desc[0].shape;
    pad6(space, dims, s0);
    pad6(&l->out_desc.shape, tmp, so);
    int lead = R6 - l->out_desc.shape.rank;
    for (int k = lead; k < R6; k++) ooff += (uint32_t)l->i[k - lead] * so[k];
    break;
  }
  default: break;
  }
  uint32_t *sts[3] = {so, s0, s1};
  coalesce(dims, sts, 3);
  int64_t n = gs_shape_numel(space);
  x->pipe = VKB_P_STRIDED;
  x->bind[0] = l->in[0].buf;
  x->pc[24] = ooff;
  x->pc[25] = i0off;
  x->pc[28] = (uint32_t)n;
  x->groups[0] = groups_runs(d, n);
}

static void plan_reduce(gs_bdev *d, const gs_launch *l, vkb_dispatch *x) {
  uint32_t tmp[R6];
  pad6(&l->in_desc[0].shape, x->pc + 6, tmp);
  if (l->op == GS_OP_DOT) {
    for (int k = 0; k < R6; k++) x->pc[k] = 1;
    x->pc[15] = 3;
    x->bind[1] = l->in[1].buf;
    x->pc[13] = (uint32_t)l->in[1].off;
  } else {
    pad6(&l->out_desc.shape, x->pc, tmp);
    x->pc[15] = (uint32_t)l->i[0];
  }
  /* Adjacent axes of the same kind (both reduced or both kept) merge; size-1 axes go. */
  uint32_t nd_o[R6] = {0}, nd_i[R6] = {0};
  int n = 0;
  for (int k = 0; k < R6; k++) {
    uint32_t od = x->pc[k], id = x->pc[6 + k];
    if (id == 1) continue;
    if (n > 0 && (nd_o[n - 1] == 1) == (od == 1)) {
      nd_i[n - 1] *= id;
      nd_o[n - 1] = od == 1 ? 1 : nd_i[n - 1];
      continue;
    }
    nd_o[n] = od, nd_i[n] = id, n++;
  }
  for (int k = 0; k < R6; k++) {
    x->pc[k] = k < R6 - n ? 1u : nd_o[k - (R6 - n)];
    x->pc[6 + k] = k < R6 - n ? 1u : nd_i[k - (R6 - n)];
  }
  int64_t nout = 1, nin = gs_shape_numel(&l->in_desc[0].shape);
  for (int k = 0; k < R6; k++) nout *= x->pc[k];
  x->pipe = VKB_P_REDUCE;
  x->bind[0] = l->in[0].buf;
  x->pc[12] = (uint32_t)l->in[0].off;
  x->pc[14] = (uint32_t)l->out.off;
  x->pc[16] = (uint32_t)nout;
  x->pc[17] = (uint32_t)(nin / nout);
  /* Many outputs of few elements each: one invocation per output, no tree (which would idle
   * most of its threads and pay for its barriers). */
  int serial = x->pc[17] <= 256 || nout >= 4096;
  x->pc[18] = (uint32_t)serial;
  if (serial)
    x->groups[0] = groups_1d(d, nout);
  else
    x->groups[0] = nout > d->max_groups[0] ? d->max_groups[0] : (uint32_t)nout;
}

static void plan_rows(gs_bdev *d, const gs_launch *l, vkb_dispatch *x) {
  const gs_shape *o = &l->out_desc.shape;
  x->pipe = VKB_P_ROWS;
  x->pc[6] = (uint32_t)l->out.off;
  if (l->op == GS_OP_ONEHOT) {
    x->pc[0] = 2;
    x->pc[2] = (uint32_t)o->dim[1];
    x->bind[1] = l->in[0].buf; /* labels are read as i32 on binding 1 */
    x->pc[5] = (uint32_t)l->in[0].off;
  } else {
    x->pc[0] = l->op == GS_OP_GATHER_ROWS ? 0 : 1;
    x->pc[1] = (uint32_t)(l->op == GS_OP_GATHER_ROWS ? l->in_desc[0].shape.dim[0] : o->dim[0]);
    x->pc[2] = (uint32_t)o->dim[1];
    x->pc[3] = (uint32_t)l->in_desc[1].shape.dim[0];
    x->bind[0] = l->in[0].buf;
    x->bind[1] = l->in[1].buf;
    x->pc[4] = (uint32_t)l->in[0].off;
    x->pc[5] = (uint32_t)l->in[1].off;
  }
  int64_t n = gs_shape_numel(o);
  x->pc[7] = (uint32_t)n;
  x->groups[0] = groups_1d(d, n);
}

static void plan_pool(gs_bdev *d, const gs_launch *l, vkb_dispatch *x) {
  /* x (when there is one) on binding 0, dy on binding 1; sizes from whichever holds them. */
  const gs_shape *big, *small;
  switch (l->op) {
  case GS_OP_MAXPOOL2D:
  case GS_OP_AVGPOOL2D:
    x->pc[0] = l->op == GS_OP_MAXPOOL2D ? 0 : 2;
    big = &l->in_desc[0].shape, small = &l->out_desc.shape;
    x->bind[0] = l->in[0].buf, x->pc[12] = (uint32_t)l->in[0].off;
    break;
  case GS_OP_MAXPOOL2D_BWD:
    x->pc[0] = 1;
    big = &l->in_desc[0].shape, small = &l->in_desc[1].shape;
    x->bind[0] = l->in[0].buf, x->pc[12] = (uint32_t)l->in[0].off;
    x->bind[1] = l->in[1].buf, x->pc[13] = (uint32_t)l->in[1].off;
    break;
  default: /* AVGPOOL2D_BWD */
    x->pc[0] = 3;
    big = &l->out_desc.shape, small = &l->in_desc[0].shape;
    x->bind[1] = l->in[0].buf, x->pc[13] = (uint32_t)l->in[0].off;
    break;
  }
  x->pipe = VKB_P_POOL;
  x->pc[1] = (uint32_t)(big->dim[0] * big->dim[1]);
  x->pc[2] = (uint32_t)big->dim[2], x->pc[3] = (uint32_t)big->dim[3];
  x->pc[4] = (uint32_t)small->dim[2], x->pc[5] = (uint32_t)small->dim[3];
  for (int k = 0; k < 6; k++) x->pc[6 + k] = (uint32_t)l->i[k];
  x->pc[14] = (uint32_t)l->out.off;
  int64_t n = gs_shape_numel(&l->out_desc.shape);
  x->pc[15] = (uint32_t)n;
  x->groups[0] = groups_1d(d, n);
}

/* GEMM push words (see gemm.comp): A on binding 0, B on binding 1, C the output. */
static void plan_gemm(gs_bdev *d, const gs_launch *l, vkb_dispatch *x) {
  uint32_t *p = x->pc;
  int64_t M, N, K, batch;
  const gs_bref *a, *b;
  if (l->op == GS_OP_MATMUL) {
    const gs_shape *sa = &l->in_desc[0].shape, *sb = &l->in_desc[1].shape, *so = &l->out_desc.shape;
    int ta = l->i[0] != 0, tb = l->i[1] != 0;
    batch = so->dim[0], M = so->dim[1], N = so->dim[2];
    K = ta ? sa->dim[1] : sa->dim[2];
    a = &l->in[0], b = &l->in[1];
    x->pipe = VKB_P_GEMM;
    p[7] = sa->dim[0] == 1 ? 0 : (uint32_t)(M * K);
    p[8] = ta ? 1 : (uint32_t)K;
    p[9] = ta ? (uint32_t)M : 1;
    p[10] = 0, p[11] = (uint32_t)K;
    p[12] = sb->dim[0] == 1 ? 0 : (uint32_t)(K * N);
    p[13] = tb ? 1 : (uint32_t)N;
    p[14] = tb ? (uint32_t)K : 1;
    p[15] = (uint32_t)(M * N), p[16] = (uint32_t)N;
  } else {
    /* Conv shapes: x [Ni, C, H, W], w [O, C, KH, KW], y [Ni, O, OH, OW]. */
    const gs_shape *xs, *ws, *ys;
    if (l->op == GS_OP_CONV2D)
      xs = &l->in_desc[0].shape, ws = &l->in_desc[1].shape, ys = &l->out_desc.shape;
    else if (l->op == GS_OP_CONV2D_BWD_DATA)
      xs = &l->out_desc.shape, ws = &l->in_desc[1].shape, ys = &l->in_desc[0].shape;
    else
      xs = &l->in_desc[0].shape, ws = &l->out_desc.shape, ys = &l->in_desc[1].shape;
    int64_t Ni = xs->dim[0], C = xs->dim[1], H = xs->dim[2], W = xs->dim[3];
    int64_t O = ws->dim[0], KH = ws->dim[2], KW = ws->dim[3], KK = KH * KW;
    int64_t OH = ys->dim[2], OW = ys->dim[3], P = OH * OW;
    p[17] = (uint32_t)C, p[18] = (uint32_t)H, p[19] = (uint32_t)W, p[20] = (uint32_t)OH;
    p[21] = (uint32_t)OW, p[22] = (uint32_t)KH, p[23] = (uint32_t)KW;
    for (int k = 0; k < 4; k++) p[24 + k] = (uint32_t)l->i[k];
    if (l->op == GS_OP_CONV2D) {
      x->pipe = VKB_P_CONV_FWD;
      M = O, N = Ni * P, K = C * KK, batch = 1, p[28] = (uint32_t)P;
      a = &l->in[1], b = &l->in[0];
      p[7] = 0, p[8] = (uint32_t)K, p[9] = 1, p[10] = 0, p[11] = (uint32_t)K;
      p[12] = (uint32_t)(C * H * W);
      p[15] = (uint32_t)(O * P), p[16] = (uint32_t)P;
    } else if (l->op == GS_OP_CONV2D_BWD_DATA) {
      x->pipe = VKB_P_CONV_BWD_DATA;
      M = C, N = Ni * H * W, K = O * KK, batch = 1, p[28] = (uint32_t)(H * W);
      a = &l->in[1], b = &l->in[0];
      p[7] = 0, p[8] = (uint32_t)KK, p[9] = 1, p[10] = (uint32_t)(C * KK), p[11] = (uint32_t)KK;
      p[12] = (uint32_t)(O * P);
      p[15] = (uint32_t)(C * H * W), p[16] = (uint32_t)(H * W);
    } else {
      x->pipe = VKB_P_CONV_BWD_FILTER;
      M = O, N = C * KK, K = Ni * P, batch = 1, p[28] = (uint32_t)N;
      a = &l->in[1], b = &l->in[0];
      p[7] = 0, p[8] = (uint32_t)P, p[9] = 1, p[10] = (uint32_t)(O * P), p[11] = (uint32_t)P;
      p[12] = (uint32_t)(C * H * W);
      p[15] = 0, p[16] = (uint32_t)(C * KK);
    }
  }
  p[0] = (uint32_t)M, p[1] = (uint32_t)N, p[2] = (uint32_t)K, p[3] = (uint32_t)batch;
  p[4] = (uint32_t)a->off, p[5] = (uint32_t)b->off, p[6] = (uint32_t)l->out.off;
  x->bind[0] = a->buf, x->bind[1] = b->buf;
  int64_t bm = gemm_rows(d, x->pipe);
  int64_t bn =
      vkb_gemm_lanes(d, x->pipe) ? (int64_t)d->lanes_wg * VKB_LANES_RN : 4 * (int64_t)d->gemm_ts;
  int64_t gx = ceil_div(N, bn); /* the shader loops over column tiles beyond the limit */
  x->groups[0] = gx > d->max_groups[0] ? d->max_groups[0] : (uint32_t)gx;
  x->groups[1] = (uint32_t)ceil_div(M, bm);
  x->groups[2] = (uint32_t)batch;
}

gs_status vkb_plan(gs_bdev *d, const gs_launch *l, vkb_dispatch *x, int *has) {
  const char *why = refusal(d, l, 1);
  if (why)
    return d->host->fail(d->host, GS_ERR_UNSUPPORTED, "vulkan: cannot run %s: %s",
                         gs_opcode_name(l->op), why);
  memset(x, 0, sizeof *x);
  x->groups[0] = x->groups[1] = x->groups[2] = 1;
  x->op = l->op;
  *has = l->op != GS_OP_NOP;
  switch (l->op) {
  case GS_OP_NOP: break;
  case GS_OP_FILL:
  case GS_OP_UNARY:
  case GS_OP_UNARY_BWD:
  case GS_OP_AXPBY:
  case GS_OP_SGD:
  case GS_OP_ADAMW:
  case GS_OP_EMA: plan_elementwise(d, l, x); break;
  case GS_OP_BINARY:
  case GS_OP_EXPAND:
  case GS_OP_PERMUTE:
  case GS_OP_SLICE:
  case GS_OP_INSERT: plan_strided(d, l, x); break;
  case GS_OP_REDUCE:
  case GS_OP_DOT: plan_reduce(d, l, x); break;
  case GS_OP_GATHER_ROWS:
  case GS_OP_SCATTER_ADD_ROWS:
  case GS_OP_ONEHOT: plan_rows(d, l, x); break;
  case GS_OP_MAXPOOL2D:
  case GS_OP_MAXPOOL2D_BWD:
  case GS_OP_AVGPOOL2D:
  case GS_OP_AVGPOOL2D_BWD: plan_pool(d, l, x); break;
  case GS_OP_MATMUL:
  case GS_OP_CONV2D:
  case GS_OP_CONV2D_BWD_DATA:
  case GS_OP_CONV2D_BWD_FILTER: plan_gemm(d, l, x); break;
  default:
    return d->host->fail(d->host, GS_ERR_UNSUPPORTED, "vulkan: unknown opcode %d", (int)l->op);
  }
  x->bind[VKB_OUT_BINDING] = l->out.buf;
  /* The mode words each shader specializes on (vkb_dispatch.spec); they stay in the push
   * constants too, where the shaders document them. */
  switch (x->pipe) {
  case VKB_P_ELEMENTWISE: x->spec[0] = x->pc[0], x->spec[1] = x->pc[1]; break;
  case VKB_P_STRIDED: x->spec[0] = x->pc[27]; break;
  case VKB_P_REDUCE: x->spec[0] = x->pc[15], x->spec[1] = x->pc[18]; break;
  case VKB_P_ROWS:
  case VKB_P_POOL: x->spec[0] = x->pc[0]; break;
  case VKB_P_CONV_BWD_DATA: x->spec[1] = x->pc[24] == 1 && x->pc[25] == 1; break;
  default: break;
  }
  return GS_OK;
}
