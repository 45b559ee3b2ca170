/* RFB cut text (src/display/latin1.c): the guest's clipboard (any bytes) on its way to VNC
 * clients as Latin-1 and as UTF-8, and a client's Latin-1 on its way in. Whatever the
 * bytes: the outputs stay inside their documented bounds, the sanitized UTF-8 is
 * well-formed (sanitizing it again changes nothing, and as Latin-1 it reads as the input
 * does), and Latin-1 goes to UTF-8 and back unchanged. */
#include <stdlib.h>

#include "display/latin1.h"
#include "fuzz.h"

#define MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char utf8[3 * MAX], again[3 * 3 * MAX], latin1[MAX], latin1b[3 * MAX], back[2 * MAX];
    if (size > MAX)
        size = MAX;
    const char *in = (const char *)data;
    size_t un = utf8_sanitize(in, size, utf8);
    size_t ln = utf8_to_latin1(in, size, latin1);
    if (un > 3 * size || ln > size)
        __builtin_trap();
    if (utf8_sanitize(utf8, un, again) != un || memcmp(again, utf8, un))
        __builtin_trap();
    /* U+FFFD (a malformed byte) and every character past U+00FF are one '?' each */
    if (utf8_to_latin1(utf8, un, latin1b) != ln || memcmp(latin1b, latin1, ln))
        __builtin_trap();
    size_t bn = latin1_to_utf8(in, size, back);
    if (bn > 2 * size || utf8_to_latin1(back, bn, latin1b) != size || memcmp(latin1b, in, size))
        __builtin_trap();
    return 0;
}
