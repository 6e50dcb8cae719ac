"""`docpipe serve`: the offline runtime behind one LocalStack-compatible HTTP endpoint (see README).

app.py (ASGI app, `create_app(runtime)`), protocol.py (the wire, through localstack-core's parser and
serializer), auth.py (SigV4), bridge.py (requests answered by the runtime's boto3 clients), server.py (the
command).
"""
