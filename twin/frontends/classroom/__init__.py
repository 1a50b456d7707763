"""A class: one simulation served to many consoles (``twin serve``, ``twin attach``), over
a Unix socket and, built in, over SSH.

`server` owns the simulation, its clock, the scenario, the journal, the checkpoints and
the roles; `remote` is the control room with a remote driver in place of the engine;
`protocol` and `codec` are what travels between them; `ssh` and `users` let trainees
log in with nothing but an SSH client.
"""
