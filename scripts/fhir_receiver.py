"""A subscriber's rest-hook endpoint for trying FHIR notifications by hand: it prints each
notification's status and the ClaimResponse's review action, and answers 200.

    python3 scripts/fhir_receiver.py 9999
"""

from __future__ import annotations

import http.server
import json
import sys


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        events = [
            p
            for p in body.get("entry", [{}])[0].get("resource", {}).get("parameter", [])
            if p.get("name") == "notification-event"
        ]
        params = body.get("entry", [{}])[0].get("resource", {}).get("parameter", [])
        kind = next((p.get("valueCode") for p in params if p.get("name") == "type"), "?")
        print(f"{kind}: {len(events)} event(s), {len(body.get('entry', []))} entries")
        for entry in body.get("entry", [])[1:]:
            res = entry.get("resource") or {}
            for item in res.get("item", []):
                action = item["adjudication"][0]["extension"][0]["extension"]
                code = action[-1]["valueCodeableConcept"]["coding"][0]["code"]
                print(f"  {entry.get('fullUrl')}: review action {code}")
            if not res:
                print(f"  {entry.get('fullUrl')} (id-only)")
        sys.stdout.flush()
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9999
    print(f"listening on http://127.0.0.1:{port}/notify")
    http.server.HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
