/*
 * imglist.h - the images of a batch run: every image file of a folder
 * (optionally its subfolders; by extension, case-insensitive; sorted by
 * name, byte order, for a deterministic order whatever the file system), or
 * the paths listed in a text file (one per line; blank lines and '#'
 * comments skipped; relative paths are relative to the list's folder; kept
 * in the listed order).
 *
 * Each image has a key, its name in the run (relative to the folder, or as
 * listed: COCO file_name, --prompts key) and a stem, the name of its
 * outputs relative to OUTDIR: the key without its extension, keeping
 * subfolders (so that a/x.jpg and b/x.jpg do not clash); a listed absolute
 * path or one with ".." gives its file name only.
 */
#ifndef MOBILESAM_FORMAT_IMGLIST_H
#define MOBILESAM_FORMAT_IMGLIST_H

typedef struct {
    char *path; /* to open */
    char *key;
    char *stem;
} img_item;

typedef struct {
    img_item *items;
    int n, cap;
    int from_list; /* INPUT was a list file */
} img_list;

/* Fills `list` from INPUT, a folder or a list file. Subfolders (with
 * `recursive`) are followed unless hidden (".name"), symbolic links, or the
 * folder `skip` (the output folder, may be NULL), down to 64 levels; a
 * symlinked folder or one deeper than that gets a warning line. Returns 0,
 * or -1 after an error naming INPUT (an image file given as INPUT is
 * called one). */
int imglist_read(const char *input, int recursive, const char *skip,
                 img_list *list);
void imglist_free(img_list *list);

/* 1 when the file name has an image extension we read. */
int imglist_is_image_name(const char *name);

#endif
