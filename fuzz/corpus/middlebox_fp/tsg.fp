# Geedge Networks "Tiangou Secure Gateway" (TSG), the WMS 2.0 / Pakistan firewall vendor.
id tsg-signature
name Geedge TSG RST injection in "signature mode"
source Code analysis of the 2025 Geedge leak (USENIX Security 2026; "gx" §5-6 in docs/research/next-wave.md §6): action send_tcp_reset sends 1-3 RST or RST+ACK; in signature mode the IP ID, window and TTL come from a PRNG keyed by a seed (default 13, max 65535), DF set; k = ((ipid_i-ipid_j)+((sip mod win_j)-(sip mod win_i)))/(win_j-win_i)
note GFW II and III were measured with k = 13 (gx §6). Model and assumptions: docs/forensics.md
kind rst
df true
window varying
seed solved
known-seeds 13

id tsg-gfw2-dns
name Geedge TSG DNS injector, or GFW DNS injector 2 (identical passive traits)
source gx §6 table (docs/research/next-wave.md §5): TSG and CN injector 2 both answer with flags 0x8180 and a compression pointer in the answer; only the 17-vs-18 pointer-jump query pair (not done passively) tells them apart
kind dns
dns-flags 8180
compression true
