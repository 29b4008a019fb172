"""The audience's side of talk mode over plain HTTP: the phone's page and its endpoints (server.py)."""
