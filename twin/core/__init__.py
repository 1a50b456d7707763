"""The simulation core: catalogs, the serving model and the factory engine.

Nothing in here imports a screen library or prints: front ends drive the core through
plain values (commands in, snapshots out). The boundary is checked by import-linter.
"""
