"""Commands to vehicles: signing, the restart-proof queue, and the dispatcher that sends them and
applies acknowledgements."""
