/* net KIND HOST PORT: KIND tcp4, tcp6 or udp4. Prints "socket <errno name>" when socket() fails,
   "connect <errno name>" when connect fails, "sent" (udp) or "CONNECTED" (tcp). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *name(int e) {
    switch (e) {
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ENETUNREACH: return "ENETUNREACH";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    default: return strerror(e);
    }
}

int main(int argc, char **argv) {
    const char *kind = argv[1];
    int port = atoi(argv[3]);
    int v6 = !strcmp(kind, "tcp6"), udp = !strcmp(kind, "udp4");
    int s = socket(v6 ? AF_INET6 : AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
    if (s < 0) { printf("socket %s\n", name(errno)); return 0; }
    int r;
    if (v6) {
        struct sockaddr_in6 a = {0};
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(port);
        inet_pton(AF_INET6, argv[2], &a.sin6_addr);
        r = connect(s, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        inet_pton(AF_INET, argv[2], &a.sin_addr);
        if (udp) {
            r = sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof a);
            if (r >= 0) { puts("sent"); return 0; }
        } else {
            r = connect(s, (struct sockaddr *)&a, sizeof a);
        }
    }
    if (r == 0) puts("CONNECTED"); else printf("connect %s\n", name(errno));
    return 0;
}
