/*
 * fuzz_prompts.c - libFuzzer harness of the prompts JSON parsers
 * (src/format/prompts.c): `seg --prompts FILE.json` and the two forms of
 * `batch --prompts FILE`, a JSON object of image names and JSON Lines.
 *
 * Each input is handed, as the contents of a file (nothing is read or
 * written), to
 *   prompts_parse        as "dir/p.json", then prompts_validate against a
 *                        640x480 image and prompts_to_api;
 *   prompts_batch_parse  as "dir/p.json" (a map) and as "dir/p.jsonl" (lines),
 *                        then prompts_batch_get for every image listed (and
 *                        one that is not), each set validated as above.
 * Checked: what a successful parse promises (objects with points or a box,
 * labels allocated, lines >= 1, mask paths under dir/ unless absolute, the
 * batch's names sorted and found again), that a failure leaves nothing that
 * prompts_free cannot free, and no leak (LeakSanitizer) on any path.
 * The error messages go to stderr (scripts/fuzz.sh closes it: -close_fd_mask).
 *
 * Seeds: tests/fuzz/corpus/prompts (tests/fuzz/make_seeds.py). Build and
 * run: scripts/fuzz.sh 60 prompts.
 */
#include <math.h>
#include <stdint.h>

#include "format/prompts.h"
#include "fuzz_util.h"

#define DIR "dir/"

/* What prompts.h promises of a parsed set, then the checks of seg. */
static void check_set(const prompt_set *s)
{
    FUZZ_CHECK(s->n >= 0 && (s->n == 0 || s->objects != NULL));
    FUZZ_CHECK(s->file != NULL || s->n == 0);
    for (int i = 0; i < s->n; i++) {
        const prompt_object *o = &s->objects[i];
        FUZZ_CHECK(o->n_points > 0 || o->has_box);
        FUZZ_CHECK(o->n_points >= 0 && o->n_labels >= 0);
        FUZZ_CHECK(o->n_points == 0 || o->points != NULL);
        FUZZ_CHECK(o->labels != NULL); /* allocated even when empty */
        FUZZ_CHECK(o->line >= 1);
        FUZZ_CHECK(o->mask == NULL);
        for (int k = 0; k < 2 * o->n_points; k++)
            FUZZ_CHECK(isfinite(o->points[k]));
        for (int k = 0; k < o->n_labels; k++) {
            volatile int label = o->labels[k];
            (void)label;
        }
        if (o->mask_path)
            FUZZ_CHECK(o->mask_path[0] == '/' ||
                       strncmp(o->mask_path, DIR, strlen(DIR)) == 0);
    }
    /* seg validates against the image; the result does not matter here */
    (void)prompts_validate(s, 640, 480);
    if (s->n > 0) {
        mobilesam_prompt *api = calloc((size_t)s->n, sizeof *api);
        FUZZ_CHECK(api != NULL);
        prompts_to_api(s, 1, api);
        for (int i = 0; i < s->n; i++)
            FUZZ_CHECK(api[i].n_points == s->objects[i].n_points &&
                       (api[i].box != NULL) == (s->objects[i].has_box != 0));
        free(api);
    }
}

static void fuzz_seg(const uint8_t *data, size_t size)
{
    prompt_set s;
    prompts_init(&s, "seg");
    if (prompts_parse(&s, DIR "p.json", (const char *)data, size) == 0) {
        FUZZ_CHECK(s.n >= 1 && s.file && !strcmp(s.file, DIR "p.json"));
        check_set(&s);
    }
    prompts_free(&s);
    FUZZ_CHECK(s.n == 0 && s.objects == NULL && s.file == NULL);
}

/* The objects of `image`: as many entries as the list has (a leading "./"
 * aside), or an error. */
static void get(const prompt_batch *b, const char *image)
{
    const char *want = image;
    while (want[0] == '.' && want[1] == '/')
        for (want += 2; *want == '/'; want++)
            ;
    int listed = 0;
    for (int i = 0; i < prompts_batch_count(b); i++)
        listed += !strcmp(prompts_batch_image(b, i), want);
    prompt_set s;
    prompts_init(&s, "batch");
    int found = prompts_batch_get(b, image, &s);
    FUZZ_CHECK(found == -1 || found == listed);
    if (found > 0)
        check_set(&s);
    else if (found == 0)
        FUZZ_CHECK(s.n == 0 && s.file == NULL);
    prompts_free(&s);
}

static void fuzz_batch(const uint8_t *data, size_t size, const char *path)
{
    prompt_batch *b = (prompt_batch *)&b; /* must be set to NULL on failure */
    if (prompts_batch_parse(path, (const char *)data, size, &b) != 0) {
        FUZZ_CHECK(b == NULL);
        return;
    }
    FUZZ_CHECK(b != NULL);
    int n = prompts_batch_count(b);
    FUZZ_CHECK(n >= 0);
    for (int i = 0; i < n; i++) {
        const char *name = prompts_batch_image(b, i);
        FUZZ_CHECK(name != NULL);
        if (i > 0)
            FUZZ_CHECK(strcmp(prompts_batch_image(b, i - 1), name) <= 0);
        if (i > 0 && !strcmp(prompts_batch_image(b, i - 1), name))
            continue; /* all entries of a name come with its first */
        get(b, name);
    }
    get(b, "./not-listed.jpg");
    get(b, "");
    prompts_batch_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_seg(data, size);
    fuzz_batch(data, size, DIR "p.json");
    fuzz_batch(data, size, DIR "p.jsonl");
    return 0;
}
