// Test-only resolver shim (LD_PRELOAD): answers names ending in ".tsha.test" itself, so tests control what
// a host name resolves to and how long the lookup takes, without touching /etc/hosts or sending any DNS
// query (".test" is reserved, RFC 6761; these names never leave the process). Every other name goes to
// the real getaddrinfo. Built with gcc and preloaded into its child processes by
// test/transport/resolve.test.ts; see docs/native-transport.md ("Decisions").
//
// Name syntax: dot-separated labels before ".tsha.test", in order:
//   v4       answer 127.0.0.1        v6       answer ::1          (answers keep the order of the labels)
//   msN      sleep N ms before answering (a resolver that is slow or hangs; it cannot be interrupted)
//   none     answer EAI_NONAME
// e.g. "v6.v4.tsha.test" = [::1, 127.0.0.1] (what "localhost" gives on many machines);
//      "ms2000.v4.tsha.test" = 127.0.0.1 after 2 s.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static const char kSuffix[] = ".tsha.test";

__attribute__((constructor)) static void announce(void) {
  // Lets a test check that the shim is really loaded before it resolves any ".tsha.test" name (without it
  // such a lookup would go to the system's DNS).
  setenv("TSHA_RESOLVER_SHIM", "active", 1);
}

// One block per node, addrinfo then its address, as glibc allocates them: glibc's freeaddrinfo frees
// exactly these (ai_canonname is NULL).
static struct addrinfo* node_for(int family, const struct addrinfo* hints, unsigned short port) {
  size_t alen = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
  struct addrinfo* ai = calloc(1, sizeof(struct addrinfo) + alen);
  if (!ai) return NULL;
  ai->ai_family = family;
  ai->ai_socktype = hints && hints->ai_socktype ? hints->ai_socktype : SOCK_STREAM;
  ai->ai_protocol = ai->ai_socktype == SOCK_DGRAM ? IPPROTO_UDP : IPPROTO_TCP;
  ai->ai_addrlen = (socklen_t)alen;
  ai->ai_addr = (struct sockaddr*)(ai + 1);
  if (family == AF_INET) {
    struct sockaddr_in* s = (struct sockaddr_in*)ai->ai_addr;
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else {
    struct sockaddr_in6* s = (struct sockaddr_in6*)ai->ai_addr;
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    s->sin6_addr = in6addr_loopback;
  }
  return ai;
}

int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints, struct addrinfo** res) {
  size_t n = node ? strlen(node) : 0, k = sizeof kSuffix - 1;
  if (n <= k || strcasecmp(node + n - k, kSuffix) != 0) {
    static int (*real)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
    if (!real) real = (int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**))dlsym(RTLD_NEXT, "getaddrinfo");
    return real(node, service, hints, res);
  }
  unsigned short port = service ? (unsigned short)atoi(service) : 0;
  int want = hints ? hints->ai_family : AF_UNSPEC;
  struct addrinfo *head = NULL, **tail = &head;
  char labels[256];
  if (n - k >= sizeof labels) return EAI_NONAME;
  memcpy(labels, node, n - k);
  labels[n - k] = 0;
  char* save = NULL;
  for (char* l = strtok_r(labels, ".", &save); l; l = strtok_r(NULL, ".", &save)) {
    int family = 0;
    if (strcasecmp(l, "v4") == 0) family = AF_INET;
    else if (strcasecmp(l, "v6") == 0) family = AF_INET6;
    else if (strncasecmp(l, "ms", 2) == 0) {
      long ms = atol(l + 2);
      struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
      while (nanosleep(&ts, &ts) != 0) {}
    } else if (strcasecmp(l, "none") == 0) {
      freeaddrinfo(head);
      return EAI_NONAME;
    }
    if (family == 0 || (want != AF_UNSPEC && want != family)) continue;
    struct addrinfo* ai = node_for(family, hints, port);
    if (!ai) {
      freeaddrinfo(head);
      return EAI_MEMORY;
    }
    *tail = ai;
    tail = &ai->ai_next;
  }
  if (!head) return EAI_NONAME;
  *res = head;
  return 0;
}
