/* gessl — the training loop as a library: what `gessl train` runs.
 *
 * gs_train_run opens the device, the data set and loader, the backbone, the method and the
 * meta-optimizer plugins, the optimizer and the learning-rate schedule, then runs outer steps
 * until the epochs or the step cap are done. The loop itself is the same for every method and
 * meta-optimizer: it implements the gs_meta_host services (meta.h) and calls meta->step.
 *
 * The library prints nothing: progress and log lines go to the callbacks of the configuration.
 * With `out` set it creates that directory and writes OUT/config.json (the effective
 * configuration, device, versions) before the first step; with `out` NULL it writes nothing. */
#ifndef GESSL_TRAIN_H
#define GESSL_TRAIN_H

#include <signal.h>

#include "meta.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the progress callback sees after a step. */
typedef struct gs_train_progress {
  int64_t step;        /* outer steps done */
  int64_t total_steps; /* planned */
  int64_t epoch;       /* epoch of the last batch (from 0) */
  int64_t epochs;      /* planned */
  double loss;         /* this step's loss */
  double loss_avg;     /* mean loss since the last report */
  double lr;           /* learning rate of this step */
  double images_per_s; /* images consumed per second since the start */
  double elapsed_s;
  double eta_s; /* estimated seconds left */
  /* Appended with checkpoints and resume. */
  int64_t epoch_step;  /* steps done in the current epoch (1..epoch_steps) */
  int64_t epoch_steps; /* steps per epoch */
  int log_step;        /* 1 on the steps that log_every selects (and the first and last) */
} gs_train_progress;

/* What the epoch callback sees at the end of each epoch. */
typedef struct gs_train_epoch {
  int64_t epoch;     /* the epoch that ended (from 0) */
  int64_t step;      /* outer steps done */
  double loss_mean;  /* mean loss of the epoch's steps */
  double seconds;    /* wall-clock time of the epoch */
  double knn_top1;   /* kNN top-1 accuracy in [0, 1] when monitored this epoch, else NaN */
  double knn_top5;   /* likewise */
  double sigma;      /* universality gap on held-out tasks (eval.h) when monitored, else NaN */
  double sigma_norm; /* sigma / log(2N - 1) */
} gs_train_epoch;

typedef struct gs_train_config {
  /* What the CLI flags of `gessl train` set, under the flag's name. */
  const char *backend;     /* device spec (runtime.h gs_device_open): "cpu", "opencl:1", ... */
  const char *data;        /* data set spec (data.h gs_dataset_open), e.g. "synthetic:32x32x3" */
  const char *model;       /* "convnet" | "resnet18" */
  const char *method;      /* method plugin name, "simclr" */
  const char *meta;        /* meta-optimizer plugin name, "none" */
  int batch;               /* images per batch */
  int epochs;              /* passes over the data set */
  int64_t max_steps;       /* stop after this many outer steps (0: no cap) */
  float lr;                /* base learning rate (peak of the schedule) */
  uint64_t seed;           /* everything random derives from it */
  int threads;             /* CPU threads of the backend (0: all cores) */
  const char *out;         /* run directory; NULL: write nothing. One that already holds a run
                            * (config.json, state.json, checkpoint or log) is refused unless
                            * `force`, so no run is overwritten by accident */
  gs_optim_kind optimizer; /* --optimizer */
  /* --set name=value pairs, checked against the method's then the meta-optimizer's declared
   * hyperparameters. Arrays of n_set strings each. */
  const char *const *set_names;
  const char *const *set_values;
  int n_set;

  /* Finer settings. */
  float width;             /* backbone width multiplier (1.0) */
  float final_lr;          /* end of the cosine decay (0) */
  int64_t warmup_steps;    /* linear warm-up steps (-1: 5% of the schedule, at most 500) */
  float weight_decay;      /* < 0: the optimizer's default */
  int64_t data_limit;      /* use only the first N samples (0: all) */
  int data_threads;        /* augmentation threads (0: the loader's default) */
  const char *plugin_path; /* extra plugin directories when gs_train_run opens the runtime */
  int log_every;           /* log.jsonl line and log_step every N steps, plus first/last (0: 10) */
  int force;               /* non-zero: `out` may hold an earlier run, whose files are replaced */

  /* Called after every step (p->log_step marks the logged ones). May be NULL. */
  void (*progress)(void *user, const gs_train_progress *p);
  /* Lines the meta-optimizer logs, and notes of the loop (which device, how many steps). */
  void (*log)(void *user, const char *line);
  void *user;
  /* When non-NULL and set non-zero (from a signal handler), the run stops after the current step
   * with GS_ERR_INTERRUPTED. */
  volatile sig_atomic_t *stop;

  /* ---- Checkpoints, resume and monitoring. The learning-rate schedule (and the methods'
   * schedules) span epochs x steps per epoch; max_steps only ends the run early, so a run capped
   * at S steps and resumed continues exactly as one run that was never stopped. ---- */
  /* Continue the run in this directory (its checkpoint.safetensors and state.json). The
   * configuration must be the one it was started with (gs_train_settings_read of its
   * config.json), except the settings the table marks GS_SETTING_RESUMABLE. out is
   * ignored: the run writes into `resume`. NULL: a new run. */
  const char *resume;
  int64_t checkpoint_every; /* checkpoint also every N steps (0: every epoch and at the end) */
  int monitor_knn; /* kNN accuracy and sigma on the held-out split every E epochs (0: never) */
  /* Called at the end of every epoch. May be NULL. */
  void (*epoch_end)(void *user, const gs_train_epoch *e);

  /* ---- Own images (data.h gs_dataset_options). ---- */
  int image_size;          /* training resolution of data sets without a fixed size (0: 32) */
  float holdout;           /* fraction of each class held out where the data has no test split;
                              0: no split (train on everything) */
  uint64_t split_seed;     /* seed of that split */
  const char *test_data;   /* a separate test data set for the monitors (NULL: the held-out split);
                              the training data is then not split */
  int bad_images_fail;     /* a folder image that fails to decode stops the run (0: it is skipped
                              with a warning, and the run stops once over 1% have failed) */
  const char *image_cache; /* decode-once cache file of a folder --data (NULL: none) */
  int image_cache_size;    /* side of its images (0: image_size) */
  /* Data-parallel (comm.h; `mpirun -np P gessl train`): compare a hash of every rank's tensors
   * every N steps and fail when they differ (0: only at checkpoints). */
  int64_t check_sync;
  /* Data-parallel: batch norm normalises with the whole global batch's statistics (0/1). */
  int sync_bn;
  /* Debug: every op's value is checked as the step runs, and the first NaN/Inf ends the run
   * naming the op and its layer (gs_device_set_detect_anomaly). Slow. */
  int detect_anomaly;
} gs_train_config;

typedef struct gs_train_result {
  int64_t steps;     /* outer steps done */
  int64_t images;    /* images consumed */
  double first_loss; /* loss of the first step */
  double final_loss; /* mean loss of the last log_every steps */
  double seconds;    /* wall-clock time of the steps (setup and monitoring excluded) */
  double setup_seconds;
  double images_per_s;
  char device[160];        /* "cpu: pthread-cpu" */
  int64_t start_step;      /* steps already done when the run started (resume), else 0 */
  int64_t checkpoint_step; /* step of the last checkpoint written or resumed from, -1: none */
  double knn_top1;         /* last monitored kNN accuracy, NaN when none */
  double knn_top5;
  double monitor_seconds; /* wall-clock time of kNN/sigma monitoring (not in `seconds`) */
} gs_train_result;

/* ---- The table of training settings ----
 *
 * Every setting of gs_train_config that `gessl train` exposes is one row of this table: its flag
 * name, type, range and help. The same rows parse the command line and settings files
 * (gs_train_config_set), check a configuration (gs_train_validate), write the "settings" of a
 * run's config.json and say what `--resume` may change. A new setting is a new row. */
typedef enum gs_setting_type {
  GS_SETTING_STRING, /* const char *, never empty; a setting points at the caller's text */
  GS_SETTING_CHOICE, /* const char *, one of `choices` */
  GS_SETTING_ENUM,   /* int-sized enum: the index of the name in `choices` (case-insensitive) */
  GS_SETTING_INT,    /* int, in [min, max] */
  GS_SETTING_INT64,  /* int64_t, in [min, max] */
  GS_SETTING_UINT64, /* uint64_t, any; a string in JSON (readers lose 64-bit numbers) */
  GS_SETTING_FLOAT,  /* float, in [min, max] */
  GS_SETTING_BOOL    /* int 0/1: a flag without a value on the command line, true/false in files */
} gs_setting_type;

enum {
  GS_SETTING_RESUMABLE = 1u << 0, /* may be given anew with --resume (how long, how often, where) */
  GS_SETTING_OPTIONAL = 1u << 1,  /* a string that may be NULL (not set) */
  GS_SETTING_UNSAVED = 1u << 2,   /* not in config.json's "settings": refused in a run's own file */
  GS_SETTING_AUTO = 1u << 3       /* `auto_value` is also accepted in a configuration: "default" */
};

typedef struct gs_train_setting {
  const char *name; /* flag name without "--": "max-steps"; files may write "max_steps" */
  gs_setting_type type;
  const char *arg;     /* the value's placeholder in help ("N", "X", "SPEC"); NULL for a flag */
  double min, max;     /* range of a number (max HUGE_VAL: no upper bound) */
  const char *choices; /* CHOICE and ENUM: the names, separated by '|' */
  double auto_value;   /* with GS_SETTING_AUTO */
  unsigned flags;      /* GS_SETTING_* */
  size_t offset;       /* of the field in gs_train_config */
  const char *help;    /* one line per '\n' */
} gs_train_setting;

/* The k-th row (from 0), NULL past the end. */
GS_API const gs_train_setting *gs_train_setting_at(int k);
/* The row named `name` ('_' and '-' alike), NULL if none. */
GS_API const gs_train_setting *gs_train_setting_find(const char *name);
/* Parses `text` as the setting `name` would take it on the command line (NULL for a flag: true)
 * and stores it in cfg. Strings are not copied: cfg points at `text`. GS_ERR_INVALID naming the
 * setting, the text and the rule (range, choices) it breaks; cfg is then unchanged. */
GS_API gs_status gs_train_config_set(gs_train_config *cfg, const char *name, const char *text);

/* The defaults of `gessl train`: cpu, synthetic, convnet, simclr, none, batch 256, 1 epoch,
 * lr 0.3, seed 0, SGD, width 1, warm-up auto, log every 10 steps. */
GS_API void gs_train_config_init(gs_train_config *cfg);

/* Checks a configuration without running it: names of plugins, model and data set, ranges of the
 * numbers, and every --set pair against the declarations. GS_ERR_INVALID with a one-line message
 * naming the setting. rt may be NULL (plugin names are then not checked). */
GS_API gs_status gs_train_validate(gs_runtime *rt, const gs_train_config *cfg);

/* Runs the training. rt: the runtime to take plugins from, or NULL to open one with cfg->threads
 * and cfg->plugin_path. res (may be NULL) is filled as far as the run went, also on failure.
 *
 * With an output directory (out, or resume) it writes there: config.json before the first step;
 * log.jsonl, one JSON object per logged step and per epoch; curves.png, redrawn each epoch;
 * checkpoint.safetensors (params, method state, optimizer state) and state.json (step, data
 * position, seeds) every epoch, every checkpoint_every steps, at the end and when stopped, all
 * replaced durably (io.h). A NaN or Inf loss stops the run with GS_ERR_NUMERIC naming the step;
 * the last good checkpoint is kept. A stop request ends the run after the current step with a
 * checkpoint and GS_ERR_INTERRUPTED. On resume a checkpoint that does not match the model and
 * method (names, shapes), or is truncated or malformed, is refused before anything is written. */
GS_API gs_status gs_train_run(gs_runtime *rt, const gs_train_config *cfg, gs_train_result *res);

/* ---- Settings files (`--config FILE`, and the "settings" of a run's config.json) ---- */

/* Settings as (key, value-text) pairs in file order: keys are the long flag names of
 * `gessl train` without "--" ("batch", "max-steps") or hyperparameter names; values are the
 * text a flag would take (numbers as written, true/false, strings). */
typedef struct gs_train_settings {
  int n;
  char **keys;
  char **values;
} gs_train_settings;

/* Reads a JSON object of settings from `path`. When the object has a "settings" member that is
 * an object (a run's config.json), that member is read instead. Values must be strings, numbers
 * or booleans. GS_ERR_IO / GS_ERR_FORMAT with a message naming the file and, for a bad value,
 * the key. */
GS_API gs_status gs_train_settings_read(const char *path, gs_train_settings *out);
GS_API void gs_train_settings_free(gs_train_settings *s);

#ifdef __cplusplus
}
#endif
#endif
