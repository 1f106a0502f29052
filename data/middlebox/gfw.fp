# DNS injectors of the Great Firewall with passive traits that differ from TSG's.
id gfw-dns-1
name GFW DNS injector 1
source gx §6 table (docs/research/next-wave.md §5); Triplet Censors (FOCI '20): three injectors with distinct fingerprints
kind dns
dns-flags 8580
compression false

id gfw-dns-3
name GFW DNS injector 3
source gx §6 table (docs/research/next-wave.md §5); cycles through an ordered pool of 592 IPv4 / 30 IPv6 answers (GFWatch is-forged-response README)
kind dns
dns-flags 8400
compression false

id iran-dns
name Iran DNS injector
source gx §6 table (docs/research/next-wave.md §5)
kind dns
dns-flags 81a0
compression false

id gfw-dns-teredo
name GFW DNS injection with a forged IPv6 answer (any of the three injectors)
source GFWatch (Hoang et al., USENIX Security '21): every forged IPv6 answer of the GFW is in Teredo 2001::/32 (docs/research/next-wave.md §5)
note the forged IPv4 pool (1,510 then 216 addresses, Triplet Censors FOCI '20; 592 for injector 3) is not shipped: no public copy was available offline
kind dns
answers-in 2001::/32
