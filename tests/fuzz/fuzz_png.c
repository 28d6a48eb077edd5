/* Fuzz target: the libpng-based decoder (every colour type and depth) and the resampler after
 * it, with a pixel budget that keeps a single input under the fuzzer's memory limit. */
#include <stdlib.h>

#include "data_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gs_png_info info;
  uint8_t *rgb;
  if (gs_png_decode(data, size, "fuzz-input.png", (int64_t)1 << 22, &info, &rgb) == GS_OK) {
    uint8_t small[16 * 16 * 3];
    gs_resize_u8(rgb, info.height, info.width, 3, small, 16, 16);
    free(rgb);
  }
  return 0;
}
