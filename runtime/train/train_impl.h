/* Internals of the training loop shared by its files. */
#ifndef GESSL_TRAIN_IMPL_H
#define GESSL_TRAIN_IMPL_H

#include <stdio.h>

#include "gessl/data.h"
#include "gessl/train.h"

/* Points of the curves: per logged step (x in epochs) and per epoch. Grown on demand. */
typedef struct train_curve {
  double *x, *y;
  int n, cap;
} train_curve;

/* One run: everything gs_train_run opens, and the state behind the gs_meta_host callbacks. */
typedef struct train_run {
  const gs_train_config *cfg;
  const char *dir; /* run directory (out or resume), NULL: write nothing */
  gs_runtime *rt;
  int own_rt;
  gs_device *dev;
  gs_dataset *ds;
  gs_loader *loader;
  gs_aug_recipe recipe;
  gs_model *backbone;
  const gs_method_iface *method;
  void *method_self;
  const gs_meta_iface *meta;
  void *meta_self;
  double *method_hp, *meta_hp;
  gs_pset *params; /* trainable: backbone then method heads */
  gs_pset *state;  /* non-trainable persistent: backbone state then method state */
  gs_optimizer *opt;
  gs_optim_config opt_cfg;
  gs_meta_host host;
  gs_shape view_shapes[GS_MAX_VIEWS]; /* host.view_shapes: [N, C, size, size] per recipe view */

  int64_t step;    /* outer steps done */
  int64_t total;   /* the step to stop at: min(horizon, max_steps) */
  int64_t horizon; /* the schedule's length: epochs x steps per epoch */
  int64_t warmup;
  int64_t steps_per_epoch;
  int64_t batches_per_epoch;
  int64_t batches; /* batches consumed since the start of the run (data position) */
  int64_t epoch;   /* of the last batch */
  int64_t images;
  double elapsed_before; /* seconds of steps before this process (resume) */
  double monitor_s;      /* seconds spent in kNN/sigma monitoring in this process */
  double epoch_loss_sum; /* losses of the current epoch's steps, for its mean */
  int64_t epoch_loss_n;
  float lr;                               /* of the current step */
  const float *batch_views[GS_MAX_VIEWS]; /* of the last batch, handed to the meta-optimizer */
  gs_batch last_batch;
  float *fresh[GS_MAX_VIEWS]; /* fresh_views buffers */
  const float *fresh_ptr[GS_MAX_VIEWS];
  int64_t fresh_calls;

  /* The last embedding the loss programs computed, copied on the device each step so a log step
   * can read it for the collapse check without an extra output fetch. */
  gs_param *embed_probe;

  /* Log and curves. */
  FILE *log;
  train_curve c_loss, c_lr, c_epoch_loss, c_knn, c_sigma;
  int64_t checkpoint_step; /* -1: none */
  double knn_top1, knn_top5;
  gs_dataset *knn_test;
  int collapse_warned;
  int writer;    /* rank 0 (or the only process): writes the run directory */
  int on_device; /* set-up has reached placing the model on the device: its failures name it */
  int n_buckets; /* graphs whose gradients are all-reduced across ranks */
  int mixed;     /* the ranks run different backends or devices */
} train_run;

/* Resolves method and meta hyperparameters (defaults, then --set pairs) into r->method_hp and
 * r->meta_hp. Also used by validation with r's method/meta set and nothing else. */
gs_status train_resolve_hparams(const gs_train_config *cfg, const gs_method_iface *method,
                                const gs_meta_iface *meta, double **method_hp, double **meta_hp);

/* Creates dir (and parents). */
gs_status train_mkdir_p(const char *dir);
/* The table of settings (setting_table.c): every row's range and choices checked against cfg;
 * the saved rows written into obj under their flag names (config.json's "settings"). */
gs_status train_check_settings(const gs_train_config *cfg);
struct cJSON;
void train_settings_to_json(struct cJSON *obj, const gs_train_config *cfg);
/* A float as the decimal people typed (0.3, not 0.300000011920929). */
double train_float_num(float v);
/* The first file of a run found in dir ("config.json", ...), NULL when it holds none. */
const char *train_dir_run_file(const char *dir);
/* Removes an earlier run's checkpoint and state from dir (--force), so a crash before the new
 * run's first checkpoint cannot leave the old one beside the new config.json. */
gs_status train_dir_clear(const char *dir);
/* Removes the temporary files of durable writes that a killed run left in dir (io.h names them
 * .NAME.tmp-PID-SALT), so repeated crashes do not fill the disk. */
void train_dir_sweep(const char *dir);
/* The data-set options of the run (size, held-out split), shared by training and monitoring. */
void train_dataset_options(const gs_train_config *c, gs_dataset_options *o);
/* What a resume takes from state.json (state_json.c). */
typedef struct train_state {
  int stale; /* older than the checkpoint: rewrite it */
  double elapsed, loss_sum;
  int64_t loss_steps;
} train_state;
/* Checks state.json's text (len bytes) against the checkpoint ckpt at `step`; with in_meta (the
 * checkpoint's metadata holds the counters) an older state.json is stale, not an error. Fills
 * out's counters from the text only when the metadata lacks them. */
gs_status train_state_parse(const char *text, size_t len, const char *spath, const char *ckpt,
                            int64_t step, int in_meta, train_state *out);
/* Writes DIR/config.json. */
gs_status train_write_config(const train_run *r);

/* Wires r->host to the loop's callbacks. */
void train_host_init(train_run *r);

/* Checkpoints: DIR/checkpoint.safetensors then DIR/state.json, each durably. */
gs_status train_checkpoint_save(train_run *r);
/* Reads and checks DIR's checkpoint against the run's tensors and plan, then loads it into the
 * device tensors and r's counters and seeks the loader. Nothing is written. */
gs_status train_checkpoint_load(train_run *r);

/* log.jsonl and curves.png. open: on resume keeps the lines up to r->step and reloads the curves
 * from them. */
gs_status train_log_open(train_run *r, int resume);
void train_log_close(train_run *r);
/* Appends to log.jsonl; GS_ERR_IO (disk full, quota) ends the run. */
gs_status train_log_step(train_run *r, const gs_meta_result *mr, double images_per_s,
                         double collapse_std);
gs_status train_log_epoch(train_run *r, const gs_train_epoch *e);
gs_status train_log_event(train_run *r, const char *event, const char *detail);
gs_status train_plot(train_run *r);

/* kNN top-1/top-5 of the backbone's features: the training images as the memory bank, the data
 * set's test split as queries (opened once). */
gs_status train_monitor_knn(train_run *r, double *top1, double *top5);
/* Per-dimension std of the last step's L2-normalised embeddings (NaN when not available); warns
 * through the log callback, naming the step, when it is near 0. */
void train_check_collapse(train_run *r, double *std_out);
/* Sigma (eval.h gs_sigma_measure) on tasks of the held-out split: raw and normalised. */
gs_status train_monitor_sigma(train_run *r, double *raw, double *norm);
void train_note(const train_run *r, const char *fmt, ...) GS_PRINTF(2, 3);
void train_curve_free(train_curve *c);

/* Data-parallel training (distributed.c). The backend of `rank` from a comma list (cycling). */
void train_rank_backend(const char *spec, int rank, char *out, size_t len);
/* Every rank takes rank 0's counters, params, state and optimizer state (and seeks its loader). */
gs_status train_sync_from_root(train_run *r);
/* Sets r->mixed: whether the ranks' backends or devices differ. Their optimizer arithmetic may
 * then round differently, so the loop hands rank 0's tensors to every rank after each step. */
gs_status train_detect_mixed(train_run *r);
/* Every rank takes rank 0's params, state and optimizer state. */
gs_status train_share_tensors(train_run *r);
/* Every rank takes rank 0's non-trainable state (BN running statistics, teachers). */
gs_status train_share_state(train_run *r);
/* After sharing the state, fails on every rank when a hash of the tensors differs from rank 0's. */
gs_status train_check_sync(train_run *r, const char *when);
/* out[k]: grads[k] averaged over ranks, all-reduced in buckets as the backward pass makes them
 * (grads[k] itself in a world of one). */
gs_status train_average_grads(train_run *r, gs_graph *g, gs_tensor *const *grads, int n,
                              gs_tensor **out);

#endif
