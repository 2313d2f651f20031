/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Counters for monitoring: the Prometheus text format on an HTTP port of the operator's
 * choosing (optional), and DPDK telemetry commands (/fabric/stats, /fabric/drops) on
 * EAL's telemetry socket, readable with dpdk-telemetry.py.
 */
#ifndef FABRICD_METRICS_H
#define FABRICD_METRICS_H

#include "fabric.h"

struct metrics;

/* Listens on "ADDR:PORT" (IPv4). Returns 0, or -1 with a message. */
int metrics_start(struct metrics **out, const char *listen, struct fabric *fab, char *err,
		  size_t err_len);
/* Answers the scrapes that are waiting; never blocks. */
void metrics_poll(struct metrics *m);
void metrics_stop(struct metrics *m);
/* Writes the Prometheus exposition of `fab`'s counters into buf; returns its length. */
size_t metrics_render(struct fabric *fab, char *buf, size_t len);

/* Registers the DPDK telemetry commands for the backend's counters. */
void metrics_register_telemetry(struct fabric *fab);

#endif
