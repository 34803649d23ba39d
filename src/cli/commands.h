/*
 * commands.h - the subcommands of the mobilesam tool. Each one takes its
 * own argv (argv[0] is the subcommand's name) and returns the exit status:
 * 0 success, 1 bad data (CLI_DATA_ERROR), 2 bad command line
 * (CLI_USAGE_ERROR). To add one: write src/cli/cmd_<name>.c, declare it
 * here and list it in the table in main.c.
 */
#ifndef MOBILESAM_CLI_COMMANDS_H
#define MOBILESAM_CLI_COMMANDS_H

int cmd_seg(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_everything(int argc, char **argv);
int cmd_batch(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* Each command's parsing of its command line alone, nothing run, opened or
 * written (for tests/fuzz/fuzz_args.c): returns 0 when the command would go
 * on to run, -1 after printing --help, or CLI_USAGE_ERROR after printing
 * the problem; frees what it allocated. */
int cmd_seg_parse(int argc, char **argv);
int cmd_embed_parse(int argc, char **argv);
int cmd_everything_parse(int argc, char **argv);
int cmd_batch_parse(int argc, char **argv);
int cmd_bench_parse(int argc, char **argv);
int cmd_compare_parse(int argc, char **argv);
int cmd_serve_parse(int argc, char **argv);

#endif
