/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent_convert.h"

/* Well-formed UTF-8 as RFC 3629 defines it: no overlong forms, no surrogates, nothing
 * above U+10FFFF (proto3 strings must be; protobuf-c does not check). */
bool conv_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned int cp, min;
		int n;

		if (*p < 0x80) {
			p++;
			continue;
		} else if ((*p & 0xe0) == 0xc0) {
			n = 1, cp = *p & 0x1f, min = 0x80;
		} else if ((*p & 0xf0) == 0xe0) {
			n = 2, cp = *p & 0x0f, min = 0x800;
		} else if ((*p & 0xf8) == 0xf0) {
			n = 3, cp = *p & 0x07, min = 0x10000;
		} else {
			return false;
		}
		p++;
		for (int i = 0; i < n; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (*p & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
	}
	return true;
}

/* Text from a request, safe to quote back in an error message. */
static const char *quoted(const char *s)
{
	return s && conv_utf8_valid(s) && strlen(s) < 64 ? s : "(not shown)";
}

int conv_vni(uint32_t vni, const char *field, char *err, size_t len)
{
	if (vni < 1 || vni > FAB_VNI_MAX)
		return snprintf(err, len, "%s: %u is not a VNI (1..16777215)", field, vni), -EINVAL;
	return 0;
}

int conv_mac(const char *s, const char *field, uint8_t mac[6], char *err, size_t len)
{
	if (!s || !*s)
		return snprintf(err, len, "%s: required (aa:bb:cc:dd:ee:ff)", field), -EINVAL;
	if (!conv_utf8_valid(s) || fab_parse_mac(s, mac))
		return snprintf(err, len, "%s: '%s' is not a MAC address (aa:bb:cc:dd:ee:ff)", field,
				quoted(s)),
		       -EINVAL;
	if (mac[0] & 1)
		return snprintf(err, len, "%s: %s is a multicast MAC, not an endpoint's", field, s),
		       -EINVAL;
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return snprintf(err, len, "%s: the zero MAC is not an endpoint's", field), -EINVAL;
	return 0;
}

int conv_vtep(const char *s, const char *field, uint32_t *vtep, char *err, size_t len)
{
	if (!s || !*s)
		return snprintf(err, len, "%s: required (a host's underlay IPv4 address)", field),
		       -EINVAL;
	if (!conv_utf8_valid(s) || fab_parse_ip4(s, vtep) || *vtep == 0 || *vtep >= 0xe0000000u)
		return snprintf(err, len, "%s: '%s' is not a unicast IPv4 address", field, quoted(s)),
		       -EINVAL;
	return 0;
}

int conv_generation(uint64_t gen, const char *field, char *err, size_t len)
{
	if (gen == 0)
		return snprintf(err, len, "%s: required, 1 or more", field), -EINVAL;
	return 0;
}

/* prefix + name into field, without printf: this runs for every endpoint of a batch. */
static const char *field_join(char *field, size_t size, const char *prefix, const char *name)
{
	size_t p = strlen(prefix), n = strlen(name);

	if (p + n >= size)
		p = n = 0;
	memcpy(field, prefix, p);
	memcpy(field + p, name, n);
	field[p + n] = 0;
	return field;
}

int conv_key(uint32_t vni, const char *mac, const char *prefix, struct fab_ep_key *key,
	     char *err, size_t len)
{
	char field[64];

	memset(key, 0, sizeof(*key));
	field_join(field, sizeof(field), prefix, "vni");
	if (conv_vni(vni, field, err, len))
		return -EINVAL;
	key->vni = vni;
	field_join(field, sizeof(field), prefix, "mac");
	return conv_mac(mac, field, key->mac, err, len);
}

int conv_addresses(char **ip4, size_t n4, char **ip6, size_t n6, const char *prefix,
		   struct fab_ep_addrs *out, char *err, size_t len)
{
	memset(out, 0, sizeof(*out));
	if (n4 > FAB_EP_MAX_IP4 || n6 > FAB_EP_MAX_IP6)
		return snprintf(err, len, "%s%s: at most %d addresses", prefix,
				n4 > FAB_EP_MAX_IP4 ? "ipv4_addresses" : "ipv6_addresses",
				n4 > FAB_EP_MAX_IP4 ? FAB_EP_MAX_IP4 : FAB_EP_MAX_IP6),
		       -EINVAL;
	for (size_t i = 0; i < n4; i++) {
		uint32_t a;

		if (!conv_utf8_valid(ip4[i]) || fab_parse_ip4(ip4[i], &a) || a == 0 || a >= 0xe0000000u)
			return snprintf(err, len, "%sipv4_addresses[%zu]: '%s' is not a unicast IPv4 address",
					prefix, i, quoted(ip4[i])),
			       -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (out->ip4[j] == a)
				return snprintf(err, len, "%sipv4_addresses[%zu]: %s is listed twice",
						prefix, i, ip4[i]),
				       -EINVAL;
		out->ip4[out->n_ip4++] = a;
	}
	for (size_t i = 0; i < n6; i++) {
		struct in6_addr a;
		static const uint8_t zero[16];

		if (!conv_utf8_valid(ip6[i]) || inet_pton(AF_INET6, ip6[i], &a) != 1 ||
		    a.s6_addr[0] == 0xff || memcmp(a.s6_addr, zero, 16) == 0)
			return snprintf(err, len, "%sipv6_addresses[%zu]: '%s' is not a unicast IPv6 address",
					prefix, i, quoted(ip6[i])),
			       -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (memcmp(out->ip6[j], a.s6_addr, 16) == 0)
				return snprintf(err, len, "%sipv6_addresses[%zu]: %s is listed twice",
						prefix, i, ip6[i]),
				       -EINVAL;
		memcpy(out->ip6[out->n_ip6++], a.s6_addr, 16);
	}
	return 0;
}

int conv_port(struct fabric *fab, const char *name, const char *field, uint16_t *index,
	      char *err, size_t len)
{
	int i;

	if (!name || !*name)
		return snprintf(err, len, "%s: required (a VM port of this host)", field), -EINVAL;
	if (!conv_utf8_valid(name))
		return snprintf(err, len, "%s: not valid UTF-8", field), -EINVAL;
	i = fabric_port_index(fab, name);
	if (i < 0)
		return snprintf(err, len, "%s: this host has no VM port '%s'", field, quoted(name)),
		       -EINVAL;
	*index = (uint16_t)i;
	return 0;
}

int conv_endpoint(struct fabric *fab, const Fabric__V1__Endpoint *ep, const char *prefix,
		  struct fab_ep_key *key, struct fab_endpoint *loc, struct fab_ep_addrs *addrs,
		  char *err, size_t len)
{
	char field[64];

	if (!ep)
		return snprintf(err, len, "%s: required", *prefix ? prefix : "endpoint"), -EINVAL;
	if (conv_key(ep->vni, ep->mac, prefix, key, err, len))
		return -EINVAL;
	memset(loc, 0, sizeof(*loc));
	field_join(field, sizeof(field), prefix, "generation");
	if (conv_generation(ep->generation, field, err, len))
		return -EINVAL;
	loc->generation = ep->generation;
	if (ep->vm_name && (!conv_utf8_valid(ep->vm_name) || strlen(ep->vm_name) > 63))
		return snprintf(err, len, "%svm_name: at most 63 bytes of valid UTF-8", prefix), -EINVAL;
	switch (ep->state) {
	case FABRIC__V1__ENDPOINT_STATE__ENDPOINT_STATE_LOCAL:
	case FABRIC__V1__ENDPOINT_STATE__ENDPOINT_STATE_INCOMING:
		field_join(field, sizeof(field), prefix, "port_name");
		if (conv_port(fab, ep->port_name, field, &loc->port, err, len))
			return -EINVAL;
		if (ep->vtep && *ep->vtep)
			return snprintf(err, len, "%svtep: must be empty for a %s endpoint", prefix,
					ep->state == FABRIC__V1__ENDPOINT_STATE__ENDPOINT_STATE_LOCAL
						? "LOCAL"
						: "INCOMING"),
			       -EINVAL;
		break;
	case FABRIC__V1__ENDPOINT_STATE__ENDPOINT_STATE_REMOTE:
	case FABRIC__V1__ENDPOINT_STATE__ENDPOINT_STATE_FORWARDING:
		field_join(field, sizeof(field), prefix, "vtep");
		if (conv_vtep(ep->vtep, field, &loc->vtep, err, len))
			return -EINVAL;
		if (ep->port_name && *ep->port_name)
			return snprintf(err, len, "%sport_name: must be empty for a %s endpoint", prefix,
					ep->state == FABRIC__V1__ENDPOINT_STATE__ENDPOINT_STATE_REMOTE
						? "REMOTE"
						: "FORWARDING"),
			       -EINVAL;
		break;
	default:
		return snprintf(err, len, "%sstate: must be LOCAL, REMOTE, INCOMING or FORWARDING",
				prefix),
		       -EINVAL;
	}
	loc->state = (uint8_t)ep->state;
	return conv_addresses(ep->ipv4_addresses, ep->n_ipv4_addresses, ep->ipv6_addresses,
			      ep->n_ipv6_addresses, prefix, addrs, err, len);
}

static void strings_fill(const struct fab_flow *f, struct conv_strings *b)
{
	fab_format_mac(f->key.mac, b->mac);
	b->vtep[0] = 0;
	if (f->loc.vtep)
		fab_format_ip4(f->loc.vtep, b->vtep);
	snprintf(b->port, sizeof(b->port), "%s", f->port_name ? f->port_name : "");
	for (int i = 0; i < f->addrs.n_ip4; i++) {
		fab_format_ip4(f->addrs.ip4[i], b->ip4[i]);
		b->ip4p[i] = b->ip4[i];
	}
	for (int i = 0; i < f->addrs.n_ip6; i++) {
		inet_ntop(AF_INET6, f->addrs.ip6[i], b->ip6[i], sizeof(b->ip6[i]));
		b->ip6p[i] = b->ip6[i];
	}
}

/* The fields a Flow and an Endpoint message share, under the same names. */
#define CONV_ENDPOINT_FIELDS(out, f, b, vm_name)                                               \
	do {                                                                                   \
		(out)->vni = (f)->key.vni;                                                     \
		(out)->mac = (b)->mac;                                                         \
		(out)->n_ipv4_addresses = (f)->addrs.n_ip4;                                    \
		(out)->ipv4_addresses = (b)->ip4p;                                             \
		(out)->n_ipv6_addresses = (f)->addrs.n_ip6;                                    \
		(out)->ipv6_addresses = (b)->ip6p;                                             \
		(out)->state = (Fabric__V1__EndpointState)(f)->loc.state;                      \
		(out)->port_name = (b)->port;                                                  \
		(out)->vtep = (b)->vtep;                                                       \
		(out)->generation = (f)->loc.generation;                                       \
		(out)->vm_name = (char *)((vm_name) ? (vm_name) : "");                         \
	} while (0)

void conv_flow(const struct fab_flow *f, const char *vm_name, Fabric__V1__Flow *out,
	       struct conv_strings *b)
{
	strings_fill(f, b);
	fabric__v1__flow__init(out);
	CONV_ENDPOINT_FIELDS(out, f, b, vm_name);
	out->packets = f->stats.packets;
	out->bytes = f->stats.bytes;
	out->drops = f->stats.drops;
	out->last_seen_unix_ns = f->stats.last_seen_ns;
}

void conv_endpoint_out(const struct fab_flow *f, const char *vm_name, Fabric__V1__Endpoint *out,
		       struct conv_strings *b)
{
	strings_fill(f, b);
	fabric__v1__endpoint__init(out);
	CONV_ENDPOINT_FIELDS(out, f, b, vm_name);
}
