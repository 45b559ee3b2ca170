/*
 * latin1.h — the text of RFB's cut-text messages: classic ServerCutText/ClientCutText carry
 * Latin-1 (ISO 8859-1), the guest's clipboard and the extended clipboard carry UTF-8. Guest
 * and client are both untrusted: the conversions take any bytes and make well-formed output.
 */
#ifndef COVE_DISPLAY_LATIN1_H
#define COVE_DISPLAY_LATIN1_H

#include <stddef.h>

/* Latin-1 to UTF-8: out holds at least 2 * n bytes; returns the length written. */
size_t latin1_to_utf8(const char *in, size_t n, char *out);
/* UTF-8 to Latin-1: a character past U+00FF, and each byte that does not belong to a
 * well-formed sequence (overlong, a surrogate, past U+10FFFF, cut short), becomes '?'.
 * out holds at least n bytes; returns the length written. */
size_t utf8_to_latin1(const char *in, size_t n, char *out);
/* Well-formed UTF-8: each byte that does not belong to a well-formed sequence becomes
 * U+FFFD. out holds at least 3 * n bytes; returns the length written. */
size_t utf8_sanitize(const char *in, size_t n, char *out);

#endif
