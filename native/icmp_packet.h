/* Echo request and reply bytes for the native ICMP engine: building requests and deciding, with
   bounds checks only, whether a received packet is one of ours (see icmp_echo.c). No I/O. */
#ifndef ICMP_PACKET_H
#define ICMP_PACKET_H
#include <stddef.h>
#include <stdint.h>

#define PAYLOAD 56  /* like ping(8): 8-byte header + 56 = 64 bytes */
#define ECHO_BYTES (8 + PAYLOAD)
#define REC_SIZE 48

enum { REC_REPLY = 1, REC_ERROR = 2 };

/* What identifies our packets on one socket. */
typedef struct {
  int family;   /* AF_INET or AF_INET6 */
  int raw;      /* raw sockets see the IPv4 header and every ICMP packet on the host */
  uint16_t ident;
  uint8_t cookie[8];
} match_t;

/* An ICMP error as the error queue (IP_RECVERR) describes it. */
typedef struct {
  uint8_t type, code;
  const uint8_t *offender; /* 4 or 16 bytes, or NULL */
} queued_error_t;

uint64_t now_ns(void);
size_t addr_len(int family);

/* Our echo request number `seq`, stamped with `sent_ns`, into p[ECHO_BYTES]. */
void build_echo(const match_t *m, uint16_t seq, uint64_t sent_ns, uint8_t *p);

/* Bytes to a 48-byte record, or 0 when the packet is not one of ours. `from` is the peer address
   (4 or 16 bytes); `qerr` is set for a packet read from the error queue. Record layout
   (little-endian numbers): [0..15] target address (the echo's destination), [16..17] seq,
   [18] REC_REPLY|REC_ERROR, [19] ICMP type, [20] code, [21] 4|6, [24..31] round trip ns
   (replies), [32..47] the router that sent an error (when known). */
int parse_packet(const match_t *m, const uint8_t *p, size_t len, const uint8_t *from, const queued_error_t *qerr, uint64_t now,
                 uint8_t *rec);

#endif
