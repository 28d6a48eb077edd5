/* Internals of the training loop shared by its files. */
#ifndef GESSL_TRAIN_IMPL_H
#define GESSL_TRAIN_IMPL_H

#include "gessl/data.h"
#include "gessl/train.h"

enum { TRAIN_MAX_UPDATE_GRAPHS = 16 };

/* One run: everything gs_train_run opens, and the state behind the gs_meta_host callbacks. */
typedef struct train_run {
  const gs_train_config *cfg;
  gs_runtime *rt;
  int own_rt;
  gs_device *dev;
  gs_dataset *ds;
  gs_loader *loader;
  gs_model *backbone;
  const gs_method_iface *method;
  void *method_self;
  const gs_meta_iface *meta;
  void *meta_self;
  double *method_hp, *meta_hp;
  gs_pset *params;
  gs_optimizer *opt;
  gs_optim_config opt_cfg;
  gs_meta_host host;

  int64_t step;  /* outer steps done */
  int64_t total; /* planned outer steps */
  int64_t warmup;
  int64_t steps_per_epoch;
  int64_t epoch; /* of the last batch */
  int64_t images;
  float lr;                               /* of the current step */
  const float *batch_views[GS_MAX_VIEWS]; /* of the last batch, handed to the meta-optimizer */

  /* The lr/t inputs added to each graph that holds updates (add_update may be called for several
   * graphs, and more than once per graph). */
  struct {
    gs_graph *g;
    gs_tensor *lr, *t;
  } upd[TRAIN_MAX_UPDATE_GRAPHS];
  int n_upd;
} train_run;

/* Resolves method and meta hyperparameters (defaults, then --set pairs) into r->method_hp and
 * r->meta_hp. Also used by validation with r's method/meta set and nothing else. */
gs_status train_resolve_hparams(const gs_train_config *cfg, const gs_method_iface *method,
                                const gs_meta_iface *meta, double **method_hp, double **meta_hp);

/* Creates cfg->out (and parents) and writes OUT/config.json. */
gs_status train_write_config(const train_run *r);

/* Wires r->host to the loop's callbacks. */
void train_host_init(train_run *r);

#endif
