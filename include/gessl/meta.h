/* gessl — the meta-optimizer plugin ABI.
 *
 * A meta-optimizer performs one outer update of the trainable params from one or more batches.
 * The plain one ("none") takes one batch, computes the gradient and applies the optimizer; GeSSL
 * takes M batches and does the bi-level update of DESIGN.md §5. The host (the training loop)
 * hands it what it may call: the wrapped method's loss builder, the batch source, the optimizer,
 * and the method's hooks. So the loop is identical with and without GeSSL.
 *
 * Versioning as in backend.h, both ways. The plugin's table (gs_meta_iface) and the host's
 * (gs_meta_host) start with abi_version and struct_size and gain members only at their end. The
 * host fills its head; a plugin reads a host member added after version 1 (state, fresh_views,
 * view_shapes, run, lr, after_batch, method_hparam) only when GS_HAS(host, member) holds, and
 * otherwise does what the member's comment says NULL means. A host gives a plugin of version 1 or
 * 2, built before the host table had a head, the table from its `host` member on: the layout that
 * plugin was built with.
 *
 * History: 1 the first tables; 2 appended state and fresh_views to the host; then (host-filled,
 * no new version) view_shapes, run, lr, after_batch and method_hparam; 3 gs_meta_host starts with
 * abi_version and struct_size. */
#ifndef GESSL_META_H
#define GESSL_META_H

#include "method.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GS_META_ABI_VERSION 3
#define GS_META_ENTRY_SYMBOL "gessl_meta_entry"

/* The services of the training loop, valid for the meta-optimizer's lifetime. */
typedef struct gs_meta_host {
  uint32_t abi_version; /* GS_META_ABI_VERSION of the host */
  uint32_t struct_size; /* sizeof(gs_meta_host) as the host was built */
  void *host;           /* first argument of every callback */
  gs_device *dev;
  gs_pset *params;     /* every trainable param: backbone then method heads (theta) */
  int n_views;         /* views per image */
  gs_shape view_shape; /* [N, C, H, W] of each view */
  const double *hp;    /* the meta-optimizer's declared hyperparameters, in order */
  float base_lr;       /* the run's --lr */
  uint64_t seed;

  /* Adds the wrapped method's loss on `views` to g (see gs_method_iface.build_loss). */
  gs_status (*build_loss)(void *host, gs_graph *g, gs_tensor *const *views, int n_views,
                          gs_method_out *out);
  /* Feeds the method's scalar inputs of a program built from build_loss; call before each run. */
  gs_status (*feed_method)(void *host, gs_program *prog);
  /* Loads the next batch: n_views host arrays of view_shape, valid until the next call.
   * GS_ERR_INTERRUPTED when the user asked to stop. */
  gs_status (*next_batch)(void *host, const float *const **views);
  /* Adds the configured optimizer's update of `params` with gradients grads[k] (one per param,
   * in order) to g, at the schedule's current learning rate times lr_scale. Programs that contain
   * these updates must be fed with feed_update before each run. */
  gs_status (*add_update)(void *host, gs_graph *g, gs_tensor *const *grads, float lr_scale);
  gs_status (*feed_update)(void *host, gs_program *prog);
  /* Method hooks after the outer step (EMA, queue); call once per step. */
  gs_status (*after_step)(void *host);
  /* Writes a line to the run's log (log.jsonl "meta" field) and, verbosely, to stderr. */
  void (*log)(void *host, const char *fmt, ...) GS_PRINTF(2, 3);

  /* ---- ABI version 2. A host may leave these NULL; the plugin then falls back (and says how). */
  /* The non-trainable persistent tensors that loss programs write (BN running statistics of the
   * backbone and heads, teachers' state), so a meta-optimizer that evaluates the loss more than
   * once per batch can save them before and restore them after its extra passes. */
  const gs_pset *state;
  /* The images of the last next_batch, augmented anew (fresh random views of the same images),
   * n_views host arrays of view_shape, valid until the next call of next_batch or fresh_views. */
  gs_status (*fresh_views)(void *host, const float *const **views);

  /* ---- Appended after version 2 (host-filled, no new version). */
  /* [N, C, H_v, W_v] of view v, n_views of them: with multi-crop, views from index 2 on are
   * smaller local crops (gs_method_iface.views). next_batch and fresh_views hand view v in
   * its own shape. NULL: every view is view_shape. A meta-optimizer that needs one shape for all
   * views refuses views of different sizes. */
  const gs_shape *view_shapes;
  /* Runs a program built from build_loss and/or add_update: feeds the method's and the
   * optimizer's inputs of the current step, then queues the run (gs_program_run). What a
   * meta-optimizer calls instead of feed_method + feed_update + gs_program_run; those two remain
   * for plugins built before it. */
  gs_status (*run)(void *host, gs_program *prog);
  /* The schedule's learning rate at the current step (warm-up and decay included), what
   * add_update's programs are fed. NULL (an older host): base_lr is all there is. */
  float (*lr)(void *host);
  /* The wrapped method's after_batch (gs_method_iface): moves what the last pass saved into the
   * method's memory (queues). Call once per batch taken, after its passes. NULL: nothing to do. */
  gs_status (*after_batch)(void *host);
  /* The wrapped method's hyperparameter `name` as resolved for the run into *value;
   * GS_ERR_INVALID when the method declares none of that name. */
  gs_status (*method_hparam)(void *host, const char *name, double *value);
} gs_meta_host;

#define GS_META_MAX_FIGURES 4

/* A figure of the step the meta-optimizer reports by name; the training loop writes it into
 * the step's log.jsonl line under "meta_<name>". */
typedef struct gs_meta_figure {
  const char *name; /* static string: "kl", "v_norm" */
  double value;
} gs_meta_figure;

typedef struct gs_meta_result {
  double loss; /* the method's loss, averaged over the batches of the step */
  int batches; /* batches consumed */
  int n_figures;
  gs_meta_figure figures[GS_META_MAX_FIGURES]; /* GeSSL: inner_loss, kl, v_norm */
} gs_meta_result;

typedef struct gs_meta_iface {
  uint32_t abi_version; /* GS_META_ABI_VERSION */
  uint32_t struct_size;
  const char *name; /* what --meta names */
  const char *summary;
  const gs_hparam_decl *hparams;
  int n_hparams;

  /* Builds and compiles its programs. */
  gs_status (*create)(const gs_meta_host *host, void **self);
  void (*destroy)(void *self);
  /* Batches one outer step consumes (1 for "none", M for GeSSL). */
  int (*batches_per_step)(void *self);
  /* One outer update, including the method hooks. */
  gs_status (*step)(void *self, gs_meta_result *res);
  /* Extra device bytes it holds (parameter copies), for the log. */
  size_t (*extra_bytes)(void *self);
} gs_meta_iface;

typedef const gs_meta_iface *(*gs_meta_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif
