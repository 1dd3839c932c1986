import LedgerCore
import NIOCore

/// What the framing hands up: a complete line, or notice that a line was too long.
enum LineFrame {
    case line(ByteBuffer)
    case tooLong
}

/// Splits received bytes into lines of at most `Limits.lineBytesMax` bytes (a `\r` before the `\n`
/// is dropped). A longer line is reported once and then discarded up to its `\n` without being
/// kept, so a client sending a megabyte without a newline costs at most one line of memory.
///
/// The caller takes one frame at a time (`next`), so it can stop in the middle of what one read
/// brought in and leave the rest unparsed until it has room for more requests.
struct LineFramer {
    /// Bytes already searched for a newline, so each byte is scanned once however the data arrives.
    private var scannedBytes = 0
    private var discarding = false

    /// The next frame at the start of `buffer`, consuming its bytes; nil when no complete line is
    /// there yet (a partial line stays in `buffer`).
    mutating func next(_ buffer: inout ByteBuffer) -> LineFrame? {
        while true {
            let view = buffer.readableBytesView
            let searchStart = view.index(view.startIndex, offsetBy: scannedBytes)
            guard let newline = view[searchStart...].firstIndex(of: UInt8(ascii: "\n")) else {
                if discarding {
                    buffer.moveReaderIndex(forwardBy: view.count)
                    scannedBytes = 0
                } else if view.count > Limits.lineBytesMax + 1 {  // + 1: a trailing "\r" is not content
                    discarding = true
                    buffer.moveReaderIndex(forwardBy: view.count)
                    scannedBytes = 0
                    return .tooLong
                } else {
                    scannedBytes = view.count
                }
                return nil
            }
            let length = newline - view.startIndex
            scannedBytes = 0
            if discarding {
                discarding = false
                buffer.moveReaderIndex(forwardBy: length + 1)
                continue
            }
            var line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            if line.readableBytesView.last == UInt8(ascii: "\r") { line.moveWriterIndex(to: line.writerIndex - 1) }
            return line.readableBytes > Limits.lineBytesMax ? .tooLong : .line(line)
        }
    }
}
