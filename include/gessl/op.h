/* gessl — the primitive ops a backend executes, and the launch record that describes one.
 *
 * The graph API (graph.h) offers more ops than this list: softmax, cross-entropy, KL, batch norm,
 * layer norm and L2 normalisation are composed from these primitives by the runtime, and their
 * gradients follow from the primitives' gradient rules. A backend therefore implements exactly
 * the opcodes below, forward and backward alike, and nothing else. Each opcode's comment is its
 * full contract: operands, attributes (i[] integers, f[] floats) and the arithmetic.
 *
 * Conventions that hold for every opcode:
 * - All tensors are dense, row-major, 4-byte elements (f32 unless said i32). A launch's operand
 *   is a buffer plus an element offset; the shapes are in the descriptors.
 * - in_desc[k].rank == out_desc.rank wherever broadcasting is involved; the runtime pads shapes
 *   with leading 1s before lowering, so backends never need rank alignment.
 * - Unless an opcode says "in place", out never overlaps an input.
 * - Reduction-like results (REDUCE, DOT, MATMUL, CONV) accumulate in at least f32; the CPU
 *   reference may accumulate in f64. Backends are checked against it with an NMSE bound.
 *
 * Append new opcodes at the end only. That needs no new GS_BACKEND_ABI_VERSION: a backend's
 * supports() declines an opcode it does not know, so gs_compile names the op the backend lacks
 * rather than refusing the whole plugin. */
#ifndef GESSL_OP_H
#define GESSL_OP_H

#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gs_opcode {
  GS_OP_NOP = 0,
  /* out[:] = f[0]. No inputs. */
  GS_OP_FILL,
  /* out = fn(in0), fn = i[0] (gs_unary). Same shape. In place allowed (out == in0). */
  GS_OP_UNARY,
  /* out = dL/dx given in0 = x, in1 = y = fn(x), in2 = dy; fn = i[0] (gs_unary); f[] as forward.
   * Same shapes. See gs_unary for each derivative. */
  GS_OP_UNARY_BWD,
  /* out = in0 (op) in1 with broadcasting: every in dim is 1 or equal to the out dim.
   * op = i[0] (gs_binary). */
  GS_OP_BINARY,
  /* out = f[0]*in0 + f[1]*in1, identical shapes, no broadcasting. In place allowed (out may be
   * in0 or in1). */
  GS_OP_AXPBY,
  /* Reduce in0 to out: out dim k is 1 (reduced) or equal to in dim k (kept). kind = i[0]
   * (gs_reduce). MEAN divides by the number of reduced elements. MAX of an empty set does not
   * occur (dims are >= 1). */
  GS_OP_REDUCE,
  /* out = in0 broadcast to out's shape (every in dim is 1 or equal). */
  GS_OP_EXPAND,
  /* out[0] = sum(in0 * in1) over all elements; identical shapes; out shape [1]. */
  GS_OP_DOT,
  /* out.dim[k] = in.dim[i[k]] for k < rank; out[j0..jr] = in[ the index with axis i[k] = jk ]. */
  GS_OP_PERMUTE,
  /* out[j] = in0[j + start], start[k] = i[k]; out's shape is the window's shape. */
  GS_OP_SLICE,
  /* out[j + start] = in0[j] for every j in in0's shape, start[k] = i[k]; the rest of out is left
   * untouched (the runtime fills it first where needed). out_desc is the whole destination. */
  GS_OP_INSERT,
  /* Batched matrix product, rank 3 operands. i[0] = transpose A, i[1] = transpose B.
   * A = in0 is [Ba, M, K] ([Ba, K, M] when transposed), B = in1 is [Bb, K, N] ([Bb, N, K] when
   * transposed), out is [Bt, M, N]; Ba and Bb are each 1 (shared) or Bt. */
  GS_OP_MATMUL,
  /* in0 = x [R, D] f32, in1 = idx [N] i32, out [N, D]: out[n, :] = x[idx[n], :];
   * an index outside [0, R) gives a row of zeros (never an out-of-bounds read). */
  GS_OP_GATHER_ROWS,
  /* in0 = src [N, D] f32, in1 = idx [N] i32, out [R, D]: out = 0, then out[idx[n], :] += src[n, :]
   * for every n (indices outside [0, R) are skipped). Several n may share a row. */
  GS_OP_SCATTER_ADD_ROWS,
  /* in0 = labels [N] i32, out [N, C]: out[n, c] = (labels[n] == c) ? 1 : 0. */
  GS_OP_ONEHOT,
  /* 2-D convolution (cross-correlation, no bias, no groups, no dilation).
   * in0 = x [N, C, H, W], in1 = w [O, C, KH, KW], out [N, O, OH, OW],
   * i[0] = stride_h, i[1] = stride_w, i[2] = pad_h, i[3] = pad_w (zero padding),
   * OH = (H + 2 pad_h - KH) / stride_h + 1, likewise OW. */
  GS_OP_CONV2D,
  /* Gradient of CONV2D with respect to x: in0 = dy [N, O, OH, OW], in1 = w; out = dx [N, C, H, W].
   * Same attributes as the forward op. */
  GS_OP_CONV2D_BWD_DATA,
  /* Gradient of CONV2D with respect to w: in0 = x, in1 = dy; out = dw [O, C, KH, KW]. */
  GS_OP_CONV2D_BWD_FILTER,
  /* Max pooling, in0 = x [N, C, H, W] -> out [N, C, OH, OW]; i[0] = KH, i[1] = KW,
   * i[2] = stride_h, i[3] = stride_w, i[4] = pad_h, i[5] = pad_w (padding never wins). */
  GS_OP_MAXPOOL2D,
  /* in0 = x, in1 = dy -> out = dx [x's shape]. Each window sends its dy to the first maximum in
   * row-major window order; contributions of overlapping windows add up. Attributes as forward. */
  GS_OP_MAXPOOL2D_BWD,
  /* Average pooling, attributes as MAXPOOL2D; padded cells count (divisor KH*KW). */
  GS_OP_AVGPOOL2D,
  /* in0 = dy -> out = dx [N, C, H, W] (shape from out_desc). Attributes as forward. */
  GS_OP_AVGPOOL2D_BWD,
  /* Fused SGD step, in place. in0 = w (written), in1 = g, in2 = momentum buffer (written),
   * in3 = lr [1]. f[0] = momentum, f[1] = weight decay, i[0] = nesterov.
   *   d = g + wd*w;  buf = momentum*buf + d;  w -= lr * (nesterov ? d + momentum*buf : buf).
   * out aliases in0. */
  GS_OP_SGD,
  /* Fused AdamW step, in place. in0 = w (written), in1 = g, in2 = m (written), in3 = v (written),
   * in4 = lr [1], in5 = t [1] (step count, >= 1, as f32). f[0] = beta1, f[1] = beta2, f[2] = eps,
   * f[3] = weight decay (decoupled).
   *   w -= lr*wd*w;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g;
   *   w -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
   * out aliases in0. */
  GS_OP_ADAMW,
  /* EMA, in place: in0 = target (written), in1 = online, in2 = m [1]:
   *   target = m*target + (1-m)*online.  out aliases in0. */
  GS_OP_EMA,
  GS_OP_COUNT
} gs_opcode;

/* Elementwise functions for UNARY and UNARY_BWD. The derivative used by UNARY_BWD is given
 * (x = in0, y = in1 the forward output, dy = in2). Each reads x or y, never both, and the runtime
 * may pass the one not read as a copy of the other (the same operand); ReLU's may be given y as
 * x, since y > 0 exactly where x > 0. */
typedef enum gs_unary {
  GS_UN_AFFINE = 0, /* f[0]*x + f[1];            dx = f[0]*dy */
  GS_UN_EXP,        /* exp(x);                   dx = dy*y */
  GS_UN_LOG,        /* log(x);                   dx = dy/x */
  GS_UN_SQRT,       /* sqrt(x);                  dx = dy*0.5/y */
  GS_UN_RSQRT,      /* 1/sqrt(x);                dx = -0.5*dy*y*y*y */
  GS_UN_SQUARE,     /* x*x;                      dx = 2*x*dy */
  GS_UN_ABS,        /* |x|;                      dx = sign(x)*dy (0 at 0) */
  GS_UN_RELU,       /* max(x, 0);                dx = x > 0 ? dy : 0 */
  GS_UN_SIGMOID,    /* 1/(1+exp(-x));            dx = dy*y*(1-y) */
  GS_UN_TANH,       /* tanh(x);                  dx = dy*(1-y*y) */
  GS_UN_RECIP,      /* 1/x;                      dx = -dy*y*y */
  GS_UN_COUNT
} gs_unary;

/* Binary functions for BINARY. EQ and GT give 1.0 or 0.0 and have no gradient. */
typedef enum gs_binary {
  GS_BIN_ADD = 0,
  GS_BIN_SUB,
  GS_BIN_MUL,
  GS_BIN_DIV,
  GS_BIN_MAX,
  GS_BIN_MIN,
  GS_BIN_EQ,
  GS_BIN_GT,
  GS_BIN_COUNT
} gs_binary;

typedef enum gs_reduce { GS_RED_SUM = 0, GS_RED_MEAN, GS_RED_MAX, GS_RED_COUNT } gs_reduce;

/* Name of an opcode ("conv2d"), of a unary or binary function; "?" when out of range. */
GS_API const char *gs_opcode_name(gs_opcode op);
GS_API const char *gs_unary_name(gs_unary fn);
GS_API const char *gs_binary_name(gs_binary fn);

/* Opcode families, the granularity at which backends time their work (gs_bcounters). */
typedef enum gs_opfamily {
  GS_FAM_GEMM = 0,    /* matmul, dot */
  GS_FAM_CONV,        /* conv2d and its two backward passes */
  GS_FAM_POOL,        /* max and average pooling, both passes */
  GS_FAM_REDUCE,      /* reduce */
  GS_FAM_ELEMENTWISE, /* fill, unary, binary, axpby and their gradients */
  GS_FAM_MOVE,        /* expand, permute, slice, insert, gather, scatter, onehot */
  GS_FAM_OPTIM,       /* sgd, adamw, ema */
  GS_FAM_COUNT
} gs_opfamily;
/* The family of an opcode (nop counts as elementwise), and its name ("gemm"). */
GS_API gs_opfamily gs_opcode_family(gs_opcode op);
GS_API const char *gs_opfamily_name(gs_opfamily f);

/* The contract of one opcode in data: one table (runtime/opcode.c) that names, families,
 * listings and the launch check (gs_launch_check) all read. The shape rules of each opcode are
 * its comment above; gs_launch_check enforces them. */
typedef struct gs_opcode_info {
  const char *name;   /* "conv2d" */
  gs_opfamily family; /* what a backend times it under */
  int n_in;           /* inputs a launch has */
  unsigned i32_in;    /* bit k: input k is i32; every other operand is f32 ... */
  int any_dtype;      /* ... except that data movement (and fill) carries i32 as well, when the
                       * input and the output agree */
  int in_place;       /* 0: out overlaps no input; 1: out may be an input (unary, axpby);
                       * 2: out is input 0 (the optimizer updates) */
  const char *attrs;  /* what i[] and f[] mean, for listings */
} gs_opcode_info;
/* The contract of op; NULL for an opcode this runtime does not know. */
GS_API const gs_opcode_info *gs_opcode_info_of(gs_opcode op);

/* ---- The launch record: what the runtime hands a backend for one kernel call. ---- */

typedef struct gs_bbuf gs_bbuf; /* a backend buffer, opaque to the runtime */

#define GS_LAUNCH_MAX_IN 6
#define GS_LAUNCH_MAX_I 16
#define GS_LAUNCH_MAX_F 4

typedef struct gs_tdesc {
  gs_dtype dtype;
  gs_shape shape;
} gs_tdesc;

/* An operand: a buffer and an offset into it, in elements (4 bytes each). */
typedef struct gs_bref {
  gs_bbuf *buf;
  size_t off;
} gs_bref;

typedef struct gs_launch {
  gs_opcode op;
  int32_t n_in;
  gs_bref in[GS_LAUNCH_MAX_IN];
  gs_tdesc in_desc[GS_LAUNCH_MAX_IN];
  gs_bref out;
  gs_tdesc out_desc;
  int32_t i[GS_LAUNCH_MAX_I];
  float f[GS_LAUNCH_MAX_F];
} gs_launch;

/* Whether launch l keeps its opcode's contract (the input count, every operand's dtype and shape,
 * the shape rules and attribute ranges its comment above states): 1 yes; 0 no, with the reason
 * in why (may be NULL). The runtime checks every launch with it before a backend sees one, so a
 * backend's supports() judges only what its device can do (sizes, limits, dtypes it lacks),
 * and its kernels may trust the shapes. Buffers are not looked at: backends check that each
 * operand's window lies inside its buffer. */
GS_API int gs_launch_check(const gs_launch *l, char *why, size_t len);

#ifdef __cplusplus
}
#endif
#endif
