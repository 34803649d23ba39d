/*
 * imgfile.h - the input image of a command, with errors printed as one line
 * naming the file. The size alone can be had without decoding the pixels.
 */
#ifndef MOBILESAM_CLI_IMGFILE_H
#define MOBILESAM_CLI_IMGFILE_H

#include "io/image.h"

/* Decodes to RGB. Returns 0, or -1 after printing an error. */
int cli_image_load(const char *path, msam_image *img);

/* Reads only the header for the size (a big JPEG is not decoded). Returns 0,
 * or -1 after printing an error. */
int cli_image_size(const char *path, int *width, int *height);

#endif
