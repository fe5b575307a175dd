"""The paper's UNIT (Liu, Breuel, Kautz 2017): Table 3 / Table 10 networks and the objective of
Eqs. 1-5 (`networks`, `model`)."""
