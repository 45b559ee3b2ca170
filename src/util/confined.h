/*
 * confined.h — whether this process runs under the VMM's system-call filter
 * (src/vm/seccomp.c sets it once the filter is on). Code below libcove's run that could
 * otherwise open, fork or exec on its own (a network attachment starting its switch) asks
 * first and does without: under the filter such a call ends the process.
 */
#ifndef COVE_UTIL_CONFINED_H
#define COVE_UTIL_CONFINED_H

#include <stdbool.h>

void process_set_confined(void);
bool process_confined(void);

#endif
