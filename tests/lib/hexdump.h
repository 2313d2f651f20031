/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VMF_TEST_HEXDUMP_H
#define VMF_TEST_HEXDUMP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Prints two frames side by side, 16 bytes a row, marking the rows that differ. */
static inline void hexdump_diff(FILE *out, const uint8_t *want, size_t want_len,
				const uint8_t *got, size_t got_len)
{
	size_t max = want_len > got_len ? want_len : got_len;

	fprintf(out, "  want %zu bytes, got %zu bytes\n", want_len, got_len);
	for (size_t row = 0; row < max; row += 16) {
		int differs = 0;

		for (size_t i = row; i < row + 16 && i < max; i++)
			if (i >= want_len || i >= got_len || want[i] != got[i])
				differs = 1;
		fprintf(out, "  %c %04zx ", differs ? '!' : ' ', row);
		for (size_t i = row; i < row + 16; i++)
			i < want_len ? fprintf(out, "%02x", want[i]) : fprintf(out, "  ");
		fprintf(out, " | ");
		for (size_t i = row; i < row + 16 && i < got_len; i++)
			fprintf(out, "%02x", got[i]);
		fprintf(out, "\n");
	}
}

#endif
