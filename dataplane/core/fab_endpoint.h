/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The endpoint model: where a VM endpoint (VNI, MAC) is, as one host sees it, and the
 * rules by which that changes.
 *
 *   LOCAL(port)          the VM runs here                 deliver to its port
 *   REMOTE(vtep)         the VM runs on another host      encapsulate to that host
 *   INCOMING(port)       migration target, VM not running hold in a bounded queue
 *   FORWARDING(vtep)     migration source after switchover re-encapsulate, marked, to
 *                                                           the target
 *
 * Every location carries a generation that only grows. A location update (`set`, or the
 * migration steps `prepare_incoming` and `begin_forwarding`, which name a new location)
 * must carry a generation strictly greater than the one held; an older or equal one
 * never wins (-ESTALE), so a late or replayed update cannot move an endpoint back.
 * The two steps that complete a location without moving it (`activate`: INCOMING ->
 * LOCAL on the same port, `end_forwarding`: FORWARDING -> REMOTE at the same target)
 * keep the generation and must name it exactly. A deletion keeps its generation as a
 * tombstone (state ABSENT) so that an older update arriving after it still loses.
 */
#ifndef FAB_ENDPOINT_H
#define FAB_ENDPOINT_H

#include "fab_compat.h"

#ifndef __bpf__
#include <errno.h>
#else
#define EINVAL 22
#define ENOENT 2
#define EPERM 1
#define ESTALE 116
#endif

enum fab_ep_state {
	FAB_EP_ABSENT = 0, /* never known, or deleted (a tombstone keeps the generation) */
	FAB_EP_LOCAL = 1,
	FAB_EP_REMOTE = 2,
	FAB_EP_INCOMING = 3,
	FAB_EP_FORWARDING = 4,
};

/* The value the fast path finds for (VNI, MAC). Shared with the BPF maps: keep it packed
 * to 16 bytes with no implicit padding. */
struct fab_endpoint {
	uint64_t generation;
	uint32_t vtep; /* REMOTE: the VM's host; FORWARDING: the migration target */
	uint16_t port; /* LOCAL, INCOMING: the VM's port on this host */
	uint8_t state; /* enum fab_ep_state */
	uint8_t flags; /* reserved, zero */
};

enum fab_ep_step {
	FAB_STEP_SET = 0,              /* any location, newer generation */
	FAB_STEP_PREPARE_INCOMING = 1, /* -> INCOMING(port), newer generation */
	FAB_STEP_BEGIN_FORWARDING = 2, /* LOCAL -> FORWARDING(target), newer generation */
	FAB_STEP_ACTIVATE = 3,         /* INCOMING -> LOCAL, same generation */
	FAB_STEP_END_FORWARDING = 4,   /* FORWARDING -> REMOTE(target), same generation */
	FAB_STEP_DELETE = 5,           /* -> ABSENT, generation at least the held one */
};

FAB_INLINE bool fab_ep_state_valid(uint8_t state)
{
	return state >= FAB_EP_LOCAL && state <= FAB_EP_FORWARDING;
}

/* A location names a port for LOCAL and INCOMING and a VTEP for REMOTE and FORWARDING. */
FAB_INLINE bool fab_ep_location_valid(const struct fab_endpoint *ep)
{
	if (!fab_ep_state_valid(ep->state) || ep->generation == 0)
		return false;
	if (ep->state == FAB_EP_REMOTE || ep->state == FAB_EP_FORWARDING)
		return ep->vtep != 0;
	return ep->port != 0; /* port 0 is the uplink */
}

/*
 * Applies one step to the endpoint `cur` (state ABSENT when not known).
 *
 * @cur:  the endpoint as held; changed only on success.
 * @step: enum fab_ep_step.
 * @arg:  SET: the full new location. PREPARE_INCOMING: port and generation.
 *        BEGIN_FORWARDING: vtep (the target) and generation. ACTIVATE, END_FORWARDING:
 *        the generation the step completes. DELETE: the generation of the deletion.
 *
 * Returns 0, or:
 *   -EINVAL  the argument is not a valid location (state, zero generation, zero VTEP),
 *            or the step is unknown;
 *   -ESTALE  the generation does not win (older or equal for a move, different for a
 *            completion, older for a deletion);
 *   -ENOENT  the step needs a known endpoint and there is none;
 *   -EPERM   the step does not start from the current state (begin forwarding from
 *            anything but LOCAL, activate from anything but INCOMING, ...).
 * Completing steps are idempotent: activating an endpoint already LOCAL at that
 * generation returns 0 (it was activated at that generation, by the fast path or by an
 * earlier call), as does ending forwarding of an endpoint already REMOTE at it.
 */
FAB_INLINE int fab_endpoint_step(struct fab_endpoint *cur, unsigned int step,
				 const struct fab_endpoint *arg)
{
	struct fab_endpoint next = *cur;

	switch (step) {
	case FAB_STEP_SET:
		if (!fab_ep_location_valid(arg))
			return -EINVAL;
		if (arg->generation <= cur->generation)
			return -ESTALE;
		next = *arg;
		if (next.state == FAB_EP_LOCAL || next.state == FAB_EP_INCOMING)
			next.vtep = 0;
		else
			next.port = 0;
		break;
	case FAB_STEP_PREPARE_INCOMING:
		if (arg->generation == 0 || arg->port == 0)
			return -EINVAL;
		if (arg->generation <= cur->generation)
			return -ESTALE;
		next.state = FAB_EP_INCOMING;
		next.port = arg->port;
		next.vtep = 0;
		next.generation = arg->generation;
		break;
	case FAB_STEP_BEGIN_FORWARDING:
		if (arg->generation == 0 || arg->vtep == 0)
			return -EINVAL;
		if (cur->state == FAB_EP_ABSENT)
			return -ENOENT;
		if (arg->generation <= cur->generation)
			return -ESTALE;
		if (cur->state != FAB_EP_LOCAL)
			return -EPERM;
		next.state = FAB_EP_FORWARDING;
		next.vtep = arg->vtep;
		next.port = 0;
		next.generation = arg->generation;
		break;
	case FAB_STEP_ACTIVATE:
		if (cur->state == FAB_EP_ABSENT)
			return -ENOENT;
		if (arg->generation != cur->generation)
			return -ESTALE;
		if (cur->state == FAB_EP_LOCAL)
			return 0;
		if (cur->state != FAB_EP_INCOMING)
			return -EPERM;
		next.state = FAB_EP_LOCAL;
		break;
	case FAB_STEP_END_FORWARDING:
		if (cur->state == FAB_EP_ABSENT)
			return -ENOENT;
		if (arg->generation != cur->generation)
			return -ESTALE;
		if (cur->state == FAB_EP_REMOTE)
			return 0;
		if (cur->state != FAB_EP_FORWARDING)
			return -EPERM;
		next.state = FAB_EP_REMOTE;
		break;
	case FAB_STEP_DELETE:
		if (cur->state == FAB_EP_ABSENT)
			return -ENOENT;
		if (arg->generation < cur->generation)
			return -ESTALE;
		next.state = FAB_EP_ABSENT;
		next.port = 0;
		next.vtep = 0;
		next.generation = arg->generation;
		break;
	default:
		return -EINVAL;
	}
	*cur = next;
	return 0;
}

#endif
