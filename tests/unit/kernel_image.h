/*
 * kernel_image.h — a file that `cove create --kernel` accepts: a RISC-V Linux Image header
 * (a jump, text_offset 2 MiB, image_size 4 KiB, the "RISCV" and "RSC\x05" magics) in
 * 4 KiB of zeros. For the store's and the run's unit tests, which make bundles.
 */
#ifndef COVE_TEST_KERNEL_IMAGE_H
#define COVE_TEST_KERNEL_IMAGE_H

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

/* Writes the image at DIR/Image and its path into path. */
static inline void test_write_kernel(const char *dir, char *path, size_t n)
{
    unsigned char img[4096] = {0};
    img[0] = 0x6f;  /* j . */
    img[10] = 0x20; /* text_offset 2 MiB */
    img[17] = 0x10; /* image_size 4 KiB */
    memcpy(img + 0x30, "RISCV\0\0\0", 8);
    memcpy(img + 0x38, "RSC\x05", 4);
    snprintf(path, n, "%s/Image", dir);
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, img, sizeof img) == (ssize_t)sizeof img);
    close(fd);
}

#endif
