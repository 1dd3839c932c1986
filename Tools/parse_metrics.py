#!/usr/bin/env python3
"""Parses Prometheus text (a file, or stdin) with prometheus_client's own parser and prints its
metric families as JSON: {"families": {name: {"type": ..., "samples": [[name, labels, value], ...]}}}.

The end-to-end metrics tests (Tests/EndToEndTests/MetricsTests.swift) use it so that what stockd
serves is checked by a real Prometheus text parser, not by one of ours. Exits 1 with the parser's
message when the text does not parse. Needs `pip install prometheus_client` (make deps does it).
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main() -> int:
    text = open(sys.argv[1], encoding="utf-8").read() if len(sys.argv) > 1 else sys.stdin.read()
    families = {}
    try:
        for family in text_string_to_metric_families(text):
            families[family.name] = {
                "type": family.type,
                "samples": [[s.name, s.labels, s.value] for s in family.samples],
            }
    except Exception as error:  # the parser raises ValueError and friends on bad text
        print(f"not valid Prometheus text: {error!r}", file=sys.stderr)
        return 1
    json.dump({"families": families}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
