"""Unsupervised domain adaptation (Appendix C, Tables 6-9): two-head discriminators (`networks`),
the multi-task objective (`model`), its options (`options`), loss terms (`losses`), the digits task
(`task`) and the classify_a / classify_b export signatures (`export`). Domain a is the labelled
source, domain b the unlabelled target."""
