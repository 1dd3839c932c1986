import Testing
import Foundation
@testable import stockrelay

/// Feeds lines as stockd writes them through the parser and the assembler.
private func feed(_ assembler: inout BatchAssembler, _ lines: [String]) throws {
    for line in lines {
        var bytes = Array(line.utf8)
        let parsed = try bytes.withUnsafeMutableBytes { try WatchLine.parse(UnsafeRawBufferPointer($0)) }
        switch parsed {
        case .stock(let row): try assembler.accept(row)
        case .event(let event): try assembler.accept(event)
        case .reply: Issue.record("unexpected reply line: \(line)")
        }
    }
}

private func event(_ seq: Int, sku: String = "A", wh: String = "PAR") -> String {
    #"{"push":"event","seq":\#(seq),"at":"2026-11-30T23:40:00.123456Z","kind":"received","actor":0,"sku":"\#(sku)","wh":"\#(wh)","qty":1,"note":"a \"quoted\" note"}"#
}

private func stock(_ seq: Int, sku: String = "A", wh: String = "PAR", onHand: Int) -> String {
    #"{"push":"stock","seq":\#(seq),"sku":"\#(sku)","wh":"\#(wh)","on_hand":\#(onHand),"reserved":0,"available":\#(onHand),"inbound":0,"incoming":0,"safety":0,"reorder":0,"max":0,"breach":false,"projected":\#(onHand),"next_eta":"2099-01-01T00:00:00Z"}"#
}

struct BatchAssemblerTests {
    @Test func groupsBecomeOneBatchWithTheLatestRowPerPair() throws {
        var assembler = BatchAssembler(lastRelayedSeq: 0)
        #expect(assembler.watchFromSeq == 1)
        try feed(&assembler, [
            stock(1, onHand: 1), event(1),
            stock(2, onHand: 2), stock(2, wh: "LYS", onHand: 5), event(2),
            // An event without a real pair (channel defaults on sku *) has no stock rows.
            #"{"push":"event","seq":3,"at":"2026-11-30T23:40:01Z","kind":"channel_set","actor":0,"sku":"*","channel":"web"}"#,
        ])
        let taken = assembler.takeBatch()
        let batch = try #require(taken)
        #expect(batch.seqs == [1, 2, 3])
        #expect(batch.kinds == ["received", "received", "channel_set"])
        #expect(batch.skus == ["A", "A", "*"])
        #expect(batch.whs == ["PAR", "PAR", ""])
        #expect(batch.lastRecordedAt == "2026-11-30T23:40:01Z")
        #expect(batch.stock.count == 2)
        #expect(batch.stock[.init(sku: "A", wh: "PAR")]?.onHand == 2)
        #expect(batch.stock[.init(sku: "A", wh: "PAR")]?.seq == 2)
        #expect(batch.stock[.init(sku: "A", wh: "LYS")]?.onHand == 5)
        // fields: the object without its push member, escapes as stockd wrote them.
        #expect(batch.fieldsJSON[0] == #"{"seq":1,"at":"2026-11-30T23:40:00.123456Z","kind":"received","actor":0,"sku":"A","wh":"PAR","qty":1,"note":"a \"quoted\" note"}"#)
        #expect(assembler.takeBatch() == nil)
        #expect(assembler.nextSeq == 4)
    }

    @Test func trailingStockRowsWaitForTheirEvent() throws {
        var assembler = BatchAssembler(lastRelayedSeq: 0)
        try feed(&assembler, [stock(1, onHand: 1), event(1), stock(2, onHand: 7)])
        let takenFirst = assembler.takeBatch()
        let first = try #require(takenFirst)
        #expect(first.seqs == [1])
        #expect(first.stock[.init(sku: "A", wh: "PAR")]?.onHand == 1)
        #expect(assembler.hasPendingStock)
        #expect(assembler.takeBatch() == nil)
        try feed(&assembler, [event(2)])
        let takenSecond = assembler.takeBatch()
        let second = try #require(takenSecond)
        #expect(second.seqs == [2])
        #expect(second.stock[.init(sku: "A", wh: "PAR")]?.onHand == 7)
        #expect(!assembler.hasPendingStock)
    }

    @Test func aGapIsAnError() throws {
        var assembler = BatchAssembler(lastRelayedSeq: 0)
        try feed(&assembler, [event(1)])
        #expect(throws: BatchAssembler.SequenceError.self) { try feed(&assembler, [event(3)]) }
    }

    @Test func aRepeatIsAnError() throws {
        var assembler = BatchAssembler(lastRelayedSeq: 0)
        try feed(&assembler, [event(1), event(2)])
        #expect {
            try feed(&assembler, [event(2)])
        } throws: { error in
            "\(error)".contains("repeat")
        }
    }

    @Test func aStockRowOfAnotherSeqIsAnError() throws {
        var assembler = BatchAssembler(lastRelayedSeq: 0)
        #expect(throws: BatchAssembler.SequenceError.self) { try feed(&assembler, [stock(2, onHand: 1)]) }
    }

    @Test func theStreamMustStartAtTheOverlap() throws {
        var assembler = BatchAssembler(lastRelayedSeq: 10)
        #expect(assembler.watchFromSeq == 10)
        #expect(throws: BatchAssembler.SequenceError.self) { try feed(&assembler, [event(11)]) }
    }

    @Test func theOverlapGroupGoesIntoNoBatch() throws {
        var assembler = BatchAssembler(lastRelayedSeq: 10)
        try feed(&assembler, [stock(10, onHand: 3), event(10), stock(11, onHand: 4), event(11)])
        #expect(assembler.overlap?.seq == 10)
        let taken = assembler.takeBatch()
        let batch = try #require(taken)
        #expect(batch.seqs == [11])
        #expect(batch.stock[.init(sku: "A", wh: "PAR")]?.onHand == 4)
    }
}

struct WatchLineTests {
    private func parse(_ line: String) throws -> WatchLine {
        var bytes = Array(line.utf8)
        return try bytes.withUnsafeMutableBytes { try WatchLine.parse(UnsafeRawBufferPointer($0)) }
    }

    @Test func replies() throws {
        guard case .reply(let ok) = try parse(#"{"ok":true,"watching":"events"}"#) else { Issue.record("not a reply"); return }
        #expect(ok.isOK)
        #expect(ok.fields["watching"] == "events")
        guard case .reply(let err) = try parse(#"{"err":"LIMIT","msg":"watcher too slow"}"#) else { Issue.record("not a reply"); return }
        #expect(!err.isOK)
        #expect(err.errorCode == "LIMIT")
        #expect(err.summary == "ERR LIMIT watcher too slow")
        guard case .reply(let info) = try parse(#"{"row":"info","seq":42,"writes_per_commit":2.0,"x":{"nested":[1,{"a":"}"}]}}"#) else {
            Issue.record("not a reply"); return
        }
        #expect(info.fields["seq"] == "42")
    }

    @Test(arguments: [
        #"{"push":"event","seq":1"#,
        #"{"push":"event","seq":1,"at":"x","kind":"received"} trailing"#,
        #"{"push":"event","at":"x","kind":"received"}"#,
        #"{"push":"event","seq":1.5,"at":"x","kind":"received"}"#,
        #"{"push":"stock","seq":1,"sku":"A","wh":"PAR"}"#,
        #"{"push":"event","seq":1,"at":"x","kind":"rec\u0001eived"}"#.replacingOccurrences(of: "\\u0001", with: "\u{01}"),
        #"not json"#,
        #"{"kind":"received","push":"event","seq":1,"at":"x"}"#,
    ])
    func malformedLinesAreErrors(line: String) {
        #expect(throws: (any Error).self) { _ = try parse(line) }
    }

    @Test func escapesInIdentifiersAreDecoded() throws {
        guard case .event(let event) = try parse(#"{"push":"event","seq":7,"at":"t","kind":"adjusted","sku":"caf\u00e9\ud83d\ude00\/\\","wh":"W"}"#) else {
            Issue.record("not an event"); return
        }
        #expect(event.sku == "café😀/\\")
        #expect(event.seq == 7)
    }

    @Test func bigCountsAndNegativeDeltas() throws {
        guard case .stock(let row) = try parse(#"{"push":"stock","seq":9223372036854775807,"sku":"A","wh":"W","on_hand":1000000000000000,"reserved":0,"available":-0,"inbound":0,"incoming":0}"#) else {
            Issue.record("not a stock row"); return
        }
        #expect(row.seq == Int64.max)
        #expect(row.onHand == 1_000_000_000_000_000)
    }
}
