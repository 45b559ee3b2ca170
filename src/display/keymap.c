/* X11 keysyms (what RFB KeyEvents carry) to Linux input key codes (what the guest's
 * virtio-input keyboard reports). A keysym names a symbol, a key code a key: shifted
 * symbols map to the key that types them (the client sends Shift itself). */
#include "display/keymap.h"

static const char row1[] = "qwertyuiop", row2[] = "asdfghjkl", row3[] = "zxcvbnm";

/* the US layout's symbols: unshifted and shifted, and their key codes */
static const struct {
    char plain, shifted;
    uint16_t code;
} symbols[] = {
    {'1', '!', 2},  {'2', '@', 3},  {'3', '#', 4},  {'4', '$', 5},   {'5', '%', 6},
    {'6', '^', 7},  {'7', '&', 8},  {'8', '*', 9},  {'9', '(', 10},  {'0', ')', 11},
    {'-', '_', 12}, {'=', '+', 13}, {'[', '{', 26}, {']', '}', 27},  {';', ':', 39},
    {'\'', '"', 40}, {'`', '~', 41}, {'\\', '|', 43}, {',', '<', 51}, {'.', '>', 52},
    {'/', '?', 53}, {' ', ' ', 57},
};

static const struct {
    uint32_t keysym;
    uint16_t code;
} specials[] = {
    {0xff08, 14},  {0xff09, 15},  {0xff0d, 28},  {0xff1b, 1},   {0xffff, 111}, {0xff50, 102},
    {0xff51, 105}, {0xff52, 103}, {0xff53, 106}, {0xff54, 108}, {0xff55, 104}, {0xff56, 109},
    {0xff57, 107}, {0xff63, 110}, {0xffe1, 42},  {0xffe2, 54},  {0xffe3, 29},  {0xffe4, 97},
    {0xffe5, 58},  {0xffe7, 125}, {0xffe8, 126}, {0xffe9, 56},  {0xffea, 100}, {0xffeb, 125},
    {0xffec, 126}, {0xff8d, 96},  {0xfe03, 100},
};

uint16_t keymap_keysym_to_linux(uint32_t keysym)
{
    if (keysym >= 'A' && keysym <= 'Z')
        keysym += 'a' - 'A';
    if (keysym >= 'a' && keysym <= 'z') {
        for (unsigned i = 0; row1[i]; i++)
            if (row1[i] == (char)keysym)
                return (uint16_t)(16 + i);
        for (unsigned i = 0; row2[i]; i++)
            if (row2[i] == (char)keysym)
                return (uint16_t)(30 + i);
        for (unsigned i = 0; row3[i]; i++)
            if (row3[i] == (char)keysym)
                return (uint16_t)(44 + i);
    }
    if (keysym < 0x80)
        for (unsigned i = 0; i < sizeof symbols / sizeof symbols[0]; i++)
            if (symbols[i].plain == (char)keysym || symbols[i].shifted == (char)keysym)
                return symbols[i].code;
    if (keysym >= 0xffbe && keysym <= 0xffc7) /* F1..F10 */
        return (uint16_t)(59 + keysym - 0xffbe);
    if (keysym == 0xffc8 || keysym == 0xffc9) /* F11, F12 */
        return (uint16_t)(87 + keysym - 0xffc8);
    for (unsigned i = 0; i < sizeof specials / sizeof specials[0]; i++)
        if (specials[i].keysym == keysym)
            return specials[i].code;
    return 0;
}
