#!/usr/bin/env python3
"""Writes the seed inputs of every fuzz target into fuzz/corpus/<target>/ (existing files are kept):
the vignettes, docs/examples, the shipped protocol and `ketacare synth` output. Run from the repository
root after `cargo build`: python3 fuzz/seed_corpora.py [path/to/ketacare]."""

import glob
import gzip
import hashlib
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
KETACARE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "debug", "ketacare")

CHART_SECTIONS = ["patient", "episode", "ect", "history", "concomitant", "trials", "bp", "scales", "cssrs", "overrides"]
SCREEN_TYPES = {
    "Patient": "screen_patient",
    "Condition": "screen_condition",
    "MedicationRequest": "screen_medication_request",
    "MedicationDispense": "screen_medication_dispense",
    "MedicationStatement": "screen_medication_statement",
    "MedicationAdministration": "screen_medication_administration",
    "Observation": "screen_observation",
}


def seed(target, data):
    if isinstance(data, str):
        data = data.encode()
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()
    with open(os.path.join(folder, name), "wb") as file:
        file.write(data)


def read(path):
    with open(os.path.join(ROOT, path), "rb") as file:
        return file.read()


def main():
    cases = sorted(glob.glob(os.path.join(ROOT, "vignettes", "*.case.json")))
    compact = []
    for path in cases:
        text = read(path)
        value = json.loads(text)
        seed("assess_case", text)
        seed("assess_single_vs_batch", text)
        one_line = json.dumps(value, separators=(",", ":"))
        compact.append(one_line)
        seed("assess_single_vs_batch", one_line)
        for index, section in enumerate(CHART_SECTIONS):
            part = value.get(section)
            if part is None:
                continue
            items = part if isinstance(part, list) else [part]
            for item in items:
                seed("chart_record", bytes([index]) + json.dumps(item).encode())
    for start in range(0, len(compact), 4):
        seed("assess_batch", "\n".join(compact[start:start + 4]) + "\n")
    seed("assess_batch", compact[0] + "\r\n\n   \n{\"as_of\": 5}\n\xff\n" + compact[1])

    for path in sorted(glob.glob(os.path.join(ROOT, "docs", "examples", "session-*.json"))):
        text = read(path)
        seed("session_document", text)
        for selector, observation in enumerate(json.loads(text).get("observations", [])):
            seed("session_observation", bytes([selector % 2]) + json.dumps(observation).encode())
    for path in sorted(glob.glob(os.path.join(ROOT, "docs", "examples", "plan-*.json"))):
        seed("plan_document", read(path))
    seed("protocol_toml", read("crates/ketacare-core/protocol/ketacare-protocol.toml"))

    bodies = [
        (0, {"mrn": "MRN-1", "given_name": "Ada", "family_name": "Byron", "birth_date": "1980-02-29", "sex_at_birth": "female"}),
        (1, {"reason": "typo", "mrn": None, "given_name": "Ada", "status": "active"}),
        (2, {"reason": "wrong patient", "status": "entered_in_error"}),
        (3, {"role": "nurse", "active": False}),
        (4, {"drug": "sertraline", "daily_dose_mg": 150, "weeks": 8, "episode_id": "e1"}),
        (5, {"at": "2026-11-28T13:00", "systolic_mmhg": 124}),
    ]
    for selector, body in bodies:
        seed("api_body", bytes([selector]) + json.dumps(body).encode())
    seed("api_body", bytes([4]) + b'{"a":1,"a":2}')
    seed("api_body", bytes([5]) + b"caf\xe9")

    with tempfile.TemporaryDirectory() as out:
        subprocess.run([KETACARE, "synth", "--patients", "30", "--seed", "7", "--out", out], check=True,
                       stderr=subprocess.DEVNULL)
        lines = {}
        for path in sorted(glob.glob(os.path.join(out, "*.ndjson"))):
            with open(path, "rb") as file:
                for line in file.read().splitlines():
                    resource_type = json.loads(line)["resourceType"]
                    lines.setdefault(resource_type, []).append(line)
        # MedicationAdministration: synth writes none; statements with the type changed stand in.
        lines["MedicationAdministration"] = [
            line.replace(b'"MedicationStatement"', b'"MedicationAdministration"', 1)
            for line in lines.get("MedicationStatement", [])[:12]
        ]
        mixed = []
        for resource_type, typed in sorted(lines.items()):
            picked = typed[:: max(1, len(typed) // 12)][:12]
            mixed.extend(picked[:3])
            for line in picked:
                seed("screen_line", line)
                seed("screen_line_vs_serde", line)
                target = SCREEN_TYPES.get(resource_type)
                if target:
                    prefix = ('{"resourceType":"%s",' % resource_type).encode()
                    assert line.startswith(prefix), line[:60]
                    seed(target, line[len(prefix):])
        ndjson = b"\n".join(mixed) + b"\n"
        for chunk_selector, cut_selector in [(0, 128), (9, 0), (17, 200), (40, 255), (83, 60)]:
            seed("screen_export", bytes([chunk_selector, cut_selector]) + ndjson)
        seed("screen_export", bytes([8, 100]) + b"\xef\xbb\xbf" + mixed[0] + b"\r\n\n{\"resourceType\":\n" + mixed[1])
        seed("screen_gzip", gzip.compress(ndjson, mtime=0))
        seed("screen_gzip", gzip.compress(mixed[0], mtime=0) + gzip.compress(b"\n" + mixed[1], mtime=0))


if __name__ == "__main__":
    main()
