/*
 * fuzz_args.c - libFuzzer harness of the command-line parsing: the option
 * scanner of src/cli/args.c (args_run, the number and list parsers) driven
 * by the real option tables and checks of every subcommand, through their
 * cmd_<name>_parse() (commands.h): everything `mobilesam <name> ...` does
 * before it opens the image or the weights.
 *
 * An input is a command line, one word per line: the words are split at
 * each newline or NUL byte (so "" words occur), the first word names the
 * subcommand (seg, embed, everything, batch, bench, compare, serve; anything else
 * is ignored) and becomes argv[0], as main() hands it on. Checked: the
 * result is one of the documented ones (0, -1 after --help, CLI_USAGE_ERROR),
 * parsing the same line again gives the same result, argv is left as it
 * was, and nothing leaks (LeakSanitizer) on any path. Nothing is read or
 * written but stat() of the paths named by `batch` (its OUTDIR-is-INPUT
 * check). The usage and error messages go to stdout and stderr
 * (scripts/fuzz.sh closes both: -close_fd_mask).
 *
 * Seeds: tests/fuzz/corpus/args (tests/fuzz/make_seeds.py); dictionary:
 * tests/fuzz/args.dict. Build and run: scripts/fuzz.sh 60 args.
 */
#include <stdint.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "fuzz_util.h"

static const struct {
    const char *name;
    int (*parse)(int argc, char **argv);
} commands[] = {
    {"seg", cmd_seg_parse},
    {"embed", cmd_embed_parse},
    {"everything", cmd_everything_parse},
    {"batch", cmd_batch_parse},
    {"bench", cmd_bench_parse},
    {"compare", cmd_compare_parse},
    {"serve", cmd_serve_parse},
};
#define N_COMMANDS ((int)(sizeof commands / sizeof commands[0]))

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* The parsers read these; the same input must give the same result. */
    unsetenv("MOBILESAM_THREADS");
    unsetenv("MOBILESAM_TESTDATA");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = 0;
    int argc = 1;
    for (size_t i = 0; i < size; i++)
        if (text[i] == '\n' || text[i] == 0) {
            text[i] = 0;
            argc++;
        }
    char **argv = malloc(sizeof *argv * (size_t)(argc + 1));
    char **copy = malloc(sizeof *argv * (size_t)(argc + 1));
    FUZZ_CHECK(argv != NULL && copy != NULL);
    char *p = text;
    for (int i = 0; i < argc; i++) {
        argv[i] = copy[i] = p;
        p += strlen(p) + 1;
    }
    argv[argc] = copy[argc] = NULL;

    for (int c = 0; c < N_COMMANDS; c++) {
        if (strcmp(argv[0], commands[c].name))
            continue;
        int rc = commands[c].parse(argc, argv);
        FUZZ_CHECK(rc == 0 || rc == -1 || rc == CLI_USAGE_ERROR);
        FUZZ_CHECK(memcmp(argv, copy, sizeof *argv * (size_t)(argc + 1)) == 0);
        FUZZ_CHECK(commands[c].parse(argc, argv) == rc);
        break;
    }
    /* the words themselves are untouched too */
    for (size_t i = 0; i < size; i++)
        FUZZ_CHECK(text[i] == (data[i] == '\n' ? 0 : (char)data[i]));
    free(copy);
    free(argv);
    free(text);
    return 0;
}
