/* config.json's parser (src/store/config.c), which reads a bundle's file: whoever wrote it
 * need not be whoever runs cove. Whatever the bytes, the parser must stay in bounds and
 * either refuse them with a message or accept them; what it accepts must write back to
 * JSON that it accepts again, to the same text (the writer and the parser agree), and
 * survive a deep copy. */
#include <stdlib.h>
#include <string.h>

#include <cove/config.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    struct cove_config cfg, again, copy;
    struct cove_error err = {0};
    if (cove_config_parse((const char *)data, size, "config.json", &cfg, &err) < 0) {
        if (!err.message[0] || strchr(err.message, '\n'))
            __builtin_trap(); /* a refusal is one line */
        return 0;
    }
    char *text = cove_config_to_json(&cfg);
    if (!text)
        __builtin_trap();
    if (cove_config_parse(text, strlen(text), "config.json", &again, &err) < 0)
        __builtin_trap(); /* the writer wrote what the parser refuses */
    char *text2 = cove_config_to_json(&again);
    if (!text2 || strcmp(text, text2) != 0)
        __builtin_trap();
    if (cove_config_copy(&cfg, &copy) == 0) {
        char *text3 = cove_config_to_json(&copy);
        if (!text3 || strcmp(text, text3) != 0)
            __builtin_trap();
        free(text3);
        cove_config_free(&copy);
    }
    free(text);
    free(text2);
    cove_config_free(&again);
    cove_config_free(&cfg);
    return 0;
}
