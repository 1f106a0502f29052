# Pakistan: two distinct boxes (gx §6, docs/research/next-wave.md §6).
id pk-rst
name Pakistan "RST" middlebox: resets without DF, no signature-mode seed
source gx §6: "Pakistan (RST)" sends RSTs with flags RST+AE+RE and no DF, with an unstable k (no consistent signature-mode seed); the "Pakistan (DROP)" box injects nothing and has no fingerprint here
note the published flag set is not matched (only DF and the absence of a seed): a box that resets without DF is consistent with, not proof of, this family
kind rst
df false
