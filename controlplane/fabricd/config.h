/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fabricd's configuration: the command line after EAL's options, and a config file with
 * the same option names (one "name value" per line, '#' comments), read in order so a
 * later option overrides an earlier one.
 */
#ifndef FABRICD_CONFIG_H
#define FABRICD_CONFIG_H

#include <stdio.h>

#include "dpdk_backend.h"
#include "fabric.h"

#define FABRICD_MAX_PEERS 256
#define FABRICD_MAX_STATIC_ENDPOINTS 256

struct fabricd_peer {
	uint32_t vtep;
	uint8_t mac[6];
};

struct fabricd_endpoint {
	struct fab_ep_key key;
	struct fab_endpoint loc;
	struct fab_ep_addrs addrs;
	char port_name[FAB_PORT_NAME_MAX];
};

struct fabricd_config {
	struct dpdk_config dp;
	struct fabricd_peer peers[FABRICD_MAX_PEERS];
	unsigned int n_peers;
	struct fabricd_endpoint endpoints[FABRICD_MAX_STATIC_ENDPOINTS];
	unsigned int n_endpoints;
	unsigned int stats_interval_s; /* 0: no periodic line */
	char listen_unix[256];  /* the agent's unix socket path */
	char listen_tcp[128];   /* HOST:PORT for remote controllers (mutual TLS), or empty */
	char tls_ca[256], tls_cert[256], tls_key[256];
	char allow_peers[16][128]; /* certificate identities allowed to change state over TCP */
	unsigned int n_allow_peers;
	char host_name[64];
	char metrics_listen[64]; /* ADDRESS:PORT for Prometheus scrapes, or empty */
	char qemu_dir[200];      /* the QEMU monitor of VM NAME is qemu_dir/NAME.qmp */
};

/* Sets the defaults. */
void fabricd_config_init(struct fabricd_config *cfg);

/*
 * Applies the options in argv[0..argc) (fabricd's own, after EAL's "--").
 * Returns 0, 1 when --help was printed, or -1 with a one-line message in `err`.
 */
int fabricd_config_args(struct fabricd_config *cfg, int argc, char **argv, char *err,
			size_t err_len);

/* Checks what only the whole configuration can tell (required options, ports named by
 * endpoints). Returns 0 or -1 with a message. */
int fabricd_config_check(const struct fabricd_config *cfg, char *err, size_t err_len);

/* Parses an endpoint spec: "vni=N mac=MAC state=STATE (port=NAME|vtep=ADDR) gen=N [ip=ADDR]...".
 * Returns 0 or -1 with a message. */
int fabricd_endpoint_parse(const char *spec, struct fabricd_endpoint *ep, char *err,
			   size_t err_len);

void fabricd_usage(FILE *out);

#endif
