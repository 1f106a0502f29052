# Stock Linux netfilter REJECT --reject-with tcp-reset on a router: the reset a small
# ISP (or this project's testbed) sends with iptables.
id linux-reject
name Linux netfilter REJECT tcp-reset (router's own TTL)
source Linux net/ipv4/netfilter/nf_reject_ipv4.c (nf_reject_iphdr_put: DF set; nf_reject_ip_tcphdr_put: window 0, RST or RST+ACK); the router's default TTL
kind rst
df true
window zero
