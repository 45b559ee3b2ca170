/*
 * cove/error.h — how libcove reports errors a user will read.
 *
 * Functions return 0 or a negative errno and, when given a non-NULL struct cove_error,
 * fill it with the same code and one line of text that names what is wrong and, where
 * it helps, what to do ("kernel /x: no such file; pass --kernel PATH").
 */
#ifndef COVE_ERROR_H
#define COVE_ERROR_H

#define COVE_ERROR_MAX 512

struct cove_error {
    int code; /* negative errno */
    char message[COVE_ERROR_MAX];
};

/* Sets err (if non-NULL) and returns code, so callers can `return cove_error_set(...)`. */
int cove_error_set(struct cove_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
