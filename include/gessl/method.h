/* gessl — the SSL method plugin ABI.
 *
 * A method plugin exports GS_METHOD_ENTRY_SYMBOL returning a gs_method_iface. It is written only
 * against the public op API: it creates its heads and state on the device, builds its loss graph
 * from the views, and runs per-step hooks. The training loop (and a meta-optimizer such as GeSSL)
 * compiles and runs the graphs; the method never sees a backend.
 *
 * Versioning as in backend.h: the loader accepts abi_version 1 to GS_METHOD_ABI_VERSION, members
 * are only appended, struct_size says how many the plugin knows; a host reads a member added
 * after version 1 only when GS_HAS(iface, member) holds, and otherwise does what the member's
 * comment says NULL means.
 *
 * The host's table (gs_method_ctx) follows the same rule the other way: it starts with the
 * host's abi_version and struct_size, gains members only at its end, and a plugin reads a member
 * added after version 4 only when GS_HAS(ctx, member) holds (for a non-pointer member: when
 * ctx->struct_size reaches past it). A host gives a plugin of version 1 to 3, built before the
 * table had a head, the table from its `dev` member on: the layout that plugin was built with
 * (gs_method_create does this).
 *
 * History: 1 the first table; 2 appended views_for (multi-crop: a view count that depends on the
 * hyperparameters); 3 appended views (the count and the augmentation recipe in one member; a
 * version 3 host reads n_views and views_for only from tables without it); then after_batch
 * (hosts test it with GS_HAS); 4 gs_method_ctx starts with abi_version and struct_size. */
#ifndef GESSL_METHOD_H
#define GESSL_METHOD_H

#include <stddef.h>

#include "data.h"
#include "hparams.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GS_METHOD_ABI_VERSION 4
#define GS_METHOD_ENTRY_SYMBOL "gessl_method_entry"

/* What the host hands a method when creating it. Valid for the method's lifetime. */
typedef struct gs_method_ctx {
  uint32_t abi_version; /* GS_METHOD_ABI_VERSION of the host */
  uint32_t struct_size; /* sizeof(gs_method_ctx) as the host was built */
  gs_device *dev;
  gs_model *backbone;  /* the online backbone; its params are already created */
  int64_t batch;       /* images per batch (N) */
  int64_t total_steps; /* optimizer steps in the run, for schedules */
  const double *hp;    /* values of the declared hyperparameters, in declaration order */
  uint64_t seed;
} gs_method_ctx;

/* What build_loss returns. */
typedef struct gs_method_out {
  gs_tensor *loss; /* shape [] (or [1]): the method's own loss L_ssl */
  /* [2N, D] embeddings of the first two views, view 0's rows first: the input of the auxiliary
   * instance-discrimination head (GeSSL's target and the sigma-measurement). For contrastive
   * methods the projector output; for the others their projector output too. */
  gs_tensor *embed;
} gs_method_out;

typedef struct gs_step_info {
  int64_t step;  /* optimizer steps done, after this one */
  int64_t total; /* planned steps */
  int64_t epoch;
} gs_step_info;

typedef struct gs_method_iface {
  uint32_t abi_version; /* GS_METHOD_ABI_VERSION */
  uint32_t struct_size; /* sizeof(gs_method_iface) as built */
  const char *name;     /* what --method names */
  const char *summary;  /* one line for `gessl methods` */
  const gs_hparam_decl *hparams;
  int n_hparams;
  int n_views; /* versions 1 and 2: views per image (version 3: `views` instead; 0) */

  gs_status (*create)(const gs_method_ctx *ctx, void **self);
  void (*destroy)(void *self);
  /* Appends the method's trainable params (heads) to `out` (the backbone's are not included). */
  gs_status (*params)(void *self, gs_pset *out);
  /* Appends its non-trainable persistent tensors (head BN statistics, teachers, queues,
   * centres) for checkpoints. */
  gs_status (*state)(void *self, gs_pset *out);
  /* Adds the loss of one batch to g. views[v] are [N, C, H, W] inputs; the method runs the
   * backbone itself (gs_model_forward), so it may also run a teacher. Sinks it adds (BN running
   * statistics) run with every execution of the program. */
  gs_status (*build_loss)(void *self, gs_graph *g, gs_tensor *const *views, int n_views,
                          gs_method_out *out);
  /* Feeds the method's own inputs of a program built from build_loss (scalars that follow a
   * schedule, e.g. a teacher temperature) before each run. NULL: nothing to feed. */
  gs_status (*feed)(void *self, gs_program *prog, const gs_step_info *info);
  /* Runs once after each optimizer (outer) step: EMA teachers, queue pushes (unless after_batch
   * did them), schedules. NULL: nothing to do. */
  gs_status (*after_step)(void *self, const gs_step_info *info);

  /* ---- ABI version 2 ---- */
  /* Views per image for these hyperparameter values (declaration order, as gs_method_ctx.hp):
   * for methods whose view count is a hyperparameter (multi-crop's local crops). The host asks
   * before create and hands build_loss that many views; views from index 2 on may be smaller
   * (local crops), build_loss reads their shapes. NULL: n_views. */
  int (*views_for)(const double *hp);

  /* ---- ABI version 3 ---- */
  /* The views build_loss takes, for these hyperparameter values (declaration order, as
   * gs_method_ctx.hp) and images of `size` pixels: their count (out->n_views, 1..GS_MAX_VIEWS)
   * and each one's augmentation (gs_aug_recipe_make gives the published recipes). Views from
   * index 2 on may be smaller (multi-crop's local crops); build_loss reads their shapes. NULL:
   * two views with SimCLR's recipe. */
  gs_status (*views)(const double *hp, int size, gs_aug_recipe *out);

  /* ---- Appended after version 3 (hosts check it with GS_HAS) ---- */
  /* Moves what the last loss pass saved for the method's memory (MoCo's keys, SwAV's embeddings)
   * into that memory (the queue). A host that takes several batches per outer step (GeSSL's M
   * tasks) calls it after each batch's passes, so every batch reaches the queue; after_step then
   * pushes only if after_batch has not run since the previous step. NULL: after_step does it. */
  gs_status (*after_batch)(void *self);
} gs_method_iface;

typedef const gs_method_iface *(*gs_method_entry_fn)(void);

/* The views of method m for hp and images of `size` pixels, as the host asks for them: the
 * views member, or for a version 1 or 2 table n_views (views_for) views of SimCLR's recipe.
 * GS_ERR_INVALID naming the method when the count is outside 1..GS_MAX_VIEWS. */
GS_API gs_status gs_method_views(const gs_method_iface *m, const double *hp, int size,
                                 gs_aug_recipe *out);
/* Creates method m with ctx (whose head the caller filled, GS_TABLE_HEAD): m->create with the
 * table as m was built to read it (from `dev` on for a plugin of version 1 to 3). */
GS_API gs_status gs_method_create(const gs_method_iface *m, const gs_method_ctx *ctx, void **self);

#ifdef __cplusplus
}
#endif
#endif
