/*
 * vnc_lazy.h — libvncserver is loaded when the first VNC server starts (vnc_lazy.c,
 * util/lazy_lib.h).
 */
#ifndef COVE_DISPLAY_VNC_LAZY_H
#define COVE_DISPLAY_VNC_LAZY_H

#include <rfb/rfb.h>

/* Loads libvncserver and points its log functions (the library's rfbLog and rfbErr) at
 * log: NULL when it is there, else what is wrong and what to install. */
const char *vnc_lazy_load(rfbLogProc log);

#endif
