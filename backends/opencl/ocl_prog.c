/* Programs: each launch becomes one or more steps (a kernel with its arguments bound once, or a
 * CLBlast GEMM), and a run enqueues the steps in order on the device's single in-order queue
 * without waiting. Shapes and strides live in one small int table per program ("meta"); the
 * convolutions' scratch matrices and CLBlast's temporary buffer are also per program, sized at
 * compile time. No launch count depends on the batch size: convolutions work on chunks of
 * images as large as the device's largest allocation allows, batched products are one launch. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocl_internal.h"

#define MAXR 6

/* Per-program scratch matrices of the convolutions. */
enum { SCR_COL, SCR_T, SCR_PART, SCR_B, SCR_RED, SCR_COUNT };

/* An operand: a runtime buffer, or a scratch matrix (slot >= 0) that exists once compiled. */
typedef struct opd {
  cl_mem mem;
  int slot;
  size_t off; /* elements */
} opd;

typedef struct ostep {
  int is_gemm;
  gs_opfamily fam; /* of the launch it came from, for the counters */
  ocl_kname kn;    /* kernel, for the profile */
  double seconds;  /* GESSL_PROFILE: time summed over runs */
  cl_kernel k;
  cl_uint dims; /* 1 or 3 */
  size_t global[3], local[3];
  int own_local; /* local[] is set; else left to the driver (gs_gemm) */
  int meta_arg;  /* argument slot of the shape table, bound once it exists; -1 none */
  int scr_arg[3], scr_slot[3], nscr; /* scratch arguments, bound likewise */
  int gslot[3]; /* CLBlast GEMM: scratch slot + 1 of a, b, c; 0 for a runtime buffer */
  ocl_gemm g;
} ostep;

struct gs_bprog {
  const gs_backend *be;
  ostep *steps;
  size_t n, cap;
  int *meta;
  size_t nmeta, metacap;
  size_t scr_bytes[SCR_COUNT];
  cl_mem meta_mem, scr[SCR_COUNT], temp_mem;
};

static opd o_ref(gs_bref r) { return (opd){r.buf->mem, -1, r.off}; }
static opd o_scr(int slot, size_t off) { return (opd){NULL, slot, off}; }
static void need_scr(gs_bprog *p, int slot, size_t floats) {
  if (floats * sizeof(float) > p->scr_bytes[slot]) p->scr_bytes[slot] = floats * sizeof(float);
}

/* ---- argument binding: the first failing clSetKernelArg is remembered ---- */
typedef struct ab {
  const gs_backend *be;
  cl_kernel k;
  cl_uint i;
  cl_int e;
} ab;
static void a_mem(ab *a, cl_mem m) {
  if (!a->e) a->e = clSetKernelArg(a->k, a->i, sizeof m, &m);
  a->i++;
}
static void a_ref(ab *a, gs_bref r) {
  a_mem(a, r.buf->mem);
  int off = (int)r.off;
  if (!a->e) a->e = clSetKernelArg(a->k, a->i, sizeof off, &off);
  a->i++;
}
static void a_int(ab *a, int64_t v) {
  cl_int x = (cl_int)v;
  if (!a->e) a->e = clSetKernelArg(a->k, a->i, sizeof x, &x);
  a->i++;
}
static void a_f(ab *a, float v) {
  if (!a->e) a->e = clSetKernelArg(a->k, a->i, sizeof v, &v);
  a->i++;
}
static void a_local(ab *a, size_t bytes) {
  if (!a->e) a->e = clSetKernelArg(a->k, a->i, bytes, NULL);
  a->i++;
}
/* meta buffer slot (bound later) followed by the table offset */
static void a_meta(ab *a, ostep *s, size_t moff) {
  s->meta_arg = (int)a->i++;
  a_int(a, (int64_t)moff);
}
/* An operand: its buffer (a scratch one is bound later), then its element offset. */
static void a_opd(ab *a, ostep *s, opd o) {
  if (o.slot >= 0) {
    s->scr_arg[s->nscr] = (int)a->i++;
    s->scr_slot[s->nscr++] = o.slot;
  } else {
    a_mem(a, o.mem);
  }
  a_int(a, (int64_t)o.off);
}

static gs_status ab_done(const ab *a, ocl_kname k) {
  if (a->e) {
    char what[96];
    snprintf(what, sizeof what, "clSetKernelArg(%s, %u)", ocl_kernel_names[k], a->i - 1);
    return ocl_fail(a->be, a->e, what);
  }
  return GS_OK;
}

/* ---- program building blocks ---- */

static gs_status new_step(gs_bdev *dev, gs_bprog *p, ostep **out) {
  if (p->n == p->cap) {
    size_t cap = p->cap ? 2 * p->cap : 8;
    ostep *s = realloc(p->steps, cap * sizeof *s);
    if (!s) return dev->be->host->fail(dev->be->host, GS_ERR_NOMEM, "opencl: out of host memory");
    p->steps = s;
    p->cap = cap;
  }
  ostep *s = &p->steps[p->n++];
  memset(s, 0, sizeof *s);
  s->meta_arg = -1;
  s->dims = 1;
  (void)dev;
  *out = s;
  return GS_OK;
}

/* A kernel step over `items` work items (rounded up to the local size, kernels bounds-check). */
static gs_status kstep(gs_bdev *dev, gs_bprog *p, ocl_kname kn, size_t items, ostep **out, ab *a) {
  ostep *s = NULL;
  gs_status st = new_step(dev, p, &s);
  if (st != GS_OK) return st;
  cl_int e;
  s->k = clCreateKernel(dev->program, ocl_kernel_names[kn], &e);
  s->kn = kn;
  OCL_CHECK(dev->be, e, "clCreateKernel");
  size_t local = dev->kernel_wg[kn] < 256 ? dev->kernel_wg[kn] : 256;
  if (dev->wg_multiple > 1 && local > dev->wg_multiple) local -= local % dev->wg_multiple;
  if (local == 0) local = 1;
  if (items == 0) items = 1;
  s->own_local = 1;
  s->local[0] = local;
  s->global[0] = (items + local - 1) / local * local;
  *a = (ab){dev->be, s->k, 0, CL_SUCCESS};
  *out = s;
  return GS_OK;
}

/* A kernel step over a 3-D range of d0 x d1 x d2 items (d0 the fastest): work groups of up to
 * the usual size, spread over the first two dims; the kernel checks its ids against d0 and d1,
 * as the first two global sizes are rounded up to the local ones. Index arithmetic then needs no
 * divisions, which CPU devices cannot vectorise. */
static gs_status kstep3(gs_bdev *dev, gs_bprog *p, ocl_kname kn, size_t d0, size_t d1, size_t d2,
                        ostep **out, ab *a) {
  gs_status st = kstep(dev, p, kn, 1, out, a);
  if (st != GS_OK) return st;
  ostep *s = *out;
  size_t lim = s->local[0], l0 = 1, l1 = 1;
  while (l0 < d0 && l0 * 2 <= lim) l0 *= 2;
  while (l1 < d1 && l0 * l1 * 2 <= lim) l1 *= 2;
  s->dims = 3;
  s->local[0] = l0;
  s->local[1] = l1;
  s->local[2] = 1;
  s->global[0] = (d0 + l0 - 1) / l0 * l0;
  s->global[1] = (d1 + l1 - 1) / l1 * l1;
  s->global[2] = d2 ? d2 : 1;
  return GS_OK;
}

/* Power-of-two local size for the work-group reductions, within the kernel's and the local
 * memory's limits. */
static size_t pow2_local(gs_bdev *dev, ocl_kname kn, size_t want) {
  size_t lim = dev->kernel_wg[kn] < want ? dev->kernel_wg[kn] : want;
  size_t l = 1;
  while (l * 2 <= lim && l * 2 * sizeof(float) <= dev->local_mem / 2) l *= 2;
  return l;
}

static gs_status meta_push(gs_bprog *p, const int *v, size_t n, size_t *off) {
  if (p->nmeta + n > p->metacap) {
    size_t cap = p->metacap ? p->metacap : 64;
    while (cap < p->nmeta + n) cap *= 2;
    int *m = realloc(p->meta, cap * sizeof *m);
    if (!m) return p->be->host->fail(p->be->host, GS_ERR_NOMEM, "opencl: out of host memory");
    p->meta = m;
    p->metacap = cap;
  }
  memcpy(p->meta + p->nmeta, v, n * sizeof *v);
  *off = p->nmeta;
  p->nmeta += n;
  return GS_OK;
}

static void contig_strides(const gs_shape *s, int *st) {
  int64_t acc = 1;
  for (int k = MAXR - 1; k >= 0; k--) st[k] = 0;
  for (int k = s->rank - 1; k >= 0; k--) {
    st[k] = (int)acc;
    acc *= s->dim[k];
  }
}

/* Strides of `in` for iterating over `out`'s shape: 0 along broadcast dims. */
static void bcast_strides(const gs_shape *in, const gs_shape *out, int *st) {
  contig_strides(in, st);
  for (int k = 0; k < in->rank; k++)
    if (in->dim[k] == 1 && out->dim[k] != 1) st[k] = 0;
}

/* Merges adjacent dims that every operand walks as one (stride[k-1] == stride[k] * dim[k]) and
 * drops dims of 1, so kernels divide less per element; the row-major order of the index space is
 * unchanged. dims[0..rank), st[op][0..rank); returns the new rank (at least 1), the rest of the
 * MAXR slots set to dim 1, stride 0. */
static int collapse(int rank, int *dims, int nops, int st[][MAXR]) {
  int r = 0;
  for (int k = 0; k < rank; k++) {
    if (dims[k] == 1) continue;
    int merge = r > 0;
    for (int o = 0; o < nops && merge; o++) merge = st[o][r - 1] == st[o][k] * dims[k];
    if (merge) {
      dims[r - 1] *= dims[k];
      for (int o = 0; o < nops; o++) st[o][r - 1] = st[o][k];
      continue;
    }
    dims[r] = dims[k];
    for (int o = 0; o < nops; o++) st[o][r] = st[o][k];
    r++;
  }
  if (r == 0) {
    dims[0] = 1;
    for (int o = 0; o < nops; o++) st[o][0] = 0;
    r = 1;
  }
  for (int k = r; k < MAXR; k++) {
    dims[k] = 1;
    for (int o = 0; o < nops; o++) st[o][k] = 0;
  }
  return r;
}

/* meta: rank, dims, then each operand's strides, collapsed and padded in front to rank 3 at
 * least; ext: the extents of the 3-D range that walks them (see kstep3). Returns the rank. */
static gs_status nd_meta(gs_bprog *p, const gs_shape *shape, int nops, const int *const *strides,
                         size_t *moff, size_t ext[3], int *rank) {
  int dims[MAXR], st[2][MAXR], m[1 + 3 * MAXR] = {0};
  for (int k = 0; k < shape->rank; k++) {
    dims[k] = (int)shape->dim[k];
    for (int o = 0; o < nops; o++) st[o][k] = strides[o][k];
  }
  int r = collapse(shape->rank, dims, nops, st), pad = r < 3 ? 3 - r : 0;
  for (int k = r - 1; k >= 0 && pad; k--) {
    dims[k + pad] = dims[k];
    for (int o = 0; o < nops; o++) st[o][k + pad] = st[o][k];
  }
  for (int k = 0; k < pad; k++) {
    dims[k] = 1;
    for (int o = 0; o < nops; o++) st[o][k] = 0;
  }
  r += pad;
  *rank = m[0] = r;
  ext[0] = (size_t)dims[r - 1];
  ext[1] = (size_t)dims[r - 2];
  ext[2] = 1;
  for (int k = 0; k < r - 2; k++) ext[2] *= (size_t)dims[k];
  for (int k = 0; k < MAXR; k++) {
    m[1 + k] = dims[k];
    for (int o = 0; o < nops; o++) m[1 + (1 + o) * MAXR + k] = st[o][k];
  }
  return meta_push(p, m, 1 + (size_t)(1 + nops) * MAXR, moff);
}

static gs_status copy_opd(gs_bdev *dev, gs_bprog *p, opd dst, opd src, const gs_shape *dims,
                          const int *sst, const int *dst_st) {
  const int *strides[2] = {sst, dst_st};
  size_t moff = 0, ext[3];
  int rank = 0;
  gs_status st = nd_meta(p, dims, 2, strides, &moff, ext, &rank);
  if (st != GS_OK) return st;
  ostep *s = NULL;
  ab a;
  /* 8 elements per work-item where both sides are contiguous along the innermost dim (the
   * source may also repeat one element along it). */
  const int *ms = p->meta + moff + 1 + MAXR, *md = ms + MAXR;
  size_t e0 = ext[0], e1 = ext[1];
  int v8 = rank == 3 && md[2] == 1 && (ms[2] == 0 || ms[2] == 1);
  /* The two inner dims swapped between dense layouts, moved in 8x8 blocks: gs_transpose8 turns
   * a source matrix [rows][cols] into [cols][rows], whichever side the walk is dense on. */
  int wide = e0 % 8 == 0 && e1 % 8 == 0 && rank == 3;
  int to_t = wide && ms[2] == 1 && ms[1] == (int)e0 && md[1] == 1 && md[2] == (int)e1;
  int from_t = wide && md[2] == 1 && md[1] == (int)e0 && ms[1] == 1 && ms[2] == (int)e1;
  if (from_t) e0 = ext[1], e1 = ext[0]; /* the source's cols and rows */
  ocl_kname kn = v8 ? K_COPY_V8 : to_t || from_t ? K_TRANSPOSE8 : rank == 3 ? K_COPY_3D : K_COPY_ND;
  size_t r0 = kn == K_COPY_V8 || kn == K_TRANSPOSE8 ? (e0 + 7) / 8 : e0;
  size_t r1 = kn == K_TRANSPOSE8 ? e1 / 8 : e1;
  if ((st = kstep3(dev, p, kn, r0, r1, ext[2], &s, &a)) != GS_OK) return st;
  a_opd(&a, s, dst);
  a_opd(&a, s, src);
  a_meta(&a, s, moff);
  a_int(&a, (int64_t)e0);
  a_int(&a, (int64_t)e1);
  return ab_done(&a, kn);
}

static gs_status copy_nd(gs_bdev *dev, gs_bprog *p, gs_bref dst, size_t dst_extra, gs_bref src,
                         size_t src_extra, const gs_shape *dims, const int *sst,
                         const int *dst_st) {
  dst.off += dst_extra;
  src.off += src_extra;
  return copy_opd(dev, p, o_ref(dst), o_ref(src), dims, sst, dst_st);
}

/* Simple elementwise launch: `refs` then ints then floats, over n items. */
static gs_status elementwise(gs_bdev *dev, gs_bprog *p, ocl_kname kn, size_t n, const gs_bref *refs,
                             int nrefs, const int64_t *ints, int nints, const float *fs, int nfs) {
  ostep *s = NULL;
  ab a;
  gs_status st = kstep(dev, p, kn, n, &s, &a);
  if (st != GS_OK) return st;
  for (int i = 0; i < nrefs; i++) a_ref(&a, refs[i]);
  for (int i = 0; i < nints; i++) a_int(&a, ints[i]);
  for (int i = 0; i < nfs; i++) a_f(&a, fs[i]);
  return ab_done(&a, kn);
}

/* One GEMM, batched when batch > 1: the gs_gemm kernel, or CLBlast on GPUs. */
typedef struct gdesc {
  int ta, tb;
  size_t m, n, k, batch;
  opd a, b, c;
  size_t lda, ldb, ldc, sa, sb, sc;
  float beta;
} gdesc;

static gs_status gemm(gs_bdev *dev, gs_bprog *p, const gdesc *d) {
  ostep *s = NULL;
  gs_status st;
  if (dev->use_clblast) {
    if ((st = new_step(dev, p, &s)) != GS_OK) return st;
    s->is_gemm = 1;
    s->g = (ocl_gemm){d->ta,    d->tb,    d->m,   d->n,     d->k,   d->a.mem, d->b.mem,
                      d->c.mem, d->a.off, d->lda, d->b.off, d->ldb, d->c.off, d->ldc,
                      d->beta,  d->batch, d->sa,  d->sb,    d->sc};
    s->gslot[0] = d->a.slot + 1;
    s->gslot[1] = d->b.slot + 1;
    s->gslot[2] = d->c.slot + 1;
    return GS_OK;
  }
  ab a = {0};
  if ((st = kstep(dev, p, K_GEMM, 1, &s, &a)) != GS_OK) return st;
  s->dims = 3;
  s->own_local = 0;
  s->global[0] = (d->n + 15) / 16;
  s->global[1] = (d->m + 3) / 4;
  s->global[2] = d->batch;
  a_opd(&a, s, d->c);
  a_int(&a, (int64_t)d->ldc);
  a_int(&a, (int64_t)d->sc);
  a_opd(&a, s, d->a);
  a_int(&a, (int64_t)d->lda);
  a_int(&a, (int64_t)d->sa);
  a_opd(&a, s, d->b);
  a_int(&a, (int64_t)d->ldb);
  a_int(&a, (int64_t)d->sb);
  a_int(&a, (int64_t)d->m);
  a_int(&a, (int64_t)d->n);
  a_int(&a, (int64_t)d->k);
  a_int(&a, d->ta);
  a_int(&a, d->tb);
  a_f(&a, d->beta);
  return ab_done(&a, K_GEMM);
}

/* ---- per-opcode lowering ---- */

static gs_status lower_matmul(gs_bdev *dev, gs_bprog *p, const gs_launch *l) {
  const gs_shape *A = &l->in_desc[0].shape, *B = &l->in_desc[1].shape, *O = &l->out_desc.shape;
  int ta = l->i[0] != 0, tb = l->i[1] != 0;
  size_t bt = (size_t)O->dim[0], m = (size_t)O->dim[1], n = (size_t)O->dim[2];
  size_t k = (size_t)(ta ? A->dim[1] : A->dim[2]);
  gdesc g = {ta,
             tb,
             m,
             n,
             k,
             bt,
             o_ref(l->in[0]),
             o_ref(l->in[1]),
             o_ref(l->out),
             ta ? m : k,
             tb ? k : n,
             n,
             A->dim[0] == 1 ? 0 : m * k,
             B->dim[0] == 1 ? 0 : k * n,
             m * n,
             0.0f};
  if (tb && !dev->use_clblast) {
    /* gs_gemm reads B a row at a time: a transposed B is copied transposed first. */
    size_t nb = (size_t)B->dim[0];
    gs_shape dims = GS_SHAPE((int64_t)nb, (int64_t)k, (int64_t)n);
    int sst[MAXR] = {(int)(n * k), 1, (int)k}, dst[MAXR] = {(int)(k * n), (int)n, 1};
    need_scr(p, SCR_B, nb * k * n);
    gs_status st = copy_opd(dev, p, o_scr(SCR_B, 0), g.b, &dims, sst, dst);
    if (st != GS_OK) return st;
    g.tb = 0;
    g.b = o_scr(SCR_B, 0);
    g.ldb = n;
  }
  return gemm(dev, p, &g);
}

/* conv meta: C, H, W, KH, KW, OH, OW, sh, sw, ph, pw */
static gs_status conv_meta(gs_bprog *p, const gs_shape *x, const gs_shape *w, const gs_shape *y,
                           const int32_t *at, size_t *moff) {
  int m[11] = {(int)x->dim[1], (int)x->dim[2], (int)x->dim[3], (int)w->dim[2],
               (int)w->dim[3], (int)y->dim[2], (int)y->dim[3], at[0],
               at[1],          at[2],          at[3]};
  return meta_push(p, m, 11, moff);
}

/* im2col (either layout) or col2im over `nimg` images starting at image buffer `img`; 3x3
 * windows (col2im: with stride 1 too) take the kernels of that fixed size. */
static gs_status conv_fold(gs_bdev *dev, gs_bprog *p, ocl_kname kn, opd img, size_t moff,
                           size_t nimg, size_t C, const gs_shape *xs, const gs_shape *ys,
                           const gs_shape *ws, const int32_t *at) {
  ostep *s = NULL;
  ab a = {0};
  size_t H = (size_t)xs->dim[2], W = (size_t)xs->dim[3], OH = (size_t)ys->dim[2],
         OW = (size_t)ys->dim[3];
  int k3 = ws->dim[2] == 3 && ws->dim[3] == 3, s1 = at[0] == 1 && at[1] == 1;
  /* 3x3, stride 1, padding 1 on rows of whole vectors: 8 pixels per work-item */
  int v8 = k3 && s1 && at[2] == 1 && at[3] == 1 && W % 8 == 0;
  ocl_kname use = kn == K_IM2COL        ? (v8   ? K_IM2COL_3X3_V8
                                           : k3 ? K_IM2COL_3X3
                                                : kn)
                  : kn == K_IM2COL_ROWS ? (v8   ? K_IM2COL_ROWS_3X3_V8
                                           : k3 ? K_IM2COL_ROWS_3X3
                                                : kn)
                                        : (v8         ? K_COL2IM_3X3_V8
                                           : k3 && s1 ? K_COL2IM_3X3S1
                                                      : kn);
  size_t per = v8 ? 8 : 1;
  gs_status st = kn == K_IM2COL   ? kstep3(dev, p, use, OW / per, OH, nimg * C, &s, &a)
                 : kn == K_COL2IM ? kstep3(dev, p, use, W / per, H, nimg * C, &s, &a)
                 : v8             ? kstep3(dev, p, use, OW / per, OH, nimg, &s, &a)
                                  : kstep3(dev, p, use, C, OW, nimg * OH, &s, &a);
  if (st != GS_OK) return st;
  if (kn != K_COL2IM) {
    a_opd(&a, s, o_scr(SCR_COL, 0));
    a_opd(&a, s, img);
  } else {
    a_opd(&a, s, img);
    a_opd(&a, s, o_scr(SCR_COL, 0));
  }
  a_meta(&a, s, moff);
  return ab_done(&a, use);
}

/* Images of [n, O, P] into pixel-major rows [n, P, O]. */
static gs_status conv_rows(gs_bdev *dev, gs_bprog *p, opd nchw, opd rows, size_t nimg, size_t O,
                           size_t npix) {
  gs_shape dims = GS_SHAPE((int64_t)nimg, (int64_t)O, (int64_t)npix);
  int img_st[MAXR] = {(int)(O * npix), (int)npix, 1}, row_st[MAXR] = {(int)(O * npix), 1, (int)O};
  return copy_opd(dev, p, rows, nchw, &dims, img_st, row_st);
}

/* Largest scratch matrix a convolution chunk may use: the device's largest allocation, at most
 * 256 MiB (a batch of typical feature maps fits in one chunk). */
#define CONV_SCRATCH_MAX ((size_t)256 << 20)

/* Convolutions as GEMMs over chunks of images (P output pixels per image, CKK = C*KH*KW):
 *   forward      y_n[O, P]     = w[O, CKK] x col_n[CKK, P], batched over the chunk's images,
 *                               written straight into y (NCHW)
 *   data grad    col_n[CKK, P] = w^T x dy_n[O, P], batched likewise, then col2im into dx
 *   filter grad  dw[O, CKK]    = sum over rows of dyT^T colT in pixel-major layout (dy copied
 *                               to rows), the rows split into parts that one batched GEMM
 *                               computes side by side and a sum adds up. */
static gs_status lower_conv(gs_bdev *dev, gs_bprog *p, const gs_launch *l) {
  const gs_shape *xs, *ws, *ys;
  if (l->op == GS_OP_CONV2D)
    xs = &l->in_desc[0].shape, ws = &l->in_desc[1].shape, ys = &l->out_desc.shape;
  else if (l->op == GS_OP_CONV2D_BWD_DATA)
    ys = &l->in_desc[0].shape, ws = &l->in_desc[1].shape, xs = &l->out_desc.shape;
  else
    xs = &l->in_desc[0].shape, ys = &l->in_desc[1].shape, ws = &l->out_desc.shape;
  size_t N = (size_t)xs->dim[0], C = (size_t)xs->dim[1], H = (size_t)xs->dim[2],
         W = (size_t)xs->dim[3], O = (size_t)ws->dim[0];
  size_t ckk = C * (size_t)ws->dim[2] * (size_t)ws->dim[3];
  size_t npix = (size_t)ys->dim[2] * (size_t)ys->dim[3];
  size_t moff = 0;
  gs_status st = conv_meta(p, xs, ws, ys, l->i, &moff);
  if (st != GS_OK) return st;
  size_t cap = dev->max_alloc && dev->max_alloc < CONV_SCRATCH_MAX ? (size_t)dev->max_alloc
                                                                   : CONV_SCRATCH_MAX;
  int filt = l->op == GS_OP_CONV2D_BWD_FILTER;
  size_t per_img = npix * (filt && O > ckk ? O : ckk) * sizeof(float);
  size_t nb = per_img ? cap / per_img : N;
  if (nb < 1) nb = 1;
  if (nb > N) nb = N;
  size_t chunk_rows = nb * npix;
  need_scr(p, SCR_COL, chunk_rows * ckk);
  /* Filter gradient: parts of at least 512 rows, at most 64 of them (+1 for the remainder). */
  size_t parts = chunk_rows / 512;
  parts = parts < 1 ? 1 : parts > 64 ? 64 : parts;
  if (filt) {
    need_scr(p, SCR_T, chunk_rows * O);
    need_scr(p, SCR_PART, (parts + 1) * O * ckk);
  }
  for (size_t n0 = 0; n0 < N && st == GS_OK; n0 += nb) {
    size_t cnt = N - n0 < nb ? N - n0 : nb, rows = cnt * npix;
    if (l->op == GS_OP_CONV2D) {
      opd x = o_ref(l->in[0]), y = o_ref(l->out);
      x.off += n0 * C * H * W;
      y.off += n0 * O * npix;
      gdesc g = {0, 0,   O,    npix, ckk, cnt,        o_ref(l->in[1]), o_scr(SCR_COL, 0),
                 y, ckk, npix, npix, 0,   ckk * npix, O * npix,        0.0f};
      if ((st = conv_fold(dev, p, K_IM2COL, x, moff, cnt, C, xs, ys, ws, l->i)) != GS_OK) return st;
      st = gemm(dev, p, &g);
    } else if (l->op == GS_OP_CONV2D_BWD_DATA) {
      opd dy = o_ref(l->in[0]), dx = o_ref(l->out);
      dy.off += n0 * O * npix;
      dx.off += n0 * C * H * W;
      gdesc g = {
          1,    0,    ckk, npix,     O,          cnt, o_ref(l->in[1]), dy, o_scr(SCR_COL, 0), ckk,
          npix, npix, 0,   O * npix, ckk * npix, 0.0f};
      if ((st = gemm(dev, p, &g)) != GS_OK) return st;
      st = conv_fold(dev, p, K_COL2IM, dx, moff, cnt, C, xs, ys, ws, l->i);
    } else {
      opd x = o_ref(l->in[0]), dy = o_ref(l->in[1]);
      x.off += n0 * C * H * W;
      dy.off += n0 * O * npix;
      size_t np = rows / 512;
      np = np < 1 ? 1 : np > parts ? parts : np;
      size_t ks = rows / np, rest = rows - np * ks;
      /* part s of dw^T-free form: part[s][O, CKK] = dyT[s*ks.., O]^T x colT[s*ks.., CKK] */
      gdesc g = {1,
                 0,
                 O,
                 ckk,
                 ks,
                 np,
                 o_scr(SCR_T, 0),
                 o_scr(SCR_COL, 0),
                 o_scr(SCR_PART, 0),
                 O,
                 ckk,
                 ckk,
                 ks * O,
                 ks * ckk,
                 O * ckk,
                 0.0f};
      gdesc r = g;
      r.k = rest;
      r.batch = 1;
      r.a.off = np * ks * O;
      r.b.off = np * ks * ckk;
      r.c.off = np * O * ckk;
      if ((st = conv_fold(dev, p, K_IM2COL_ROWS, x, moff, cnt, C, xs, ys, ws, l->i)) != GS_OK ||
          (st = conv_rows(dev, p, dy, o_scr(SCR_T, 0), cnt, O, npix)) != GS_OK ||
          (st = gemm(dev, p, &g)) != GS_OK)
        return st;
      /* The remainder always runs (with no rows it writes zeros), so the launch count is the
       * same for every batch size; CLBlast is not asked for an empty product. */
      size_t nparts = np;
      if (rest || !dev->use_clblast) {
        if ((st = gemm(dev, p, &r)) != GS_OK) return st;
        nparts++;
      }
      ostep *s = NULL;
      ab a = {0};
      if ((st = kstep(dev, p, K_SUM_PARTS, O * ckk, &s, &a)) != GS_OK) return st;
      a_opd(&a, s, o_ref(l->out));
      a_opd(&a, s, o_scr(SCR_PART, 0));
      a_int(&a, (int64_t)(O * ckk));
      a_int(&a, (int64_t)nparts);
      a_int(&a, n0 > 0);
      st = ab_done(&a, K_SUM_PARTS);
    }
  }
  return st;
}

static gs_status lower_pool(gs_bdev *dev, gs_bprog *p, const gs_launch *l) {
  const gs_shape *xs, *ys;
  int bwd = l->op == GS_OP_MAXPOOL2D_BWD || l->op == GS_OP_AVGPOOL2D_BWD;
  if (!bwd)
    xs = &l->in_desc[0].shape, ys = &l->out_desc.shape;
  else if (l->op == GS_OP_MAXPOOL2D_BWD)
    xs = &l->in_desc[0].shape, ys = &l->in_desc[1].shape;
  else
    xs = &l->out_desc.shape, ys = &l->in_desc[0].shape;
  int H = (int)xs->dim[2], W = (int)xs->dim[3], OH = (int)ys->dim[2], OW = (int)ys->dim[3];
  /* m[11..13]: the 8-output kernels' run distance and row steps (see gs_maxpool_2x2_x8). */
  int m[14] = {(int)(xs->dim[0] * xs->dim[1]),
               H,
               W,
               l->i[0],
               l->i[1],
               OH,
               OW,
               l->i[2],
               l->i[3],
               l->i[4],
               l->i[5],
               8,
               2 * W,
               OW};
  ocl_kname kn = l->op == GS_OP_MAXPOOL2D       ? K_MAXPOOL
                 : l->op == GS_OP_MAXPOOL2D_BWD ? K_MAXPOOL_BWD
                 : l->op == GS_OP_AVGPOOL2D     ? K_AVGPOOL
                                                : K_AVGPOOL_BWD;
  /* Windows that tile the input: one work-item per window, which the backward pass scatters
   * over its own cells; 2x2 windows in kernels with no loop, 8 windows per work-item where the
   * rows hold 8 windows (or 4, two rows then) and, backward, no cell is left over. */
  int tiled = m[3] == m[7] && m[4] == m[8] && m[9] == 0 && m[10] == 0;
  int two = tiled && m[3] == 2 && m[4] == 2;
  int x8 = two && (OW % 8 == 0 || (OW == 4 && W == 8 && OH % 2 == 0)) &&
           (kn == K_MAXPOOL || (kn == K_MAXPOOL_BWD && H == 2 * OH && W == 2 * OW));
  size_t nb = (size_t)OW / 8, nr = (size_t)OH;
  if (x8 && OW == 4) {
    nb = 1, nr = (size_t)OH / 2;
    m[11] = 2 * W, m[12] = 4 * W, m[13] = 8;
  }
  size_t moff = 0;
  gs_status st = meta_push(p, m, 14, &moff);
  if (st != GS_OK) return st;
  if (kn == K_MAXPOOL && two) kn = x8 ? K_MAXPOOL_2X2_X8 : K_MAXPOOL_2X2;
  if (kn == K_MAXPOOL_BWD && tiled)
    kn = x8 ? K_MAXPOOL_BWD_2X2_X8 : two ? K_MAXPOOL_BWD_2X2 : K_MAXPOOL_BWD_TILED;
  /* The range walks the output: pooled windows forward and tiled, input cells otherwise; blocks
   * of 8 windows by their rows. */
  const gs_shape *rs = kn == K_MAXPOOL_BWD || kn == K_AVGPOOL_BWD ? xs : ys;
  size_t d0 = (size_t)rs->dim[3], d1 = (size_t)rs->dim[2];
  if (x8) d0 = nb, d1 = nr;
  ostep *s = NULL;
  ab a;
  if ((st = kstep3(dev, p, kn, d0, d1, (size_t)(rs->dim[0] * rs->dim[1]), &s, &a)) != GS_OK)
    return st;
  a_ref(&a, l->out);
  for (int i = 0; i < l->n_in; i++) a_ref(&a, l->in[i]);
  a_meta(&a, s, moff);
  if (x8) {
    a_int(&a, (int64_t)nb);
    a_int(&a, (int64_t)nr);
  }
  return ab_done(&a, kn);
}

/* Below this many outputs a reduction runs in two stages (see gs_reduce). */
#define REDUCE_FEW_OUTPUTS 64

static gs_status reduce_step(gs_bdev *dev, gs_bprog *p, opd y, opd x, size_t moff, size_t nout,
                             size_t count, int kind, size_t parts, size_t divisor) {
  ostep *s = NULL;
  ab a = {0};
  gs_status st = kstep(dev, p, K_REDUCE, nout, &s, &a);
  if (st != GS_OK) return st;
  size_t per = (count + parts - 1) / parts, want = 1;
  while (want < per && want < 256) want *= 2;
  s->local[0] = pow2_local(dev, K_REDUCE, want);
  s->global[0] = nout * parts * s->local[0];
  a_opd(&a, s, y);
  a_opd(&a, s, x);
  a_meta(&a, s, moff);
  a_int(&a, (int64_t)nout);
  a_int(&a, (int64_t)count);
  a_int(&a, kind);
  a_int(&a, (int64_t)parts);
  a_int(&a, (int64_t)divisor);
  a_local(&a, s->local[0] * sizeof(float));
  return ab_done(&a, K_REDUCE);
}

/* A kept index space (rank, dims[6], strides[6]) in the shape table; rank 0 is the single index 0.
 */
static gs_status kept_meta(gs_bprog *p, int rank, const int *dims, const int *st, size_t *moff) {
  int m[1 + 2 * MAXR] = {0};
  m[0] = rank;
  for (int k = 0; k < rank; k++) m[1 + k] = dims[k], m[1 + MAXR + k] = st[k];
  return meta_push(p, m, 1 + 2 * MAXR, moff);
}

/* One gs_reduce_rows launch over nv virtual rows (see the kernel). */
static gs_status rows_step(gs_bdev *dev, gs_bprog *p, opd y, opd x, size_t nv, size_t parts,
                           size_t I, size_t C, int kind, size_t divisor) {
  ostep *s = NULL;
  ab a = {0};
  gs_status st = kstep(dev, p, K_REDUCE_ROWS, nv, &s, &a);
  if (st != GS_OK) return st;
  /* S lanes per virtual row, G virtual rows per work-group: on CPU devices one lane per row
   * and enough groups for every core; elsewhere lanes over the row's blocks of 8 floats. */
  size_t units = ((C < I ? C : I) + 7) / 8, S = 1, G = 1;
  if (dev->cpu) {
    while (G * 2 <= 64 && (nv + 2 * G - 1) / (2 * G) >= 8) G *= 2;
  } else {
    while (S * 2 <= units && S * 2 <= 256) S *= 2;
    while (S * G * 2 <= 256 && G < nv) G *= 2;
  }
  size_t lim = pow2_local(dev, K_REDUCE_ROWS, S * G);
  while (S * G > lim) {
    if (G > 1)
      G /= 2;
    else
      S /= 2;
  }
  int ls = 0;
  while ((size_t)1 << ls < S) ls++;
  s->local[0] = S * G;
  s->global[0] = (nv + G - 1) / G * S * G;
  a_opd(&a, s, y);
  a_opd(&a, s, x);
  a_int(&a, (int64_t)nv);
  a_int(&a, (int64_t)parts);
  a_int(&a, (int64_t)I);
  a_int(&a, (int64_t)C);
  a_int(&a, ls);
  a_int(&a, kind);
  a_int(&a, (int64_t)divisor);
  a_local(&a, S * G * sizeof(float));
  return ab_done(&a, K_REDUCE_ROWS);
}

/* Sums (or maxima) of `rows` contiguous rows of I floats into y. Few rows: each row in chunks
 * side by side, then the chunks' results; always two launches, whatever the batch. */
static gs_status reduce_rows(gs_bdev *dev, gs_bprog *p, opd y, opd x, size_t rows, size_t I,
                             int kind, size_t divisor) {
  if (rows >= REDUCE_FEW_OUTPUTS) return rows_step(dev, p, y, x, rows, 1, I, I, kind, divisor);
  size_t parts = I / 4096;
  parts = parts < 1 ? 1 : parts > 64 ? 64 : parts;
  size_t C = ((I + parts - 1) / parts + 7) / 8 * 8;
  parts = (I + C - 1) / C;
  need_scr(p, SCR_RED, rows * parts);
  gs_status st = rows_step(dev, p, o_scr(SCR_RED, 0), x, rows * parts, parts, I, C, kind, 0);
  if (st != GS_OK) return st;
  return rows_step(dev, p, y, o_scr(SCR_RED, 0), rows, 1, parts, parts, kind, divisor);
}

/* One gs_reduce_cols launch (see the kernel). */
static gs_status cols_step(gs_bdev *dev, gs_bprog *p, opd y, opd x, size_t moff, size_t A, size_t K,
                           size_t Q, size_t qs, size_t parts, int kind, size_t divisor) {
  ostep *s = NULL;
  ab a = {0};
  gs_status st = kstep(dev, p, K_REDUCE_COLS, 1, &s, &a);
  if (st != GS_OK) return st;
  /* Work-groups along the columns, as many as keep every core busy (8 at least when the
   * columns allow). */
  size_t k8 = (K + 7) / 8, l0 = 1;
  while (l0 * 2 <= s->local[0] && l0 * 2 <= k8 && (k8 + 2 * l0 - 1) / (2 * l0) * A * parts >= 8)
    l0 *= 2;
  s->dims = 3;
  s->local[0] = l0;
  s->local[1] = s->local[2] = 1;
  s->global[0] = (k8 + l0 - 1) / l0 * l0;
  s->global[1] = A;
  s->global[2] = parts;
  a_opd(&a, s, y);
  a_opd(&a, s, x);
  a_meta(&a, s, moff);
  a_int(&a, (int64_t)A);
  a_int(&a, (int64_t)K);
  a_int(&a, (int64_t)Q);
  a_int(&a, (int64_t)qs);
  a_int(&a, (int64_t)parts);
  a_int(&a, kind);
  a_int(&a, (int64_t)divisor);
  return ab_done(&a, K_REDUCE_COLS);
}

/* Innermost dim kept and contiguous (K), the reduced dims outside it as one (Q, stride qs), A
 * outer kept indices. Few column blocks (fewer than a GPU needs, or than keep a CPU device's
 * cores busy): the rows in parts side by side (scratch from scr_off), then the parts' results;
 * always two launches, whatever the batch. */
static gs_status reduce_cols(gs_bdev *dev, gs_bprog *p, opd y, opd x, size_t scr_off, size_t moff,
                             size_t A, size_t K, size_t Q, size_t qs, int kind, size_t divisor) {
  if (A * ((K + 7) / 8) >= (dev->cpu ? 8 : REDUCE_FEW_OUTPUTS))
    return cols_step(dev, p, y, x, moff, A, K, Q, qs, 1, kind, divisor);
  size_t parts = Q / 64;
  parts = parts < 1 ? 1 : parts > 64 ? 64 : parts;
  need_scr(p, SCR_RED, scr_off + A * K * parts);
  int d2 = 1, s2 = 0;
  size_t moff2 = 0;
  gs_status st;
  if ((st = kept_meta(p, 1, &d2, &s2, &moff2)) != GS_OK ||
      (st = cols_step(dev, p, o_scr(SCR_RED, scr_off), x, moff, A, K, Q, qs, parts, kind, 0)) !=
          GS_OK)
    return st;
  return cols_step(dev, p, y, o_scr(SCR_RED, scr_off), moff2, 1, A * K, parts, A * K, 1, kind,
                   divisor);
}

static gs_status lower_reduce(gs_bdev *dev, gs_bprog *p, const gs_launch *l) {
  const gs_shape *in = &l->in_desc[0].shape, *out = &l->out_desc.shape;
  int ist[MAXR];
  contig_strides(in, ist);
  /* The kept and the reduced index spaces, each collapsed, padded in front to one rank. */
  int kd[MAXR], kst[1][MAXR], rd[MAXR], rst[1][MAXR];
  size_t count = 1;
  for (int k = 0; k < in->rank; k++) {
    int red = out->dim[k] == 1 && in->dim[k] != 1;
    kd[k] = (int)out->dim[k];
    rd[k] = red ? (int)in->dim[k] : 1;
    kst[0][k] = rst[0][k] = ist[k];
    if (red) count *= (size_t)in->dim[k];
  }
  int kr = collapse(in->rank, kd, 1, kst), rr = collapse(in->rank, rd, 1, rst);
  int rank = kr > rr ? kr : rr;
  int m[1 + 4 * MAXR] = {0};
  m[0] = rank;
  for (int k = 0; k < rank; k++) {
    int ki = k - (rank - kr), ri = k - (rank - rr);
    m[1 + k] = ki >= 0 ? kd[ki] : 1;
    m[1 + MAXR + k] = ki >= 0 ? kst[0][ki] : 0;
    m[1 + 2 * MAXR + k] = ri >= 0 ? rd[ri] : 1;
    m[1 + 3 * MAXR + k] = ri >= 0 ? rst[0][ri] : 0;
  }
  size_t moff = 0, nout = (size_t)gs_shape_numel(out);
  int kind = l->i[0], mean = kind == GS_RED_MEAN;
  gs_status st;
  /* The common layouts, read in memory order. Innermost dim reduced: its runs first (rows), and
   * when one more reduced dim lies outside, the runs' results then take the columns' path (the
   * per-channel sums of NCHW). Innermost dim kept, one reduced dim outside it: columns. */
  size_t div = mean ? count : 0;
  if (rst[0][rr - 1] == 1 && rr <= 2) {
    size_t I = (size_t)rd[rr - 1], runs = (size_t)gs_shape_numel(in) / I;
    if (rr == 1) return reduce_rows(dev, p, o_ref(l->out), o_ref(l->in[0]), runs, I, kind, div);
    /* The runs' results z: the input without its innermost dim, whose strides are the input's
     * divided by I; the kept dim just outside the runs is z's innermost, contiguous. */
    for (int k = 0; k < kr; k++) kst[0][k] /= (int)I;
    need_scr(p, SCR_RED, runs);
    if ((st = rows_step(dev, p, o_scr(SCR_RED, 0), o_ref(l->in[0]), runs, 1, I, I, kind, 0)) !=
            GS_OK ||
        (st = kept_meta(p, kr - 1, kd, kst[0], &moff)) != GS_OK)
      return st;
    return reduce_cols(dev, p, o_ref(l->out), o_scr(SCR_RED, 0), runs, moff,
                       nout / (size_t)kd[kr - 1], (size_t)kd[kr - 1], (size_t)rd[0],
                       (size_t)rst[0][0] / I, kind, div);
  }
  if (rr == 1 && kst[0][kr - 1] == 1) {
    if ((st = kept_meta(p, kr - 1, kd, kst[0], &moff)) != GS_OK) return st;
    return reduce_cols(dev, p, o_ref(l->out), o_ref(l->in[0]), 0, moff, nout / (size_t)kd[kr - 1],
                       (size_t)kd[kr - 1], (size_t)rd[0], (size_t)rst[0][0], kind, div);
  }
  if ((st = meta_push(p, m, 1 + 4 * MAXR, &moff)) != GS_OK) return st;
  if (nout >= REDUCE_FEW_OUTPUTS)
    return reduce_step(dev, p, o_ref(l->out), o_ref(l->in[0]), moff, nout, count, kind, 1,
                       mean ? count : 0);
  /* Few outputs: parts of at least 4096 elements side by side, then their partial results;
   * always two launches, so the count does not depend on the reduced length (the batch). */
  size_t parts = count / 4096;
  parts = parts < 1 ? 1 : parts > 64 ? 64 : parts;
  need_scr(p, SCR_RED, nout * parts);
  int m2[1 + 4 * MAXR] = {0};
  m2[0] = 1;
  m2[1] = (int)nout;
  m2[1 + MAXR] = (int)parts;
  m2[1 + 2 * MAXR] = (int)parts;
  m2[1 + 3 * MAXR] = 1;
  size_t moff2 = 0;
  if ((st = meta_push(p, m2, 1 + 4 * MAXR, &moff2)) != GS_OK ||
      (st = reduce_step(dev, p, o_scr(SCR_RED, 0), o_ref(l->in[0]), moff, nout, count, kind, parts,
                        0)) != GS_OK)
    return st;
  return reduce_step(dev, p, o_ref(l->out), o_scr(SCR_RED, 0), moff2, nout, parts, kind, 1,
                     mean ? count : 0);
}

static gs_status lower(gs_bdev *dev, gs_bprog *p, const gs_launch *l) {
  const gs_shape *os = &l->out_desc.shape, *is0 = &l->in_desc[0].shape;
  size_t n = (size_t)gs_shape_numel(os);
  size_t n8 = (n + 7) / 8; /* work-items of the flat element-wise kernels, 8 elements each */
  int sst[MAXR], dst[MAXR];
  switch (l->op) {
  case GS_OP_NOP: return GS_OK;
  case GS_OP_FILL: {
    int64_t iv[] = {(int64_t)n};
    return elementwise(dev, p, K_FILL, n8, &l->out, 1, iv, 1, l->f, 1);
  }
  case GS_OP_UNARY: {
    gs_bref r[] = {l->out, l->in[0]};
    int64_t iv[] = {(int64_t)n};
    return elementwise(dev, p, (ocl_kname)(K_UNARY + l->i[0]), n8, r, 2, iv, 1, l->f, 2);
  }
  case GS_OP_UNARY_BWD: {
    gs_bref r[] = {l->out, l->in[0], l->in[1], l->in[2]};
    int64_t iv[] = {(int64_t)n};
    return elementwise(dev, p, (ocl_kname)(K_UNARY_BWD + l->i[0]), n8, r, 4, iv, 1, l->f, 2);
  }
  case GS_OP_AXPBY: {
    gs_bref r[] = {l->out, l->in[0], l->in[1]};
    int64_t iv[] = {(int64_t)n};
    return elementwise(dev, p, K_AXPBY, n8, r, 3, iv, 1, l->f, 2);
  }
  case GS_OP_BINARY: {
    bcast_strides(is0, os, sst);
    bcast_strides(&l->in_desc[1].shape, os, dst);
    const int *strides[2] = {sst, dst};
    size_t moff = 0, ext[3];
    int rank = 0;
    gs_status st = nd_meta(p, os, 2, strides, &moff, ext, &rank);
    if (st != GS_OK) return st;
    ostep *s = NULL;
    ab a;
    /* Rank 3 walks the innermost dim 8 elements per work-item (gs_binary_K). */
    ocl_kname kn = (ocl_kname)((rank == 3 ? K_BINARY : K_BINARY_ND) + l->i[0]);
    size_t e0 = rank == 3 ? (ext[0] + 7) / 8 : ext[0];
    if ((st = kstep3(dev, p, kn, e0, ext[1], ext[2], &s, &a)) != GS_OK) return st;
    a_ref(&a, l->out);
    a_ref(&a, l->in[0]);
    a_ref(&a, l->in[1]);
    a_meta(&a, s, moff);
    a_int(&a, (int64_t)ext[0]);
    a_int(&a, (int64_t)ext[1]);
    return ab_done(&a, kn);
  }
  case GS_OP_REDUCE: return lower_reduce(dev, p, l);
  case GS_OP_EXPAND:
    bcast_strides(is0, os, sst);
    contig_strides(os, dst);
    return copy_nd(dev, p, l->out, 0, l->in[0], 0, os, sst, dst);
  case GS_OP_PERMUTE: {
    int ist[MAXR];
    contig_strides(is0, ist);
    for (int k = 0; k < os->rank; k++) sst[k] = ist[l->i[k]];
    contig_strides(os, dst);
    return copy_nd(dev, p, l->out, 0, l->in[0], 0, os, sst, dst);
  }
  case GS_OP_SLICE: {
    contig_strides(is0, sst);
    contig_strides(os, dst);
    size_t base = 0;
    for (int k = 0; k < is0->rank; k++) base += (size_t)l->i[k] * (size_t)sst[k];
    return copy_nd(dev, p, l->out, 0, l->in[0], base, os, sst, dst);
  }
  case GS_OP_INSERT: {
    contig_strides(is0, sst);
    contig_strides(os, dst);
    size_t base = 0;
    for (int k = 0; k < os->rank; k++) base += (size_t)l->i[k] * (size_t)dst[k];
    return copy_nd(dev, p, l->out, base, l->in[0], 0, is0, sst, dst);
  }
  case GS_OP_DOT: {
    size_t m = (size_t)gs_shape_numel(is0);
    ostep *s = NULL;
    ab a;
    gs_status st = kstep(dev, p, K_DOT, 1, &s, &a);
    if (st != GS_OK) return st;
    s->local[0] = s->global[0] = pow2_local(dev, K_DOT, 256);
    a_ref(&a, l->out);
    a_ref(&a, l->in[0]);
    a_ref(&a, l->in[1]);
    a_int(&a, (int64_t)m);
    a_local(&a, s->local[0] * sizeof(float));
    return ab_done(&a, K_DOT);
  }
  case GS_OP_MATMUL: return lower_matmul(dev, p, l);
  case GS_OP_GATHER_ROWS: {
    gs_bref r[] = {l->out, l->in[0], l->in[1]};
    int64_t iv[] = {os->dim[0], os->dim[1], is0->dim[0]};
    return elementwise(dev, p, K_GATHER, n, r, 3, iv, 3, NULL, 0);
  }
  case GS_OP_SCATTER_ADD_ROWS: {
    gs_bref r[] = {l->out, l->in[0], l->in[1]};
    int64_t iv[] = {is0->dim[0], is0->dim[1], os->dim[0]};
    return elementwise(dev, p, K_SCATTER, n, r, 3, iv, 3, NULL, 0);
  }
  case GS_OP_ONEHOT: {
    gs_bref r[] = {l->out, l->in[0]};
    int64_t iv[] = {os->dim[0], os->dim[1]};
    return elementwise(dev, p, K_ONEHOT, n, r, 2, iv, 2, NULL, 0);
  }
  case GS_OP_CONV2D:
  case GS_OP_CONV2D_BWD_DATA:
  case GS_OP_CONV2D_BWD_FILTER: return lower_conv(dev, p, l);
  case GS_OP_MAXPOOL2D:
  case GS_OP_MAXPOOL2D_BWD:
  case GS_OP_AVGPOOL2D:
  case GS_OP_AVGPOOL2D_BWD: return lower_pool(dev, p, l);
  case GS_OP_SGD: {
    size_t m = (size_t)gs_shape_numel(is0);
    gs_bref r[] = {l->in[0], l->in[1], l->in[2], l->in[3]};
    int64_t iv[] = {(int64_t)m};
    float fv[] = {l->f[0], l->f[1]};
    ostep *s = NULL;
    ab a;
    gs_status st = kstep(dev, p, K_SGD, m, &s, &a);
    if (st != GS_OK) return st;
    for (int i = 0; i < 4; i++) a_ref(&a, r[i]);
    a_int(&a, iv[0]);
    a_f(&a, fv[0]);
    a_f(&a, fv[1]);
    a_int(&a, l->i[0]);
    return ab_done(&a, K_SGD);
  }
  case GS_OP_ADAMW: {
    size_t m = (size_t)gs_shape_numel(is0);
    gs_bref r[] = {l->in[0], l->in[1], l->in[2], l->in[3], l->in[4], l->in[5]};
    int64_t iv[] = {(int64_t)m};
    return elementwise(dev, p, K_ADAMW, m, r, 6, iv, 1, l->f, 4);
  }
  case GS_OP_EMA: {
    size_t m = (size_t)gs_shape_numel(is0);
    gs_bref r[] = {l->in[0], l->in[1], l->in[2]};
    int64_t iv[] = {(int64_t)m};
    return elementwise(dev, p, K_EMA, m, r, 3, iv, 1, NULL, 0);
  }
  case GS_OP_COUNT: break;
  }
  return dev->be->host->fail(dev->be->host, GS_ERR_UNSUPPORTED,
                             "opencl: opcode %d is not supported", (int)l->op);
}

/* ---- public entry points ---- */

static int fits_int(const gs_tdesc *d, size_t off) {
  int64_t n = gs_shape_numel(&d->shape);
  return n >= 0 && (uint64_t)n + off <= (uint64_t)INT_MAX;
}

/* The runtime has checked the launch against its opcode's contract (gs_launch_check); what is
 * left is this device's limit. */
int ocl_supports(gs_bdev *dev, const gs_launch *l) {
  (void)dev;
  if (!l || l->op <= GS_OP_NOP || l->op >= GS_OP_COUNT) return l && l->op == GS_OP_NOP;
  /* Kernels index with 32-bit ints, which every OpenCL 1.2 device does fast. */
  if (!fits_int(&l->out_desc, l->out.off)) return 0;
  for (int i = 0; i < l->n_in; i++)
    if (!fits_int(&l->in_desc[i], l->in[i].off)) return 0;
  return 1;
}

static gs_status finish(gs_bdev *dev, gs_bprog *p) {
  gs_status st;
  if (p->nmeta) {
    /* Copied at creation: no queued write, so compiling never waits for running work. */
    cl_int e;
    p->meta_mem = clCreateBuffer(dev->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                 p->nmeta * sizeof(int), p->meta, &e);
    OCL_CHECK(dev->be, e, "clCreateBuffer (shape table)");
    dev->cnt.bytes_to_device += p->nmeta * sizeof(int);
  }
  static const char *const what[SCR_COUNT] = {"im2col scratch", "convolution scratch",
                                              "filter-gradient partials",
                                              "transposed matmul operand", "reduction partials"};
  for (int k = 0; k < SCR_COUNT; k++)
    if (p->scr_bytes[k] && (st = ocl_new_mem(dev, p->scr_bytes[k], what[k], &p->scr[k])) != GS_OK)
      return st;
  size_t temp = 0;
  for (size_t i = 0; i < p->n; i++) {
    ostep *s = &p->steps[i];
    if (s->is_gemm) {
      if (s->gslot[0]) s->g.a = p->scr[s->gslot[0] - 1];
      if (s->gslot[1]) s->g.b = p->scr[s->gslot[1] - 1];
      if (s->gslot[2]) s->g.c = p->scr[s->gslot[2] - 1];
      size_t t;
      if ((st = ocl_gemm_temp_size(dev, &s->g, &t)) != GS_OK) return st;
      if (t > temp) temp = t;
      continue;
    }
    if (s->meta_arg >= 0)
      OCL_CHECK(dev->be, clSetKernelArg(s->k, (cl_uint)s->meta_arg, sizeof(cl_mem), &p->meta_mem),
                "clSetKernelArg (shape table)");
    for (int j = 0; j < s->nscr; j++)
      OCL_CHECK(
          dev->be,
          clSetKernelArg(s->k, (cl_uint)s->scr_arg[j], sizeof(cl_mem), &p->scr[s->scr_slot[j]]),
          "clSetKernelArg (scratch)");
  }
  if (temp && (st = ocl_new_mem(dev, temp, "CLBlast temporary buffer", &p->temp_mem)) != GS_OK)
    return st;
  return GS_OK;
}

gs_status ocl_prog_compile(gs_bdev *dev, const gs_launch *launches, size_t n, gs_bprog **out) {
  gs_bprog *p = calloc(1, sizeof *p);
  if (!p) return dev->be->host->fail(dev->be->host, GS_ERR_NOMEM, "opencl: out of host memory");
  p->be = dev->be;
  gs_status st = GS_OK;
  for (size_t i = 0; i < n && st == GS_OK; i++) {
    const gs_launch *l = &launches[i];
    if (!ocl_supports(dev, l))
      st =
          dev->be->host->fail(dev->be->host, GS_ERR_UNSUPPORTED,
                              "opencl: launch %zu (%s) is not supported", i, gs_opcode_name(l->op));
    else {
      size_t first = p->n;
      st = lower(dev, p, l);
      for (size_t k = first; k < p->n; k++) p->steps[k].fam = gs_opcode_family(l->op);
    }
  }
  if (st == GS_OK) st = finish(dev, p);
  if (st != GS_OK) {
    ocl_prog_free(dev, p);
    return st;
  }
  *out = p;
  return GS_OK;
}

gs_status ocl_prog_run(gs_bdev *dev, gs_bprog *p) {
  gs_status fs = ocl_fault_run(dev);
  if (fs != GS_OK) return fs;
  dev->cnt.launches += p->n;
  if (dev->profile) OCL_CHECK(dev->be, clFinish(dev->queue), "clFinish");
  for (size_t i = 0; i < p->n; i++) {
    const ostep *s = &p->steps[i];
    gs_status st;
    double t0 = dev->profile ? ocl_now() : 0.0;
    if (s->is_gemm) {
      st = ocl_gemm_run(dev, &s->g, p->temp_mem);
    } else {
      cl_int e = clEnqueueNDRangeKernel(dev->queue, s->k, s->dims, NULL, s->global,
                                        s->own_local ? s->local : NULL, 0, NULL, NULL);
      st = e == CL_SUCCESS ? GS_OK : ocl_fail(dev->be, e, "clEnqueueNDRangeKernel");
    }
    if (st != GS_OK) return st;
    if (dev->profile) {
      OCL_CHECK(dev->be, clFinish(dev->queue), "clFinish");
      double t = ocl_now() - t0;
      dev->cnt.seconds[s->fam] += t;
      p->steps[i].seconds += t;
    }
  }
  /* Hand the work to the device now; the host waits only in buf_read or sync. */
  OCL_CHECK(dev->be, clFlush(dev->queue), "clFlush");
  return GS_OK;
}

/* GESSL_PROFILE: the program's costliest steps and kernels, to stderr, when it is freed. The
 * kernels' totals (over every step that ran one) show which kind of pass to attack; the steps,
 * which layer. */
static void profile_report(const gs_bprog *p) {
  double total = 0.0, by_kernel[K_COUNT + 1] = {0};
  int runs[K_COUNT + 1] = {0};
  for (size_t i = 0; i < p->n; i++) {
    int k = p->steps[i].is_gemm ? K_COUNT : (int)p->steps[i].kn;
    total += p->steps[i].seconds;
    by_kernel[k] += p->steps[i].seconds;
    runs[k]++;
  }
  if (total < 0.01) return; /* set-up programs (fills, copies) */
  fprintf(stderr, "opencl profile: program of %zu steps, %.1f ms in all; costliest steps:\n", p->n,
          total * 1e3);
  int shown[12] = {0};
  for (int r = 0; r < 12; r++) {
    int best = -1;
    for (size_t i = 0; i < p->n; i++) {
      int seen = 0;
      for (int q = 0; q < r; q++) seen |= shown[q] == (int)i;
      if (!seen && (best < 0 || p->steps[i].seconds > p->steps[best].seconds)) best = (int)i;
    }
    if (best < 0 || p->steps[best].seconds <= 0.0) break;
    shown[r] = best;
    const ostep *s = &p->steps[best];
    fprintf(stderr, "  %4d %-8s %-20s %8.1f ms %5.1f%%\n", best, gs_opfamily_name(s->fam),
            s->is_gemm ? "clblast_gemm" : ocl_kernel_names[s->kn], s->seconds * 1e3,
            100.0 * s->seconds / total);
  }
  fprintf(stderr, "opencl profile: costliest kernels (steps that ran each):\n");
  for (int r = 0; r < 12; r++) {
    int best = -1;
    for (int k = 0; k <= K_COUNT; k++)
      if (by_kernel[k] > 0.0 && (best < 0 || by_kernel[k] > by_kernel[best])) best = k;
    if (best < 0) break;
    fprintf(stderr, "  %-26s %4d %8.1f ms %5.1f%%\n",
            best == K_COUNT ? "clblast_gemm" : ocl_kernel_names[best], runs[best],
            by_kernel[best] * 1e3, 100.0 * by_kernel[best] / total);
    by_kernel[best] = 0.0;
  }
}

void ocl_prog_free(gs_bdev *dev, gs_bprog *p) {
  (void)dev;
  if (!p) return;
  if (dev->profile) profile_report(p);
  for (size_t i = 0; i < p->n; i++)
    if (p->steps[i].k) clReleaseKernel(p->steps[i].k);
  if (p->meta_mem) clReleaseMemObject(p->meta_mem);
  for (int k = 0; k < SCR_COUNT; k++)
    if (p->scr[k]) clReleaseMemObject(p->scr[k]);
  if (p->temp_mem) clReleaseMemObject(p->temp_mem);
  free(p->steps);
  free(p->meta);
  free(p);
}
