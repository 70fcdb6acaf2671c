#define _GNU_SOURCE
#include "icmp_socket.h"
#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define ICMP_FILTER_OPT 1 /* linux/icmp.h's ICMP_FILTER; that header clashes with netinet's */

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
  /* The kernel raises POLLERR while the error queue holds an entry (or an error is pending),
     and libuv reports POLLERR as a negative status, having stopped the handle: only then is
     there anything to read there, which saves two syscalls on every other wake-up. */
  if (status < 0) {
    drain_error_queue(s);
    clear_pending_error(s->fd);
  }
  drain_replies(s);
  if (status < 0 && !s->closed) uv_poll_start(&s->poll, UV_READABLE, on_poll);
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

void close_socket(sock_t *s) {
  if (s->closed) return;
  s->closed = 1;
  uv_poll_stop(&s->poll);
  close(s->fd);
  napi_delete_reference(s->env, s->on_records);
  napi_async_destroy(s->env, s->async);
  uv_close((uv_handle_t *)&s->poll, on_closed);
}

void release_socket(sock_t *s) {
  close_socket(s);
  s->finalized = 1;
  if (s->handle_closed) free_socket(s);
}

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

int open_icmp_socket(int family, int raw, int receive_buffer_bytes, match_t *m, const char **failed) {
  int fd = socket(family, (raw ? SOCK_RAW : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
  *failed = raw ? "socket(SOCK_RAW)" : "socket(SOCK_DGRAM)";
  if (fd < 0) return -1;
  /* FORCE passes rmem_max where we may (CAP_NET_ADMIN); otherwise the kernel caps it there. */
  if (set_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, receive_buffer_bytes) < 0) set_int(fd, SOL_SOCKET, SO_RCVBUF, receive_buffer_bytes);
  memset(m, 0, sizeof *m);
  m->family = family;
  m->raw = raw;
  uint8_t random[10]; /* the cookie, and a raw socket's echo id */
  *failed = "getrandom";
  if (getrandom(random, sizeof random, 0) != sizeof random) goto fail;
  memcpy(m->cookie, random, 8);
  if (raw) {
    m->ident = (uint16_t)(random[8] << 8 | random[9]);
    filter_raw(fd, family);
    return fd;
  }
  /* Bind now so the kernel picks the echo id (the "port") before the first send. */
  struct sockaddr_storage ss;
  socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
  memset(&ss, 0, sizeof ss);
  ss.ss_family = (sa_family_t)family;
  *failed = "bind";
  if (bind(fd, (struct sockaddr *)&ss, len) < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) < 0) goto fail;
  m->ident = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port : ((struct sockaddr_in6 *)&ss)->sin6_port);
  if (family == AF_INET) set_int(fd, SOL_IP, IP_RECVERR, 1);
  else set_int(fd, SOL_IPV6, IPV6_RECVERR, 1);
  return fd;
fail:;
  int err = errno;
  close(fd);
  errno = err;
  return -1;
}

void watch_socket(sock_t *s, uv_loop_t *loop) {
  socklen_t olen = sizeof s->receive_buffer_bytes;
  getsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &s->receive_buffer_bytes, &olen);
  uv_poll_init_socket(loop, &s->poll, s->fd);
  s->poll.data = s;
  uv_poll_start(&s->poll, UV_READABLE, on_poll);
  /* Pending checks hold timers; an idle socket alone must not keep the process alive. */
  uv_unref((uv_handle_t *)&s->poll);
}

size_t send_echoes(sock_t *s, const uint8_t *addrs, const uint8_t *seqs, uint8_t *errs, size_t count) {
  if (s->closed) return 0;
  uint8_t pkts[BATCH][ECHO_BYTES];
  struct sockaddr_storage to[BATCH];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  size_t done = 0;
  while (done < count) {
    size_t k = 0;
    uint64_t t = now_ns();
    for (; k < BATCH && done + k < count; k++) {
      size_t i = done + k;
      build_echo(&s->m, (uint16_t)(seqs[2 * i] | seqs[2 * i + 1] << 8), t, pkts[k]);
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
      iov[k].iov_base = pkts[k];
      iov[k].iov_len = ECHO_BYTES;
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
    memset(errs + 4 * done, 0, 4 * (size_t)n);
    done += (size_t)n;
  }
  return done;
}
