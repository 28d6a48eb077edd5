/* Fuzz target: the CIFAR-10 and CIFAR-100 record parsers. */
#include "data_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  for (int c100 = 0; c100 < 2; c100++) {
    gs_images im = {0};
    if (gs_cifar_parse(data, size, "fuzz-input", c100, &im) == GS_OK) {
      volatile int sink = im.pixels[(size_t)im.n * 3072 - 1] + im.labels[im.n - 1];
      (void)sink;
    }
    gs_images_free(&im);
  }
  return 0;
}
