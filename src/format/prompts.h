/*
 * prompts.h - the objects to segment, from the command-line flags or from a
 * prompts JSON file:
 *   [{"points": [[x, y], ...], "labels": [1, 0, ...],
 *     "box": [x0, y0, x1, y1], "mask_input": "logits.npy"}, ...]
 * (every field optional, but each object needs points or a box; labels
 * default to all 1; mask_input is relative to the JSON file's directory).
 * Errors are printed as one line naming the file and, for JSON, the line.
 */
#ifndef MOBILESAM_FORMAT_PROMPTS_H
#define MOBILESAM_FORMAT_PROMPTS_H

#include <stddef.h>

#include "mobilesam.h"

typedef struct {
    float *points; /* n_points (x, y) pairs, original-image pixels */
    int n_points;
    int *labels; /* n_labels values (validated against n_points later) */
    int n_labels;
    float box[4];
    int has_box;
    char *mask_path; /* NULL when there is no mask input */
    float *mask;     /* 256x256 logits once prompts_load_masks() ran */
    int line;        /* line of the object in the prompts file, 0 for flags */
} prompt_object;

typedef struct {
    prompt_object *objects;
    int n;
    char *file;      /* the prompts file; NULL when built from flags */
    const char *cmd; /* subcommand, for messages about flag prompts */
} prompt_set;

void prompts_init(prompt_set *s, const char *cmd);
void prompts_free(prompt_set *s);

/* Appends a zeroed object (owned by the set; fill it with malloc'd arrays),
 * or returns NULL when out of memory. */
prompt_object *prompts_append(prompt_set *s);

/* Parses a prompts JSON file. Returns 0, or -1 after printing an error. */
int prompts_read_file(prompt_set *s, const char *path);
/* The same for data[0..size) given as the contents of `path` (named in
 * messages, the base of mask_input paths), which is not read. */
int prompts_parse(prompt_set *s, const char *path, const char *data,
                  size_t size);

/* Checks every object against an image of width x height: label count and
 * values, box corners in order, points and boxes inside the image
 * (0 <= x <= width, 0 <= y <= height), at least one point or a box.
 * Returns 0, or -1 after printing an error. */
int prompts_validate(const prompt_set *s, int width, int height);
/* The same, and on failure the field at fault as an API names it
 * ("labels", "labels[i]", "points[i]", "box"; "" for none) in field[0..n). */
int prompts_validate_field(const prompt_set *s, int width, int height, char *field,
                           size_t n);

/* Reads the mask inputs: (256, 256) or (1, 256, 256) float .npy files.
 * Returns 0, or -1 after printing an error naming the mask file. */
int prompts_load_masks(prompt_set *s);

/* Fills out[0..s->n) for mobilesam_predict; points into the set. */
void prompts_to_api(const prompt_set *s, int multimask, mobilesam_prompt *out);

/* ---- batch prompt files (mobilesam batch --prompts) ----------------------
 * Objects for many images, in the schema above, from either
 *   a JSON object mapping image names to lists:  {"a.jpg": [{...}], ...}
 *   JSON Lines (*.jsonl, *.ndjson), one image per line:
 *     {"image": "a.jpg", "objects": [{...}, ...]}   (other keys ignored)
 * Names are compared as written, a leading "./" aside. A list may be empty.
 * The file's structure is checked when it is opened; the objects of an
 * image are parsed (and reported, "file: line N: ...") when asked for. */
typedef struct prompt_batch prompt_batch;

/* Returns 0, or -1 after printing an error (unreadable, malformed JSON, a
 * line without "image"). */
int prompts_batch_open(const char *path, prompt_batch **out);
/* The same for data[0..size) given as the contents of `path` (its suffix
 * picks JSON Lines), which is not read. */
int prompts_batch_parse(const char *path, const char *data, size_t size,
                        prompt_batch **out);
void prompts_batch_free(prompt_batch *b); /* NULL is a no-op */
/* The image names of the file's entries, sorted. */
int prompts_batch_count(const prompt_batch *b);
const char *prompts_batch_image(const prompt_batch *b, int i);
/* Appends the objects given for `image` (every entry naming it, in file
 * order) to s and sets s->file. Returns the number of entries (0 when the
 * image is not listed), or -1 after printing an error. */
int prompts_batch_get(const prompt_batch *b, const char *image,
                      prompt_set *s);

#endif
