/* SPDX-License-Identifier: Apache-2.0 */
/* Between protobuf messages and the fabric API's structs, with field-naming errors. */
#ifndef VMF_AGENT_CONVERT_H
#define VMF_AGENT_CONVERT_H

#include "fabric.h"
#include "fabric/v1/agent.pb-c.h"
#include "fabric/v1/types.pb-c.h"

/* Checked request fields. Each returns 0, or -EINVAL with a message naming `field`. */
int conv_vni(uint32_t vni, const char *field, char *err, size_t len);
int conv_mac(const char *s, const char *field, uint8_t mac[6], char *err, size_t len);
int conv_vtep(const char *s, const char *field, uint32_t *vtep, char *err, size_t len);
int conv_generation(uint64_t gen, const char *field, char *err, size_t len);
int conv_key(uint32_t vni, const char *mac, const char *prefix, struct fab_ep_key *key,
	     char *err, size_t len);
int conv_addresses(char **ip4, size_t n4, char **ip6, size_t n6, const char *prefix,
		   struct fab_ep_addrs *out, char *err, size_t len);
int conv_port(struct fabric *fab, const char *name, const char *field, uint16_t *index,
	      char *err, size_t len);
/* A whole Endpoint message into key, location and addresses. */
int conv_endpoint(struct fabric *fab, const Fabric__V1__Endpoint *ep, const char *prefix,
		  struct fab_ep_key *key, struct fab_endpoint *loc, struct fab_ep_addrs *addrs,
		  char *err, size_t len);
bool conv_utf8_valid(const char *s);

/*
 * Fills a Flow or Endpoint message from a fabric flow. The strings point into `buf`,
 * which must outlive the message.
 */
struct conv_strings {
	char mac[18];
	char vtep[16];
	char ip4[FAB_EP_MAX_IP4][16];
	char ip6[FAB_EP_MAX_IP6][46];
	char *ip4p[FAB_EP_MAX_IP4];
	char *ip6p[FAB_EP_MAX_IP6];
	char port[FAB_PORT_NAME_MAX];
};
void conv_flow(const struct fab_flow *f, const char *vm_name, Fabric__V1__Flow *out,
	       struct conv_strings *buf);
void conv_endpoint_out(const struct fab_flow *f, const char *vm_name, Fabric__V1__Endpoint *out,
		       struct conv_strings *buf);

#endif
