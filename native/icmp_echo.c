/*
 * icmp_echo: ICMP echo sockets for the native ICMP engine (src/probes/native-icmp*.ts).
 *
 * Scope, kept deliberately small: open one ICMP socket (datagram or raw, IPv4 or IPv6), send
 * batches of echo requests, and hand JavaScript every reply or ICMP error that belongs to this
 * socket as fixed 48-byte records. Everything about checks (which target, how many requests,
 * timeouts, verdicts) lives in TypeScript, where it is tested like the rest of the daemon.
 *
 * Why uv_poll driven from C, not the fd handed to JavaScript: Node has no public API to watch a
 * raw fd for readability, and a reply drained in C costs one recvmmsg per 64 packets and one JS
 * call per drain (one Buffer of records), instead of one JS call per packet. libuv stops a poll
 * handle on POLLERR, which IP_RECVERR raises for every queued ICMP error, so on_poll drains the
 * error queue and starts the handle again.
 *
 * Matching (what makes a packet ours): the echo identifier is this socket's (a datagram socket's
 * kernel-assigned "port", which the kernel also uses to deliver only our replies; a raw socket's
 * random id), and the payload starts with this socket's random 8-byte cookie. The sequence
 * number and the peer address then name the echo; TypeScript checks both against what it sent.
 * Packets are parsed with explicit bounds checks only (parse_packet), and that function is
 * exported as `parse` so tests feed it crafted bytes.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>
#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64           /* packets per recvmmsg / sendmmsg */
#define PKT_MAX 1280       /* enough for any error quoting our 64-byte echo; longer packets are cut */
#define PAYLOAD 56         /* like ping(8): 8-byte header + 56 = 64 bytes */
#define REC_SIZE 48
#define ICMP_FILTER_OPT 1  /* linux/icmp.h's ICMP_FILTER; that header clashes with netinet's */

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

typedef struct {
  match_t m;
  int fd;
  int closed;          /* close() ran: no more I/O */
  int handle_closed;   /* libuv is done with `poll` */
  int finalized;       /* the JS handle is gone; memory is freed once both are set */
  int receive_buffer_bytes;
  uv_poll_t poll;
  napi_env env;
  napi_ref on_records;
  napi_async_context async;
  uint8_t (*bufs)[PKT_MAX];
  uint8_t *out;
  size_t out_len, out_cap;
} sock_t;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static size_t addr_len(int family) { return family == AF_INET ? 4 : 16; }

static uint16_t read_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

/* Record layout (little-endian numbers): [0..15] target address (the echo's destination),
   [16..17] seq, [18] REC_REPLY|REC_ERROR, [19] ICMP type, [20] code, [21] 4|6,
   [24..31] round trip ns (replies), [32..47] the router that sent an error (when known). */
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

/* Bytes to a record, or 0 when the packet is not one of ours. `from` is the peer address
   (4 or 16 bytes); `qerr` is set for a packet read from the error queue. */
static int parse_packet(const match_t *m, const uint8_t *p, size_t len, const uint8_t *from,
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

static void push_record(sock_t *s, const uint8_t *rec) {
  if (s->out_len + REC_SIZE > s->out_cap) {
    size_t cap = s->out_cap ? s->out_cap * 2 : 64 * REC_SIZE;
    uint8_t *grown = realloc(s->out, cap);
    if (!grown) return; /* out of memory: the echo times out, as a lost reply would */
    s->out = grown;
    s->out_cap = cap;
  }
  memcpy(s->out + s->out_len, rec, REC_SIZE);
  s->out_len += REC_SIZE;
}

static const uint8_t *sockaddr_bytes(const struct sockaddr_storage *ss, int family) {
  if (family == AF_INET) return (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
  return (const uint8_t *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
}

static void drain_error_queue(sock_t *s) {
  uint8_t *buf = s->bufs[0];
  for (;;) {
    struct sockaddr_storage to;
    char control[512];
    struct iovec iov = { buf, PKT_MAX };
    struct msghdr msg = { .msg_name = &to, .msg_namelen = sizeof to, .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = control, .msg_controllen = sizeof control };
    memset(&to, 0, sizeof to);
    ssize_t n = recvmsg(s->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
    if (n < 0) return;
    if (to.ss_family != s->m.family) continue; /* no destination address: cannot name the target */
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      int v4 = c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR;
      int v6 = c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR;
      if ((!v4 && !v6) || c->cmsg_len < CMSG_LEN(sizeof(struct sock_extended_err))) continue;
      struct sock_extended_err ee;
      memcpy(&ee, CMSG_DATA(c), sizeof ee);
      if (ee.ee_origin != SO_EE_ORIGIN_ICMP && ee.ee_origin != SO_EE_ORIGIN_ICMP6) continue;
      struct sockaddr_storage offender;
      size_t room = c->cmsg_len - CMSG_LEN(sizeof ee);
      memset(&offender, 0, sizeof offender);
      memcpy(&offender, CMSG_DATA(c) + sizeof ee, room < sizeof offender ? room : sizeof offender);
      queued_error_t q = { ee.ee_type, ee.ee_code, offender.ss_family == s->m.family ? sockaddr_bytes(&offender, s->m.family) : NULL };
      uint8_t rec[REC_SIZE];
      if (parse_packet(&s->m, buf, (size_t)n, sockaddr_bytes(&to, s->m.family), &q, 0, rec)) push_record(s, rec);
    }
  }
}

static void drain_replies(sock_t *s) {
  struct sockaddr_storage from[BATCH];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  for (;;) {
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = s->bufs[i];
      iov[i].iov_len = PKT_MAX;
      memset(&msgs[i], 0, sizeof msgs[i]);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    }
    int n = recvmmsg(s->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return;
    uint64_t now = now_ns();
    for (int i = 0; i < n; i++) {
      uint8_t rec[REC_SIZE];
      if (from[i].ss_family != s->m.family) continue;
      size_t len = msgs[i].msg_len < PKT_MAX ? msgs[i].msg_len : PKT_MAX;
      if (parse_packet(&s->m, s->bufs[i], len, sockaddr_bytes(&from[i], s->m.family), NULL, now, rec)) push_record(s, rec);
    }
    if (n < BATCH) return;
  }
}

static void deliver(sock_t *s) {
  if (s->out_len == 0) return;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value buf, cb, recv, result;
  void *data;
  if (napi_create_buffer_copy(env, s->out_len, s->out, &data, &buf) == napi_ok &&
      napi_get_reference_value(env, s->on_records, &cb) == napi_ok && napi_get_global(env, &recv) == napi_ok) {
    s->out_len = 0;
    /* make_callback, not call_function: it runs the microtasks the callback queues (promise settles). */
    if (napi_make_callback(env, s->async, recv, cb, 1, &buf, &result) == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err); /* the process's uncaughtException, as for any JS callback */
    }
  }
  s->out_len = 0;
  napi_close_handle_scope(env, scope);
}

/* An ICMP error also leaves its errno in the socket's pending error, which the next send would
   return for whatever it sends next. The error queue already told us whose it was: forget it. */
static void clear_pending_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)events;
  sock_t *s = h->data;
  if (s->closed) return;
  drain_error_queue(s);
  clear_pending_error(s->fd);
  drain_replies(s);
  if (status < 0 && !s->closed) uv_poll_start(&s->poll, UV_READABLE, on_poll); /* stopped by POLLERR */
  deliver(s);
}

static void free_socket(sock_t *s) {
  free(s->bufs);
  free(s->out);
  free(s);
}

static void on_closed(uv_handle_t *h) {
  sock_t *s = h->data;
  s->handle_closed = 1;
  if (s->finalized) free_socket(s);
}

static void close_socket(sock_t *s) {
  if (s->closed) return;
  s->closed = 1;
  uv_poll_stop(&s->poll);
  close(s->fd);
  napi_delete_reference(s->env, s->on_records);
  napi_async_destroy(s->env, s->async);
  uv_close((uv_handle_t *)&s->poll, on_closed);
}

/* A socket the JS side dropped without close(): the GC closes it so the fd does not leak. */
static void finalize_socket(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  sock_t *s = data;
  close_socket(s);
  s->finalized = 1;
  if (s->handle_closed) free_socket(s);
}

static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  napi_value msg, e, code, sys;
  char text[200];
  snprintf(text, sizeof text, "%s: %s", syscall, strerror(err));
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &e);
  napi_create_int32(env, err, &code);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, e, "errno", code);
  napi_set_named_property(env, e, "syscall", sys);
  napi_throw(env, e);
  return NULL;
}

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "icmp_echo: " #call " failed"); return NULL; } } while (0)

static int set_int(int fd, int level, int name, int value) { return setsockopt(fd, level, name, &value, sizeof value); }

/* Only the packets we parse: replies and errors (a raw socket would otherwise see every ICMP packet). */
static void filter_raw(int fd, int family) {
  if (family == AF_INET) {
    uint32_t blocked = ~((1u << 0) | (1u << 3) | (1u << 11) | (1u << 12));
    setsockopt(fd, SOL_RAW, ICMP_FILTER_OPT, &blocked, sizeof blocked);
  } else {
    struct icmp6_filter f;
    ICMP6_FILTER_SETBLOCKALL(&f);
    ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
    ICMP6_FILTER_SETPASS(ICMP6_DST_UNREACH, &f);
    ICMP6_FILTER_SETPASS(ICMP6_TIME_EXCEEDED, &f);
    ICMP6_FILTER_SETPASS(ICMP6_PARAM_PROB, &f);
    setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof f);
  }
}

/* open(family: 4|6, raw: boolean, receiveBufferBytes: number, onRecords: (records: Buffer) => void)
   -> { handle, ident, receiveBufferBytes }; throws an Error with `errno` and `syscall`. */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fam, rcvbuf;
  bool raw;
  CHECK(napi_get_value_int32(env, argv[0], &fam));
  CHECK(napi_get_value_bool(env, argv[1], &raw));
  CHECK(napi_get_value_int32(env, argv[2], &rcvbuf));
  int family = fam == 6 ? AF_INET6 : AF_INET;
  int fd = socket(family, (raw ? SOCK_RAW : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
  if (fd < 0) return throw_errno(env, raw ? "socket(SOCK_RAW)" : "socket(SOCK_DGRAM)", errno);
  /* FORCE passes rmem_max where we may (CAP_NET_ADMIN); otherwise the kernel caps it there. */
  if (set_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf) < 0) set_int(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf);
  match_t m = { .family = family, .raw = raw };
  uint8_t random[10]; /* the cookie, and a raw socket's echo id */
  if (getrandom(random, sizeof random, 0) != sizeof random) {
    int err = errno;
    close(fd);
    return throw_errno(env, "getrandom", err);
  }
  memcpy(m.cookie, random, 8);
  if (raw) {
    m.ident = (uint16_t)(random[8] << 8 | random[9]);
    filter_raw(fd, family);
  } else {
    /* Bind now so the kernel picks the echo id (the "port") before the first send. */
    struct sockaddr_storage ss;
    socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    memset(&ss, 0, sizeof ss);
    ss.ss_family = (sa_family_t)family;
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
      int err = errno;
      close(fd);
      return throw_errno(env, "bind", err);
    }
    m.ident = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port : ((struct sockaddr_in6 *)&ss)->sin6_port);
    if (family == AF_INET) set_int(fd, SOL_IP, IP_RECVERR, 1);
    else set_int(fd, SOL_IPV6, IPV6_RECVERR, 1);
  }
  sock_t *s = calloc(1, sizeof *s);
  uint8_t (*bufs)[PKT_MAX] = malloc(sizeof(uint8_t[BATCH][PKT_MAX]));
  if (!s || !bufs) {
    free(s);
    free(bufs);
    close(fd);
    return throw_errno(env, "malloc", ENOMEM);
  }
  s->m = m;
  s->fd = fd;
  s->env = env;
  s->bufs = bufs;
  socklen_t olen = sizeof s->receive_buffer_bytes;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &s->receive_buffer_bytes, &olen);
  uv_loop_t *loop;
  napi_value name, handle, result, v;
  CHECK(napi_create_reference(env, argv[3], 1, &s->on_records));
  CHECK(napi_create_string_utf8(env, "IcmpEchoSocket", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &s->async));
  CHECK(napi_get_uv_event_loop(env, &loop));
  uv_poll_init_socket(loop, &s->poll, fd);
  s->poll.data = s;
  uv_poll_start(&s->poll, UV_READABLE, on_poll);
  /* Pending checks hold timers; an idle socket alone must not keep the process alive. */
  uv_unref((uv_handle_t *)&s->poll);
  CHECK(napi_create_external(env, s, finalize_socket, NULL, &handle));
  CHECK(napi_create_object(env, &result));
  CHECK(napi_set_named_property(env, result, "handle", handle));
  CHECK(napi_create_uint32(env, m.ident, &v));
  CHECK(napi_set_named_property(env, result, "ident", v));
  CHECK(napi_create_int32(env, s->receive_buffer_bytes, &v));
  CHECK(napi_set_named_property(env, result, "receiveBufferBytes", v));
  return result;
}

static sock_t *get_socket(napi_env env, napi_value v) {
  sock_t *s = NULL;
  if (napi_get_value_external(env, v, (void **)&s) != napi_ok || !s) napi_throw_type_error(env, NULL, "icmp_echo: not a socket handle");
  return s;
}

/* The one's-complement sum a raw IPv4 socket must fill in (the kernel does it for the others). */
static uint16_t checksum(const uint8_t *p, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (len & 1) sum += (uint32_t)p[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

/* send(handle, addrs: Buffer (4 or 16 bytes each), seqs: Buffer (u16 LE each), errnos: Buffer (i32 each, out))
   -> entries consumed. An entry the kernel refused (ENETUNREACH…) gets its errno and is consumed;
   EAGAIN/ENOBUFS stops early so the caller sends the rest on a later turn. */
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sock_t *s = get_socket(env, argv[0]);
  if (!s) return NULL;
  uint8_t *addrs, *seqs, *errs;
  size_t alen, slen, elen;
  CHECK(napi_get_buffer_info(env, argv[1], (void **)&addrs, &alen));
  CHECK(napi_get_buffer_info(env, argv[2], (void **)&seqs, &slen));
  CHECK(napi_get_buffer_info(env, argv[3], (void **)&errs, &elen));
  size_t asz = addr_len(s->m.family), count = alen / asz;
  if (slen / 2 < count) count = slen / 2;
  if (elen / 4 < count) count = elen / 4;
  if (s->closed) count = 0;
  uint8_t pkts[BATCH][8 + PAYLOAD];
  struct sockaddr_storage to[BATCH];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  size_t done = 0;
  while (done < count) {
    size_t k = 0;
    uint64_t t = now_ns();
    for (; k < BATCH && done + k < count; k++) {
      size_t i = done + k;
      uint8_t *p = pkts[k];
      memset(p, 0, sizeof pkts[k]);
      p[0] = s->m.family == AF_INET ? 8 : ICMP6_ECHO_REQUEST;
      p[4] = (uint8_t)(s->m.ident >> 8); /* a datagram socket overwrites it with its own */
      p[5] = (uint8_t)s->m.ident;
      p[6] = seqs[2 * i + 1];
      p[7] = seqs[2 * i];
      memcpy(p + 8, s->m.cookie, 8);
      memcpy(p + 16, &t, 8);
      if (s->m.raw && s->m.family == AF_INET) {
        uint16_t sum = checksum(p, sizeof pkts[k]);
        p[2] = (uint8_t)(sum >> 8);
        p[3] = (uint8_t)sum;
      }
      memset(&to[k], 0, sizeof to[k]);
      socklen_t tl;
      if (s->m.family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&to[k];
        a->sin_family = AF_INET;
        memcpy(&a->sin_addr, addrs + 4 * i, 4);
        tl = sizeof *a;
      } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&to[k];
        a->sin6_family = AF_INET6;
        memcpy(&a->sin6_addr, addrs + 16 * i, 16);
        tl = sizeof *a;
      }
      iov[k].iov_base = p;
      iov[k].iov_len = sizeof pkts[k];
      memset(&msgs[k], 0, sizeof msgs[k]);
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
      msgs[k].msg_hdr.msg_name = &to[k];
      msgs[k].msg_hdr.msg_namelen = tl;
    }
    int n = sendmmsg(s->fd, msgs, (unsigned)k, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;
      /* The first entry failed. The errno may be a stale pending error (an ICMP error about an
         earlier echo, see clear_pending_error), which that call consumed: try the entry once
         more on its own. A real refusal (no route) fails again. */
      int32_t e = 0;
      if (sendmsg(s->fd, &msgs[0].msg_hdr, MSG_DONTWAIT) < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;
        e = errno;
      }
      memcpy(errs + 4 * done, &e, 4);
      done++;
      continue;
    }
    for (int j = 0; j < n; j++) memset(errs + 4 * (done + (size_t)j), 0, 4);
    done += (size_t)n;
  }
  napi_value r;
  CHECK(napi_create_uint32(env, (uint32_t)done, &r));
  return r;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sock_t *s = get_socket(env, argv[0]);
  if (s) close_socket(s);
  return NULL;
}

/* parse(family: 4|6, raw: boolean, ident: number, cookie: Buffer(8), packet: Buffer, from: Buffer(4|16),
         errorType: number (-1: a packet from the socket, else an error-queue entry), errorCode: number)
   -> Buffer(48) | null. parse_packet as the socket runs it, for tests that feed crafted bytes. */
static napi_value js_parse(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fam, ident, etype, ecode;
  bool raw;
  uint8_t *cookie, *packet, *from;
  size_t clen, plen, flen;
  CHECK(napi_get_value_int32(env, argv[0], &fam));
  CHECK(napi_get_value_bool(env, argv[1], &raw));
  CHECK(napi_get_value_int32(env, argv[2], &ident));
  CHECK(napi_get_buffer_info(env, argv[3], (void **)&cookie, &clen));
  CHECK(napi_get_buffer_info(env, argv[4], (void **)&packet, &plen));
  CHECK(napi_get_buffer_info(env, argv[5], (void **)&from, &flen));
  CHECK(napi_get_value_int32(env, argv[6], &etype));
  CHECK(napi_get_value_int32(env, argv[7], &ecode));
  match_t m = { .family = fam == 6 ? AF_INET6 : AF_INET, .raw = raw, .ident = (uint16_t)ident };
  if (clen != 8 || flen != addr_len(m.family)) {
    napi_throw_range_error(env, NULL, "icmp_echo.parse: cookie must be 8 bytes and from 4 (IPv4) or 16 (IPv6)");
    return NULL;
  }
  memcpy(m.cookie, cookie, 8);
  queued_error_t q = { (uint8_t)etype, (uint8_t)ecode, NULL };
  uint8_t rec[REC_SIZE];
  if (!parse_packet(&m, packet, plen, from, etype >= 0 ? &q : NULL, now_ns(), rec)) {
    CHECK(napi_get_null(env, &result));
    return result;
  }
  void *data;
  CHECK(napi_create_buffer_copy(env, REC_SIZE, rec, &data, &result));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
    { "open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL },
    { "send", NULL, js_send, NULL, NULL, NULL, napi_enumerable, NULL },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL },
    { "parse", NULL, js_parse, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
