"""docpipe: the shared layer of the document pipeline (models, logic, AWS clients, settings).

Deployed to Lambda as a layer; nothing here may import offline-only code.
"""
