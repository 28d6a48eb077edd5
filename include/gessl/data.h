/* gessl — data sets, SSL augmentations and the batch loader.
 *
 * A data set is a read-only collection of 8-bit images (H x W x C, HWC order) with optional
 * integer labels. Files of fixed-size formats are decoded at open; a folder of PNGs and JPEGs is
 * only indexed at open (paths, labels, sizes from the headers) and its images are decoded when
 * used, at their own size, H x W being the size evaluation resizes them to. The loader turns a
 * data set into batches of augmented views in worker threads, ahead of the training step,
 * deterministically: the view of (seed, epoch, sample, view index) is the same whatever the number
 * of threads. Bad files fail at open with a message naming the file and what is wrong; a folder
 * image whose header was fine but whose data does not decode is skipped by the loader (see
 * gs_loader_options). */
#ifndef GESSL_DATA_H
#define GESSL_DATA_H

#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gs_dataset gs_dataset;

typedef enum gs_split { GS_SPLIT_TRAIN = 0, GS_SPLIT_TEST = 1 } gs_split;

typedef struct gs_dataset_options {
  int image_size;     /* folder data: the square size evaluation resizes images to (0: 32) */
  int64_t limit;      /* use only the first `limit` samples (0: all) */
  int64_t max_pixels; /* PNG/JPEG decompression-bomb guard: width*height limit (0: 8192*8192) */
  uint64_t seed;      /* synthetic data */
  /* A labelled data set without a test split (a folder of class folders, digits) is split here:
   * each class's images are held out with this fraction (seeded by split_seed), so every class
   * with two or more images is in both parts and the two never share an image. 0: 0.2; negative:
   * no split (train and test are each the whole set; test images kept elsewhere: --test-data). */
  float holdout;
  uint64_t split_seed;
  /* Number the classes as this data set does, by class name (a --test-data folder labelled like
   * the training folder). A class it lacks is refused, naming it. NULL: the data set's own. */
  const gs_dataset *classes_of;
  /* Decode-once cache of a folder (NULL: none): the file holds every image of the folder decoded
   * once and resized to cache_size x cache_size (0: image_size), with a fingerprint of the
   * folder's index (paths, file sizes, mtimes). It is mapped read-only at open and the loader
   * reads it instead of decoding the files: N x size^2 x C bytes of OS page cache, no heap. A
   * missing file, one of another size or format version, or one whose folder changed is
   * (re)built (decoded on `threads` threads, written durably) and said so through `log`; a file
   * that is not a cache, or a truncated or corrupt one, is an error naming it. Held-out splits
   * and labels are those of the folder without a cache; an image that does not decode is flagged
   * in the cache and skipped by the loader as without one, and more than 1% of them fails the
   * build. Crops are drawn on each image's size in its file, so with cache_size equal to the
   * files' own (square) size the batches are those of the streamed folder. */
  const char *cache;
  int cache_size;
  int threads; /* threads that build the cache (0: one per online CPU) */
  void (*log)(void *user, const char *line); /* notes of the cache build (may be NULL) */
  void *log_user;
} gs_dataset_options;

/* spec: "fashion-mnist" (Debian's dataset-fashion-mnist), "digits" (scikit-learn's 1,797 8x8
 * handwritten digits, 10 classes, read from Debian's python3-sklearn) or "digits:FILE" (that
 * CSV, gzipped or not), "idx:DIR", "cifar10:DIR", "cifar100:DIR", "folder:DIR"
 * (root/<class>/NAME.png|jpg, or a flat folder of them: unlabelled), "synthetic" or
 * "synthetic:HxWxC". NULL opt = defaults. The test split of digits and of a labelled folder is
 * held out of its train split (holdout above); an unlabelled folder has no test split: asking for
 * it is an error naming the data set. */
GS_API gs_dataset *gs_dataset_open(const char *spec, gs_split split, const gs_dataset_options *opt);
GS_API void gs_dataset_close(gs_dataset *ds);
GS_API int64_t gs_dataset_size(const gs_dataset *ds);
GS_API int gs_dataset_height(const gs_dataset *ds);
GS_API int gs_dataset_width(const gs_dataset *ds);
GS_API int gs_dataset_channels(const gs_dataset *ds);
GS_API int gs_dataset_classes(const gs_dataset *ds); /* 0 when unlabelled */
GS_API const char *gs_dataset_name(const gs_dataset *ds);
/* Name of class k (a folder's sub-folder name), NULL when the format names no classes. */
GS_API const char *gs_dataset_class_name(const gs_dataset *ds, int k);
/* Fraction of each class held out of the train split to make the test split: 0 when the data set
 * has a test split of its own or was not split. */
GS_API float gs_dataset_holdout(const gs_dataset *ds);
/* Copies sample i's pixels (H*W*C bytes, HWC) and its label (-1 when unlabelled). */
GS_API gs_status gs_dataset_get(const gs_dataset *ds, int64_t i, uint8_t *pixels, int32_t *label);
/* Samples [start, start+n) as normalised floats NCHW (the un-augmented input used by evaluation),
 * with the data set's per-channel mean/std. out holds n*C*H*W floats, labels n (may be NULL). */
GS_API gs_status gs_dataset_batch_plain(const gs_dataset *ds, int64_t start, int64_t n, float *out,
                                        int32_t *labels);
/* Per-channel mean and std used for normalisation (C values each). */
GS_API void gs_dataset_norm(const gs_dataset *ds, float *mean, float *std);

/* ---- Augmentation ---- */

#define GS_MAX_VIEWS 8

/* One view's recipe (probabilities in [0, 1]). */
typedef struct gs_view_config {
  int size;                                    /* output size (square) */
  float crop_scale_min, crop_scale_max;        /* random resized crop: area fraction */
  float crop_ratio_min, crop_ratio_max;        /* aspect ratio range */
  float flip_p;                                /* horizontal flip */
  float jitter_p;                              /* colour jitter with this probability ... */
  float brightness, contrast, saturation, hue; /* ... of these strengths (one-channel: b, c only) */
  float gray_p;                                /* random grayscale */
  float blur_p; /* Gaussian blur, sigma in [blur_sigma_min, blur_sigma_max] */
  float blur_sigma_min, blur_sigma_max;
  float solarize_p; /* solarisation (threshold 0.5) */
} gs_view_config;

typedef struct gs_aug_recipe {
  int n_views;
  gs_view_config views[GS_MAX_VIEWS];
} gs_aug_recipe;

/* What sets the published recipes apart; zero is SimCLR's recipe. */
typedef struct gs_aug_style {
  /* BYOL's pair (BYOL, Barlow Twins, VICReg, DINO): view 0 always blurred, view 1 rarely
   * blurred but solarised, weaker saturation jitter. */
  int asymmetric;
  /* Blur every view with probability 0.5 (MoCo v2, SimSiam); always so above 64 pixels. */
  int blur;
  /* Multi-crop: smallest area fraction of the two global views (DINO 0.4, SwAV 0.14; 0: the
   * single-crop default) and largest of the local crops (0: 0.4). */
  float global_crop_min;
  float local_crop_max;
} gs_aug_style;

/* The recipe of `n_views` views (1..GS_MAX_VIEWS; from index 2 on multi-crop's small local
 * crops) of images of `size` pixels in the given style (NULL: SimCLR's). What a method's `views`
 * member returns (method.h). */
GS_API gs_aug_recipe gs_aug_recipe_make(const gs_aug_style *style, int size, int n_views);

/* View `view` of sample i as the loader makes it for (seed, epoch): out holds C*v->size*v->size
 * floats, CHW, normalised. The same numbers whatever thread calls it (previews and tests). */
GS_API gs_status gs_augment_sample(const gs_dataset *ds, int64_t i, const gs_view_config *v,
                                   uint64_t seed, int64_t epoch, int view, float *out);

/* Writes an 8-bit image (HWC, channels 1, 3 or 4) as a PNG, through a temporary file renamed into
 * place, so a failure leaves nothing behind. */
GS_API gs_status gs_png_write(const char *path, const uint8_t *pixels, int width, int height,
                              int channels);

/* ---- Loader ---- */

typedef struct gs_loader gs_loader;

typedef struct gs_loader_options {
  int batch;   /* images per batch */
  int threads; /* worker threads (0: 2) */
  uint64_t seed;
  int drop_last; /* drop the last incomplete batch of an epoch (default behaviour of training) */
  int prefetch;  /* ready batches kept ahead (0: 4) */
  gs_aug_recipe recipe;
  /* Folders are decoded by the workers. An image that fails to decode there is skipped (its place
   * in the batch goes to the next image that decodes, the same at any thread count) and reported
   * once through on_bad_image, called in the thread that calls gs_loader_next. gs_loader_next
   * fails, naming the file, at the first such image when bad_images_fatal is set, else once more
   * than 1% of the data set has failed. */
  int bad_images_fatal;
  void (*on_bad_image)(void *user, const char *message);
  void *user;
  /* Data-parallel sharding (drop_last only): each global batch holds batch x shards images, and
   * this loader yields block `shard` of each (images shard*batch .. (shard+1)*batch - 1 of the
   * global batch), with the augmentations one unsharded loader would give them. 0 or 1: none.
   * With shard_groups = m >= 1, whole batches of `batch` images are dealt out instead: shard r
   * takes batches r*m .. r*m + m-1 of every shards*m (a meta-optimizer's tasks spread over ranks),
   * and batches per epoch (and gs_loader_seek) count this shard's batches. */
  int shards, shard, shard_groups;
} gs_loader_options;

typedef struct gs_batch {
  int n; /* images in this batch */
  int n_views;
  const float *views[GS_MAX_VIEWS]; /* each n*C*size*size floats, NCHW, normalised */
  const int32_t *labels;            /* n labels (-1 when unlabelled) */
  int64_t epoch;                    /* epoch this batch belongs to (from 0) */
  int64_t index;                    /* batch index within the epoch */
  const int64_t *samples;           /* n data-set indices of the images (the epoch's shuffle) */
} gs_batch;

GS_API gs_loader *gs_loader_new(const gs_dataset *ds, const gs_loader_options *opt);
GS_API void gs_loader_free(gs_loader *l);
/* Batches per epoch. */
GS_API int64_t gs_loader_batches_per_epoch(const gs_loader *l);
/* Next batch, across epoch boundaries (reshuffled per epoch from the seed). The arrays stay valid
 * until the next call. */
GS_API gs_status gs_loader_next(gs_loader *l, gs_batch *out);
/* Images skipped so far because they failed to decode. */
GS_API int64_t gs_loader_bad_images(const gs_loader *l);
/* Continue from (epoch, batch index): the next gs_loader_next returns that batch. For resume. */
GS_API gs_status gs_loader_seek(gs_loader *l, int64_t epoch, int64_t index);

#ifdef __cplusplus
}
#endif
#endif
