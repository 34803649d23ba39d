/* A program built outside the tree against the installed library, with
 * only `pkg-config --cflags --libs mobilesam` (tests/pkgconfig/run.sh). */
#include <mobilesam.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    mobilesam_model *m = NULL;
    mobilesam_error err = {{0}};
    /* a missing file: an I/O error with a message, nothing allocated */
    if (mobilesam_load("/nonexistent/mobile_sam.msam", &m, &err) != MOBILESAM_ERR_IO ||
        m != NULL || err.message[0] == 0) {
        fprintf(stderr, "main: mobilesam_load did not fail as documented\n");
        return 1;
    }
    mobilesam_amg_options opt;
    mobilesam_amg_defaults(&opt);
    if (opt.points_per_side != 32 || opt.points_per_batch != 64) {
        fprintf(stderr, "main: unexpected generator defaults\n");
        return 1;
    }
    /* 2x2 mask, one pixel in at (x=1, y=0): column-major runs 2, 1, 1 */
    const unsigned char mask[4] = {0, 255, 0, 0};
    int *counts = NULL;
    int n = mobilesam_mask_to_rle(mask, 2, 2, &counts);
    if (n != 3 || counts[0] != 2 || counts[1] != 1 || counts[2] != 1) {
        fprintf(stderr, "main: mobilesam_mask_to_rle gave %d counts\n", n);
        return 1;
    }
    free(counts);
    printf("mobilesam %s: load error \"%s\", threads %d\n", MOBILESAM_VERSION,
           err.message, mobilesam_get_threads());
    return 0;
}
