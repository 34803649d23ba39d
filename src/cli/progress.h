/*
 * progress.h - a one-line progress display on stderr, "\r[done/total]
 * 1.23 images/s ETA 0:42", drawn only when stderr is a terminal (quiet in
 * logs and pipes). While a line is shown, error lines printed through
 * common.h clear it first, so that messages never end up glued to it.
 */
#ifndef MOBILESAM_CLI_PROGRESS_H
#define MOBILESAM_CLI_PROGRESS_H

typedef struct {
    int enabled;      /* stderr is a terminal */
    int total;        /* units of work */
    const char *unit; /* "images", "batches" */
    double t0;        /* start (seconds, monotonic) */
} progress;

/* Monotonic clock in seconds. */
double progress_now(void);

void progress_init(progress *p, int total, const char *unit);
/* Draws "[done/total] rate unit/s ETA m:ss", where the rate counts only the
 * `worked` units that took time (not the skipped ones). */
void progress_update(progress *p, int done, int worked);
/* Clears the line (if shown) and stops drawing. */
void progress_end(progress *p);

#endif
