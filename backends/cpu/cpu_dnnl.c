/* The oneDNN fast path for the convolutions (forward, data gradient, filter gradient).
 *
 * oneDNN picks its kernels from the CPU's feature flags (AVX2, AVX-512), so the convolutions run
 * near the machine's peak whatever core OpenBLAS chose. Each launch gets its primitive at program
 * compile time. The primitive may prefer blocked layouts (nChw8c, OIhw8i8o...) over the graph's
 * NCHW/OIHW: then the plan adds reorders between the graph's tensors and staging copies in the
 * program's workspace, which also holds the primitive's scratchpad (user scratchpad mode), so
 * nothing is allocated while a program runs; a launch whose copies would be large runs on shares
 * of its batch (SHARE_BYTES), so the workspace stays small. A launch oneDNN cannot take keeps the
 * plain im2col + OpenBLAS path, which stays the reference (GESSL_CPU_DNNL=0 selects it throughout).
 *
 * Threads: the Debian oneDNN runs on OpenMP (libgomp, the runtime the backend's own loops use),
 * and takes its thread count from omp_get_max_threads(), so compile and run set that to the
 * backend's count around each oneDNN call and put back the caller's. */
#include "cpu_internal.h"

#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>

/* One tensor operand of a primitive: the graph's plain view and, when the primitive wants
 * another layout, the staged copy in the workspace and the reorder between them. */
typedef struct dnnl_operand {
  int arg;              /* DNNL_ARG_SRC, ... */
  int output;           /* written by the primitive */
  int64_t image_floats; /* elements per image of a batched operand (x, y and their gradients),
                           0 for the weights and their gradient */
  gs_bref ref;          /* the graph's tensor */
  dnnl_memory_t user;   /* plain layout over ref's data */
  dnnl_memory_t staged; /* primitive's layout in the workspace, or NULL */
  dnnl_primitive_t reorder;
  size_t ws_off; /* bytes into the workspace of the staged copy */
} dnnl_operand;

struct cpu_dnnl_op {
  dnnl_primitive_t prim;
  dnnl_operand opnd[3];
  dnnl_memory_t scratch;
  size_t scratch_off;
  size_t ws_bytes;
  int64_t n, images;        /* the launch's batch; images per run of prim */
  size_t sum_off;           /* filter gradient of a later share: its plain copy in the workspace */
  int64_t sum_floats;       /* ... and its size (0: the launch runs in one share) */
  struct cpu_dnnl_op *tail; /* the last share when images does not divide n, else NULL */
};

/* A launch whose staged copies and scratchpad would take more than this runs on shares of its
 * batch (images are independent; the filter gradient adds up), so the workspace holds one share's
 * copies: at ResNet-18's batch 128 (256 views) the 64-channel 32x32 layers' copies took 128 MiB
 * for one launch against 16 per share. */
#define SHARE_BYTES ((size_t)16 << 20)

struct cpu_dnnl_ctx {
  dnnl_engine_t eng;
  dnnl_stream_t stream;
};

int cpu_dnnl_enabled(void) {
  const char *e = getenv("GESSL_CPU_DNNL");
  return !(e && strcmp(e, "0") == 0);
}

/* omp_get_max_threads() set to the backend's count for the duration of a oneDNN call. */
static int threads_enter(void) {
#ifdef _OPENMP
  int old = omp_get_max_threads();
  if (old != cpu_nthreads) omp_set_num_threads(cpu_nthreads);
  return old;
#else
  return 1;
#endif
}

static void threads_leave(int old) {
#ifdef _OPENMP
  if (old != cpu_nthreads) omp_set_num_threads(old);
#else
  (void)old;
#endif
}

cpu_dnnl_ctx *cpu_dnnl_ctx_new(void) {
  if (!cpu_dnnl_enabled()) return NULL;
  cpu_dnnl_ctx *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  if (dnnl_engine_create(&c->eng, dnnl_cpu, 0) != dnnl_success) {
    free(c);
    return NULL;
  }
  if (dnnl_stream_create(&c->stream, c->eng, dnnl_stream_default_flags) != dnnl_success) {
    dnnl_engine_destroy(c->eng);
    free(c);
    return NULL;
  }
  return c;
}

void cpu_dnnl_ctx_free(cpu_dnnl_ctx *c) {
  if (!c) return;
  dnnl_stream_destroy(c->stream);
  dnnl_engine_destroy(c->eng);
  free(c);
}

void cpu_dnnl_op_free(cpu_dnnl_op *op) {
  if (!op) return;
  for (int k = 0; k < 3; k++) {
    dnnl_operand *o = &op->opnd[k];
    if (o->reorder) dnnl_primitive_destroy(o->reorder);
    if (o->staged) dnnl_memory_destroy(o->staged);
    if (o->user) dnnl_memory_destroy(o->user);
  }
  if (op->scratch) dnnl_memory_destroy(op->scratch);
  if (op->prim) dnnl_primitive_destroy(op->prim);
  cpu_dnnl_op_free(op->tail);
  free(op);
}

static void md4(dnnl_memory_desc_t *md, const gs_shape *s, dnnl_format_tag_t tag) {
  dnnl_dims_t d = {s->dim[0], s->dim[1], s->dim[2], s->dim[3]};
  dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32, tag);
}

static size_t align64(size_t n) { return (n + 63) / 64 * 64; }

/* Binds operand k to the primitive's wanted layout `want` (from pd), staging when it differs
 * from the plain `plain`. Returns 0 on failure. */
static int bind(cpu_dnnl_ctx *c, cpu_dnnl_op *op, int k, int arg, int output, gs_bref ref,
                const dnnl_memory_desc_t *plain, const_dnnl_primitive_desc_t pd) {
  dnnl_operand *o = &op->opnd[k];
  o->arg = arg, o->output = output, o->ref = ref;
  o->image_floats = arg == DNNL_ARG_WEIGHTS || arg == DNNL_ARG_DIFF_WEIGHTS
                        ? 0
                        : plain->dims[1] * plain->dims[2] * plain->dims[3];
  const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
  if (!want || dnnl_memory_create(&o->user, plain, c->eng, cpu_ptr(ref)) != dnnl_success) return 0;
  if (dnnl_memory_desc_equal(want, plain)) return 1;
  /* Staged: the handle is set at run time, once the workspace exists. */
  if (dnnl_memory_create(&o->staged, want, c->eng, DNNL_MEMORY_NONE) != dnnl_success) return 0;
  dnnl_primitive_desc_t rpd;
  const dnnl_memory_desc_t *from = output ? want : plain, *to = output ? plain : want;
  if (dnnl_reorder_primitive_desc_create(&rpd, from, c->eng, to, c->eng, NULL) != dnnl_success)
    return 0;
  dnnl_status_t st = dnnl_primitive_create(&o->reorder, rpd);
  dnnl_primitive_desc_destroy(rpd);
  if (st != dnnl_success) return 0;
  o->ws_off = op->ws_bytes;
  op->ws_bytes += align64(dnnl_memory_desc_get_size(want));
  return 1;
}

/* The primitive for `images` images of the launch (all of them, or a share). */
static cpu_dnnl_op *plan_share(cpu_dnnl_ctx *c, const gs_launch *l, int64_t images) {
  gs_shape xs, ys;
  const gs_shape *x = &xs, *w, *y = &ys;
  if (l->op == GS_OP_CONV2D)
    xs = l->in_desc[0].shape, w = &l->in_desc[1].shape, ys = l->out_desc.shape;
  else if (l->op == GS_OP_CONV2D_BWD_DATA)
    ys = l->in_desc[0].shape, w = &l->in_desc[1].shape, xs = l->out_desc.shape;
  else
    xs = l->in_desc[0].shape, ys = l->in_desc[1].shape, w = &l->out_desc.shape;
  xs.dim[0] = ys.dim[0] = images;
  int64_t sh = l->i[0], sw = l->i[1], ph = l->i[2], pw = l->i[3];
  /* The right/bottom padding that makes oneDNN's output size match OH (the floor division
   * may leave input rows unused; a negative value trims them). */
  int64_t prh = (y->dim[2] - 1) * sh + w->dim[2] - x->dim[2] - ph;
  int64_t prw = (y->dim[3] - 1) * sw + w->dim[3] - x->dim[3] - pw;
  if (prh < 0 || prw < 0) return NULL;
  dnnl_dims_t strides = {sh, sw}, pl = {ph, pw}, pr = {prh, prw};

  /* The primitive chooses its layouts ("any"): asked for plain NCHW it falls back to its own
   * im2col + GEMM, measured 15% slower over a ResNet-18 step than blocked layouts with the
   * reorders (BENCHMARKS.md). */
  dnnl_memory_desc_t xq, wq, yq, xp, wp, yp;
  md4(&xq, x, dnnl_format_tag_any), md4(&wq, w, dnnl_format_tag_any),
      md4(&yq, y, dnnl_format_tag_any);
  md4(&xp, x, dnnl_nchw), md4(&wp, w, dnnl_oihw), md4(&yp, y, dnnl_nchw);

  cpu_dnnl_op *op = calloc(1, sizeof *op);
  if (!op) return NULL;
  op->n = op->images = images;
  int old = threads_enter();
  dnnl_primitive_attr_t attr = NULL;
  dnnl_primitive_desc_t fwd = NULL, pd = NULL;
  int ok = dnnl_primitive_attr_create(&attr) == dnnl_success &&
           dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success;
  /* Every pass is described from the forward one (the backward ones need it as a hint). */
  dnnl_convolution_desc_t fd, bd;
  ok = ok &&
       dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &xq,
                                          &wq, NULL, &yq, strides, pl, pr) == dnnl_success &&
       dnnl_primitive_desc_create(&fwd, &fd, attr, c->eng, NULL) == dnnl_success;
  if (ok && l->op == GS_OP_CONV2D) {
    pd = fwd, fwd = NULL;
    ok = bind(c, op, 0, DNNL_ARG_SRC, 0, l->in[0], &xp, pd) &&
         bind(c, op, 1, DNNL_ARG_WEIGHTS, 0, l->in[1], &wp, pd) &&
         bind(c, op, 2, DNNL_ARG_DST, 1, l->out, &yp, pd);
  } else if (ok && l->op == GS_OP_CONV2D_BWD_DATA) {
    ok = dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &xq, &wq, &yq,
                                                  strides, pl, pr) == dnnl_success &&
         dnnl_primitive_desc_create(&pd, &bd, attr, c->eng, fwd) == dnnl_success &&
         bind(c, op, 0, DNNL_ARG_DIFF_DST, 0, l->in[0], &yp, pd) &&
         bind(c, op, 1, DNNL_ARG_WEIGHTS, 0, l->in[1], &wp, pd) &&
         bind(c, op, 2, DNNL_ARG_DIFF_SRC, 1, l->out, &xp, pd);
  } else if (ok) {
    ok = dnnl_convolution_backward_weights_desc_init(&bd, dnnl_convolution_direct, &xq, &wq, NULL,
                                                     &yq, strides, pl, pr) == dnnl_success &&
         dnnl_primitive_desc_create(&pd, &bd, attr, c->eng, fwd) == dnnl_success &&
         bind(c, op, 0, DNNL_ARG_SRC, 0, l->in[0], &xp, pd) &&
         bind(c, op, 1, DNNL_ARG_DIFF_DST, 0, l->in[1], &yp, pd) &&
         bind(c, op, 2, DNNL_ARG_DIFF_WEIGHTS, 1, l->out, &wp, pd);
  }
  if (ok) {
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t sb = smd ? dnnl_memory_desc_get_size(smd) : 0;
    if (sb) {
      ok = dnnl_memory_create(&op->scratch, smd, c->eng, DNNL_MEMORY_NONE) == dnnl_success;
      op->scratch_off = op->ws_bytes;
      op->ws_bytes += align64(sb);
    }
  }
  ok = ok && dnnl_primitive_create(&op->prim, pd) == dnnl_success;
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (fwd) dnnl_primitive_desc_destroy(fwd);
  if (attr) dnnl_primitive_attr_destroy(attr);
  threads_leave(old);
  if (!ok) {
    cpu_dnnl_op_free(op);
    return NULL;
  }
  return op;
}

cpu_dnnl_op *cpu_dnnl_conv_plan(cpu_dnnl_ctx *c, const gs_launch *l) {
  if (!c ||
      (l->op != GS_OP_CONV2D && l->op != GS_OP_CONV2D_BWD_DATA && l->op != GS_OP_CONV2D_BWD_FILTER))
    return NULL;
  for (int k = 0; k < 2; k++)
    if (cpu_numel(&l->in_desc[k]) == 0) return NULL;
  if (cpu_numel(&l->out_desc) == 0) return NULL;
  int64_t n =
      l->op == GS_OP_CONV2D_BWD_DATA ? l->out_desc.shape.dim[0] : l->in_desc[0].shape.dim[0];
  cpu_dnnl_op *op = plan_share(c, l, n);
  if (!op || op->ws_bytes <= SHARE_BYTES || n == 1) return op;
  /* Shares of about SHARE_BYTES of the whole launch's workspace each. */
  int64_t images = (int64_t)((double)n * SHARE_BYTES / (double)op->ws_bytes);
  if (images < 1) images = 1;
  cpu_dnnl_op *share = plan_share(c, l, images);
  if (!share) return op;
  cpu_dnnl_op_free(op);
  share->n = n;
  if (n % images && !(share->tail = plan_share(c, l, n % images))) {
    cpu_dnnl_op_free(share);
    return NULL;
  }
  size_t ws = share->ws_bytes;
  if (share->tail && share->tail->ws_bytes > ws) ws = share->tail->ws_bytes;
  if (l->op == GS_OP_CONV2D_BWD_FILTER) {
    /* Every share after the first leaves its filter gradient past its own copies, and adds it
     * to the output. */
    share->sum_off = share->ws_bytes;
    share->sum_floats = cpu_numel(&l->out_desc);
    if (share->tail) {
      share->tail->sum_off = share->tail->ws_bytes;
      share->tail->sum_floats = share->sum_floats;
    }
    ws += align64((size_t)cpu_numel(&l->out_desc) * sizeof(float));
  }
  share->ws_bytes = ws;
  return share;
}

size_t cpu_dnnl_op_ws_bytes(const cpu_dnnl_op *op) { return op ? op->ws_bytes : 0; }

static int exec(cpu_dnnl_ctx *c, dnnl_primitive_t p, int n, const dnnl_exec_arg_t *a) {
  return dnnl_primitive_execute(p, c->stream, n, a) == dnnl_success;
}

/* Runs op on images [i0, i0 + op->images) of the launch. */
static int run_share(cpu_dnnl_ctx *c, const cpu_dnnl_op *op, void *ws, int64_t i0) {
  int ok = 1;
  dnnl_exec_arg_t args[4];
  int n = 0;
  float *sum = NULL;
  for (int k = 0; k < 3 && ok; k++) {
    const dnnl_operand *o = &op->opnd[k];
    /* The graph's buffers are fixed for the program's life, but their handles are set again
     * each run: cheap, and robust to a runtime that moves nothing today. */
    float *p = cpu_ptr(o->ref) + i0 * o->image_floats;
    if (i0 > 0 && o->output && !o->image_floats) p = sum = (float *)((char *)ws + op->sum_off);
    ok = dnnl_memory_set_data_handle(o->user, p) == dnnl_success;
    dnnl_memory_t m = o->user;
    if (ok && o->staged) {
      ok = dnnl_memory_set_data_handle(o->staged, (char *)ws + o->ws_off) == dnnl_success;
      m = o->staged;
      if (ok && !o->output) {
        dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, o->user}, {DNNL_ARG_TO, o->staged}};
        ok = exec(c, o->reorder, 2, r);
      }
    }
    args[n++] = (dnnl_exec_arg_t){o->arg, m};
  }
  if (ok && op->scratch) {
    ok = dnnl_memory_set_data_handle(op->scratch, (char *)ws + op->scratch_off) == dnnl_success;
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, op->scratch};
  }
  ok = ok && exec(c, op->prim, n, args);
  for (int k = 0; k < 3 && ok; k++) {
    const dnnl_operand *o = &op->opnd[k];
    if (!o->staged || !o->output) continue;
    dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, o->staged}, {DNNL_ARG_TO, o->user}};
    ok = exec(c, o->reorder, 2, r);
  }
  ok = ok && dnnl_stream_wait(c->stream) == dnnl_success;
  if (ok && sum) {
    const dnnl_operand *o = &op->opnd[2];
    float *restrict dw = cpu_ptr(o->ref);
    const float *restrict s = sum;
    int64_t m = op->sum_floats;
    CPU_PAR_FOR(m) for (int64_t i = 0; i < m; i++) dw[i] += s[i];
  }
  return ok;
}

int cpu_dnnl_run(cpu_dnnl_ctx *c, const cpu_dnnl_op *op, void *ws) {
  int old = threads_enter(), ok = 1;
  for (int64_t i0 = 0; i0 < op->n && ok; i0 += op->images)
    ok = run_share(c, i0 + op->images <= op->n ? op : op->tail, ws, i0);
  threads_leave(old);
  return ok;
}
