/*
 * progress.c - see progress.h. One progress line may be shown at a time;
 * the error hook of common.h erases it before an error line is printed and
 * the next update draws it again.
 */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static int line_shown; /* a progress line is on the terminal now */

static void clear_line(void)
{
    if (line_shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        line_shown = 0;
    }
}

double progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void progress_init(progress *p, int total, const char *unit)
{
    p->enabled = isatty(STDERR_FILENO);
    p->total = total;
    p->unit = unit;
    p->t0 = progress_now();
    if (p->enabled)
        report_set_hook(clear_line);
}

void progress_update(progress *p, int done, int worked)
{
    if (!p->enabled)
        return;
    double dt = progress_now() - p->t0;
    char eta[32] = "?";
    double rate = 0;
    if (worked > 0 && dt > 0) {
        rate = worked / dt;
        long s = (long)((p->total - done) / rate + 0.5);
        if (s >= 3600)
            snprintf(eta, sizeof eta, "%ld:%02ld:%02ld", s / 3600,
                     s / 60 % 60, s % 60);
        else
            snprintf(eta, sizeof eta, "%ld:%02ld", s / 60, s % 60);
    }
    fprintf(stderr, "\r\033[K[%d/%d] %.2f %s/s ETA %s", done, p->total, rate,
            p->unit, eta);
    fflush(stderr);
    line_shown = 1;
}

void progress_end(progress *p)
{
    if (!p->enabled)
        return;
    clear_line();
    report_set_hook(NULL);
    p->enabled = 0;
}
