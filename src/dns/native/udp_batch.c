// Batched UDP for Node: one non-blocking socket per open() (SO_REUSEPORT when asked), read
// with recvmmsg into a preallocated ring and answered with one sendmmsg per
// batch. It knows nothing about DNS: JavaScript gets one call per batch with
// the packets already in shared buffers (no per-packet JS objects), writes the
// replies into the shared send buffer and returns how many there are.
//
// Wake-ups come from libuv (uv_poll_t on the fd), so nothing here blocks the
// event loop: receive stops at EAGAIN or after MAX_ROUNDS full batches (libuv
// polls level-triggered, so what is left wakes us on the next loop turn, after
// timers and TCP had theirs); a send that meets EAGAIN is retried once, then
// the rest of the batch is dropped and counted.
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>
#include <node_api.h>
#include <uv.h>

#define MAX_ROUNDS 8
#define MAX_SLOTS 1024
#define MAX_SLOT_SIZE 65536
// Every datagram fits a receive slot whole (UDP carries at most 65,507 bytes over IPv4): a
// query larger than a usual ring slot is answered as dgram would answer it, not cut. Only the
// pages a datagram fills become resident, so a ring of small queries costs a page per slot.
// The stride is not a power of two so that the slots' first bytes fall in different cache sets.
#define RECV_BYTES 65535
#define RECV_STRIDE (65536 + 128)
#define META_FIELDS 4 /* per received slot: length (-1 = did not fit), family (4/6), port, 0 */
#define SEND_FIELDS 2 /* per reply: received slot it answers, length */

// Counters (Float64Array `stats`); the indexes are mirrored in udp-batch.ts.
enum {
  ST_WAKEUPS,
  ST_RECV_CALLS,
  ST_RECV_PACKETS,
  ST_SEND_CALLS,
  ST_SENT,
  ST_SEND_DROPPED,
  ST_SEND_ERRORS,
  ST_OVERSIZE,
  ST_RECV_ERRORS,
  ST_COUNT
};

typedef struct {
  napi_env env;
  int fd;
  int closing;
  int env_dead; // the env is being torn down: touch no N-API value any more
  int holders;  // libuv's handle and the JS External: freed when both have let go
  int slots;
  int slot_size;
  uv_poll_t poll;
  napi_ref callback;
  napi_ref buffers; // the result object, which holds every shared buffer
  napi_async_context async;
  uint8_t *recv;
  int32_t *meta;
  uint8_t *addr; // 16 bytes per slot: IPv4 in the first 4
  uint8_t *send;
  int32_t *send_meta;
  double *stats;
  struct mmsghdr *rmsgs;
  struct mmsghdr *smsgs;
  struct iovec *riov;
  struct iovec *siov;
  struct sockaddr_storage *names;
} batch_socket;

static napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[256];
  const char *name = strerrorname_np(err);
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, text, error;
  napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_throw(env, error);
  return NULL;
}

static void send_batch(batch_socket *s, int replies) {
  int k = 0;
  for (int i = 0; i < replies; i++) {
    int slot = s->send_meta[i * SEND_FIELDS];
    int len = s->send_meta[i * SEND_FIELDS + 1];
    if (slot < 0 || slot >= s->slots || len <= 0 || len > s->slot_size) {
      s->stats[ST_SEND_ERRORS]++;
      continue;
    }
    struct mmsghdr *m = &s->smsgs[k];
    memset(&m->msg_hdr, 0, sizeof m->msg_hdr);
    m->msg_hdr.msg_name = &s->names[slot];
    m->msg_hdr.msg_namelen = s->rmsgs[slot].msg_hdr.msg_namelen;
    s->siov[k].iov_base = s->send + (size_t)i * s->slot_size;
    s->siov[k].iov_len = (size_t)len;
    m->msg_hdr.msg_iov = &s->siov[k];
    m->msg_hdr.msg_iovlen = 1;
    k++;
  }
  int done = 0, retried = 0;
  while (done < k) {
    int r = sendmmsg(s->fd, s->smsgs + done, (unsigned)(k - done), MSG_DONTWAIT);
    if (r > 0) {
      s->stats[ST_SEND_CALLS]++;
      s->stats[ST_SENT] += r;
      done += r;
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
      // The send buffer is full: one retry, then drop the rest (never wait for room).
      if (!retried) {
        retried = 1;
        continue;
      }
      s->stats[ST_SEND_DROPPED] += k - done;
      break;
    } else {
      // This one datagram cannot be sent (e.g. an unreachable or invalid destination): skip it.
      s->stats[ST_SEND_ERRORS]++;
      done++;
    }
  }
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  batch_socket *s = handle->data;
  if (s->closing) return;
  if (status < 0) {
    s->stats[ST_RECV_ERRORS]++;
    return;
  }
  s->stats[ST_WAKEUPS]++;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, arg, result;
  napi_get_reference_value(env, s->callback, &fn);
  napi_get_reference_value(env, s->buffers, &recv);
  for (int round = 0; round < MAX_ROUNDS && !s->closing; round++) {
    for (int i = 0; i < s->slots; i++) {
      s->rmsgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
      s->rmsgs[i].msg_hdr.msg_flags = 0;
      s->riov[i].iov_len = RECV_BYTES;
    }
    int n = recvmmsg(s->fd, s->rmsgs, (unsigned)s->slots, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) s->stats[ST_RECV_ERRORS]++;
      break;
    }
    if (n == 0) break;
    s->stats[ST_RECV_CALLS]++;
    s->stats[ST_RECV_PACKETS] += n;
    for (int i = 0; i < n; i++) {
      int32_t *m = &s->meta[i * META_FIELDS];
      struct sockaddr_storage *sa = &s->names[i];
      uint8_t *a = &s->addr[i * 16];
      // A datagram larger than the slot arrived cut short: JS drops it (length -1).
      m[0] = (s->rmsgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? -1 : (int32_t)s->rmsgs[i].msg_len;
      if (m[0] < 0) s->stats[ST_OVERSIZE]++;
      if (sa->ss_family == AF_INET6) {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)sa;
        m[1] = 6;
        m[2] = ntohs(v6->sin6_port);
        memcpy(a, &v6->sin6_addr, 16);
      } else {
        struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
        m[1] = 4;
        m[2] = ntohs(v4->sin_port);
        memcpy(a, &v4->sin_addr, 4);
      }
      m[3] = 0;
    }
    napi_create_int32(env, n, &arg);
    napi_status st = napi_make_callback(env, s->async, recv, fn, 1, &arg, &result);
    if (st != napi_ok) {
      napi_value err;
      if (napi_get_and_clear_last_exception(env, &err) == napi_ok) {
        napi_valuetype t;
        napi_typeof(env, err, &t);
        if (t != napi_undefined) napi_fatal_exception(env, err);
      }
      break;
    }
    int32_t replies = 0;
    if (napi_get_value_int32(env, result, &replies) != napi_ok) replies = 0;
    if (replies > n) replies = n; // at most one reply per received datagram
    if (replies > 0 && !s->closing) send_batch(s, replies);
    if (n < s->slots) break; // drained: the socket had less than a full ring
  }
  napi_close_handle_scope(env, scope);
}

static void free_socket(batch_socket *s) {
  free(s->rmsgs);
  free(s->smsgs);
  free(s->riov);
  free(s->siov);
  free(s->names);
  free(s);
}

static void env_cleanup(void *arg);
static void close_socket(batch_socket *s);

// libuv is done with the poll handle: let go of the JS side (not earlier: close() may run inside
// onBatch, whose async context and callback are in use until it returns), then free.
static void on_closed(uv_handle_t *handle) {
  batch_socket *s = handle->data;
  if (!s->env_dead) {
    napi_handle_scope scope;
    napi_open_handle_scope(s->env, &scope);
    napi_delete_reference(s->env, s->callback);
    napi_delete_reference(s->env, s->buffers);
    napi_async_destroy(s->env, s->async);
    napi_close_handle_scope(s->env, scope);
    napi_remove_env_cleanup_hook(s->env, env_cleanup, s);
  }
  if (--s->holders == 0) free_socket(s);
}

// The External was collected: close() after that is impossible, so only libuv may still hold it.
static void on_external_gone(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  batch_socket *s = data;
  if (!s->closing) {
    s->env_dead = 1; // finalizers may run during teardown
    close_socket(s);
  }
  if (--s->holders == 0) free_socket(s);
}

// Stops reading and closes the fd at once; the rest waits for libuv's close callback.
static void close_socket(batch_socket *s) {
  if (s->closing) return;
  s->closing = 1;
  uv_poll_stop(&s->poll);
  close(s->fd);
  s->fd = -1;
  uv_close((uv_handle_t *)&s->poll, on_closed);
}

static void env_cleanup(void *arg) {
  batch_socket *s = arg;
  s->env_dead = 1;
  close_socket(s);
}

// No memset: the rings' contents do not matter before the kernel writes them, and leaving the
// receive ring untouched keeps its unused pages out of RSS.
static napi_value make_buffer(napi_env env, size_t size, void **data) {
  napi_value b;
  if (napi_create_buffer(env, size, data, &b) != napi_ok) return NULL;
  return b;
}

static napi_value make_typed(napi_env env, napi_typedarray_type type, size_t count, size_t elem, void **data) {
  napi_value ab, ta;
  if (napi_create_arraybuffer(env, count * elem, data, &ab) != napi_ok) return NULL;
  memset(*data, 0, count * elem);
  if (napi_create_typedarray(env, type, count, ab, 0, &ta) != napi_ok) return NULL;
  return ta;
}

static void set(napi_env env, napi_value obj, const char *key, napi_value v) { napi_set_named_property(env, obj, key, v); }

// open(host, port, v6, recvBufferBytes, slots, sendSlotSize, onBatch, reusePort)
//   -> { handle, port, recv, recvStride, meta, addr, send, sendMeta, stats }
// Received datagram i is at recv[i * recvStride], reply j at send[j * sendSlotSize].
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 8) {
    napi_throw_type_error(env, NULL, "open(host, port, v6, recvBufferBytes, slots, slotSize, onBatch, reusePort)");
    return NULL;
  }
  char host[64];
  size_t hostLen;
  int32_t port, rcvbuf, slots, slot_size;
  bool v6, reuse_port;
  napi_valuetype cbType;
  if (napi_get_value_string_utf8(env, argv[0], host, sizeof host, &hostLen) != napi_ok || napi_get_value_int32(env, argv[1], &port) != napi_ok ||
      napi_get_value_bool(env, argv[2], &v6) != napi_ok || napi_get_value_int32(env, argv[3], &rcvbuf) != napi_ok ||
      napi_get_value_int32(env, argv[4], &slots) != napi_ok || napi_get_value_int32(env, argv[5], &slot_size) != napi_ok ||
      napi_typeof(env, argv[6], &cbType) != napi_ok || cbType != napi_function || napi_get_value_bool(env, argv[7], &reuse_port) != napi_ok) {
    napi_throw_type_error(env, NULL, "open: bad argument types");
    return NULL;
  }
  if (port < 0 || port > 65535 || slots < 1 || slots > MAX_SLOTS || slot_size < 512 || slot_size > MAX_SLOT_SIZE) {
    napi_throw_range_error(env, NULL, "open: port, slots or slotSize out of range");
    return NULL;
  }
  struct sockaddr_storage bind_addr;
  socklen_t bind_len;
  memset(&bind_addr, 0, sizeof bind_addr);
  if (v6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&bind_addr;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) return throw_errno(env, EINVAL, "bad IPv6 address");
    bind_len = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&bind_addr;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1) return throw_errno(env, EINVAL, "bad IPv4 address");
    bind_len = sizeof *a;
  }
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  int one = 1;
  // SO_REUSEPORT only when several workers share the port: a sharing socket also admits any other
  // socket of the same user that asks to share, and dig does (it binds port 0 with SO_REUSEPORT, so
  // the kernel may hand it our port; its connected socket then wins the lookup and it reads its own
  // query back). Without the option our bind is exclusive and nothing can join.
  if ((reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) || (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "setsockopt");
  }
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf); // capped by net.core.rmem_max, as with dgram
  if (bind(fd, (struct sockaddr *)&bind_addr, bind_len) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "bind");
  }
  struct sockaddr_storage bound;
  socklen_t boundLen = sizeof bound;
  getsockname(fd, (struct sockaddr *)&bound, &boundLen);
  int bound_port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port : ((struct sockaddr_in *)&bound)->sin_port);

  batch_socket *s = calloc(1, sizeof *s);
  if (s == NULL) {
    close(fd);
    return throw_errno(env, ENOMEM, "open");
  }
  s->env = env;
  s->fd = fd;
  s->slots = slots;
  s->slot_size = slot_size;
  s->rmsgs = calloc((size_t)slots, sizeof *s->rmsgs);
  s->smsgs = calloc((size_t)slots, sizeof *s->smsgs);
  s->riov = calloc((size_t)slots, sizeof *s->riov);
  s->siov = calloc((size_t)slots, sizeof *s->siov);
  s->names = calloc((size_t)slots, sizeof *s->names);
  napi_value out, recvBuf, metaArr, addrBuf, sendBuf, sendMetaArr, statsArr, handle, portVal;
  void *p;
  napi_create_object(env, &out);
  recvBuf = make_buffer(env, (size_t)slots * RECV_STRIDE, &p);
  s->recv = p;
  metaArr = make_typed(env, napi_int32_array, (size_t)slots * META_FIELDS, 4, &p);
  s->meta = p;
  addrBuf = make_buffer(env, (size_t)slots * 16, &p);
  s->addr = p;
  sendBuf = make_buffer(env, (size_t)slots * slot_size, &p);
  s->send = p;
  sendMetaArr = make_typed(env, napi_int32_array, (size_t)slots * SEND_FIELDS, 4, &p);
  s->send_meta = p;
  statsArr = make_typed(env, napi_float64_array, ST_COUNT, 8, &p);
  s->stats = p;
  if (!s->rmsgs || !s->smsgs || !s->riov || !s->siov || !s->names || !recvBuf || !metaArr || !addrBuf || !sendBuf || !sendMetaArr || !statsArr) {
    close(fd);
    free_socket(s);
    return throw_errno(env, ENOMEM, "open: buffers");
  }
  for (int i = 0; i < slots; i++) {
    s->riov[i].iov_base = s->recv + (size_t)i * RECV_STRIDE;
    s->riov[i].iov_len = RECV_BYTES;
    s->rmsgs[i].msg_hdr.msg_iov = &s->riov[i];
    s->rmsgs[i].msg_hdr.msg_iovlen = 1;
    s->rmsgs[i].msg_hdr.msg_name = &s->names[i];
    s->rmsgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
  }
  napi_create_external(env, s, on_external_gone, NULL, &handle);
  s->holders = 2;
  napi_create_int32(env, bound_port, &portVal);
  set(env, out, "handle", handle);
  set(env, out, "port", portVal);
  set(env, out, "recv", recvBuf);
  napi_value strideVal;
  napi_create_int32(env, RECV_STRIDE, &strideVal);
  set(env, out, "recvStride", strideVal);
  set(env, out, "meta", metaArr);
  set(env, out, "addr", addrBuf);
  set(env, out, "send", sendBuf);
  set(env, out, "sendMeta", sendMetaArr);
  set(env, out, "stats", statsArr);
  napi_value name;
  napi_create_string_utf8(env, "geosteer:udp-batch", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, out, name, &s->async);
  napi_create_reference(env, argv[6], 1, &s->callback);
  napi_create_reference(env, out, 1, &s->buffers);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  int r = uv_poll_init(loop, &s->poll, fd);
  if (r != 0) {
    // libuv never held it: only the External does, and its finalizer frees it.
    napi_delete_reference(env, s->callback);
    napi_delete_reference(env, s->buffers);
    napi_async_destroy(env, s->async);
    s->closing = 1;
    s->holders = 1;
    close(fd);
    return throw_errno(env, -r, "uv_poll_init");
  }
  s->poll.data = s;
  napi_add_env_cleanup_hook(env, env_cleanup, s);
  r = uv_poll_start(&s->poll, UV_READABLE, on_readable);
  if (r != 0) {
    close_socket(s);
    return throw_errno(env, -r, "uv_poll_start");
  }
  return out;
}

static batch_socket *unwrap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *p = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_external(env, argv[0], &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "expected a handle from open()");
    return NULL;
  }
  return p;
}

// close(handle): idempotent; safe from inside onBatch (the batch in progress stops, nothing more is sent).
static napi_value Close(napi_env env, napi_callback_info info) {
  batch_socket *s = unwrap(env, info);
  if (s != NULL) close_socket(s);
  return NULL;
}

// ref(handle, on): whether the socket keeps the event loop alive (like dgram's ref/unref).
static napi_value Ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  void *p = NULL;
  bool on = true;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || napi_get_value_external(env, argv[0], &p) != napi_ok || p == NULL || napi_get_value_bool(env, argv[1], &on) != napi_ok) {
    napi_throw_type_error(env, NULL, "ref(handle, boolean)");
    return NULL;
  }
  batch_socket *s = p;
  if (!s->closing) {
    if (on) uv_ref((uv_handle_t *)&s->poll);
    else uv_unref((uv_handle_t *)&s->poll);
  }
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value f;
  napi_create_function(env, "open", NAPI_AUTO_LENGTH, Open, NULL, &f);
  set(env, exports, "open", f);
  napi_create_function(env, "close", NAPI_AUTO_LENGTH, Close, NULL, &f);
  set(env, exports, "close", f);
  napi_create_function(env, "ref", NAPI_AUTO_LENGTH, Ref, NULL, &f);
  set(env, exports, "ref", f);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
