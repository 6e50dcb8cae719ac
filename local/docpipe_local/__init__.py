"""docpipe's offline runtime: never deployed.

It runs the same template, state machines and handlers as AWS does, on one machine, with moto for the
AWS control plane and emulators that do the real work for the AI services moto only fakes.
"""
