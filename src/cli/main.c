/*
 * main.c - entry point of the mobilesam tool: global flags, then dispatch
 * to a subcommand from the table below.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "mobilesam.h"
#include "common.h"
#include "format/output.h"

#define MOBILESAM_CLI_VERSION MOBILESAM_VERSION

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"seg", cmd_seg, "segment objects from points, boxes or a mask"},
    {"embed", cmd_embed, "save an image's embedding for 'seg --embedding'"},
    {"everything", cmd_everything, "all masks of an image, no prompts"},
    {"batch", cmd_batch, "segment a folder or list of images (datasets)"},
    {"bench", cmd_bench, "time load, encoder and decoder; peak memory"},
    {"compare", cmd_compare, "IoU of two masks"},
    {"serve", cmd_serve, "HTTP API and web page, model kept loaded"},
};
#define N_COMMANDS ((int)(sizeof commands / sizeof commands[0]))

static void usage(void)
{
    printf("usage: mobilesam [--version] [--help] COMMAND [ARGS...]\n"
           "\n"
           "MobileSAM (Segment Anything with a TinyViT encoder) on the CPU.\n"
           "\n"
           "commands:\n");
    for (int i = 0; i < N_COMMANDS; i++)
        printf("  %-10s %s\n", commands[i].name, commands[i].summary);
    printf("\n"
           "'mobilesam COMMAND --help' describes a command. Exit status: 0 "
           "success,\n1 bad input data (image, weights, prompts), 2 bad "
           "command line.\n");
}

/* OpenBLAS reads its environment only when it loads, so settings it needs
 * mean running again with them set:
 * - OPENBLAS_CORETYPE, when it fell back to generic kernels on this CPU;
 * - OPENBLAS_NUM_THREADS=1 (our own threads call it, one at a time each):
 *   its worker threads, started at load, each map a work buffer, and under
 *   a memory limit (ulimit -v / -d) a failed map is retried forever. They
 *   also spin (sched_yield) for a while after they start, on the cores our
 *   threads compute on: a one-shot `seg` took 0.39 s with them and 0.33 s
 *   without (zidane, 2 cores, medians of 5; warm encodes the same within
 *   noise), so the re-exec is worth it even when only they need it.
 * Without either need, no second exec; if the exec fails, go on (slower, or
 * at worst with idle OpenBLAS threads; the same results). */
static void select_blas_kernels(char **argv)
{
    const char *core = mobilesam_blas_coretype_hint();
    int threads = !getenv("OPENBLAS_NUM_THREADS");
    if (!core && !threads) return;
    if (core && setenv("OPENBLAS_CORETYPE", core, 1) != 0) return;
    if (threads && setenv("OPENBLAS_NUM_THREADS", "1", 1) != 0) return;
    execv("/proc/self/exe", argv);
}

int main(int argc, char **argv)
{
    select_blas_kernels(argv);
    /* A closed pipe on stdout is a write error (EPIPE) that the commands
     * report and undo their outputs for, not a silent death. */
    signal(SIGPIPE, SIG_IGN);
    out_catch_signals();
    if (argc < 2)
        return cli_usage(NULL, "missing COMMAND");
    const char *arg = argv[1];
    if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
        usage();
        return CLI_OK;
    }
    if (!strcmp(arg, "--version")) {
        printf("mobilesam %s\n", MOBILESAM_CLI_VERSION);
        return CLI_OK;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(arg, commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    if (arg[0] == '-')
        return cli_usage(NULL, "unknown option '%s'", arg);
    return cli_usage(NULL, "unknown command '%s'", arg);
}
