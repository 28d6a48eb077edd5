/* make_folder DIR PER_CLASS SIZE: a labelled PNG folder from Fashion-MNIST (fashion_folder.h),
 * for the end-to-end tests of folders. */
#include <stdlib.h>

#include "fashion_folder.h"

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: make_folder DIR PER_CLASS SIZE\n");
    return 2;
  }
  return ff_write_folder(argv[1], atoi(argv[2]), atoi(argv[3])) == 0 ? 0 : 1;
}
