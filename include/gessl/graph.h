/* gessl — the op API: build a graph by calling ops, differentiate it, hand it to gs_compile.
 *
 * A gs_tensor is a node of one graph (an opaque handle owned by the graph). Shapes are checked as
 * each op is built. Errors are sticky, like a stream's error flag: the first failing op records
 * "op: reason (shapes)" in the graph and returns NULL, every later op given a NULL operand or
 * called on a failed graph returns NULL without a new message, and the caller checks once with
 * gs_graph_status()/gs_graph_error() when the graph is built. That keeps plugin code (a method's
 * loss) readable: a chain of calls, one check at the end.
 *
 * Each constructor's comment gives its math. Ops marked (composite) are built from the primitives
 * in op.h; their gradients follow from the primitives' rules. Broadcasting follows numpy: shapes
 * are aligned from the right, a dim of 1 stretches. Axes may be negative (counted from the end).
 *
 * Ownership: every gs_tensor belongs to its graph and dies with gs_graph_free. */
#ifndef GESSL_GRAPH_H
#define GESSL_GRAPH_H

#include "op.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gs_graph gs_graph;
typedef struct gs_node gs_tensor;
typedef struct gs_param gs_param; /* a persistent tensor on a device (runtime.h) */
typedef struct gs_pset gs_pset;   /* an ordered list of params (runtime.h) */

GS_API gs_graph *gs_graph_new(void);
GS_API void gs_graph_free(gs_graph *g);
/* GS_OK, or the first error recorded while building. */
GS_API gs_status gs_graph_status(const gs_graph *g);
/* The first error's message ("" if none). */
GS_API const char *gs_graph_error(const gs_graph *g);
/* Records the first error of g ("<op>: <reason>") and returns NULL, for
 * `return gs_graph_fail(...)` in a builder of one's own (a model, a method's head). Later errors
 * are ignored so the message names the root cause. */
GS_API gs_tensor *gs_graph_fail(gs_graph *g, gs_status s, const char *fmt, ...) GS_PRINTF(3, 4);

/* ---- Leaves ---- */

/* A value fed before each run (gs_program_feed). `name` is copied. */
GS_API gs_tensor *gs_input(gs_graph *g, const char *name, gs_dtype dtype, gs_shape shape);
/* The input of g called `name`, NULL if none: a service that adds inputs to graphs it did not
 * build (the optimizer's learning rate) finds its own again without keeping graph pointers. */
GS_API gs_tensor *gs_graph_input(const gs_graph *g, const char *name);
/* The persistent tensor p as a node. Trainable params receive gradients through gs_grad. */
GS_API gs_tensor *gs_param_ref(gs_graph *g, gs_param *p);
/* A tensor of the given shape filled with `value`. */
GS_API gs_tensor *gs_fill(gs_graph *g, gs_shape shape, float value);

/* ---- Queries ---- */
GS_API gs_shape gs_tensor_shape(const gs_tensor *t);
GS_API gs_dtype gs_tensor_dtype(const gs_tensor *t);
GS_API int64_t gs_tensor_dim(const gs_tensor *t, int axis); /* negative axes allowed */
GS_API gs_graph *gs_tensor_graph(const gs_tensor *t);

/* ---- Elementwise ---- */
GS_API gs_tensor *gs_add(gs_graph *g, gs_tensor *a, gs_tensor *b);     /* a + b, broadcast */
GS_API gs_tensor *gs_sub(gs_graph *g, gs_tensor *a, gs_tensor *b);     /* a - b */
GS_API gs_tensor *gs_mul(gs_graph *g, gs_tensor *a, gs_tensor *b);     /* a * b */
GS_API gs_tensor *gs_div(gs_graph *g, gs_tensor *a, gs_tensor *b);     /* a / b */
GS_API gs_tensor *gs_maximum(gs_graph *g, gs_tensor *a, gs_tensor *b); /* max(a, b) */
GS_API gs_tensor *gs_minimum(gs_graph *g, gs_tensor *a, gs_tensor *b); /* min(a, b) */
GS_API gs_tensor *gs_equal(gs_graph *g, gs_tensor *a, gs_tensor *b);   /* a == b ? 1 : 0 */
GS_API gs_tensor *gs_greater(gs_graph *g, gs_tensor *a, gs_tensor *b); /* a > b ? 1 : 0 */
GS_API gs_tensor *gs_axpby(gs_graph *g, float a, gs_tensor *x, float b, gs_tensor *y); /* a*x+b*y */
GS_API gs_tensor *gs_affine(gs_graph *g, gs_tensor *x, float scale, float shift);      /* s*x + t */
GS_API gs_tensor *gs_scale(gs_graph *g, gs_tensor *x, float s);                        /* s*x */
GS_API gs_tensor *gs_add_scalar(gs_graph *g, gs_tensor *x, float c);                   /* x + c */
GS_API gs_tensor *gs_neg(gs_graph *g, gs_tensor *x);                                   /* -x */
GS_API gs_tensor *gs_exp(gs_graph *g, gs_tensor *x);
GS_API gs_tensor *gs_log(gs_graph *g, gs_tensor *x);
GS_API gs_tensor *gs_sqrt(gs_graph *g, gs_tensor *x);
GS_API gs_tensor *gs_rsqrt(gs_graph *g, gs_tensor *x);
GS_API gs_tensor *gs_square(gs_graph *g, gs_tensor *x);
GS_API gs_tensor *gs_abs(gs_graph *g, gs_tensor *x);
GS_API gs_tensor *gs_relu(gs_graph *g, gs_tensor *x);
GS_API gs_tensor *gs_sigmoid(gs_graph *g, gs_tensor *x);
GS_API gs_tensor *gs_tanh(gs_graph *g, gs_tensor *x);
GS_API gs_tensor *gs_recip(gs_graph *g, gs_tensor *x); /* 1/x */

/* ---- Reductions. `axes` lists the reduced axes; keepdim keeps them as size 1. ---- */
GS_API gs_tensor *gs_sum(gs_graph *g, gs_tensor *x, const int *axes, int n_axes, int keepdim);
GS_API gs_tensor *gs_mean(gs_graph *g, gs_tensor *x, const int *axes, int n_axes, int keepdim);
GS_API gs_tensor *gs_max(gs_graph *g, gs_tensor *x, const int *axes, int n_axes, int keepdim);
/* Sum / mean of every element, shape [] (rank 0). */
GS_API gs_tensor *gs_sum_all(gs_graph *g, gs_tensor *x);
GS_API gs_tensor *gs_mean_all(gs_graph *g, gs_tensor *x);
/* x broadcast to `shape` (numpy rules). */
GS_API gs_tensor *gs_expand(gs_graph *g, gs_tensor *x, gs_shape shape);

/* ---- Shape ops ---- */
/* Same elements, new shape; one dim may be -1 (inferred). Costs no copy. */
GS_API gs_tensor *gs_reshape(gs_graph *g, gs_tensor *x, gs_shape shape);
/* out.dim[k] = x.dim[perm[k]]. */
GS_API gs_tensor *gs_permute(gs_graph *g, gs_tensor *x, const int *perm);
/* Swaps the last two axes. */
GS_API gs_tensor *gs_transpose(gs_graph *g, gs_tensor *x);
/* Joins along `axis`; every other dim must match. */
GS_API gs_tensor *gs_concat(gs_graph *g, gs_tensor *const *xs, int n, int axis);
/* x[..., start:start+len, ...] along `axis`. */
GS_API gs_tensor *gs_slice(gs_graph *g, gs_tensor *x, int axis, int64_t start, int64_t len);
/* Rows of x [R, D] picked by idx [N] (i32): [N, D]. Gradient scatters back. */
GS_API gs_tensor *gs_gather_rows(gs_graph *g, gs_tensor *x, gs_tensor *idx);
/* [R, D] zeros with src [N, D] rows added at idx [N]. */
GS_API gs_tensor *gs_scatter_add_rows(gs_graph *g, gs_tensor *src, gs_tensor *idx, int64_t rows);
/* labels [N] (i32) -> [N, classes] of 0/1. No gradient. */
GS_API gs_tensor *gs_onehot(gs_graph *g, gs_tensor *labels, int64_t classes);

/* ---- Linear algebra ---- */
/* op(a) @ op(b) for rank 2 or 3 operands (rank 3: batched; a batch of 1 broadcasts). */
GS_API gs_tensor *gs_matmul(gs_graph *g, gs_tensor *a, gs_tensor *b, int trans_a, int trans_b);
/* x [N, in] @ w[out, in]^T + b[out] (b may be NULL): PyTorch's nn.Linear layout. (composite) */
GS_API gs_tensor *gs_linear(gs_graph *g, gs_tensor *x, gs_tensor *w, gs_tensor *b);

/* ---- Convolution and pooling (NCHW) ---- */
GS_API gs_tensor *gs_conv2d(gs_graph *g, gs_tensor *x, gs_tensor *w, int stride, int pad);
GS_API gs_tensor *gs_max_pool2d(gs_graph *g, gs_tensor *x, int kernel, int stride, int pad);
GS_API gs_tensor *gs_avg_pool2d(gs_graph *g, gs_tensor *x, int kernel, int stride, int pad);
/* [N, C, H, W] -> [N, C]. (composite) */
GS_API gs_tensor *gs_global_avg_pool(gs_graph *g, gs_tensor *x);

/* ---- Normalisation (composite) ---- */
/* Batch norm over all axes but 1 (x is [N, C] or [N, C, H, W]); gamma/beta [C] or NULL (no
 * affine). Training mode (running_mean != NULL and train): normalises with the batch statistics
 * and adds EMA updates running = (1-momentum)*running + momentum*batch_stat (unbiased variance for
 * running_var, as PyTorch) to the graph; inference mode: uses the running statistics. */
GS_API gs_tensor *gs_batch_norm(gs_graph *g, gs_tensor *x, gs_tensor *gamma, gs_tensor *beta,
                                gs_param *running_mean, gs_param *running_var, int train,
                                float momentum, float eps);
/* Layer norm over the last axis; gamma/beta [D] or NULL. */
GS_API gs_tensor *gs_layer_norm(gs_graph *g, gs_tensor *x, gs_tensor *gamma, gs_tensor *beta,
                                float eps);
/* x / max(||x||_2, eps) along `axis`. */
GS_API gs_tensor *gs_l2_normalize(gs_graph *g, gs_tensor *x, int axis, float eps);

/* ---- Probabilities and losses (composite, numerically stable) ---- */
GS_API gs_tensor *gs_softmax(gs_graph *g, gs_tensor *x, int axis);
GS_API gs_tensor *gs_log_softmax(gs_graph *g, gs_tensor *x, int axis);
/* Mean over rows of -log_softmax(logits)[n, labels[n]]; logits [N, C], labels [N] i32. Shape []. */
GS_API gs_tensor *gs_cross_entropy(gs_graph *g, gs_tensor *logits, gs_tensor *labels);
/* Mean over rows of sum_c p * (log p - log q), given log-probabilities log_p, log_q [N, C]
 * (rows are distributions along the last axis). Shape []. */
GS_API gs_tensor *gs_kl_div(gs_graph *g, gs_tensor *log_p, gs_tensor *log_q);

/* ---- Collectives across the ranks of a data-parallel job (comm.h). In a single process (a world
 * of one) both return x itself, so a method uses them unconditionally. ---- */
/* The sum (mean != 0: mean) over ranks of x, on every rank. Gradient: the same all-reduce. */
GS_API gs_tensor *gs_all_reduce(gs_graph *g, gs_tensor *x, int mean);
/* x's rows from every rank: x [R, ...] split into `chunks` equal row blocks (e.g. one per view),
 * each block gathered rank-major, blocks kept in order: [P*R, ...]. With views stacked as blocks,
 * the result is the views of the whole global batch in the order one process would see them.
 * Gradient: the sum over ranks of the upstream gradient, this rank's rows (a reduce-scatter). */
GS_API gs_tensor *gs_all_gather(gs_graph *g, gs_tensor *x, int chunks);

/* ---- Gradient control ---- */
/* x's value with no gradient flowing back (targets, EMA teachers). */
GS_API gs_tensor *gs_detach(gs_graph *g, gs_tensor *x);

/* ---- Persistent updates (sinks: run after every other node of the program, in the order
 * they were added; they write into gs_param storage in place) ---- */
/* dst := value. */
GS_API gs_tensor *gs_assign(gs_graph *g, gs_param *dst, gs_tensor *value);
/* target := m*target + (1-m)*online; m is a [1] tensor (fed or computed). */
GS_API gs_tensor *gs_ema_update(gs_graph *g, gs_param *target, gs_tensor *online, gs_tensor *m);
/* gs_ema_update of every param of `target` from the matching one of `online` (a teacher from its
 * student: same count, same shapes). Errors are recorded in g; returns gs_graph_status(g). */
GS_API gs_status gs_ema_update_set(gs_graph *g, const gs_pset *target, const gs_pset *online,
                                   gs_tensor *m);

/* ---- Autodiff ---- */
/* Appends the backward pass of the scalar `loss` (numel 1) and stores in grads[k] the gradient
 * with respect to params[k] (a gs_param_ref node or any other node of g). A param that does not
 * reach the loss gets a zero tensor. Detached paths contribute nothing. */
GS_API gs_status gs_grad(gs_graph *g, gs_tensor *loss, gs_tensor *const *params, int n,
                         gs_tensor **grads);

#ifdef __cplusplus
}
#endif
#endif
