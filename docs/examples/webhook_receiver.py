"""Receives the CRM's webhooks: python webhook_receiver.py (set WEBHOOK_SECRET to the subscription's secret)."""
import hashlib
import hmac
import json
import os
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ["WEBHOOK_SECRET"].encode()
TOLERANCE = 300  # seconds
seen = set()  # delivery ids already handled (keep them in your database in earnest)


def verified(header: str, body: bytes) -> bool:
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > TOLERANCE:
        return False
    expected = hmac.new(SECRET, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not verified(self.headers.get("X-CRM-Signature", ""), body):
            self.send_response(401)
            self.end_headers()
            return
        delivery = self.headers["X-CRM-Delivery"]
        if delivery not in seen:
            seen.add(delivery)
            event = json.loads(body)
            print(event["event"], event["occurred_at"], event["data"].get("id"))
        self.send_response(204)
        self.end_headers()


if __name__ == "__main__":
    HTTPServer(("0.0.0.0", 8099), Receiver).serve_forever()
