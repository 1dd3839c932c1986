import LedgerProtocol
import NIOCore
import Testing
@testable import LedgerServer

/// `ServerMetrics`: an ERR is counted by its code from the reply bytes, in either reply format, and
/// nothing else is counted as one.
@Suite struct ServerMetricsTests {
    func errorsCounted(_ replies: [String]) -> String {
        let metrics = ServerMetrics()
        for reply in replies { metrics.countIfError(ByteBuffer(string: reply)) }
        return metrics.registry.emitToString()
    }

    @Test func countsTheCodeOfAnErrReply() {
        let text = errorsCounted([
            "ERR INSUFFICIENT available=5 requested=50 sku=A wh=W\n",
            "ERR ARG index=2 missing key: qty\n",
            "{\"err\":\"INSUFFICIENT\",\"available\":5}\n",
            "ERR LIMIT\n",
        ])
        #expect(text.contains("stockd_errors_total{code=\"INSUFFICIENT\"} 2"), "\(text)")
        #expect(text.contains("stockd_errors_total{code=\"ARG\"} 1"), "\(text)")
        #expect(text.contains("stockd_errors_total{code=\"LIMIT\"} 1"), "\(text)")
    }

    @Test func repliesThatEndOKAreNotErrors() {
        let text = errorsCounted([
            "OK pong\n",
            "stock sku=ERR wh=W\nOK rows=1 seq=3\n",
            "event seq=1 note=\"ERR SYNTAX\"\nOK rows=1 seq=1\n",
            "{\"ok\":true}\n",
            "\n",
            "",
        ])
        for code in ErrorCode.allCases {
            #expect(text.contains("stockd_errors_total{code=\"\(code.rawValue)\"} 0"), "\(code): \(text)")
        }
    }
}
