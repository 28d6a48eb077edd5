/* gessl — evaluation of a trained backbone: frozen features and the probes run on them, the
 * sigma-measurement of universality, and the run directory's checkpoint as a model.
 *
 * Features are computed once per data set by an eval-mode forward program (BN with running
 * statistics) on the un-augmented, normalised images, and kept on the host; every probe then
 * works on those cached features, so a 100-epoch linear probe takes seconds.
 *
 * Ownership: functions that fill a gs_features allocate its arrays; gs_features_free releases
 * them. Nothing here prints. */
#ifndef GESSL_EVAL_H
#define GESSL_EVAL_H

#include "data.h"
#include "method.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Frozen features ---- */

typedef struct gs_features {
  int64_t n, d;    /* n rows of d floats */
  float *x;        /* [n, d] */
  int32_t *labels; /* [n], -1 when unlabelled */
  int classes;     /* labels are in [0, classes) */
} gs_features;

GS_API void gs_features_free(gs_features *f); /* frees the arrays, zeroes *f; NULL is a no-op */

typedef struct gs_feat_options {
  int batch;      /* images per forward run (0: 256) */
  int64_t start;  /* first sample */
  int64_t limit;  /* samples from `start` (0: to the end) */
  int image_size; /* square size the backbone sees (0: the data set's own); other sizes are
                   * resized bilinearly (half-pixel centres, as torch's align_corners=False) */
} gs_feat_options;

/* The backbone's features of x [n, c, h, w] (normalised NCHW floats) into out [n, feat_dim], in
 * eval mode, `batch` images per run (0: 256). Channels are adapted to the backbone's input:
 * 1 -> 3 repeats the plane, 3 -> 1 takes the ITU-R 601 luma of the normalised planes, other
 * mismatches are errors; sizes are resized bilinearly to `image_size` (0: keep h, w). */
GS_API gs_status gs_eval_forward(gs_device *dev, gs_model *m, const float *x, int64_t n, int c,
                                 int h, int w, int image_size, int batch, float *out);
/* Features of samples [start, start+limit) of ds (gs_dataset_batch_plain) with their labels. */
GS_API gs_status gs_extract_features(gs_device *dev, gs_model *m, const gs_dataset *ds,
                                     const gs_feat_options *opt, gs_features *out);
/* The backbone's input channel count (from its first convolution's weight). */
GS_API int gs_model_in_channels(const gs_model *m);

/* ---- kNN: the InstDisc protocol ---- */

typedef struct gs_knn_options {
  int k;             /* neighbours (0: 200) */
  float temperature; /* vote weight exp(cos/T) (0: 0.1) */
} gs_knn_options;

typedef struct gs_knn_result {
  double top1, top5; /* accuracies in [0, 1] */
} gs_knn_result;

/* Classifies every test row by its k most cosine-similar train rows, each voting for its label
 * with weight exp(sim/T). dev: the similarities are computed as matrix products on that device
 * (the CPU backend's GEMM); NULL computes them on the host. Both sets must be labelled and of the
 * same width. */
GS_API gs_status gs_knn_eval(gs_device *dev, const gs_features *train, const gs_features *test,
                             const gs_knn_options *opt, gs_knn_result *out);

/* ---- Linear probe on frozen features ---- */

typedef struct gs_linear_options {
  int epochs;         /* 0: 100 */
  int batch;          /* 0: 256 */
  float lr;           /* peak of the cosine schedule (0: 0.1) */
  float momentum;     /* 0: 0.9 (negative: none) */
  float weight_decay; /* 0: none */
  uint64_t seed;      /* shuffling */
} gs_linear_options;

typedef struct gs_linear_result {
  double top1, top5; /* on the test features */
  double train_top1; /* on the train features, after training */
  double final_loss; /* mean cross-entropy of the last epoch */
} gs_linear_result;

/* Trains a linear classifier (softmax cross-entropy, SGD with momentum, cosine learning-rate
 * decay per step) on the train features, standardised per dimension with the train set's mean
 * and std, and tests it on the test features. Runs on the host in plain C: the problem is a
 * d x classes matrix over cached features, smaller than one device round trip per batch. */
GS_API gs_status gs_linear_probe(const gs_features *train, const gs_features *test,
                                 const gs_linear_options *opt, gs_linear_result *out);

/* ---- Few-shot episodes ---- */

typedef struct gs_fewshot_options {
  int ways;      /* classes per episode (0: 5) */
  int shots;     /* support images per class (0: 1) */
  int queries;   /* query images per class (0: 15, fewer when the classes are too small) */
  int episodes;  /* 0: 600 */
  uint64_t seed; /* episode sampling */
} gs_fewshot_options;

typedef struct gs_fewshot_result {
  double mean; /* mean episode accuracy in [0, 1] */
  double ci95; /* half-width of the 95% interval: 1.96 * std / sqrt(episodes) */
  int episodes;
  int queries; /* query images per class used */
} gs_fewshot_result;

/* N-way K-shot episodes drawn from f (classes with at least shots + queries rows): each query is
 * given the class of the nearest support centroid by cosine similarity (features and centroids
 * L2-normalised). */
GS_API gs_status gs_fewshot_eval(const gs_features *f, const gs_fewshot_options *opt,
                                 gs_fewshot_result *out);

/* ---- Sigma: the universality gap (DESIGN.md §5) ----
 *
 * For a task of N images (2N views, each image its own class) with z the L2-normalised method
 * embeddings, p(j|i) = softmax_{j != i}(z_i . z_j / tau), and sigma is the mean over views of
 * -log p(partner(i) | i), the cross-entropy of the auxiliary instance-discrimination head
 * against the partner label (= KL(one-hot || p)). Normalised by log(2N - 1), the value of the
 * uniform classifier: 0 is perfect, about 1 is chance. Measured at a fixed tau and N so runs
 * with different training settings compare. */

/* embed [n2, d] with rows 0..n2/2-1 the first views and n2/2.. their partners (row i's partner
 * is i + n2/2 mod n2); n2 even and >= 4. Rows need not be normalised. */
GS_API gs_status gs_sigma_from_embed(const float *embed, int64_t n2, int64_t d, float tau,
                                     double *raw, double *norm);

typedef struct gs_sigma_options {
  int task_size;     /* N images per task (0: 128) */
  int tasks;         /* tasks averaged (0: 8) */
  float tau;         /* evaluation temperature (0: 0.1) */
  uint64_t seed;     /* loader seed: which images form the tasks and their augmentations */
  int image_size;    /* views' size (0: the data set's own) */
  int threads;       /* augmentation threads (0: the loader's default) */
  gs_step_info step; /* handed to the method's feed hook (zeros are fine) */
  /* The method's hyperparameter values, which its views member reads (multi-crop's count of
   * local crops); NULL: its declared defaults. */
  const double *method_hp;
} gs_sigma_options;

typedef struct gs_sigma_result {
  double raw;  /* mean cross-entropy, nats */
  double norm; /* raw / log(2N - 1) */
  int tasks, task_size;
  /* The same on the backbone's features (before any projector) of the same tasks' first two
   * views, computed in eval mode (BN with running statistics) as gs_extract_features computes
   * them: the level the seed measures sigma at. */
  double backbone_raw, backbone_norm;
} gs_sigma_result;

/* Sigma of a method on tasks of ds: the first `tasks` batches of the loader's epoch 0 with the
 * method's augmentation recipe (gs_aug_recipe_for(method->name, ...)) and the given seed, run
 * through method->build_loss on a graph of its own, taking out.embed. The method's build_loss
 * puts the backbone in training mode, so the BN running statistics (and any other sink of the
 * method's graph) would move: the backbone's and the method's state are saved before and
 * restored after, so measuring changes nothing. Views are adapted to the backbone's channels as
 * in gs_eval_forward. The backbone figure is measured first, on the same batches (a second
 * loader with the same options), so the method's graph cannot have moved the statistics it
 * uses. Compiles two or three programs per call. */
GS_API gs_status gs_sigma_measure(gs_device *dev, const gs_method_iface *method, void *self,
                                  gs_model *backbone, const gs_dataset *ds,
                                  const gs_sigma_options *opt, gs_sigma_result *out);

/* ---- A trained run's checkpoint ----
 *
 * A run directory holds config.json (keys used here: "model", "width", "method",
 * "method_hparams", "data"; "in_channels" and "image_size" when present) and
 * checkpoint.safetensors with every param and state tensor under its own name (backbone:
 * torchvision names; method heads: their prefixes). Loading checks the file the way
 * gs_st_open does, then that every tensor the model (and the method) needs is there, F32, of
 * the right shape; a checkpoint whose metadata names another method or model is refused. */

typedef struct gs_eval_run gs_eval_run;

typedef struct gs_eval_run_info {
  char model[32];
  char method[64];
  char data[1024]; /* the training data spec */
  float width;
  int in_channels;
  int image_size; /* 0 when the configuration does not say and the data set is not readable */
  int64_t feat_dim;
  int n_tensors; /* tensors loaded */
} gs_eval_run_info;

/* Opens DIR/config.json and DIR/checkpoint.safetensors and loads the backbone on dev; with rt
 * non-NULL also creates the method plugin with the run's hyperparameters (task size
 * `method_batch`, for sigma) and loads its params and state. NULL on failure with a message
 * naming the file and the fault. */
GS_API gs_eval_run *gs_eval_run_open(gs_runtime *rt, gs_device *dev, const char *dir,
                                     int64_t method_batch);
GS_API void gs_eval_run_close(gs_eval_run *r);
GS_API const gs_eval_run_info *gs_eval_run_get_info(const gs_eval_run *r);
GS_API gs_model *gs_eval_run_model(gs_eval_run *r);
/* The method (NULL when opened without a runtime). */
GS_API const gs_method_iface *gs_eval_run_method(gs_eval_run *r, void **self);
/* The method's hyperparameter values the run was trained with (declaration order; NULL when
 * opened without a runtime). */
GS_API const double *gs_eval_run_method_hp(const gs_eval_run *r);

/* ---- The whole evaluation of a run (what `gessl eval` does) ---- */

/* What gs_evaluate does. Zero is the default noted on each member. */
typedef struct gs_eval_options {
  const char *dir;       /* the run directory: RUN/config.json, RUN/checkpoint.safetensors */
  const char *data;      /* data set (NULL: the run's); its train split is the kNN bank and the
                          * linear probe's training set, its test split is what is scored */
  const char *test_data; /* score on this data set, labelled like the bank (NULL: the run's
                          * --test-data when `data` is NULL) */
  const char *transfer;  /* a second data set probed (and measured) as well; NULL: none */
  int knn, linear, fewshot, sigma; /* the probes to run; all 0: every one */
  int64_t limit, test_limit;       /* the first N train / test images (0: all) */
  int linear_epochs;               /* 0: 100 */
  int episodes;                    /* few-shot episodes; 0: 600 */
  int sigma_size, sigma_tasks;     /* images per sigma task (0: 128) and tasks (0: 8) */
  int image_size;                  /* 0: the run's */
  const char *image_cache; /* decode-once cache of the bank's folder, at the run's cache size
                            * (NULL: the run's cache when `data` is NULL or the run's) */
  int threads;             /* threads that build a cache (0: one per online CPU) */
  uint64_t seed;           /* the probes' sampling */
  int has_holdout;         /* else the run's held-out fraction (else 0.2); the transfer set's: */
  double holdout;          /* this when given, else 0.2 */
  int has_split_seed;      /* else the run's (else 0) */
  uint64_t split_seed;
  /* Receives each line of the report (the table `gessl eval` prints) as it is made; NULL: none. */
  void (*print)(void *user, const char *line);
  void *user;
} gs_eval_options;

/* Evaluates the run o->dir on dev: opens it (with rt, also its method, for sigma) and the data
 * splits, runs the probes on the run's data and on the transfer set, measures sigma, and writes
 * RUN/eval.json (durably, and only once everything succeeded, so a failure overwrites nothing).
 * Errors name the file, data set or probe that failed. */
GS_API gs_status gs_evaluate(gs_runtime *rt, gs_device *dev, const gs_eval_options *o);

/* Writes the backbone alone to `path` (durably) as torchvision names it: every param and BN
 * running statistic, plus "<bn>.num_batches_tracked" as an I32 scalar (0) so that
 * load_state_dict(strict=True) accepts the file; torch converts it to its int64 on copy. */
GS_API gs_status gs_export_backbone(gs_model *m, const char *path);

#ifdef __cplusplus
}
#endif
#endif
