/* The VNC server's keysym -> Linux key code table (src/display/keymap.c). */
#include "../test.h"
#include "display/keymap.h"

TEST(letters_digits_and_shifted_symbols)
{
    CHECK_EQ_U64(keymap_keysym_to_linux('a'), 30);
    CHECK_EQ_U64(keymap_keysym_to_linux('A'), 30);
    CHECK_EQ_U64(keymap_keysym_to_linux('q'), 16);
    CHECK_EQ_U64(keymap_keysym_to_linux('m'), 50);
    CHECK_EQ_U64(keymap_keysym_to_linux('1'), 2);
    CHECK_EQ_U64(keymap_keysym_to_linux('!'), 2);
    CHECK_EQ_U64(keymap_keysym_to_linux('0'), 11);
    CHECK_EQ_U64(keymap_keysym_to_linux('?'), 53);
    CHECK_EQ_U64(keymap_keysym_to_linux(' '), 57);
}

TEST(function_and_control_keys)
{
    CHECK_EQ_U64(keymap_keysym_to_linux(0xff0d), 28);  /* Return */
    CHECK_EQ_U64(keymap_keysym_to_linux(0xff1b), 1);   /* Escape */
    CHECK_EQ_U64(keymap_keysym_to_linux(0xffbe), 59);  /* F1 */
    CHECK_EQ_U64(keymap_keysym_to_linux(0xffc7), 68);  /* F10 */
    CHECK_EQ_U64(keymap_keysym_to_linux(0xffc9), 88);  /* F12 */
    CHECK_EQ_U64(keymap_keysym_to_linux(0xffe1), 42);  /* Shift_L */
    CHECK_EQ_U64(keymap_keysym_to_linux(0xff52), 103); /* Up */
}

TEST(unknown_keysyms)
{
    CHECK_EQ_U64(keymap_keysym_to_linux(0), 0);
    CHECK_EQ_U64(keymap_keysym_to_linux(0x20ac), 0); /* EuroSign */
    CHECK_EQ_U64(keymap_keysym_to_linux(0xffffffffu), 0);
    CHECK_EQ_U64(keymap_keysym_to_linux(0x7f), 0);
}

int main(void)
{
    RUN(letters_digits_and_shifted_symbols);
    RUN(function_and_control_keys);
    RUN(unknown_keysyms);
    return test_summary();
}
