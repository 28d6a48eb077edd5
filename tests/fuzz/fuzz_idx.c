/* Fuzz target: the IDX images/labels parsers, the digits CSV parser, and the gzip layer in front
 * of them. */
#include <stdlib.h>

#include "data_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_both(const uint8_t *data, size_t size) {
  gs_images im = {0};
  if (gs_idx_parse_images(data, size, "fuzz-input", &im) == GS_OK) {
    volatile uint8_t sink = im.pixels[(size_t)im.n * im.h * im.w - 1];
    (void)sink;
  }
  gs_images_free(&im);
  if (gs_idx_parse_labels(data, size, "fuzz-input", &im) == GS_OK) {
    volatile int32_t sink = im.labels[im.n - 1];
    (void)sink;
  }
  gs_images_free(&im);
  if (gs_digits_parse(data, size, "fuzz-input", &im) == GS_OK) {
    volatile uint8_t sink = im.pixels[(size_t)im.n * 64 - 1] + (uint8_t)im.labels[im.n - 1];
    (void)sink;
  }
  gs_images_free(&im);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  parse_both(data, size);
  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
    uint8_t *out;
    size_t n;
    if (gs_gunzip(data, size, "fuzz-input.gz", (size_t)1 << 24, &out, &n) == GS_OK) {
      parse_both(out, n);
      free(out);
    }
  }
  return 0;
}
