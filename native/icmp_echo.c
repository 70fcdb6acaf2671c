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
 *
 * Files: icmp_packet.c (request bytes, the parser; no I/O), icmp_socket.c (socket options,
 * sendmmsg/recvmmsg, the error queue, the poll handle), this file (the Node-API surface).
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "icmp_packet.h"
#include "icmp_socket.h"

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

static void finalize_socket(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  release_socket(data);
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
  match_t m;
  const char *failed;
  int fd = open_icmp_socket(fam == 6 ? AF_INET6 : AF_INET, raw, rcvbuf, &m, &failed);
  if (fd < 0) return throw_errno(env, failed, errno);
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
  uv_loop_t *loop;
  napi_value name, handle, result, v;
  CHECK(napi_create_reference(env, argv[3], 1, &s->on_records));
  CHECK(napi_create_string_utf8(env, "IcmpEchoSocket", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &s->async));
  CHECK(napi_get_uv_event_loop(env, &loop));
  watch_socket(s, loop);
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
  size_t count = alen / addr_len(s->m.family);
  if (slen / 2 < count) count = slen / 2;
  if (elen / 4 < count) count = elen / 4;
  napi_value r;
  CHECK(napi_create_uint32(env, (uint32_t)send_echoes(s, addrs, seqs, errs, count), &r));
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
