#define _GNU_SOURCE
#include "icmp_packet.h"
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

size_t addr_len(int family) { return family == AF_INET ? 4 : 16; }

static uint16_t read_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

static void fill_record(uint8_t *rec, const match_t *m, const uint8_t *target, uint16_t seq, int kind,
                        uint8_t type, uint8_t code, uint64_t rtt_ns, const uint8_t *offender) {
  memset(rec, 0, REC_SIZE);
  memcpy(rec, target, addr_len(m->family));
  rec[16] = (uint8_t)(seq & 0xff);
  rec[17] = (uint8_t)(seq >> 8);
  rec[18] = (uint8_t)kind;
  rec[19] = type;
  rec[20] = code;
  rec[21] = m->family == AF_INET ? 4 : 6;
  memcpy(rec + 24, &rtt_ns, 8);
  if (offender) memcpy(rec + 32, offender, addr_len(m->family));
}

/* Our echo request as quoted back (in an ICMP error or the error queue): same id, and our cookie
   whenever the quote is long enough to hold it (RFC 792 only promises the 8-byte header). */
static int quotes_our_request(const match_t *m, const uint8_t *icmp, size_t len) {
  uint8_t request = m->family == AF_INET ? 8 : ICMP6_ECHO_REQUEST;
  if (len < 8 || icmp[0] != request || read_be16(icmp + 4) != m->ident) return 0;
  return len < 16 || memcmp(icmp + 8, m->cookie, 8) == 0;
}

int parse_packet(const match_t *m, const uint8_t *p, size_t len, const uint8_t *from,
                        const queued_error_t *qerr, uint64_t now, uint8_t *rec) {
  if (qerr) {
    /* Error queue: the quoted request itself; `from` is the address it was sent to. */
    if (!quotes_our_request(m, p, len)) return 0;
    fill_record(rec, m, from, read_be16(p + 6), REC_ERROR, qerr->type, qerr->code, 0, qerr->offender);
    return 1;
  }
  if (m->raw && m->family == AF_INET) { /* a raw IPv4 socket sees the IP header */
    if (len < 20 || (p[0] >> 4) != 4) return 0;
    size_t ihl = (size_t)(p[0] & 0x0f) * 4;
    if (ihl < 20 || ihl > len) return 0;
    p += ihl;
    len -= ihl;
  }
  if (len < 8) return 0;
  uint8_t type = p[0], code = p[1];
  uint8_t reply = m->family == AF_INET ? 0 : ICMP6_ECHO_REPLY;
  if (type == reply) {
    if (len < 8 + 16 || read_be16(p + 4) != m->ident || memcmp(p + 8, m->cookie, 8) != 0) return 0;
    uint64_t sent;
    memcpy(&sent, p + 16, 8);
    fill_record(rec, m, from, read_be16(p + 6), REC_REPLY, type, code, sent <= now ? now - sent : 0, NULL);
    return 1;
  }
  /* Only a raw socket reads ICMP errors inline; they quote the IP header of our request. */
  int is_error = m->family == AF_INET ? (type == 3 || type == 11 || type == 12)
                                      : (type == ICMP6_DST_UNREACH || type == ICMP6_TIME_EXCEEDED || type == ICMP6_PARAM_PROB);
  if (!m->raw || !is_error) return 0;
  const uint8_t *inner = p + 8;
  size_t inner_len = len - 8, header;
  const uint8_t *target;
  if (m->family == AF_INET) {
    if (inner_len < 20 || (inner[0] >> 4) != 4 || inner[9] != IPPROTO_ICMP) return 0;
    header = (size_t)(inner[0] & 0x0f) * 4;
    target = inner + 16;
  } else {
    if (inner_len < 40 || (inner[0] >> 4) != 6 || inner[6] != IPPROTO_ICMPV6) return 0;
    header = 40;
    target = inner + 24;
  }
  if (header < 20 || header > inner_len || !quotes_our_request(m, inner + header, inner_len - header)) return 0;
  fill_record(rec, m, target, read_be16(inner + header + 6), REC_ERROR, type, code, 0, from);
  return 1;
}

/* The one's-complement sum a raw IPv4 socket must fill in (the kernel does it for the others). */
static uint16_t checksum(const uint8_t *p, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (len & 1) sum += (uint32_t)p[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

void build_echo(const match_t *m, uint16_t seq, uint64_t sent_ns, uint8_t *p) {
  memset(p, 0, ECHO_BYTES);
  p[0] = m->family == AF_INET ? 8 : ICMP6_ECHO_REQUEST;
  p[4] = (uint8_t)(m->ident >> 8); /* a datagram socket overwrites it with its own */
  p[5] = (uint8_t)m->ident;
  p[6] = (uint8_t)(seq >> 8);
  p[7] = (uint8_t)seq;
  memcpy(p + 8, m->cookie, 8);
  memcpy(p + 16, &sent_ns, 8);
  if (m->raw && m->family == AF_INET) { /* the kernel sums the others */
    uint16_t sum = checksum(p, ECHO_BYTES);
    p[2] = (uint8_t)(sum >> 8);
    p[3] = (uint8_t)sum;
  }
}
