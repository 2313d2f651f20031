/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Drop reasons and per-host counters, each generated from one X-macro so that the enum,
 * the names shown by fabricctl and the numbers exported over the API cannot drift apart.
 *
 * The numbers are part of the API: never renumber, never reuse a retired number. A new
 * reason takes the next free number at the end.
 */
#ifndef FAB_COUNTERS_H
#define FAB_COUNTERS_H

/* X(symbol, number, name, what an operator should understand by it) */
#define FAB_DROP_REASONS(X)                                                                    \
	X(NONE, 0, "none", "not dropped")                                                      \
	X(ETH_TRUNCATED, 1, "eth_truncated", "frame shorter than an Ethernet header")          \
	X(VLAN_TRUNCATED, 2, "vlan_truncated", "frame ends inside an 802.1Q tag")              \
	X(VLAN_TOO_MANY, 3, "vlan_too_many_tags", "more than two stacked VLAN tags")           \
	X(ARP_TRUNCATED, 4, "arp_truncated", "frame ends inside an ARP header")                \
	X(ARP_MALFORMED, 5, "arp_malformed", "ARP not for Ethernet/IPv4 or with bad lengths")  \
	X(IPV4_TRUNCATED, 6, "ipv4_truncated", "frame ends inside the IPv4 header or options") \
	X(IPV4_BAD_VERSION, 7, "ipv4_bad_version", "IPv4 ethertype but version is not 4")      \
	X(IPV4_BAD_IHL, 8, "ipv4_bad_ihl", "IPv4 header length below 20 bytes")                \
	X(IPV4_BAD_LENGTH, 9, "ipv4_bad_length",                                               \
	  "IPv4 total length shorter than its header or longer than the frame")                \
	X(IPV4_BAD_CHECKSUM, 10, "ipv4_bad_checksum", "outer IPv4 header checksum is wrong")   \
	X(IPV6_TRUNCATED, 11, "ipv6_truncated", "frame ends inside the IPv6 header")           \
	X(IPV6_BAD_VERSION, 12, "ipv6_bad_version", "IPv6 ethertype but version is not 6")     \
	X(IPV6_BAD_LENGTH, 13, "ipv6_bad_length", "IPv6 payload length longer than the frame")  \
	X(IPV6_EXT_TRUNCATED, 14, "ipv6_ext_truncated",                                        \
	  "frame or payload ends inside an IPv6 extension header")                             \
	X(IPV6_EXT_CHAIN_TOO_LONG, 15, "ipv6_ext_chain_too_long",                              \
	  "more IPv6 extension headers than the parser walks (4)")                             \
	X(ICMPV6_TRUNCATED, 16, "icmpv6_truncated", "frame ends inside an ICMPv6 ND message")  \
	X(ND_MALFORMED, 17, "nd_malformed",                                                    \
	  "neighbour discovery with hop limit not 255, a non-zero code or a bad option")       \
	X(UDP_TRUNCATED, 18, "udp_truncated", "frame ends inside the UDP header")              \
	X(UDP_BAD_LENGTH, 19, "udp_bad_length", "UDP length disagrees with the IP length")     \
	X(VXLAN_TRUNCATED, 20, "vxlan_truncated", "frame ends inside the VXLAN header")        \
	X(VXLAN_BAD_FLAGS, 21, "vxlan_bad_flags", "VXLAN header without the valid-VNI flag")   \
	X(INNER_TRUNCATED, 22, "inner_truncated", "VXLAN payload shorter than an Ethernet header") \
	X(OUTER_FRAGMENT, 23, "outer_fragment", "fragmented VXLAN packet (never reassembled)") \
	X(UNKNOWN_VTEP, 24, "unknown_vtep",                                                    \
	  "VXLAN from an underlay address that is not a known host (anti-spoofing)")           \
	X(UNKNOWN_VNI, 25, "unknown_vni", "VXLAN network identifier not configured here")      \
	X(UNKNOWN_DESTINATION, 26, "unknown_destination",                                      \
	  "destination MAC is not a known endpoint in this VNI (no flooding)")                 \
	X(MARKED_NOT_REFORWARDED, 27, "marked_not_reforwarded",                                \
	  "frame already forwarded by a migration source would need forwarding again")         \
	X(STALE_LOCATION, 28, "stale_location",                                                \
	  "frame for an endpoint that lives on another host: the sender's table is stale")     \
	X(BROADCAST_NOT_FORWARDED, 29, "broadcast_not_forwarded",                              \
	  "broadcast or multicast that is neither ARP nor neighbour discovery")                \
	X(ARP_UNKNOWN_TARGET, 30, "arp_unknown_target", "ARP request for an unknown address")  \
	X(ND_UNKNOWN_TARGET, 31, "nd_unknown_target",                                          \
	  "neighbour solicitation for an unknown address")                                     \
	X(ANNOUNCEMENT_ABSORBED, 32, "announcement_absorbed",                                  \
	  "gratuitous ARP, RARP or unsolicited NA taken in, not flooded")                      \
	X(SELF_RESOLUTION, 33, "self_resolution",                                              \
	  "ARP or ND for the asker's own address, or duplicate address detection")             \
	X(SOURCE_MAC_SPOOFED, 34, "source_mac_spoofed",                                        \
	  "VM port sent a frame from a MAC that is not the endpoint bound to it")              \
	X(PORT_NOT_BOUND, 35, "port_not_bound", "frame on a VM port with no endpoint bound")   \
	X(HOLD_OVERFLOW, 36, "hold_overflow", "incoming VM's hold queue full")                 \
	X(HOLD_TIMEOUT, 37, "hold_timeout", "held frame not released before the hold timeout") \
	X(HAIRPIN, 38, "hairpin", "destination is the port the frame came from")               \
	X(NO_ROUTE_TO_VTEP, 39, "no_route_to_vtep",                                            \
	  "endpoint's host has no underlay neighbour entry")                                   \
	X(TX_FULL, 40, "tx_full", "output queue full")                                         \
	X(FRAME_TOO_LARGE, 41, "frame_too_large", "encapsulated frame would exceed the MTU")   \
	X(ENCAP_NO_ROOM, 42, "encap_no_room", "no headroom or tailroom to rewrite the frame") \
	X(HOLD_CANCELLED, 43, "hold_cancelled",                                                \
	  "held frame for a VM that is no longer coming (migration cancelled)")

enum fab_drop_reason {
#define FAB_X_ENUM(sym, num, name, help) FAB_DROP_##sym = num,
	FAB_DROP_REASONS(FAB_X_ENUM)
#undef FAB_X_ENUM
	FAB_DROP__COUNT
};

/* Non-drop events counted per host: what happened to every frame that was not dropped. */
#define FAB_COUNTERS(X)                                                                        \
	X(RX, 0, "rx", "frames received on any port")                                          \
	X(DELIVERED, 1, "delivered", "frames delivered to a local VM port")                    \
	X(ENCAPSULATED, 2, "encapsulated", "frames sent in VXLAN to the endpoint's host")      \
	X(FORWARDED, 3, "forwarded", "frames re-sent, marked, to a migration target")          \
	X(HELD, 4, "held",                                                                     \
	  "frames queued for a VM not taking them yet (incoming, or paused)")                   \
	X(RELEASED, 5, "released",                                                             \
	  "held frames delivered once the VM took them (proxy replies among them)")            \
	X(ARP_REPLIED, 6, "arp_replied", "ARP requests answered by proxy, the reply sent")     \
	X(ND_REPLIED, 7, "nd_replied",                                                         \
	  "neighbour solicitations answered by proxy, the reply sent")                         \
	X(ACTIVATED, 8, "activated", "incoming VMs activated by their own announcement")       \
	X(TO_HOST, 9, "to_host", "underlay frames that are not overlay traffic for this host") \
	X(DROPPED, 10, "dropped", "frames dropped, for any reason")

enum fab_counter {
#define FAB_X_ENUM(sym, num, name, help) FAB_CTR_##sym = num,
	FAB_COUNTERS(FAB_X_ENUM)
#undef FAB_X_ENUM
	FAB_CTR__COUNT
};

#ifndef __bpf__
/* The short name of a drop reason (as shown by fabricctl and in the vectors), or NULL for
 * a number that names no reason. */
const char *fab_drop_name(unsigned int reason);
/* One sentence on what a drop reason means, or NULL. */
const char *fab_drop_help(unsigned int reason);
/* The reason with this short name, or -ENOENT. */
int fab_drop_from_name(const char *name);
const char *fab_counter_name(unsigned int counter);
#endif

#endif
