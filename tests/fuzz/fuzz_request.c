/*
 * fuzz_request.c - libFuzzer harness of the request parsers of `mobilesam
 * serve` (src/server/api.c, api_parse_only): each input is a request body,
 * handed to the parser of a predict body, of an everything body and of an
 * annotations body, for a 1280x720 image and for a 1x1 one. Those are every
 * parser a client's bytes reach before the engine (the HTTP itself is
 * libmicrohttpd's). Checked: no crash, no undefined behaviour, no leak
 * (LeakSanitizer) on any path, accepted or refused.
 *
 * Seeds: tests/fuzz/corpus/request. Build and run: scripts/fuzz.sh 60 request.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_util.h"
#include "server/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    for (int which = 0; which < 3; which++) {
        int a = api_parse_only(which, body, size, 1280, 720);
        int b = api_parse_only(which, body, size, 1, 1);
        FUZZ_CHECK(a == 0 || a == -1);
        FUZZ_CHECK(b == 0 || b == -1);
    }
    return 0;
}
