import LedgerCore
import NIOCore

/// What the framing layer hands up: a complete line, or notice that a line was too long.
enum LineFrame {
    case line(ByteBuffer)
    case tooLong
}

/// Splits the byte stream into lines of at most `Limits.lineBytesMax` bytes (a `\r` before the `\n`
/// is dropped). A longer line is reported once and then discarded up to its `\n` without being
/// buffered, so a client sending a megabyte without a newline costs at most one line of memory.
struct LineFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = LineFrame

    /// Bytes already searched for a newline, so each byte is scanned once however the data arrives.
    private var scannedBytes = 0
    private var discarding = false

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        let searchStart = view.index(view.startIndex, offsetBy: scannedBytes)
        guard let newline = view[searchStart...].firstIndex(of: UInt8(ascii: "\n")) else {
            if discarding {
                buffer.moveReaderIndex(forwardBy: view.count)
                scannedBytes = 0
            } else if view.count > Limits.lineBytesMax + 1 {  // + 1: a trailing "\r" is not content
                context.fireChannelRead(wrapInboundOut(.tooLong))
                discarding = true
                buffer.moveReaderIndex(forwardBy: view.count)
                scannedBytes = 0
            } else {
                scannedBytes = view.count
            }
            return .needMoreData
        }
        let length = newline - view.startIndex
        scannedBytes = 0
        if discarding {
            discarding = false
            buffer.moveReaderIndex(forwardBy: length + 1)
            return .continue
        }
        var line = buffer.readSlice(length: length)!
        buffer.moveReaderIndex(forwardBy: 1)
        if line.readableBytesView.last == UInt8(ascii: "\r") { line.moveWriterIndex(to: line.writerIndex - 1) }
        if line.readableBytes > Limits.lineBytesMax {
            context.fireChannelRead(wrapInboundOut(.tooLong))
        } else {
            context.fireChannelRead(wrapInboundOut(.line(line)))
        }
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A last line without its newline is not a request: the client went away mid-line.
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        return .needMoreData
    }
}
