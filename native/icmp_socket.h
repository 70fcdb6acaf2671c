/* One ICMP socket of the native engine: open, paced batch sends, and draining replies and
   queued ICMP errors into records for JavaScript (see icmp_echo.c). */
#ifndef ICMP_SOCKET_H
#define ICMP_SOCKET_H
#include <node_api.h>
#include <uv.h>
#include "icmp_packet.h"

#define BATCH 64     /* packets per recvmmsg / sendmmsg */
#define PKT_MAX 1280 /* enough for any error quoting our 64-byte echo; longer packets are cut */

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

/* A socket of `family` (AF_INET/AF_INET6), raw or datagram, with its echo id and cookie in `m`.
   Returns the fd, or -1 with errno set and `*failed` naming the call that failed. */
int open_icmp_socket(int family, int raw, int receive_buffer_bytes, match_t *m, const char **failed);

/* Starts polling `s` (fd, m, env, on_records, async set) on `loop`. */
void watch_socket(sock_t *s, uv_loop_t *loop);

/* Sends count echoes (addresses 4 or 16 bytes each, seqs u16 LE); writes each entry's errno to
   errs (i32, 0 = sent). Returns the entries consumed: EAGAIN/ENOBUFS stops early. */
size_t send_echoes(sock_t *s, const uint8_t *addrs, const uint8_t *seqs, uint8_t *errs, size_t count);

void close_socket(sock_t *s);
/* The JS handle was collected: close if needed, free once libuv is done too. */
void release_socket(sock_t *s);

#endif
