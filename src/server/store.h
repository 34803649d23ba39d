/*
 * store.h - what `mobilesam serve` keeps between requests, and who may use
 * the engine when.
 *
 * The image store: every image a client opened, keyed by an id derived
 * from its bytes (16 hex digits of their SHA-256), with its bytes, its
 * embedding and the low-res logits of its recent predictions (for
 * "mask_input": RESULT_ID). Its memory is bounded: past the budget, the
 * least recently used images lose their embedding and results first (the
 * bytes stay, so the image is re-encoded when asked for again), then
 * their bytes. An entry in use by a request is never freed under it: users
 * hold a reference.
 *
 * The engine gate: one engine job at a time (the engine's threads and
 * OpenBLAS use every core the server was given), predicts before waiting
 * encodes, so a predict waits for at most the job that runs. A full queue
 * is refused at once (the server answers 503).
 */
#ifndef MOBILESAM_SERVER_STORE_H
#define MOBILESAM_SERVER_STORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "mobilesam.h"

#define STORE_ID_LEN 16      /* hex digits of an image id */
#define STORE_MAX_RESULTS 32 /* predictions kept per image for mask_input */

typedef struct store_result {
    long id;
    int n_masks;
    float scores[3];
    float *lowres; /* n_masks * 256 * 256 */
    struct store_result *next; /* newer first */
} store_result;

typedef struct store_entry {
    char id[STORE_ID_LEN + 1];
    uint8_t *bytes; /* the file as uploaded; NULL once evicted */
    size_t n_bytes;
    int width, height;
    char *path; /* folder mode: the image's key in IMAGES_DIR, else NULL */
    mobilesam_embedding *emb; /* NULL until encoded, or after eviction */
    double encoder_ms;        /* of the first encode */
    int encoding;             /* an encode of it is running */
    store_result *results;
    int n_results;
    int refs;
    int dead; /* out of the store; freed by the last release */
    struct store_entry *prev, *next; /* LRU list, most recent first */
} store_entry;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* an encode finished */
    store_entry *head, *tail;
    size_t used, budget;
    long next_result;
} store;

void store_init(store *s, size_t budget_bytes);
void store_destroy(store *s);

/* 16 hex digits of SHA-256(data) into id (17 bytes). */
void store_make_id(const void *data, size_t n, char *id);

/* The entry with this id, referenced (store_release it), or NULL. */
store_entry *store_get(store *s, const char *id);
/* The entry opened from this folder path, referenced, or NULL. */
store_entry *store_get_path(store *s, const char *path);
/* Adds the image (bytes copied) unless its id is there; returns the entry,
 * referenced, and whether it was there already (*existed). NULL when out of
 * memory. */
store_entry *store_put(store *s, const void *bytes, size_t n, int width,
                       int height, const char *path, int *existed);
void store_release(store *s, store_entry *e);

/* Makes sure e has an embedding: waits for an encode of it that runs, or
 * runs one (decoding its bytes, through the gate, low priority). Returns
 * 0 with *encoded set when this call encoded, or an HTTP status (400 bad
 * image, 404 bytes evicted, 500, 503 queue full) with a message. */
struct engine_gate;
int store_embed(store *s, store_entry *e, struct engine_gate *g,
                mobilesam_model *model, int *encoded, char *msg, size_t n);

/* Keeps a prediction's low-res logits (copied) for mask_input; returns its
 * result id, or -1 when out of memory. */
long store_add_result(store *s, store_entry *e, const mobilesam_result *r);
/* Copies the logits of result `id` of this image (mask `index`, or the
 * best-scoring when index < 0) into out (256*256). Returns 0, -1 unknown
 * id, -2 no such mask index. */
int store_get_result(store *s, store_entry *e, long id, int index, float *out);

/* The engine thread: every engine call of the server runs on this one
 * thread, so that the engine's OpenMP team is always the same warm one (as
 * in `mobilesam bench`), whatever connection asked. */
typedef struct engine_job {
    void (*fn)(void *arg);
    void *arg;
    int done;
    struct engine_job *next;
} engine_job;

typedef struct engine_gate {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    engine_job *hi, *hi_tail, *lo, *lo_tail;
    int busy, waiting, max_wait, stop, started;
    pthread_t thread;
} engine_gate;

/* Starts the engine thread. Returns 0, or -1 when it cannot be started. */
int gate_init(engine_gate *g, int max_wait);
/* Finishes the jobs queued, then stops the thread. */
void gate_destroy(engine_gate *g);
/* Runs fn(arg) on the engine thread and waits for it (`hi`: a predict,
 * run before waiting encodes). Returns 0 once it ran, or -1 at once when
 * max_wait jobs already wait. */
int gate_run(engine_gate *g, int hi, void (*fn)(void *), void *arg);

#endif
