import Foundation
import LedgerCore
import LedgerStore
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing
@testable import LedgerServer

/// `ConnectionHandler` on a test channel, against a real writer and store in a temporary folder:
/// what a client sees, line by line, without a socket.
@Suite(.serialized) struct ConnectionHandlerTests {
    final class Server {
        let ledger: TestLedger
        let pool = NIOThreadPool(numberOfThreads: 1)
        let shared: ServerShared

        init() throws {
            ledger = try TestLedger()
            pool.start()
            let configuration = ServerConfiguration(dataDirectory: ledger.directory, socketPath: ledger.directory + "/s.sock")
            shared = ServerShared(configuration: configuration, writer: ledger.writer, reads: ledger.reads(), readPool: pool,
                                  logger: Logger(label: "test"), connections: ConnectionRegistry())
        }

        func close() {
            try? pool.syncShutdownGracefully()
            ledger.close()
        }

        func channel() async throws -> NIOAsyncTestingChannel {
            let channel = NIOAsyncTestingChannel()
            let shared = self.shared
            try await channel.testingEventLoop.executeInContext {
                try channel.pipeline.syncOperations.addHandler(ConnectionHandler(shared: shared, peer: PeerCredentials(pid: 1, uid: 0, gid: 0)))
            }
            return channel
        }
    }

    /// Sends lines, then collects reply lines until `count` arrived (the writer answers from its
    /// own thread, so replies come when they come).
    func exchange(_ channel: NIOAsyncTestingChannel, _ text: String, expecting count: Int) async throws -> [String] {
        try await channel.writeInbound(ByteBuffer(string: text))
        var lines: [String] = []
        var partial = ""
        let deadline = Date().addingTimeInterval(60)
        while lines.count < count, Date() < deadline {
            if let buffer = try await channel.readOutbound(as: ByteBuffer.self) {
                partial += String(buffer: buffer)
                while let newline = partial.firstIndex(of: "\n") {
                    lines.append(String(partial[..<newline]))
                    partial = String(partial[partial.index(after: newline)...])
                }
            } else {
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        return lines
    }

    @Test("the reply format is fixed when the request arrives: PING before HELLO format=json stays a line")
    func formatPerRequest() async throws {
        let server = try Server()
        defer { server.close() }
        let channel = try await server.channel()
        let replies = try await exchange(channel, "RECEIVE sku=A wh=W qty=5\nPING\nHELLO format=json\nPING\n", expecting: 4)
        try #require(replies.count >= 4)
        #expect(replies[0].hasPrefix("OK seq=1 sku=A wh=W on_hand=5"))
        #expect(replies[1] == "OK pong", "sent before the switch, queued behind a write: still a line")
        #expect(replies[2].hasPrefix("{\"ok\":true,\"server\":\"stockd\""))
        #expect(replies[3].hasPrefix("{\"ok\":true") && replies[3].contains("pong"))
        _ = try await channel.finish()
    }

    @Test("a read sees the writes sent before it and none sent after it; heavy reads keep their place")
    func readsSeeExactlyTheWritesBeforeThem() async throws {
        let server = try Server()
        defer { server.close() }
        let channel = try await server.channel()
        let text = """
            RECEIVE sku=A wh=W qty=5
            STOCK sku=A wh=W
            EVENTS
            SELL sku=A wh=W qty=2
            STOCK sku=A wh=W at=seq:1
            STOCK sku=A wh=W

            """
        let replies = try await exchange(channel, text, expecting: 11)
        try #require(replies.count >= 11)
        #expect(replies[0].hasPrefix("OK seq=1 "))
        #expect(replies[1].hasPrefix("stock sku=A wh=W on_hand=5 "), "sees the receipt")
        #expect(replies[3] == "OK rows=2 seq=1", "not the sale sent after it")
        #expect(replies[4].hasPrefix("event seq=1 "))
        #expect(replies[5] == "OK rows=1 seq=1", "EVENTS ran off the loop, in its place")
        #expect(replies[6].hasPrefix("OK seq=2 "))
        #expect(replies[7].hasPrefix("stock sku=A wh=W on_hand=5 "), "at=seq:1")
        #expect(replies[9] == "OK rows=2 seq=1")
        #expect(replies[10].hasPrefix("stock sku=A wh=W on_hand=3 "))
        _ = try await channel.finish()
    }
}
