/*
 * LD_PRELOAD shim: rewrites bind() to the wildcard address into bind() to $BIND_ADDR, for servers that
 * have no listen-address option (dcmtk storescp, the Temporal Java test server). Keeps lab and test
 * servers on 127.0.0.0/8. IPv6 wildcard binds become the IPv4-mapped form of $BIND_ADDR.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
  static bind_fn real_bind;
  if (!real_bind) real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
  const char *want = getenv("BIND_ADDR");
  struct in_addr target;
  if (!want || !addr || inet_pton(AF_INET, want, &target) != 1) return real_bind(fd, addr, len);
  if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
    struct sockaddr_in copy;
    memcpy(&copy, addr, sizeof copy);
    if (copy.sin_addr.s_addr == htonl(INADDR_ANY)) copy.sin_addr = target;
    return real_bind(fd, (const struct sockaddr *)&copy, sizeof copy);
  }
  if (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
    struct sockaddr_in6 copy;
    memcpy(&copy, addr, sizeof copy);
    if (memcmp(&copy.sin6_addr, &in6addr_any, sizeof in6addr_any) == 0) {
      memset(&copy.sin6_addr, 0, sizeof copy.sin6_addr);
      copy.sin6_addr.s6_addr[10] = 0xff;
      copy.sin6_addr.s6_addr[11] = 0xff;
      memcpy(&copy.sin6_addr.s6_addr[12], &target, 4);
    }
    return real_bind(fd, (const struct sockaddr *)&copy, sizeof copy);
  }
  return real_bind(fd, addr, len);
}
