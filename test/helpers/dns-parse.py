#!/usr/bin/env python3
"""Independent DNS message parser for the tests (dnspython, Debian python3-dnspython).

Reads one hex-encoded DNS message per line on stdin and writes one JSON object per
line: rcode, aa, the question, and every record of every section with its owner
and the domain names inside its RDATA, each name as a list of hex-encoded labels
(root label dropped). Names are bytes, never text, so a dot or a backslash inside
a label cannot be mistaken for a boundary. A message dnspython rejects gives
{"error": "..."}.
"""
import json
import sys

import dns.message
import dns.rdatatype


def labels(name):
    return [l.hex() for l in name.labels if l != b""]


NAME_FIELDS = ("target", "mname", "rname", "exchange")


def rdata_names(rd):
    return [labels(getattr(rd, f)) for f in NAME_FIELDS if hasattr(rd, f)]


def section(rrsets):
    out = []
    for rrset in rrsets:
        for rd in rrset:
            out.append({"owner": labels(rrset.name), "type": dns.rdatatype.to_text(rrset.rdtype),
                        "ttl": rrset.ttl, "names": rdata_names(rd), "text": rd.to_text()})
    return out


for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    try:
        m = dns.message.from_wire(bytes.fromhex(line), ignore_trailing=False)
        q = m.question[0] if m.question else None
        print(json.dumps({
            "rcode": m.rcode(),
            "aa": bool(m.flags & 0x0400),
            "question": labels(q.name) if q is not None else None,
            "answer": section(m.answer),
            "authority": section(m.authority),
            "additional": section(m.additional),
        }))
    except Exception as e:  # noqa: BLE001 - any parse failure is the test's finding
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
    sys.stdout.flush()
