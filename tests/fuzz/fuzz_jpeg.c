/* Fuzz target: the TurboJPEG-based decoder, at full size and with DCT-domain scaling, the header
 * probe the folder index uses, and the resampler after the decoder, with a pixel budget that keeps
 * a single input under the fuzzer's memory limit. */
#include <stdlib.h>

#include "data_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gs_png_info info;
  uint8_t *rgb;
  (void)gs_image_probe(data, size, "fuzz-input.jpg", (int64_t)1 << 22, &info);
  int min_side = size > 0 ? data[size - 1] % 64 : 0; /* 0: full size, else some scaling */
  if (gs_jpeg_decode(data, size, "fuzz-input.jpg", (int64_t)1 << 22, min_side, min_side / 2, &info,
                     &rgb) == GS_OK) {
    uint8_t small[16 * 16 * 3];
    gs_resize_u8(rgb, info.height, info.width, 3, small, 16, 16);
    free(rgb);
  }
  return 0;
}
