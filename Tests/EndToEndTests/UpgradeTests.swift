import Foundation
import LedgerClient
import LedgerCore
import LedgerProtocol
import LedgerStore
import Testing

/// A data folder written by the previous version (every commit wrote the log, the per-sku index,
/// the projections, the idempotency records and `last_seq` together) opens and keeps working.
@Suite("upgrade from the previous layout", .serialized)
struct UpgradeTests {
    /// Builds the folder the way the previous daemon left it: decide and fold each request, then
    /// write everything in the same transaction as its event.
    static func previousLayout(at directory: String) throws {
        let store = try LedgerStore(directory: directory, mapSizeBytes: 16 << 20)
        defer { store.close() }
        var state = LedgerState()
        let now = Timestamp(microseconds: Int64(Date().timeIntervalSince1970 * 1e6))
        let requests: [WriteRequest] = [
            WriteRequest(command: .receive(sku: "OLD", wh: "PAR", quantity: 40, purchaseOrder: nil), ref: "ASN-1"),
            WriteRequest(command: .reserve(sku: "OLD", wh: "PAR", quantity: 3, reservation: "held", ttlSeconds: 3_600)),
            WriteRequest(command: .reserve(sku: "OLD", wh: "PAR", quantity: 2, reservation: "done", ttlSeconds: 3_600)),
            WriteRequest(command: .sellReserved(reservation: "done", quantity: nil)),
            WriteRequest(command: .sell(sku: "OLD", wh: "PAR", quantity: 1), idempotencyKey: "order-1"),
        ]
        for request in requests {
            let context = DecisionContext(now: now, seq: state.lastSeq + 1, actor: 0)
            guard case .success(let event) = Ledger.decide(request, in: state, context: context) else {
                Issue.record("the setup's request was refused: \(request)")
                return
            }
            Ledger.apply(event, to: &state)
            try store.write { writer in
                try writer.append(event)
                if let key = request.idempotencyKey {
                    // The previous daemon's fingerprint: the command, ref and note, in one string.
                    let reply = Rows.writeReply(event) { state.pairs[$0] ?? PairState() }.joined(separator: "\n")
                    try writer.putIdempotencyRecord(key, IdempotencyRecord(
                        fingerprint: UpgradeTests.previousFingerprint(request), reply: reply, recordedAt: now))
                }
                try writer.persist(state)
            }
        }
    }

    /// What builds before the versioned fingerprint stored: the debug printing of the command, which
    /// had none of the fields added since (promises, channels) with their default values.
    static func previousFingerprint(_ request: WriteRequest) -> String {
        var printed = "\(request.command)"
        for added in [", terms: LedgerCore.ReserveTerms(backorder: LedgerCore.Backorder.no, purchaseOrder: nil, priority: nil, channel: nil)",
                      ", bind: true", ", releaseOrphans: false", ", promises: nil", ", channel: nil"] {
            printed = printed.replacingOccurrences(of: added, with: "")
        }
        return "\(printed)|ref=\(request.ref ?? "")|note=\(request.note ?? "")"
    }

    @Test("the previous layout opens: state, open reservations, dup=yes on old keys, refusals naming old state")
    func previousLayoutOpens() throws {
        let daemon = try StockdProcess()
        defer { daemon.removeFiles() }
        try UpgradeTests.previousLayout(at: daemon.dataDirectory)
        try daemon.start()
        let c = try daemon.client()
        let stock = try c.request("STOCK sku=OLD")
        #expect(stock[0] == "stock sku=OLD wh=PAR on_hand=37 reserved=3 available=34 inbound=0 incoming=0 safety=0 reorder=0 max=0 breach=no projected=34")
        #expect(stock.last == "OK rows=2 seq=5")
        #expect(try c.request("SELL sku=OLD wh=PAR qty=1 id=order-1")
                == ["OK seq=5 sku=OLD wh=PAR on_hand=37 reserved=3 available=34 breach=no dup=yes"])
        #expect(try c.request("SELL sku=OLD wh=PAR qty=2 id=order-1").status.hasPrefix("ERR CONFLICT"))
        #expect(try c.request("RESERVATIONS").first?.hasPrefix("reservation res=held sku=OLD wh=PAR qty=3") == true)
        #expect(try c.request("SELL res=done").status == "ERR STATE res=done state=sold reservation done is sold")
        #expect(try c.request("RESERVE sku=OLD wh=PAR qty=1 res=done").status.hasPrefix("ERR STATE"))
        #expect(try c.request("SELL res=held").status.hasPrefix("OK seq=6 res=held"))
        #expect(try c.request("HISTORY sku=OLD").dropLast().count == 6)
        #expect(try c.request("STOCK sku=OLD at=seq:2")[0].contains("on_hand=40 reserved=3"))
        #expect(daemon.stop() == 0)
        try daemon.start()
        #expect(try daemon.request("SELL sku=OLD wh=PAR qty=1 id=order-1").status.hasSuffix("dup=yes"))
        #expect(daemon.stop() == 0)
        let verify = try run("stockctl", ["verify", "--data", daemon.dataDirectory])
        #expect(verify.status == 0 && verify.output.hasPrefix("ok: 6 events"), "\(verify.output)")
    }

    /// Keyed writes as the daemon before the versioned fingerprint stored them: the fingerprint is
    /// the debug printing of the command (the very expression that daemon used), in each keyed
    /// event, and in the idempotency table for the events a checkpoint covered. The first three
    /// writes are checkpointed, the rest are only in the log's tail.
    static let keyedWrites = [
        "RECEIVE sku=OLD wh=PAR qty=40 id=k-receive ref=ASN-1",
        "RESERVE sku=OLD wh=PAR qty=3 res=held ttl=1h id=k-reserve",
        "ADJUST sku=OLD wh=PAR delta=-1 reason=\"it's \\\"wet\\\" \u{2014} caf\u{E9}\" note=\"dock 4\" id=k-adjust",
        "SELL sku=OLD wh=PAR qty=1 id=k-sell ref=ORDER-1",
        "TRANSFER sku=OLD from=PAR to=LYS qty=2 eta=2026-12-01T08:00:00Z id=k-transfer",
        "POLICY sku=OLD wh=PAR safety=5 id=k-policy",
    ]

    static func keyedLayout(at directory: String) throws {
        let store = try LedgerStore(directory: directory, mapSizeBytes: 16 << 20)
        defer { store.close() }
        var state = LedgerState()
        let now = Timestamp(microseconds: Int64(Date().timeIntervalSince1970 * 1e6))
        try store.write { writer in
            for (index, line) in keyedWrites.enumerated() {
                guard case .write(let request) = try RequestParser.parse(Array(line.utf8)),
                      case .success(var event) = Ledger.decide(request, in: state,
                                                               context: DecisionContext(now: now, seq: state.lastSeq + 1, actor: 0))
                else { Issue.record("the setup's request was refused: \(line)"); return }
                let fingerprint = UpgradeTests.previousFingerprint(request)
                event.requestFingerprint = fingerprint
                Ledger.apply(event, to: &state)
                guard index < 3 else { try writer.appendToLog(event); continue }
                try writer.append(event)
                let reply = Rows.writeReply(event) { state.pairs[$0] ?? PairState() }.joined(separator: "\n")
                try writer.putIdempotencyRecord(request.idempotencyKey!, IdempotencyRecord(fingerprint: fingerprint, reply: reply,
                                                                                           recordedAt: now))
                if index == 2 { try writer.persist(state) }
            }
        }
    }

    @Test("finding 11: keys stored before the versioned fingerprint answer dup=yes to the same request, CONFLICT to another")
    func finding11KeysStoredBeforeTheVersionedFingerprintStillMatch() throws {
        let daemon = try StockdProcess()
        defer { daemon.removeFiles() }
        try UpgradeTests.keyedLayout(at: daemon.dataDirectory)
        for round in 1...2 {
            try daemon.start()
            let c = try daemon.client()
            for (index, line) in UpgradeTests.keyedWrites.enumerated() {
                let reply = try c.request(line)
                #expect(reply.status.hasPrefix("OK seq=\(index + 1) ") && reply.status.hasSuffix(" dup=yes"), "round \(round): \(line) -> \(reply)")
            }
            #expect(try c.request("SELL sku=OLD wh=PAR qty=2 id=k-sell ref=ORDER-1").status.hasPrefix("ERR CONFLICT"))
            #expect(try c.request("ADJUST sku=OLD wh=PAR delta=-1 reason=\"it's wet\" note=\"dock 4\" id=k-adjust").status
                    .hasPrefix("ERR CONFLICT"))
            #expect(try c.request("SELL sku=OLD wh=PAR qty=1 id=k-new-\(round)").status.hasPrefix("OK seq=\(6 + round) "))
            // The second round starts from the checkpoint the first one's shutdown wrote.
            #expect(daemon.stop() == 0)
        }
    }
}
