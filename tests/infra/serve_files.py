"""Serves a directory over HTTP, or HTTPS with a certificate and key, on 127.0.0.1 and an
ephemeral port, for tests of `--cert URL`. Prints the port on its first line of stdout.

usage: serve_files.py DIR [TLS_CERT TLS_KEY]
"""

import functools
import http.server
import ssl
import sys

directory = sys.argv[1]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
server = http.server.HTTPServer(("127.0.0.1", 0), handler)
if len(sys.argv) == 4:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[2], sys.argv[3])
    server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
