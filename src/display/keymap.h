/* keymap.h — RFB key events (X11 keysyms) to Linux key codes (linux/input-event-codes.h). */
#ifndef COVE_DISPLAY_KEYMAP_H
#define COVE_DISPLAY_KEYMAP_H

#include <stdint.h>

/* The key that types keysym on a US keyboard; 0 when there is none. */
uint16_t keymap_keysym_to_linux(uint32_t keysym);

#endif
