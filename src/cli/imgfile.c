/*
 * imgfile.c - see imgfile.h.
 */
#include "imgfile.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <stb_image.h>

#include "common.h"

int cli_image_load(const char *path, msam_image *img)
{
    char err[512];
    if (image_load(path, img, err, sizeof err) != 0) {
        cli_file_error(path, "%s", err);
        return -1;
    }
    return 0;
}

/* Same checks and messages as image_load(), without the decoding. */
int cli_image_size(const char *path, int *width, int *height)
{
    FILE *fp = fopen(path, "rb");
    struct stat st;
    const char *why = NULL;
    int comp;
    if (!fp || fstat(fileno(fp), &st) != 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    if (why) {
        cli_file_error(path, "cannot open file: %s", why);
    } else if (st.st_size == 0) {
        cli_file_error(path, "empty file");
    } else if (!stbi_info_from_file(fp, width, height, &comp) || *width <= 0 ||
               *height <= 0) {
        const char *reason = stbi_failure_reason();
        cli_file_error(path, "not a supported image (stb: %s)",
                       reason ? reason : "unknown");
    } else {
        fclose(fp);
        return 0;
    }
    if (fp)
        fclose(fp);
    return -1;
}
