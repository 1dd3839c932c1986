import Foundation
import LedgerClient
import Testing

/// Malformed input gets the right ERR code, the connection keeps working and nothing is written.
@Suite("bad input end to end")
struct BadInputTests {
    static let malformed: [(String, String)] = [
        ("STOCK sku=\"unclosed", "ERR SYNTAX"),
        ("STOCK sku=a\u{01}b", "ERR SYNTAX"),
        ("STOCK sku=a\"b", "ERR SYNTAX"),
        ("sku=A STOCK", "ERR SYNTAX"),
        ("FROBNICATE sku=A", "ERR UNKNOWN"),
        ("SELL sku=A wh=W", "ERR ARG"),
        ("SELL sku=A wh=W qty=1 colour=red", "ERR ARG"),
        ("SELL sku=A wh=W qty=1 qty=2", "ERR ARG"),
        ("SELL sku=A wh=W qty=0", "ERR ARG"),
        ("SELL sku=A wh=W qty=-3", "ERR ARG"),
        ("SELL sku=A wh=W qty=1000000000001", "ERR ARG"),
        ("SELL sku=A wh=W qty=abc", "ERR ARG"),
        ("ADJUST sku=A wh=W delta=0 reason=x", "ERR ARG"),
        ("RESERVE sku=A wh=W qty=1 ttl=5y", "ERR ARG"),
        ("EXPECT sku=A wh=W qty=1 eta=tomorrow po=P", "ERR ARG"),
        ("RECEIVE sku=\(String(repeating: "x", count: 65)) wh=W qty=1", "ERR ARG"),
        ("RECEIVE sku=A! wh=W qty=1", "ERR ARG"),
        ("RECEIVE sku=A wh=W qty=1 note=\"\(String(repeating: "n", count: 257))\"", "ERR ARG"),
        ("EVENTS limit=100001", "ERR ARG"),
        ("SELL sku=A wh=W qty=1", "ERR INSUFFICIENT"),
        ("RELEASE res=nope", "ERR NOTFOUND"),
        ("ARRIVE xfer=nope", "ERR NOTFOUND"),
        ("CANCEL po=nope", "ERR NOTFOUND"),
        ("COMMIT", "ERR STATE"),
        ("UNWATCH", "ERR STATE"),
    ]

    @Test("each malformed form gets its code and the connection goes on")
    func malformedForms() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let c = try daemon.client()
        for (line, code) in BadInputTests.malformed {
            let reply = try c.request(line)
            #expect(reply.count == 1, "\(line)")
            #expect(reply.status.hasPrefix(code + " "), "\(line) answered \(reply.status), expected \(code)")
            #expect(try c.request("PING") == ["OK pong"])
        }
        #expect(try c.request("EVENTS") == ["OK rows=0 seq=0"])
    }

    @Test("a line over 8,192 bytes gets ERR LIMIT, and the next line is served")
    func longLine() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let c = try daemon.client()
        let exactly = "PING " + String(repeating: " ", count: 8_192 - 5)
        #expect(try c.request(exactly) == ["OK pong"])
        try c.send("PING " + String(repeating: "x", count: 9_000))
        #expect(try c.readReply() == ["ERR LIMIT line longer than 8192 bytes"])
        #expect(try c.request("PING") == ["OK pong"])
    }

    @Test("many megabytes without a newline do not grow the daemon's memory")
    func endlessLine() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let c = try daemon.client()
        _ = try c.request("PING")
        let before = daemon.residentKiB
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
        for _ in 0..<64 { try c.sendRaw(chunk) }  // 64 MB, no newline
        try c.send("")
        #expect(try c.readReply() == ["ERR LIMIT line longer than 8192 bytes"])
        #expect(try c.request("PING") == ["OK pong"])
        let after = daemon.residentKiB
        #expect(after - before < 16 * 1024, "resident memory grew from \(before) KiB to \(after) KiB")
    }

    @Test("a client that disconnects mid-batch leaves nothing applied, and others are served")
    func disconnectMidBatch() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let other = try daemon.client()
        do {
            let c = try daemon.client()
            _ = try c.request("BEGIN")
            for index in 1...50 { #expect(try c.request("RECEIVE sku=B wh=W qty=\(index)") == ["OK queued=\(index)"]) }
            try c.sendRaw(Array("RECEIVE sku=B wh=W qty=1\nCOMM".utf8))
        }  // the client goes away here, mid-line and mid-batch
        // Once the daemon has counted the connection out, its batch is gone: wait for that, not for
        // a guessed delay (before it, "nothing applied" would hold trivially).
        let closed = try eventually { number("connections", try other.request("INFO")[0]) == 1 }
        #expect(closed, "the daemon still counts the closed connection")
        #expect(try other.request("EVENTS") == ["OK rows=0 seq=0"])
        #expect(try other.request("RECEIVE sku=B wh=W qty=1").status.hasPrefix("OK seq=1 "))
    }

    @Test("a batch holds at most 1,000 writes")
    func batchLimit() throws {
        let daemon = try StockdProcess().start()
        defer { daemon.removeFiles() }
        let c = try daemon.client()
        _ = try c.request("BEGIN")
        var lines = ""
        for _ in 0..<1_001 { lines += "RECEIVE sku=L wh=W qty=1\n" }
        try c.sendRaw(Array(lines.utf8))
        for index in 1...1_000 { #expect(try c.readReply() == ["OK queued=\(index)"]) }
        #expect(try c.readReply().status.hasPrefix("ERR LIMIT"))
        let committed = try c.request("COMMIT")
        #expect(committed.count == 1_001 && committed.status == "OK count=1000")
    }
}
