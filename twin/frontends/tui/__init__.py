"""The live control room: a Textual app over the factory engine.

``twin`` opens it on the built-in default factory. The app never runs simulation logic:
`clock.SimClock` turns wall time × speed into a simulated time, `driver.EngineDriver`
advances the engine to it off the UI thread and hands back one frozen snapshot per frame,
and the screens apply that snapshot in one batch.
"""
