/* Plots: the PNG decodes, has the requested size, shows every series' colour, and awkward data
 * (one point, constant values, NaN gaps, nothing at all, huge ranges) neither crashes nor
 * produces an error. Run with a directory argument to keep the images for a look. */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "gessl/io.h"

/* Decodes path as RGB; NULL if it is not a valid PNG. */
static unsigned char *load(const char *path, int *w, int *h) {
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&img, path)) return NULL;
  img.format = PNG_FORMAT_RGB;
  unsigned char *buf = malloc(PNG_IMAGE_SIZE(img));
  if (!png_image_finish_read(&img, NULL, buf, 0, NULL)) {
    free(buf);
    return NULL;
  }
  *w = (int)img.width, *h = (int)img.height;
  return buf;
}

/* Pixels within a small distance of colour (r, g, b). */
static long count_colour(const unsigned char *px, int w, int h, int r, int g, int b) {
  long n = 0;
  for (long i = 0; i < (long)w * h; i++)
    if (abs(px[3 * i] - r) < 12 && abs(px[3 * i + 1] - g) < 12 && abs(px[3 * i + 2] - b) < 12) n++;
  return n;
}

int main(int argc, char **argv) {
  char dir[] = "/tmp/gessl-plot-XXXXXX";
  const char *out = argc > 1 ? argv[1] : mkdtemp(dir);
  if (!out) return perror("mkdtemp"), 1;
  char path[256];

  enum { E = 20 };
  double ep[E], loss[E], loss_val[E], lr[E], knn[E], knn5[E], sig[E], sig_test[E];
  for (int i = 0; i < E; i++) {
    ep[i] = i + 1;
    loss[i] = 5.5 * exp(-i / 6.0) + 0.8;
    loss_val[i] = 5.8 * exp(-i / 7.0) + 1.0;
    lr[i] = i < 2 ? 0.06 * (i + 1) : 0.06 * 0.5 * (1 + cos(M_PI * (i - 2) / (E - 2)));
    knn[i] = 0.45 + 0.3 * (1 - exp(-i / 5.0));
    knn5[i] = knn[i] + 0.15;
    sig[i] = 4.2 * exp(-i / 8.0) + 0.5;
    sig_test[i] = i == 7 ? NAN : 4.4 * exp(-i / 9.0) + 0.7;
  }
  lr[E - 1] = 1e-5;
  gs_plot_series s_loss[] = {{"train", ep, loss, E}, {"held-out", ep, loss_val, E}};
  gs_plot_series s_lr[] = {{"lr", ep, lr, E}};
  gs_plot_series s_knn[] = {{"top-1", ep, knn, E}, {"top-5", ep, knn5, E}};
  gs_plot_series s_sig[] = {{"train tasks", ep, sig, E}, {"test tasks", ep, sig_test, E}};
  gs_plot_panel panels[] = {
      {"Loss", "epoch", "loss", s_loss, 2, 0},
      {"Learning rate", "epoch", "lr", s_lr, 1, 1},
      {"kNN accuracy", "epoch", "accuracy", s_knn, 2, 0},
      {"Universality gap (sigma)", "epoch", "sigma", s_sig, 2, 0},
  };
  snprintf(path, sizeof path, "%s/curves.png", out);
  gs_plot_options opt = {0, 0, 0, "simclr + gessl on fashion-mnist"};
  CHECKF(gs_plot_png(path, panels, 4, &opt) == GS_OK, "%s", gs_errmsg());
  int w = 0, h = 0;
  unsigned char *px = load(path, &w, &h);
  CHECK(px != NULL);
  CHECKF(w == 1280 && h == 844, "size %dx%d", w, h);
  if (px) {
    CHECK(count_colour(px, w, h, 31, 119, 180) > 200); /* first series colour */
    CHECK(count_colour(px, w, h, 255, 127, 14) > 200); /* second */
    CHECK(count_colour(px, w, h, 0, 0, 0) > 100);      /* title text */
    CHECK(count_colour(px, w, h, 255, 255, 255) > w * h / 2);
  }
  free(px);

  /* Explicit size and columns. */
  snprintf(path, sizeof path, "%s/small.png", out);
  gs_plot_options small = {500, 300, 1, NULL};
  CHECKF(gs_plot_png(path, panels, 1, &small) == GS_OK, "%s", gs_errmsg());
  px = load(path, &w, &h);
  CHECKF(px && w == 500 && h == 300, "size %dx%d", w, h);
  free(px);

  /* Awkward data. */
  double one_x = 3, one_y = 0.25, flat[4] = {2, 2, 2, 2}, fx[4] = {0, 1, 2, 3};
  double nan4[4] = {NAN, NAN, INFINITY, NAN}, neg[4] = {-1, 0, 1e-3, 10};
  double huge[2] = {-1e300, 1e300}, tiny[2] = {1e-12, 1.0000000001e-12};
  gs_plot_series one[] = {{"one point", &one_x, &one_y, 1}};
  gs_plot_series flats[] = {{"flat", fx, flat, 4}, {NULL, fx, nan4, 4}};
  gs_plot_series nothing[] = {{"all NaN", fx, nan4, 4}};
  gs_plot_series negs[] = {{"with <= 0", fx, neg, 4}};
  gs_plot_series wide[] = {{"huge", fx, huge, 2}, {"tiny", fx, tiny, 2}};
  gs_plot_panel odd[] = {
      {"one point", "x", "y", one, 1, 0},          {"constant", NULL, NULL, flats, 2, 0},
      {"no finite data", "x", "y", nothing, 1, 0}, {"log with <= 0", "x", "y", negs, 1, 1},
      {"no series", "", "", NULL, 0, 0},           {"huge range", "x", "y", wide, 1, 0},
      {"tiny range", "x", "y", wide + 1, 1, 0},    {NULL, NULL, NULL, wide, 2, 1},
  };
  snprintf(path, sizeof path, "%s/odd.png", out);
  CHECKF(gs_plot_png(path, odd, 8, NULL) == GS_OK, "%s", gs_errmsg());
  px = load(path, &w, &h);
  CHECKF(px && w == 1280 && h == 1600, "size %dx%d", w, h);
  free(px);

  /* Refusals. */
  CHECK(gs_plot_png(path, odd, 0, NULL) == GS_ERR_INVALID);
  CHECKF(strstr(gs_errmsg(), path) && strstr(gs_errmsg(), "no panels"), "%s", gs_errmsg());
  gs_plot_options giant = {100000, 100000, 1, NULL};
  CHECK(gs_plot_png(path, odd, 1, &giant) == GS_ERR_INVALID);
  char missing[300];
  snprintf(missing, sizeof missing, "%s/no/such/dir/x.png", out);
  CHECK(gs_plot_png(missing, panels, 1, NULL) == GS_ERR_IO);
  CHECKF(strstr(gs_errmsg(), missing), "%s", gs_errmsg());

  if (argc <= 1) {
    snprintf(path, sizeof path, "%s/curves.png", out);
    unlink(path);
    snprintf(path, sizeof path, "%s/odd.png", out);
    unlink(path);
    snprintf(path, sizeof path, "%s/small.png", out);
    unlink(path);
    rmdir(out);
  }
  return check_summary();
}
