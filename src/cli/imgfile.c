/*
 * imgfile.c - see imgfile.h.
 */
#include "imgfile.h"

#include <string.h>

#include "common.h"

/* The error of image_load() or image_info(), naming the file; the pixel
 * limit's with the option that raises it. */
static void image_error(const char *path, const char *err)
{
    report_file_error(path, "%s%s", err,
                   strstr(err, IMAGE_ERR_OVER_LIMIT) ? " (--max-pixels)" : "");
}

int cli_image_load(const char *path, msam_image *img)
{
    char err[512];
    if (image_load(path, img, err, sizeof err) != 0) {
        image_error(path, err);
        return -1;
    }
    return 0;
}

int cli_image_size(const char *path, int *width, int *height)
{
    char err[512];
    if (image_info(path, width, height, err, sizeof err) != 0) {
        image_error(path, err);
        return -1;
    }
    return 0;
}
