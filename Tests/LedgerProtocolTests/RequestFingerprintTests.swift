import Foundation
import LedgerCore
@testable import LedgerProtocol
import Testing

/// The idempotency fingerprint is a stored format: its bytes are pinned here, and the legacy form
/// recognises what stockd stored before it was versioned.
@Suite struct RequestFingerprintTests {
    func write(_ line: String) throws -> WriteRequest {
        guard case .write(let request) = try RequestParser.parse(Array(line.utf8)) else {
            Issue.record("not a write: \(line)")
            return WriteRequest(command: .cancel(purchaseOrder: "none"))
        }
        return request
    }

    /// One line per verb and form, with the fingerprint each must keep, byte for byte.
    static let pinned: [(line: String, fingerprint: String)] = [
        ("RECEIVE qty=40 wh=PAR sku=TSHIRT-M id=k po=PO-7", "v1 RECEIVE sku=TSHIRT-M wh=PAR qty=40 po=PO-7"),
        ("SELL sku=A wh=PAR qty=3 id=order-1 ref=ORDER-1", "v1 SELL sku=A wh=PAR qty=3 ref=ORDER-1"),
        ("SELL res=r9 id=k", "v1 SELL res=r9"),
        ("SELL res=r9 qty=2 id=k", "v1 SELL res=r9 qty=2"),
        ("RESERVE sku=A wh=PAR qty=2 ttl=15m id=k", "v1 RESERVE sku=A wh=PAR qty=2 ttl=900"),
        ("RESERVE sku=A wh=PAR qty=2 res=cart-1 id=k", "v1 RESERVE sku=A wh=PAR qty=2 res=cart-1"),
        ("RELEASE res=cart-1 qty=1 id=k", "v1 RELEASE res=cart-1 qty=1"),
        ("TRANSFER sku=A from=PAR to=LYS qty=5 eta=2026-11-22T09:00:00+01:00 xfer=x1 id=k",
         "v1 TRANSFER sku=A from=PAR to=LYS qty=5 xfer=x1 eta=2026-11-22T08:00:00Z"),
        ("ARRIVE xfer=x1 lost=1 id=k", "v1 ARRIVE xfer=x1 lost=1"),
        ("ADJUST sku=A wh=PAR delta=+4 reason=\"found \\\"two\\\" \\\\ boxes\" id=k",
         "v1 ADJUST sku=A wh=PAR delta=4 reason=\"found \\\"two\\\" \\\\ boxes\""),
        ("ADJUST sku=A wh=PAR delta=-4 reason=café id=k", "v1 ADJUST sku=A wh=PAR delta=-4 reason=\"café\""),
        ("COUNT sku=A wh=PAR qty=0 id=k", "v1 COUNT sku=A wh=PAR qty=0"),
        ("RETURN sku=A wh=PAR qty=1 id=k note=\"a note\"", "v1 RETURN sku=A wh=PAR qty=1 note=\"a note\""),
        ("EXPECT sku=A wh=PAR qty=100 eta=2026-12-01T08:00:00.5Z po=PO-8 id=k",
         "v1 EXPECT sku=A wh=PAR qty=100 eta=2026-12-01T08:00:00.500000Z po=PO-8"),
        ("CANCEL po=PO-8 id=k ref=T-1", "v1 CANCEL po=PO-8 ref=T-1"),
        ("POLICY sku=A wh=PAR max=90 safety=10 id=k", "v1 POLICY sku=A wh=PAR safety=10 max=90"),
    ]

    @Test("finding 11: the fingerprint is versioned and its bytes are pinned, whatever the argument order")
    func finding11FingerprintIsVersionedAndPinned() throws {
        for (line, fingerprint) in RequestFingerprintTests.pinned {
            #expect(RequestFingerprint.current(try write(line)) == fingerprint, "\(line)")
        }
        #expect(RequestFingerprint.current(WriteRequest(command: .expire(reservation: "r1"))) == "v1 EXPIRE res=r1")
    }

    @Test("finding 11: the fingerprint after v1 is a request line that parses back into the same write, without its id")
    func finding11FingerprintParsesBackIntoTheSameWrite() throws {
        for (line, _) in RequestFingerprintTests.pinned {
            var request = try write(line)
            request.idempotencyKey = nil
            let canonical = RequestFingerprint.current(request)
            #expect(try write(String(canonical.dropFirst(3))) == request, "\(canonical)")
        }
    }

    @Test("finding 11: different writes never share a fingerprint")
    func finding11DifferentWritesDiffer() throws {
        let lines = ["SELL sku=A wh=PAR qty=3", "SELL sku=A wh=PAR qty=3 ref=X", "SELL sku=A wh=PAR qty=3 note=X",
                     "SELL res=A qty=3", "RESERVE sku=A wh=PAR qty=3", "RESERVE sku=A wh=PAR qty=3 ttl=900",
                     "ADJUST sku=A wh=PAR delta=1 reason=\"a b\"", "ADJUST sku=A wh=PAR delta=1 reason=\"a\" note=\"b\"",
                     "ADJUST sku=A wh=PAR delta=1 reason=\"a\\\" note=\\\"b\""]
        let fingerprints = try lines.map { RequestFingerprint.current(try write($0)) }
        #expect(Set(fingerprints).count == lines.count)
    }

    /// Free text that exercises every rule of the old debug printing: quotes, apostrophes,
    /// backslashes, tabs, non-ASCII, a combining mark first and after an escape, a prepended mark
    /// last, an emoji with a joiner.
    static let awkwardTexts = ["plain", "it's \"wet\"", "back\\slash", "tab\there", "café — ünïcode", "\u{301}first",
                               "after\t\u{301}tab", "e\u{301}", "end\u{600}", "\u{600}\u{600}", "👩‍👩‍👧 family", "🇫🇷🇫🇷", "'"]

    @Test("finding 11: the frozen legacy form reproduces what stockd stored before, byte for byte")
    func finding11LegacyFormReproducesTheStoredStrings() throws {
        // Pinned literally, as the stored records hold them.
        #expect(LegacyFingerprint.format(try write("SELL sku=A wh=PAR qty=3 id=k ref=ORDER-1"))
                == "sell(sku: \"A\", wh: \"PAR\", quantity: 3)|ref=ORDER-1|note=")
        #expect(LegacyFingerprint.format(try write("RESERVE sku=A wh=PAR qty=2 ttl=15m id=k note=\"x y\""))
                == "reserve(sku: \"A\", wh: \"PAR\", quantity: 2, reservation: nil, ttlSeconds: Optional(900))|ref=|note=x y")
        #expect(LegacyFingerprint.format(try write("ADJUST sku=A wh=PAR delta=-1 reason=\"it's \\\"wet\\\"\" id=k"))
                == "adjust(sku: \"A\", wh: \"PAR\", delta: -1, reason: \"it\\'s \\\"wet\\\"\")|ref=|note=")
        // And against the debug printing that made them (the expression stockd used), for every
        // verb and every awkward text.
        var requests = try RequestFingerprintTests.pinned.map { try write($0.line) }
        requests.append(WriteRequest(command: .expire(reservation: "r1")))
        for text in RequestFingerprintTests.awkwardTexts {
            requests.append(WriteRequest(command: .adjust(sku: "A", wh: "PAR", delta: 1, reason: text), note: text))
            requests.append(WriteRequest(command: .count(sku: "A", wh: "PAR", quantity: 1, reason: text)))
        }
        // Command has gained fields since (promises); with their defaults they printed as nothing.
        let added = [", terms: LedgerCore.ReserveTerms(backorder: LedgerCore.Backorder.no, purchaseOrder: nil, priority: nil, channel: nil)",
                     ", bind: true", ", releaseOrphans: false", ", promises: nil", ", channel: nil"]
        for request in requests {
            var printed = "\(request.command)"
            for field in added { printed = printed.replacingOccurrences(of: field, with: "") }
            let stored = "\(printed)|ref=\(request.ref ?? "")|note=\(request.note ?? "")"
            #expect(LegacyFingerprint.format(request) == stored)
            #expect(RequestFingerprint.isLegacy(stored, of: request))
        }
    }
}
