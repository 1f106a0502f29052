/*
 * cstb - censorscope testbed helper (testbed only; never used by the probe).
 *
 * Subcommands:
 *   cstb nfq QUEUE RULES    NFQUEUE daemon on the censor:
 *                           - UDP/53 queries whose name has a "dns" rule get a
 *                             forged answer sent FIRST (raw socket), then the
 *                             original query is accepted unchanged (on-path
 *                             injection that races the real answer), unless
 *                             the rule says "drop".
 *                           - any TCP segment queued is answered with a forged
 *                             FIN|ACK towards its sender (the client) and
 *                             dropped (FIN injection after a ClientHello/Host).
 *   cstb dnsserve ADDR PORT RCODE
 *                           tiny UDP DNS server answering every query with
 *                           RCODE (e.g. 2 = SERVFAIL) and no records.
 *   cstb dnsrecv SERVER NAME [WAIT_MS]
 *                           send one A query, print every reply that arrives
 *                           within WAIT_MS (default 1000), then "replies=N".
 *   cstb stun PORT ADDR...  STUN binding responder (RFC 5389) on UDP ADDR:PORT
 *                           for each ADDR (the apps world's calls/STUN servers).
 *   cstb stunping ADDR PORT [WAIT_MS]
 *                           one STUN binding request; prints "mapped=IP:PORT".
 *   cstb rst QUEUE STYLE TTL SEED COUNT
 *                           NFQUEUE RST injector (docs/forensics.md): every
 *                           TCP segment queued (a ClientHello matched by SNI)
 *                           is dropped and answered with COUNT forged RSTs
 *                           towards its sender, from the server's address:
 *                           plain  RST, DF, window 8192, IP TTL = TTL
 *                           pk     RST+ACK, no DF, window 0, IP TTL = TTL
 *                                  (Pakistan "RST" box, gx §6)
 *                           tsg    RST+ACK, DF, TSG "signature mode": window
 *                                  and TTL from a PRNG keyed by SEED, IP ID =
 *                                  A - SEED*win + (sip mod win) (mod 2^16)
 *                                  with A a per-flow constant (TTL ignored)
 *   cstb delay QUEUE MS [MAXPKTS]
 *                           NFQUEUE delay line (this kernel has no netem):
 *                           every packet queued is held MS milliseconds, then
 *                           accepted, in arrival order; at most MAXPKTS
 *                           (default 4096) are held, more are dropped (a
 *                           bounded buffer, as on a real link).
 *
 * RULES file lines:  dns NAME (A.B.C.D|nxdomain|nodata|servfail) [drop] [style=S]
 *                        [ttl=copy]
 *                    style=tsg: flags 0x8180 + compression pointer (Geedge TSG /
 *                    GFW injector 2); style=gfw1: flags 0x8580 (AA), the name
 *                    written out in full (GFW injector 1); default: QR|RA + the
 *                    query's RD, compression pointer. ttl=copy: the forged
 *                    reply's IP TTL mirrors the query's (the TTL the router
 *                    forwards it with, one less than it arrived with), like
 *                    one of the GFW's three DNS injectors (Triplet Censors,
 *                    FOCI '20); else it is 64.
 * Everything is bounded: names <= 253 chars, at most MAX_RULES rules.
 * C17, no dynamic allocation except the rule table.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libnetfilter_queue/libnetfilter_queue.h>

#define MAX_RULES 8192
#define MAX_NAME 256

enum action { ACT_ADDR, ACT_NXDOMAIN, ACT_NODATA, ACT_SERVFAIL };
enum style { STY_DEFAULT, STY_TSG, STY_GFW1 };

struct rule {
    char name[MAX_NAME];
    enum action act;
    uint32_t addr; /* network order */
    int drop;
    enum style style;
    int ttl_copy;
};

static struct rule *rules;
static size_t nrules;
static int rawfd = -1;
static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static void wr16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)(v & 0xff);
}

static uint16_t csum(const uint8_t *p, size_t n, uint32_t sum) {
    while (n > 1) {
        sum += rd16(p);
        p += 2;
        n -= 2;
    }
    if (n)
        sum += (uint32_t)p[0] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Parse the question name at msg[off]; lowercase dotted form into out.
 * Returns offset just after the name, or -1. No compression allowed. */
static int parse_qname(const uint8_t *msg, size_t len, size_t off, char *out, size_t outsz) {
    size_t o = 0;
    int labels = 0;
    for (;;) {
        if (off >= len)
            return -1;
        uint8_t l = msg[off++];
        if (l == 0)
            break;
        if (l > 63 || ++labels > 127)
            return -1;
        if (off + l > len || o + l + 2 > outsz)
            return -1;
        if (o)
            out[o++] = '.';
        for (uint8_t i = 0; i < l; i++)
            out[o++] = (char)tolower(msg[off + i]);
        off += l;
    }
    out[o] = '\0';
    return (int)off;
}

static const struct rule *find_rule(const char *name) {
    for (size_t i = 0; i < nrules; i++)
        if (strcmp(rules[i].name, name) == 0)
            return &rules[i];
    return NULL;
}

/* Build a DNS response for query q (qlen bytes, question ends at qend) into
 * out (capacity cap). Returns length or -1. */
static int build_answer(const uint8_t *q, size_t qend, enum action act, uint32_t addr,
                        enum style style, uint8_t *out, size_t cap) {
    if (qend < 16 || qend + 16 + (style == STY_GFW1 ? qend : 0) > cap)
        return -1;
    memcpy(out, q, qend);
    uint16_t qtype = rd16(q + qend - 4);
    uint16_t flags = (uint16_t)(0x8080 | (rd16(q + 2) & 0x0100)); /* QR|RA, keep RD */
    int an = 0;
    switch (act) {
    case ACT_NXDOMAIN: flags |= 3; break;
    case ACT_SERVFAIL: flags |= 2; break;
    case ACT_NODATA: break;
    case ACT_ADDR: an = (qtype == 1); break;
    }
    if (style == STY_TSG)
        flags = (uint16_t)(0x8180 | (flags & 0x000f));
    else if (style == STY_GFW1)
        flags = (uint16_t)(0x8580 | (flags & 0x000f));
    wr16(out + 2, flags);
    wr16(out + 4, 1);
    wr16(out + 6, (uint16_t)an);
    wr16(out + 8, 0);
    wr16(out + 10, 0);
    size_t n = qend;
    if (an) {
        static const uint8_t hdr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4};
        if (style == STY_GFW1) { /* the question's name in full: no compression */
            memcpy(out + n, q + 12, qend - 4 - 12);
            n += qend - 4 - 12;
            memcpy(out + n, hdr + 2, sizeof hdr - 2);
            n += sizeof hdr - 2;
        } else {
            memcpy(out + n, hdr, sizeof hdr);
            n += sizeof hdr;
        }
        memcpy(out + n, &addr, 4);
        n += 4;
    }
    return (int)n;
}

/* Validate a DNS query: returns end of question section or -1. */
static int query_end(const uint8_t *m, size_t len, char *name, size_t namesz) {
    if (len < 17 || (m[2] & 0x80) || rd16(m + 4) != 1)
        return -1;
    int off = parse_qname(m, len, 12, name, namesz);
    if (off < 0 || (size_t)off + 4 > len)
        return -1;
    return off + 4;
}

static int load_rules(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    rules = calloc(MAX_RULES, sizeof *rules);
    if (!rules) {
        fclose(f);
        return -1;
    }
    char line[512];
    while (fgets(line, sizeof line, f) && nrules < MAX_RULES) {
        char kw[16], name[MAX_NAME], what[64], extra[16] = "", extra2[16] = "", extra3[16] = "";
        if (line[0] == '#')
            continue;
        int n = sscanf(line, "%15s %255s %63s %15s %15s %15s", kw, name, what, extra, extra2, extra3);
        if (n < 3 || strcmp(kw, "dns") != 0)
            continue;
        struct rule *r = &rules[nrules];
        for (size_t i = 0; name[i]; i++)
            name[i] = (char)tolower((unsigned char)name[i]);
        size_t nl = strlen(name);
        if (nl && name[nl - 1] == '.')
            name[nl - 1] = '\0';
        snprintf(r->name, sizeof r->name, "%s", name);
        r->drop = 0, r->style = STY_DEFAULT, r->ttl_copy = 0;
        const char *opt[3] = {extra, extra2, extra3};
        for (int k = 0; k + 3 < n && k < 3; k++) {
            if (strcmp(opt[k], "drop") == 0)
                r->drop = 1;
            else if (strcmp(opt[k], "style=tsg") == 0)
                r->style = STY_TSG;
            else if (strcmp(opt[k], "style=gfw1") == 0)
                r->style = STY_GFW1;
            else if (strcmp(opt[k], "ttl=copy") == 0)
                r->ttl_copy = 1;
        }
        if (strcmp(what, "nxdomain") == 0)
            r->act = ACT_NXDOMAIN;
        else if (strcmp(what, "nodata") == 0)
            r->act = ACT_NODATA;
        else if (strcmp(what, "servfail") == 0)
            r->act = ACT_SERVFAIL;
        else {
            struct in_addr a;
            if (inet_pton(AF_INET, what, &a) != 1) {
                fprintf(stderr, "cstb: bad rule address %s\n", what);
                continue;
            }
            r->act = ACT_ADDR;
            r->addr = a.s_addr;
        }
        nrules++;
    }
    fclose(f);
    fprintf(stderr, "cstb: %zu dns rules loaded\n", nrules);
    return 0;
}

static int send_raw(const uint8_t *pkt, size_t len, uint32_t dst) {
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = dst;
    if (sendto(rawfd, pkt, len, 0, (struct sockaddr *)&sin, sizeof sin) < 0) {
        perror("cstb: sendto");
        return -1;
    }
    return 0;
}

static void fill_ip(uint8_t *ip, size_t total, uint8_t proto, const uint8_t *src, const uint8_t *dst) {
    memset(ip, 0, 20);
    ip[0] = 0x45;
    wr16(ip + 2, (uint16_t)total);
    wr16(ip + 4, (uint16_t)(rand() & 0xffff));
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, src, 4);
    memcpy(ip + 16, dst, 4);
    wr16(ip + 10, csum(ip, 20, 0));
}

/* Returns 1 to drop the original packet, 0 to accept it. */
static int handle_udp(const uint8_t *p, size_t len, size_t ihl) {
    if (len < ihl + 8)
        return 0;
    const uint8_t *udp = p + ihl;
    if (rd16(udp + 2) != 53)
        return 0;
    size_t ulen = rd16(udp + 4);
    if (ulen < 8 || ihl + ulen > len)
        return 0;
    const uint8_t *dns = udp + 8;
    size_t dlen = ulen - 8;
    char name[MAX_NAME];
    int qend = query_end(dns, dlen, name, sizeof name);
    if (qend < 0)
        return 0;
    const struct rule *r = find_rule(name);
    if (!r)
        return 0;
    uint8_t out[1024];
    int alen = build_answer(dns, (size_t)qend, r->act, r->addr, r->style, out + 28, sizeof out - 28);
    if (alen < 0)
        return 0;
    size_t total = 28 + (size_t)alen;
    fill_ip(out, total, 17, p + 16, p + 12); /* swap src/dst */
    if (r->ttl_copy) { /* the query's TTL as this router forwards it */
        out[8] = p[8] > 1 ? (uint8_t)(p[8] - 1) : 1;
        wr16(out + 10, 0);
        wr16(out + 10, csum(out, 20, 0));
    }
    uint8_t *u = out + 20;
    memcpy(u, udp + 2, 2); /* sport = orig dport */
    memcpy(u + 2, udp, 2); /* dport = orig sport */
    wr16(u + 4, (uint16_t)(8 + alen));
    wr16(u + 6, 0); /* UDP checksum optional over IPv4 */
    uint32_t dst;
    memcpy(&dst, p + 12, 4);
    if (send_raw(out, total, dst) == 0)
        fprintf(stderr, "cstb: injected answer for %s\n", name);
    return r->drop;
}

static int handle_tcp(const uint8_t *p, size_t len, size_t ihl) {
    if (len < ihl + 20)
        return 0;
    const uint8_t *tcp = p + ihl;
    size_t thl = (size_t)(tcp[12] >> 4) * 4;
    if (thl < 20 || ihl + thl > len)
        return 0;
    size_t tot = rd16(p + 2);
    if (tot > len || tot < ihl + thl)
        tot = len;
    uint32_t payload = (uint32_t)(tot - ihl - thl);
    uint32_t seq, ack;
    memcpy(&seq, tcp + 4, 4);
    memcpy(&ack, tcp + 8, 4);
    seq = ntohl(seq);
    ack = ntohl(ack);
    uint8_t out[40];
    fill_ip(out, 40, 6, p + 16, p + 12);
    uint8_t *t = out + 20;
    memset(t, 0, 20);
    memcpy(t, tcp + 2, 2);
    memcpy(t + 2, tcp, 2);
    uint32_t nseq = htonl(ack), nack = htonl(seq + payload);
    memcpy(t + 4, &nseq, 4);
    memcpy(t + 8, &nack, 4);
    t[12] = 5 << 4;
    t[13] = 0x11; /* FIN|ACK */
    wr16(t + 14, 65535);
    uint8_t ph[12];
    memcpy(ph, out + 12, 8);
    ph[8] = 0;
    ph[9] = 6;
    wr16(ph + 10, 20);
    uint32_t s = 0;
    for (int i = 0; i < 12; i += 2)
        s += rd16(ph + i);
    wr16(t + 16, csum(t, 20, s));
    uint32_t dst;
    memcpy(&dst, p + 12, 4);
    if (send_raw(out, 40, dst) == 0)
        fprintf(stderr, "cstb: injected FIN\n");
    return 1;
}

static int nfq_cb(struct nfq_q_handle *qh, struct nfgenmsg *nfmsg, struct nfq_data *nfa, void *data) {
    (void)nfmsg;
    (void)data;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    if (!ph)
        return 0;
    uint32_t id = ntohl(ph->packet_id);
    unsigned char *p = NULL;
    int len = nfq_get_payload(nfa, &p);
    int drop = 0;
    if (len >= 20 && p && (p[0] >> 4) == 4) {
        size_t ihl = (size_t)(p[0] & 0x0f) * 4;
        if (ihl >= 20 && (size_t)len >= ihl) {
            if (p[9] == 17)
                drop = handle_udp(p, (size_t)len, ihl);
            else if (p[9] == 6)
                drop = handle_tcp(p, (size_t)len, ihl);
        }
    }
    return nfq_set_verdict(qh, id, drop ? NF_DROP : NF_ACCEPT, 0, NULL);
}

static int cmd_nfq(int qnum, const char *rulefile) {
    if (load_rules(rulefile) < 0)
        return 1;
    rawfd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    if (rawfd < 0) {
        perror("cstb: raw socket");
        return 1;
    }
    struct nfq_handle *h = nfq_open();
    if (!h) {
        fprintf(stderr, "cstb: nfq_open failed\n");
        return 1;
    }
    struct nfq_q_handle *qh = nfq_create_queue(h, (uint16_t)qnum, &nfq_cb, NULL);
    if (!qh) {
        fprintf(stderr, "cstb: nfq_create_queue %d failed\n", qnum);
        return 1;
    }
    if (nfq_set_mode(qh, NFQNL_COPY_PACKET, 0xffff) < 0) {
        fprintf(stderr, "cstb: nfq_set_mode failed\n");
        return 1;
    }
    int fd = nfq_fd(h);
    static char buf[1 << 16];
    fprintf(stderr, "cstb: nfq %d ready\n", qnum);
    while (!stop_flag) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, 500);
        if (pr <= 0)
            continue;
        ssize_t rv = recv(fd, buf, sizeof buf, 0);
        if (rv < 0) {
            if (errno == ENOBUFS || errno == EINTR)
                continue;
            perror("cstb: recv");
            break;
        }
        nfq_handle_packet(h, buf, (int)rv);
    }
    nfq_destroy_queue(qh);
    nfq_close(h);
    return 0;
}

/* ---- RST injector (cstb rst) ---- */

enum rst_style { RS_PLAIN, RS_PK, RS_TSG };
static enum rst_style rs_style;
static int rs_ttl, rs_count;
static uint32_t rs_seed;

/* The testbed's stand-in for TSG's keyed PRNG (the real one is not public): an LCG started
 * from the seed, restarted for every flow, so one seed always gives the same windows. */
static uint32_t rs_next(uint32_t *x) {
    *x = *x * 1103515245u + 12345u;
    return (*x >> 8) & 0xffffff;
}

static void tcp_csum(uint8_t *out, size_t iplen) {
    uint8_t *t = out + 20;
    uint8_t ph[12];
    memcpy(ph, out + 12, 8);
    ph[8] = 0;
    ph[9] = 6;
    wr16(ph + 10, (uint16_t)(iplen - 20));
    uint32_t s = 0;
    for (int i = 0; i < 12; i += 2)
        s += rd16(ph + i);
    wr16(t + 16, 0);
    wr16(t + 16, csum(t, iplen - 20, s));
}

static int rst_inject(const uint8_t *p, size_t len, size_t ihl) {
    if (len < ihl + 20)
        return 0;
    const uint8_t *tcp = p + ihl;
    size_t thl = (size_t)(tcp[12] >> 4) * 4;
    if (thl < 20 || ihl + thl > len)
        return 0;
    size_t tot = rd16(p + 2);
    if (tot > len || tot < ihl + thl)
        tot = len;
    uint32_t seq = ((uint32_t)rd16(tcp + 4) << 16) | rd16(tcp + 6);
    uint32_t ack = ((uint32_t)rd16(tcp + 8) << 16) | rd16(tcp + 10);
    uint32_t payload = (uint32_t)(tot - ihl - thl);
    uint32_t sip = ((uint32_t)rd16(p + 16) << 16) | rd16(p + 18); /* the server: our source */
    uint32_t x = rs_seed;
    /* A: a constant of the flow (its ports), not of the seed */
    uint16_t a = (uint16_t)(rd16(tcp) * 31u + rd16(tcp + 2) * 17u + 0x5a5a);
    for (int i = 0; i < rs_count; i++) {
        uint8_t out[40];
        memset(out, 0, sizeof out);
        out[0] = 0x45;
        wr16(out + 2, 40);
        memcpy(out + 12, p + 16, 4); /* from the server */
        memcpy(out + 16, p + 12, 4); /* to the client */
        out[9] = 6;
        uint8_t *t = out + 20;
        memcpy(t, tcp + 2, 2);
        memcpy(t + 2, tcp, 2);
        uint32_t nseq = ack + (uint32_t)i, nack = seq + payload;
        wr16(t + 4, (uint16_t)(nseq >> 16));
        wr16(t + 6, (uint16_t)nseq);
        wr16(t + 8, (uint16_t)(nack >> 16));
        wr16(t + 10, (uint16_t)nack);
        t[12] = 5 << 4;
        uint16_t win = 0, ipid;
        switch (rs_style) {
        case RS_PLAIN:
            t[13] = 0x04; /* RST */
            out[6] = 0x40;
            win = 8192;
            out[8] = (uint8_t)rs_ttl;
            ipid = (uint16_t)(rand() & 0xffff);
            break;
        case RS_PK:
            t[13] = 0x14; /* RST|ACK */
            out[8] = (uint8_t)rs_ttl;
            ipid = (uint16_t)(rand() & 0xffff);
            break;
        case RS_TSG:
        default:
            t[13] = 0x14;
            out[6] = 0x40;
            win = (uint16_t)(1024 + rs_next(&x) % 64000);
            out[8] = (uint8_t)(64 + rs_next(&x) % 128);
            ipid = (uint16_t)(a - rs_seed * win + sip % win);
            break;
        }
        wr16(out + 4, ipid);
        wr16(t + 14, win);
        tcp_csum(out, 40);
        wr16(out + 10, 0);
        wr16(out + 10, csum(out, 20, 0));
        uint32_t dst;
        memcpy(&dst, p + 12, 4);
        if (send_raw(out, 40, dst) < 0)
            return 1;
    }
    fprintf(stderr, "cstb: injected %d RST\n", rs_count);
    return 1;
}

static int rst_cb(struct nfq_q_handle *qh, struct nfgenmsg *nfmsg, struct nfq_data *nfa, void *data) {
    (void)nfmsg;
    (void)data;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    if (!ph)
        return 0;
    uint32_t id = ntohl(ph->packet_id);
    unsigned char *p = NULL;
    int len = nfq_get_payload(nfa, &p);
    int drop = 0;
    if (len >= 20 && p && (p[0] >> 4) == 4 && p[9] == 6) {
        size_t ihl = (size_t)(p[0] & 0x0f) * 4;
        if (ihl >= 20 && (size_t)len >= ihl)
            drop = rst_inject(p, (size_t)len, ihl);
    }
    return nfq_set_verdict(qh, id, drop ? NF_DROP : NF_ACCEPT, 0, NULL);
}

static int cmd_rst(int qnum, const char *style, int ttl, long seed, int count) {
    if (strcmp(style, "plain") == 0)
        rs_style = RS_PLAIN;
    else if (strcmp(style, "pk") == 0)
        rs_style = RS_PK;
    else if (strcmp(style, "tsg") == 0)
        rs_style = RS_TSG;
    else {
        fprintf(stderr, "cstb rst: style plain|pk|tsg\n");
        return 2;
    }
    if (ttl < 1 || ttl > 255 || seed < 0 || seed > 65535 || count < 1 || count > 3) {
        fprintf(stderr, "cstb rst: TTL 1..255, SEED 0..65535, COUNT 1..3\n");
        return 2;
    }
    rs_ttl = ttl, rs_seed = (uint32_t)seed, rs_count = count;
    srand((unsigned)time(NULL));
    rawfd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    if (rawfd < 0) {
        perror("cstb: raw socket");
        return 1;
    }
    struct nfq_handle *h = nfq_open();
    if (!h) {
        fprintf(stderr, "cstb: nfq_open failed\n");
        return 1;
    }
    struct nfq_q_handle *qh = nfq_create_queue(h, (uint16_t)qnum, &rst_cb, NULL);
    if (!qh || nfq_set_mode(qh, NFQNL_COPY_PACKET, 0xffff) < 0) {
        fprintf(stderr, "cstb: queue %d setup failed\n", qnum);
        return 1;
    }
    int fd = nfq_fd(h);
    static char buf[1 << 16];
    fprintf(stderr, "cstb: rst %d %s ready\n", qnum, style);
    while (!stop_flag) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 500) <= 0)
            continue;
        ssize_t rv = recv(fd, buf, sizeof buf, 0);
        if (rv < 0) {
            if (errno == ENOBUFS || errno == EINTR)
                continue;
            perror("cstb: recv");
            break;
        }
        nfq_handle_packet(h, buf, (int)rv);
    }
    nfq_destroy_queue(qh);
    nfq_close(h);
    return 0;
}

static int cmd_dnsserve(const char *addr, int port, int rcode) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    if (fd < 0 || inet_pton(AF_INET, addr, &sin.sin_addr) != 1 ||
        bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
        perror("cstb: dnsserve bind");
        return 1;
    }
    enum action act = rcode == 3 ? ACT_NXDOMAIN : rcode == 0 ? ACT_NODATA : ACT_SERVFAIL;
    while (!stop_flag) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 500) <= 0)
            continue;
        uint8_t q[512], out[600];
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(fd, q, sizeof q, 0, (struct sockaddr *)&from, &fl);
        if (n <= 0)
            continue;
        char name[MAX_NAME];
        int qend = query_end(q, (size_t)n, name, sizeof name);
        if (qend < 0)
            continue;
        int alen = build_answer(q, (size_t)qend, act, 0, STY_DEFAULT, out, sizeof out);
        if (alen > 0)
            sendto(fd, out, (size_t)alen, 0, (struct sockaddr *)&from, fl);
    }
    return 0;
}

static const char *rcode_name(int rc) {
    switch (rc) {
    case 0: return "NOERROR";
    case 2: return "SERVFAIL";
    case 3: return "NXDOMAIN";
    case 5: return "REFUSED";
    default: return "OTHER";
    }
}

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int cmd_dnsrecv(const char *server, const char *name, int wait_ms) {
    uint8_t q[300];
    size_t n = 12;
    memset(q, 0, sizeof q);
    srand((unsigned)(time(NULL) ^ getpid()));
    uint16_t id = (uint16_t)rand();
    wr16(q, id);
    wr16(q + 2, 0x0100);
    wr16(q + 4, 1);
    const char *s = name;
    while (*s) {
        const char *dot = strchr(s, '.');
        size_t l = dot ? (size_t)(dot - s) : strlen(s);
        if (l == 0 || l > 63 || n + l + 6 > sizeof q) {
            fprintf(stderr, "cstb: bad name\n");
            return 2;
        }
        q[n++] = (uint8_t)l;
        memcpy(q + n, s, l);
        n += l;
        s += l;
        if (*s == '.')
            s++;
    }
    q[n++] = 0;
    wr16(q + n, 1);
    wr16(q + n + 2, 1);
    n += 4;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(53);
    if (fd < 0 || inet_pton(AF_INET, server, &sin.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0 || send(fd, q, n, 0) < 0) {
        perror("cstb: dnsrecv");
        return 2;
    }
    long start = now_ms();
    int replies = 0;
    for (;;) {
        long left = wait_ms - (now_ms() - start);
        if (left <= 0 || replies >= 16)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        uint8_t r[1500];
        ssize_t rl = recv(fd, r, sizeof r, 0);
        if (rl < 12 || rd16(r) != id)
            continue;
        replies++;
        printf("reply %d after %ldms: rcode=%s", replies, now_ms() - start, rcode_name(r[3] & 0x0f));
        /* walk answers: skip question, then print A records */
        size_t off = 12;
        int qd = rd16(r + 4), an = rd16(r + 6);
        for (int i = 0; i < qd && off < (size_t)rl; i++) {
            while (off < (size_t)rl && r[off] != 0) {
                if ((r[off] & 0xc0) == 0xc0) {
                    off++;
                    break;
                }
                off += (size_t)r[off] + 1;
            }
            off += 5;
        }
        for (int i = 0; i < an && off + 12 <= (size_t)rl; i++) {
            if ((r[off] & 0xc0) == 0xc0)
                off += 2;
            else {
                while (off < (size_t)rl && r[off] != 0)
                    off += (size_t)r[off] + 1;
                off++;
            }
            if (off + 10 > (size_t)rl)
                break;
            uint16_t type = rd16(r + off), rdl = rd16(r + off + 8);
            off += 10;
            if (off + rdl > (size_t)rl)
                break;
            if (type == 1 && rdl == 4)
                printf(" A=%u.%u.%u.%u", r[off], r[off + 1], r[off + 2], r[off + 3]);
            else if (type == 5)
                printf(" CNAME");
            off += rdl;
        }
        printf("\n");
        fflush(stdout);
    }
    printf("replies=%d\n", replies);
    return replies > 0 ? 0 : 1;
}

/* ---- STUN (apps world): binding responder and client, RFC 5389 ------------------------- */
#define STUN_COOKIE 0x2112A442u
#define STUN_MAX_SOCKS 64

/* RFC 5389 section 6: a Binding request is type 0x0001, the two top bits zero, the magic
 * cookie, a 96-bit transaction id, then attributes (length a multiple of 4). */
static int stun_is_request(const uint8_t *m, size_t n) {
    if (n < 20 || n > 548 || (m[0] & 0xc0) != 0)
        return 0;
    uint32_t cookie = ((uint32_t)m[4] << 24) | ((uint32_t)m[5] << 16) | ((uint32_t)m[6] << 8) | m[7];
    size_t len = rd16(m + 2);
    return rd16(m) == 0x0001 && cookie == STUN_COOKIE && len % 4 == 0 && len + 20 == n;
}

/* Binding success response (0x0101) with XOR-MAPPED-ADDRESS (section 15.2) of from and a
 * SOFTWARE attribute naming the testbed. Returns its length. */
static size_t stun_response(const uint8_t *req, const struct sockaddr_in *from, uint8_t *out) {
    static const char sw[] = "censorscope testbed"; /* 19 bytes, padded to 20 */
    size_t n = 20;
    wr16(out, 0x0101);
    memcpy(out + 4, req + 4, 16); /* cookie + transaction id */
    wr16(out + n, 0x0020);
    wr16(out + n + 2, 8);
    out[n + 4] = 0;
    out[n + 5] = 0x01; /* IPv4 */
    wr16(out + n + 6, (uint16_t)(ntohs(from->sin_port) ^ (STUN_COOKIE >> 16)));
    uint32_t xa = ntohl(from->sin_addr.s_addr) ^ STUN_COOKIE;
    out[n + 8] = (uint8_t)(xa >> 24);
    out[n + 9] = (uint8_t)(xa >> 16);
    out[n + 10] = (uint8_t)(xa >> 8);
    out[n + 11] = (uint8_t)xa;
    n += 12;
    wr16(out + n, 0x8022);
    wr16(out + n + 2, (uint16_t)(sizeof sw - 1));
    memset(out + n + 4, 0, 20);
    memcpy(out + n + 4, sw, sizeof sw - 1);
    n += 24;
    wr16(out + 2, (uint16_t)(n - 20));
    return n;
}

/* cstb stun PORT ADDR...: one UDP socket per address (replies leave from the address the
 * request went to, as a real server's do); anything that is not a Binding request is ignored. */
static int cmd_stun(int port, int naddr, char **addrs) {
    struct pollfd pfd[STUN_MAX_SOCKS];
    int n = 0;
    if (port < 1 || port > 65535 || naddr < 1 || naddr > STUN_MAX_SOCKS) {
        fprintf(stderr, "cstb: stun PORT ADDR... (1..%d addresses)\n", STUN_MAX_SOCKS);
        return 2;
    }
    for (int i = 0; i < naddr; i++) {
        struct sockaddr_in sin = {0};
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t)port);
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        if (fd < 0 || inet_pton(AF_INET, addrs[i], &sin.sin_addr) != 1 ||
            bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
            fprintf(stderr, "cstb: stun bind %s:%d: %s\n", addrs[i], port, strerror(errno));
            return 1;
        }
        pfd[n].fd = fd;
        pfd[n].events = POLLIN;
        n++;
    }
    printf("ready\n");
    fflush(stdout);
    while (!stop_flag) {
        if (poll(pfd, (nfds_t)n, 500) <= 0)
            continue;
        for (int i = 0; i < n; i++) {
            if (!(pfd[i].revents & POLLIN))
                continue;
            uint8_t q[600], out[96];
            struct sockaddr_in from;
            socklen_t fl = sizeof from;
            ssize_t r = recvfrom(pfd[i].fd, q, sizeof q, 0, (struct sockaddr *)&from, &fl);
            if (r <= 0 || fl != sizeof from || !stun_is_request(q, (size_t)r))
                continue;
            size_t ol = stun_response(q, &from, out);
            sendto(pfd[i].fd, out, ol, 0, (struct sockaddr *)&from, fl);
        }
    }
    return 0;
}

/* cstb stunping ADDR PORT [WAIT_MS]: one Binding request; prints "mapped=IP:PORT" from the
 * XOR-MAPPED-ADDRESS of the response, or "timeout" (exit 1). */
static int cmd_stunping(const char *addr, int port, int wait_ms) {
    uint8_t q[20], r[600];
    wr16(q, 0x0001);
    wr16(q + 2, 0);
    q[4] = 0x21, q[5] = 0x12, q[6] = 0xA4, q[7] = 0x42;
    srand((unsigned)(time(NULL) ^ getpid()));
    for (int i = 8; i < 20; i++)
        q[i] = (uint8_t)rand();
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || inet_pton(AF_INET, addr, &sin.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0 || send(fd, q, sizeof q, 0) < 0) {
        perror("cstb: stunping");
        return 2;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, wait_ms) <= 0) {
        printf("timeout\n");
        return 1;
    }
    ssize_t n = recv(fd, r, sizeof r, 0);
    if (n < 0) { /* ICMP port unreachable: nothing listens there */
        printf("error=%s\n", errno == ECONNREFUSED ? "refused" : strerror(errno));
        return 1;
    }
    if (n < 20 || rd16(r) != 0x0101 || memcmp(r + 4, q + 4, 16) != 0) {
        printf("bad-response\n");
        return 1;
    }
    size_t len = rd16(r + 2), off = 20;
    if (len + 20 > (size_t)n)
        len = (size_t)n - 20;
    while (off + 4 <= 20 + len) {
        uint16_t type = rd16(r + off), al = rd16(r + off + 2);
        if (off + 4 + al > 20 + len)
            break;
        if (type == 0x0020 && al == 8 && r[off + 5] == 0x01) {
            unsigned p = rd16(r + off + 6) ^ (STUN_COOKIE >> 16);
            printf("mapped=%u.%u.%u.%u:%u\n", r[off + 8] ^ 0x21u, r[off + 9] ^ 0x12u,
                   r[off + 10] ^ 0xA4u, r[off + 11] ^ 0x42u, p);
            return 0;
        }
        off += 4 + (size_t)((al + 3) & ~3);
    }
    printf("no-mapped-address\n");
    return 1;
}

/* ---- delay line (throttling pack: a slow access link with latency) --------
 * The kernel keeps every queued packet; we keep only (id, due time) in a ring
 * and give the ACCEPT verdict when the time has come. FIFO in, FIFO out: the
 * delay is the same for every packet, so order is preserved. */
struct held {
    uint32_t id;
    long long due_us;
};
static struct held *dl_ring;
static size_t dl_cap, dl_head, dl_len;
static long long dl_delay_us;
static unsigned long long dl_dropped;

static long long now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static int delay_cb(struct nfq_q_handle *qh, struct nfgenmsg *nfmsg, struct nfq_data *nfa,
                    void *data) {
    (void)nfmsg;
    (void)data;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    if (!ph)
        return 0;
    uint32_t id = ntohl(ph->packet_id);
    if (dl_len == dl_cap) { /* buffer full: tail drop */
        dl_dropped++;
        return nfq_set_verdict(qh, id, NF_DROP, 0, NULL);
    }
    struct held *e = &dl_ring[(dl_head + dl_len) % dl_cap];
    e->id = id;
    e->due_us = now_us() + dl_delay_us;
    dl_len++;
    return 0;
}

static void delay_release(struct nfq_q_handle *qh, int all) {
    long long now = now_us();
    while (dl_len > 0 && (all || dl_ring[dl_head].due_us <= now)) {
        nfq_set_verdict(qh, dl_ring[dl_head].id, NF_ACCEPT, 0, NULL);
        dl_head = (dl_head + 1) % dl_cap;
        dl_len--;
    }
}

static int cmd_delay(int qnum, int ms, int maxpkts) {
    if (qnum < 0 || qnum > 65535 || ms < 0 || ms > 10000 || maxpkts < 1 || maxpkts > 65536) {
        fprintf(stderr, "cstb: delay QUEUE(0-65535) MS(0-10000) [MAXPKTS(1-65536)]\n");
        return 2;
    }
    dl_cap = (size_t)maxpkts;
    dl_delay_us = (long long)ms * 1000LL;
    dl_ring = calloc(dl_cap, sizeof *dl_ring);
    if (!dl_ring)
        return 1;
    struct nfq_handle *h = nfq_open();
    if (!h) {
        fprintf(stderr, "cstb: nfq_open failed\n");
        free(dl_ring);
        return 1;
    }
    struct nfq_q_handle *qh = nfq_create_queue(h, (uint16_t)qnum, &delay_cb, NULL);
    if (!qh || nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) {
        fprintf(stderr, "cstb: nfq queue %d setup failed\n", qnum);
        nfq_close(h);
        free(dl_ring);
        return 1;
    }
    /* the kernel queue is at least as long as our ring: the ring decides */
    nfq_set_queue_maxlen(qh, (uint32_t)maxpkts + 64);
    int fd = nfq_fd(h);
    int rcvbuf = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
    static char buf[1 << 16];
    fprintf(stderr, "cstb: delay %d ms on queue %d (max %d packets) ready\n", ms, qnum, maxpkts);
    while (!stop_flag) {
        int wait = 500;
        if (dl_len > 0) {
            long long d = dl_ring[dl_head].due_us - now_us();
            wait = d <= 0 ? 0 : (int)((d + 999) / 1000);
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, wait);
        if (pr > 0) {
            for (int k = 0; k < 256; k++) { /* drain what is there, bounded */
                ssize_t rv = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
                if (rv < 0)
                    break; /* EAGAIN, ENOBUFS (kernel dropped: counted by it), EINTR */
                nfq_handle_packet(h, buf, (int)rv);
            }
        }
        delay_release(qh, 0);
    }
    delay_release(qh, 1);
    fprintf(stderr, "cstb: delay line stopped, %llu packets dropped (buffer full)\n", dl_dropped);
    nfq_destroy_queue(qh);
    nfq_close(h);
    free(dl_ring);
    return 0;
}

int main(int argc, char **argv) {
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (argc == 4 && strcmp(argv[1], "nfq") == 0)
        return cmd_nfq(atoi(argv[2]), argv[3]);
    if (argc == 5 && strcmp(argv[1], "dnsserve") == 0)
        return cmd_dnsserve(argv[2], atoi(argv[3]), atoi(argv[4]));
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "dnsrecv") == 0) {
        int w = argc == 5 ? atoi(argv[4]) : 1000;
        if (w < 1 || w > 10000)
            w = 1000;
        return cmd_dnsrecv(argv[2], argv[3], w);
    }
    if (argc >= 4 && strcmp(argv[1], "stun") == 0)
        return cmd_stun(atoi(argv[2]), argc - 3, argv + 3);
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "stunping") == 0)
        return cmd_stunping(argv[2], atoi(argv[3]), argc == 5 ? atoi(argv[4]) : 1000);
    if (argc == 7 && strcmp(argv[1], "rst") == 0)
        return cmd_rst(atoi(argv[2]), argv[3], atoi(argv[4]), atol(argv[5]), atoi(argv[6]));
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "delay") == 0)
        return cmd_delay(atoi(argv[2]), atoi(argv[3]), argc == 5 ? atoi(argv[4]) : 4096);
    fprintf(stderr, "usage: cstb nfq QUEUE RULES | dnsserve ADDR PORT RCODE | dnsrecv SERVER NAME [WAIT_MS]"
                    " | stun PORT ADDR... | stunping ADDR PORT [WAIT_MS] | delay QUEUE MS [MAXPKTS]"
                    " | rst QUEUE plain|pk|tsg TTL SEED COUNT\n");
    return 2;
}
