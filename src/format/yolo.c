/*
 * yolo.c - see yolo.h.
 */
#include "format/yolo.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/report.h"
#include "format/contour.h"
#include "io/file.h"

/* Splits a line into at most 8 numbers; returns how many there were (more
 * than 8 counts as 9), or -1 when one is not a finite number. */
static int parse_numbers(char *line, double *v)
{
    int n = 0;
    for (char *tok = strtok(line, " \t\r\n"); tok;
         tok = strtok(NULL, " \t\r\n")) {
        if (n == 8)
            return 9;
        char *end;
        errno = 0;
        double x = strtod(tok, &end);
        if (*end || errno == ERANGE || !isfinite(x))
            return -1;
        v[n++] = x;
    }
    return n;
}

static int keep(const yolo_filter *f, int cls, int has_conf, double conf)
{
    if (f && has_conf && conf < f->min_conf)
        return 0;
    if (!f || !f->classes)
        return 1;
    for (int i = 0; i < f->n_classes; i++)
        if (f->classes[i] == cls)
            return 1;
    return 0;
}

static float clip(double v, int hi)
{
    return (float)(v < 0 ? 0 : v > hi ? hi : v);
}

/* One line; 1 kept, 0 filtered out, -1 after an error. */
static int parse_line(const char *path, int line_no, char *line, int width,
                      int height, const yolo_filter *f, yolo_box *b)
{
    double v[8];
    int n = parse_numbers(line, v);
    if (n != 5 && n != 6) {
        report_file_error(path, "line %d: expected 'class cx cy w h [conf]' "
                             "(normalised numbers)",
                       line_no);
        return -1;
    }
    if (v[0] < 0 || v[0] != floor(v[0]) || v[0] > 1e6) {
        report_file_error(path, "line %d: class %g is not a whole number >= 0",
                       line_no, v[0]);
        return -1;
    }
    if (v[3] < 0 || v[4] < 0) {
        report_file_error(path, "line %d: negative box size", line_no);
        return -1;
    }
    b->cls = (int)v[0];
    b->conf = n == 6 ? (float)v[5] : 1.0f;
    if (!keep(f, b->cls, n == 6, n == 6 ? v[5] : 1.0))
        return 0;
    double x0 = (v[1] - v[3] / 2) * width, y0 = (v[2] - v[4] / 2) * height;
    double x1 = (v[1] + v[3] / 2) * width, y1 = (v[2] + v[4] / 2) * height;
    b->box[0] = clip(x0, width);
    b->box[1] = clip(y0, height);
    b->box[2] = clip(x1, width);
    b->box[3] = clip(y1, height);
    /* A zero-area box (a point or a line) is a valid prompt, as for `seg
     * --box 10,10,10,10` and the official predictor, when it touches the
     * image; a box with an area must keep some of it after clipping. */
    int zero_area = v[3] == 0 || v[4] == 0;
    int inside = zero_area ? x1 >= 0 && x0 <= width && y1 >= 0 && y0 <= height
                           : b->box[2] > b->box[0] && b->box[3] > b->box[1];
    if (!inside) {
        report_file_error(path, "line %d: the box lies outside the image (%dx%d)",
                       line_no, width, height);
        return -1;
    }
    return 1;
}

int yolo_read_boxes(const char *path, int width, int height,
                    const yolo_filter *filter, yolo_box **out)
{
    *out = NULL;
    /* Without blocking on a FIFO; only regular files (see io/file.h). */
    char why[128];
    FILE *fp = file_fopen_input(path, NULL, why, sizeof why);
    if (!fp) {
        if (errno == ENOENT)
            return YOLO_MISSING;
        report_file_error(path, "cannot open label file: %s", why);
        return -1;
    }
    yolo_box *boxes = NULL;
    int n = 0, cap = 0, line_no = 0, rc = 0;
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    while (rc == 0 && (len = getline(&line, &line_cap, fp)) >= 0) {
        line_no++;
        if (strlen(line) != (size_t)len) {
            report_file_error(path, "line %d: not a text file (NUL byte)",
                           line_no);
            rc = -1;
            break;
        }
        char *text = line;
        /* a UTF-8 byte order mark, as some editors on Windows write */
        if (line_no == 1 && !strncmp(text, "\xef\xbb\xbf", 3))
            text += 3;
        const char *p = text + strspn(text, " \t\r\n");
        if (!*p || *p == '#')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            yolo_box *bigger = realloc(boxes, (size_t)cap * sizeof *boxes);
            if (!bigger) {
                report_file_error(path, "out of memory");
                rc = -1;
                break;
            }
            boxes = bigger;
        }
        int k = parse_line(path, line_no, text, width, height, filter,
                           &boxes[n]);
        if (k < 0)
            rc = -1;
        n += k > 0;
    }
    if (rc == 0 && ferror(fp)) {
        report_file_error(path, "cannot read label file: %s", strerror(errno));
        rc = -1;
    }
    free(line);
    fclose(fp);
    if (rc) {
        free(boxes);
        return -1;
    }
    *out = boxes;
    return n;
}

int yolo_write_segment(FILE *fp, int cls, const uint8_t *mask, int width,
                       int height)
{
    int *xy;
    int n = contour_largest(mask, width, height, &xy);
    if (n < 0)
        return -1;
    if (n < 3) {
        free(xy);
        return 0;
    }
    fprintf(fp, "%d", cls);
    for (int i = 0; i < n; i++)
        fprintf(fp, " %.6f %.6f", (double)xy[2 * i] / width,
                (double)xy[2 * i + 1] / height);
    fputc('\n', fp);
    free(xy);
    return 1;
}
