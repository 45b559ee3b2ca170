/*
 * curl_lazy.h — libcurl is loaded when the first registry client opens (curl_lazy.c,
 * util/lazy_lib.h); this says why it could not be.
 */
#ifndef COVE_OCI_CURL_LAZY_H
#define COVE_OCI_CURL_LAZY_H

/* Loads libcurl: NULL when it is there, else what is wrong and what to install. */
const char *curl_lazy_load(void);

#endif
