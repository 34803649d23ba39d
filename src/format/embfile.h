/*
 * embfile.h - saved image embeddings: a (1, 256, 64, 64) float32 .npy whose
 * header comment carries the metadata needed to use it safely later:
 *   mobilesam {"version":1,"weights_id":"<16 hex>","width":W,"height":H,
 *              "resized_w":w,"resized_h":h,"precision":"fp32"}
 * (compact JSON, one line). numpy.load ignores the comment. "precision"
 * is that of the encode that made it (fp32, fp16 or int8); a file without
 * the key (written before it existed) is fp32.
 */
#ifndef MOBILESAM_FORMAT_EMBFILE_H
#define MOBILESAM_FORMAT_EMBFILE_H

#include <stdio.h>

#include "mobilesam.h"
#include "format/output.h"

#define EMBFILE_VERSION 1

/* Adds the embedding file to the output set. Returns 0, or -1 after
 * printing an error. */
int embfile_write(out_set *outs, const char *path, const mobilesam_model *model,
                  const mobilesam_embedding *emb);

/* The same file's bytes written to fp (a memory stream, say). Returns 0,
 * or -1 with the reason in err. */
int embfile_fwrite(FILE *fp, const mobilesam_model *model,
                   const mobilesam_embedding *emb, char *err, size_t errlen);

/* Loads an embedding file, refusing it (one line naming the file) when it
 * has no mobilesam metadata (or a bad "precision" in it), was made with
 * other weights than `model`, or for an image whose size is not width x
 * height. The embedding gets the file's precision. */
int embfile_read(const char *path, const mobilesam_model *model, int width,
                 int height, mobilesam_embedding **out);

#endif
