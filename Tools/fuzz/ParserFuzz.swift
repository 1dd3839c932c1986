import LedgerCore
import LedgerProtocol

/// libFuzzer harness for the request parser: any bytes, as one request line, are parsed without a
/// crash, and every `ERR` line a refusal becomes is one line that `JSONReply` turns into a valid
/// JSON object with the same code (what a `HELLO format=json` client would receive).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    do {
        _ = try RequestParser.parse(UnsafeBufferPointer(start: data, count: size))
    } catch {
        checkReply(error, prefix: [])
        // Inside a batch the same refusal carries the request's index first.
        checkReply(error, prefix: [("index", "7")])
    }
    return 0
}

func checkReply(_ error: ProtocolError, prefix: [(String, String)]) {
    let line = error.line(prefix: prefix)
    precondition(!line.utf8.contains(0x0A) && !line.utf8.contains(0x0D), "a reply with a line break: \(line)")
    precondition(line.hasPrefix("ERR \(error.code.rawValue)"), "a reply that does not start with its code: \(line)")
    let json = JSONReply.object(for: line)
    guard let object = JSONCheck.parse(json) else { preconditionFailure("not JSON: \(json) (from the line \(line))") }
    precondition(object["err"] == .string(error.code.rawValue), "err is not \(error.code.rawValue) in \(json)")
    guard case .string = object["msg"] else { preconditionFailure("no msg string in \(json)") }
}
