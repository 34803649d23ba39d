/*
 * store.c - see store.h.
 */
#include "server/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

#include "io/image.h"

#define LOWRES_PLANE ((size_t)MOBILESAM_LOWRES * MOBILESAM_LOWRES)

void store_make_id(const void *data, size_t n, char *id)
{
    struct sha256_ctx ctx;
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_init(&ctx);
    sha256_update(&ctx, n, data);
    sha256_digest(&ctx, sizeof digest, digest);
    for (int i = 0; i < STORE_ID_LEN / 2; i++)
        snprintf(id + 2 * i, 3, "%02x", digest[i]);
}

void store_init(store *s, size_t budget)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->budget = budget;
    s->next_result = 1;
}

static size_t result_cost(const store_result *r)
{
    return sizeof *r + (size_t)r->n_masks * LOWRES_PLANE * sizeof(float);
}

static void drop_results(store *s, store_entry *e)
{
    while (e->results) {
        store_result *r = e->results;
        e->results = r->next;
        s->used -= result_cost(r);
        free(r->lowres);
        free(r);
    }
    e->n_results = 0;
}

static void drop_embedding(store *s, store_entry *e)
{
    if (e->emb) {
        s->used -= mobilesam_embedding_bytes(e->emb);
        mobilesam_embedding_free(e->emb);
        e->emb = NULL;
    }
    drop_results(s, e);
}

static void entry_free(store_entry *e)
{
    mobilesam_embedding_free(e->emb);
    for (store_result *r = e->results, *n; r; r = n) {
        n = r->next;
        free(r->lowres);
        free(r);
    }
    free(e->bytes);
    free(e->path);
    free(e);
}

static void unlink_entry(store *s, store_entry *e)
{
    if (e->prev) e->prev->next = e->next;
    else s->head = e->next;
    if (e->next) e->next->prev = e->prev;
    else s->tail = e->prev;
    e->prev = e->next = NULL;
}

static void push_front(store *s, store_entry *e)
{
    e->prev = NULL;
    e->next = s->head;
    if (s->head) s->head->prev = e;
    s->head = e;
    if (!s->tail) s->tail = e;
}

/* Takes an entry out of the store (freed now, or by its last release). */
static void remove_entry(store *s, store_entry *e)
{
    drop_embedding(s, e);
    s->used -= e->n_bytes + sizeof *e;
    unlink_entry(s, e);
    e->dead = 1;
    if (!e->refs) entry_free(e);
}

/* Back under the budget, least recently used first: embeddings and
 * results, then whole images; never those of an image in use (a request
 * holds it: `keep` among them) or being encoded. */
static void evict(store *s, const store_entry *keep)
{
    for (store_entry *e = s->tail; e && s->used > s->budget; e = e->prev)
        if (e != keep && !e->refs && !e->encoding && (e->emb || e->results))
            drop_embedding(s, e);
    for (store_entry *e = s->tail, *p; e && s->used > s->budget; e = p) {
        p = e->prev;
        if (e != keep && !e->refs && !e->encoding) remove_entry(s, e);
    }
}

void store_destroy(store *s)
{
    while (s->head) remove_entry(s, s->head);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

static void touch(store *s, store_entry *e)
{
    unlink_entry(s, e);
    push_front(s, e);
    e->refs++;
}

store_entry *store_get(store *s, const char *id)
{
    pthread_mutex_lock(&s->mu);
    store_entry *e = s->head;
    while (e && strcmp(e->id, id)) e = e->next;
    if (e) touch(s, e);
    pthread_mutex_unlock(&s->mu);
    return e;
}

store_entry *store_get_path(store *s, const char *path)
{
    pthread_mutex_lock(&s->mu);
    store_entry *e = s->head;
    while (e && (!e->path || strcmp(e->path, path))) e = e->next;
    if (e) touch(s, e);
    pthread_mutex_unlock(&s->mu);
    return e;
}

store_entry *store_put(store *s, const void *bytes, size_t n, int width,
                       int height, const char *path, int *existed)
{
    char id[STORE_ID_LEN + 1];
    store_make_id(bytes, n, id);
    pthread_mutex_lock(&s->mu);
    store_entry *e = s->head;
    while (e && strcmp(e->id, id)) e = e->next;
    *existed = e != NULL;
    if (e) {
        touch(s, e);
        if (!e->bytes) { /* evicted bytes: take them again */
            e->bytes = malloc(n ? n : 1);
            if (e->bytes) {
                memcpy(e->bytes, bytes, n);
                s->used += n;
            } else {
                e->n_bytes = 0;
            }
        }
        if (path && !e->path) e->path = strdup(path);
        pthread_mutex_unlock(&s->mu);
        return e;
    }
    e = calloc(1, sizeof *e);
    if (e) e->bytes = malloc(n ? n : 1);
    if (e && path) e->path = strdup(path);
    if (!e || !e->bytes || (path && !e->path)) {
        if (e) entry_free(e);
        pthread_mutex_unlock(&s->mu);
        return NULL;
    }
    memcpy(e->bytes, bytes, n);
    memcpy(e->id, id, sizeof id);
    e->n_bytes = n;
    e->width = width;
    e->height = height;
    e->refs = 1;
    push_front(s, e);
    s->used += n + sizeof *e;
    evict(s, e);
    pthread_mutex_unlock(&s->mu);
    return e;
}

void store_release(store *s, store_entry *e)
{
    if (!e) return;
    pthread_mutex_lock(&s->mu);
    if (--e->refs == 0 && e->dead) entry_free(e);
    else if (!e->dead) evict(s, NULL);
    pthread_mutex_unlock(&s->mu);
}

typedef struct {
    mobilesam_model *model;
    const msam_image *img;
    mobilesam_embedding *emb;
    mobilesam_error err;
    mobilesam_status st;
    double ms;
} encode_job;

static void encode_on_engine(void *arg)
{
    encode_job *j = arg;
    j->st = mobilesam_encode(j->model, j->img->rgb, j->img->width, j->img->height, &j->emb,
                             &j->err);
    mobilesam_timing t;
    mobilesam_last_timing(j->model, &t);
    j->ms = t.preprocess_ms + t.encoder_ms;
}

int store_embed(store *s, store_entry *e, engine_gate *g, mobilesam_model *model,
                int *encoded, char *msg, size_t n)
{
    *encoded = 0;
    pthread_mutex_lock(&s->mu);
    while (e->encoding) pthread_cond_wait(&s->cv, &s->mu);
    if (e->emb) {
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    if (!e->bytes) {
        pthread_mutex_unlock(&s->mu);
        snprintf(msg, n, "image %s was evicted from the cache: post it again", e->id);
        return 404;
    }
    e->encoding = 1;
    pthread_mutex_unlock(&s->mu);

    /* The bytes stay while encoding is set (evict() skips the entry). */
    int status = 0;
    msam_image img;
    char err[512];
    mobilesam_embedding *emb = NULL;
    double ms = 0;
    if (image_load_memory(e->bytes, e->n_bytes, &img, err, sizeof err)) {
        snprintf(msg, n, "%s", err);
        status = strstr(err, IMAGE_ERR_OVER_LIMIT) ? 413 : 400;
    } else {
        encode_job job = {model, &img, NULL, {{0}}, MOBILESAM_OK, 0};
        if (gate_run(g, 0, encode_on_engine, &job)) {
            snprintf(msg, n, "the server is busy (work queue full): try again");
            status = 503;
        } else if (job.st != MOBILESAM_OK) {
            snprintf(msg, n, "%s", job.err.message);
            status = job.st == MOBILESAM_ERR_NOMEM ? 503 : 400;
        }
        emb = job.emb;
        ms = job.ms;
        image_free(&img);
    }

    pthread_mutex_lock(&s->mu);
    e->encoding = 0;
    if (!status) {
        e->emb = emb;
        if (e->encoder_ms == 0) e->encoder_ms = ms;
        s->used += mobilesam_embedding_bytes(emb);
        *encoded = 1;
        evict(s, e);
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return status;
}

long store_add_result(store *s, store_entry *e, const mobilesam_result *r)
{
    store_result *sr = calloc(1, sizeof *sr);
    size_t bytes = (size_t)r->n_masks * LOWRES_PLANE * sizeof(float);
    if (sr) sr->lowres = malloc(bytes);
    if (!sr || !sr->lowres) {
        free(sr);
        return -1;
    }
    memcpy(sr->lowres, r->lowres_logits, bytes);
    memcpy(sr->scores, r->scores, sizeof sr->scores);
    sr->n_masks = r->n_masks;
    pthread_mutex_lock(&s->mu);
    sr->id = s->next_result++;
    sr->next = e->results;
    e->results = sr;
    e->n_results++;
    s->used += result_cost(sr);
    if (e->n_results > STORE_MAX_RESULTS) { /* drop the oldest */
        store_result **p = &e->results;
        while ((*p)->next) p = &(*p)->next;
        s->used -= result_cost(*p);
        free((*p)->lowres);
        free(*p);
        *p = NULL;
        e->n_results--;
    }
    long id = sr->id;
    evict(s, e);
    pthread_mutex_unlock(&s->mu);
    return id;
}

int store_get_result(store *s, store_entry *e, long id, int index, float *out)
{
    int rc = -1;
    pthread_mutex_lock(&s->mu);
    for (store_result *r = e->results; r; r = r->next) {
        if (r->id != id) continue;
        if (index >= r->n_masks) {
            rc = -2;
            break;
        }
        if (index < 0) {
            index = 0;
            for (int k = 1; k < r->n_masks; k++)
                if (r->scores[k] > r->scores[index]) index = k;
        }
        memcpy(out, r->lowres + (size_t)index * LOWRES_PLANE, LOWRES_PLANE * sizeof(float));
        rc = 0;
        break;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void *engine_main(void *arg)
{
    engine_gate *g = arg;
    pthread_mutex_lock(&g->mu);
    for (;;) {
        while (!g->hi && !g->lo && !g->stop)
            pthread_cond_wait(&g->work, &g->mu);
        engine_job *j = g->hi ? g->hi : g->lo;
        if (!j)
            break; /* stopping, nothing queued */
        if (j == g->hi) {
            g->hi = j->next;
            if (!g->hi) g->hi_tail = NULL;
        } else {
            g->lo = j->next;
            if (!g->lo) g->lo_tail = NULL;
        }
        g->waiting--;
        g->busy = 1;
        pthread_mutex_unlock(&g->mu);
        j->fn(j->arg);
        pthread_mutex_lock(&g->mu);
        g->busy = 0;
        j->done = 1;
        pthread_cond_broadcast(&g->done);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

int gate_init(engine_gate *g, int max_wait)
{
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->work, NULL);
    pthread_cond_init(&g->done, NULL);
    g->max_wait = max_wait;
    if (pthread_create(&g->thread, NULL, engine_main, g))
        return -1;
    g->started = 1;
    return 0;
}

void gate_destroy(engine_gate *g)
{
    if (g->started) {
        pthread_mutex_lock(&g->mu);
        g->stop = 1;
        pthread_cond_signal(&g->work);
        pthread_mutex_unlock(&g->mu);
        pthread_join(g->thread, NULL);
    }
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->work);
    pthread_cond_destroy(&g->done);
}

int gate_run(engine_gate *g, int hi, void (*fn)(void *), void *arg)
{
    engine_job j = {fn, arg, 0, NULL};
    pthread_mutex_lock(&g->mu);
    if ((g->busy || g->waiting) && g->waiting >= g->max_wait) {
        pthread_mutex_unlock(&g->mu);
        return -1;
    }
    engine_job **head = hi ? &g->hi : &g->lo, **tail = hi ? &g->hi_tail : &g->lo_tail;
    if (*tail)
        (*tail)->next = &j;
    else
        *head = &j;
    *tail = &j;
    g->waiting++;
    pthread_cond_signal(&g->work);
    while (!j.done)
        pthread_cond_wait(&g->done, &g->mu);
    pthread_mutex_unlock(&g->mu);
    return 0;
}
