/*
 * exec_shared.h — the records the exec monitor's eBPF programs
 * (exec.bpf.c) write to their ring buffer and lib/linux/execmon.c reads.
 * Included by both sides: fixed-width types and no padding only.
 */
#ifndef ALEGATE_LINUX_BPF_EXEC_SHARED_H
#define ALEGATE_LINUX_BPF_EXEC_SHARED_H

#ifndef __bpf__
#include <stdint.h>
#endif

/* em_event.type */
#define EM_EV_FORK	1	/* a new process (not a thread) */
#define EM_EV_EXEC	2	/* a process replaced its image */
#define EM_EV_EXIT	3	/* the last thread of a process ended */

/* em_event.flags */
#define EM_F_PATH_CUT	0x1	/* the path was deeper or longer than the walk
				   allows: path[] holds only its leaf end */
#define EM_F_DELETED	0x2	/* the file had no name left when it ran */
#define EM_F_NO_FILE	0x4	/* exec without a file (never seen; kept safe) */
#define EM_F_FUSE	0x8	/* the file is on a FUSE file system */

/* Bounds of the path walk: one component, all components as written, and
 * how many components (mount crossings count as steps too). */
#define EM_NAME_MAX	256
#define EM_PATH_BUF	2048	/* a power of two: the walk masks with it */
#define EM_DEPTH	48

/* The ring, and how much may wait in it before its reader is woken: the
 * reader drains it before every lookup anyway, so a wake-up per event
 * would only cost; one per this many bytes (some 300 execs) keeps it from
 * filling.  The ring is mapped into the reader twice: its size is RSS. */
#define EM_RING_BYTES	(512u << 10)
#define EM_WAKE_BYTES	(64u << 10)

/*
 * One event.  An exec carries the executable's identity as the kernel
 * holds it (the super block's dev_t, the inode number) and its path, as
 * the components from the file up to the root of the process's mount
 * tree, each NUL-terminated, leaf first ("python3.11\0bin\0usr\0" for
 * /usr/bin/python3.11): the walk writes forwards, the reader reverses.
 */
struct em_event {
	uint32_t type;
	uint32_t pid;		/* thread group id */
	uint32_t ppid;		/* the parent's thread group id */
	uint32_t uid;		/* real uid */
	uint32_t euid;		/* effective uid */
	uint32_t dev;		/* kernel dev_t (major << 20 | minor) */
	uint32_t flags;		/* EM_F_* */
	uint32_t path_len;	/* bytes of path after the struct */
	uint64_t ino;
	uint64_t start_ns;	/* when the process started, CLOCK_BOOTTIME ns */
	char comm[16];
	/* followed by path_len bytes of path */
};

/*
 * Who held a UDP socket that was closed: recorded as it closes (in the
 * closing process), so that a datagram NFQUEUE still holds after its
 * socket and process are gone is still named.  Keyed by the socket's local
 * port in its network namespace, and for a connected socket by its peer's
 * address and port too (saddr is left zero): another program that takes
 * the port next and closes its own socket, connected elsewhere, does not
 * overwrite the record of the sender.
 */
#define EM_MAX_SENDERS	16384

struct em_flow_key {
	uint64_t netns_cookie;
	uint8_t family;		/* 4 or 6 */
	uint8_t proto;		/* IPPROTO_UDP */
	uint16_t sport;		/* host order */
	uint16_t dport;		/* host order; zero: not connected */
	uint8_t pad[2];
	uint8_t saddr[16];	/* zero */
	uint8_t daddr[16];	/* the peer (IPv4: first 4 bytes); zero:
				   not connected */
};

struct em_sender {
	uint32_t pid;		/* thread group id */
	uint32_t uid;		/* the closing process's uid */
	uint32_t dev;		/* its executable then: kernel dev_t */
	uint32_t pad;
	uint64_t ino;		/* and inode (0: none) */
	uint64_t start_ns;	/* when the process started, CLOCK_BOOTTIME ns */
};

#endif
