import LedgerCore
import LedgerStore

/// libFuzzer harness for the stored binary forms: the first byte picks the decoder (event, pair,
/// reservation, transfer, purchase order), the rest is the record. Any bytes decode or throw
/// `CorruptRecord`, never crash; what decodes survives a round trip (decode, encode, decode gives
/// the same value, and encoding that value again gives the same bytes).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCodecs(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let record = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    switch data[0] % 5 {
    case 0: roundTrip(record, decode: { try EventCodec.decode(seq: 42, $0) }, encode: EventCodec.encode)
    case 1: roundTrip(record, decode: ProjectionCodec.decodePair, encode: ProjectionCodec.encode)
    case 2: roundTrip(record, decode: { try ProjectionCodec.decodeReservation(id: "r1", $0) }, encode: ProjectionCodec.encode)
    case 3: roundTrip(record, decode: { try ProjectionCodec.decodeTransfer(id: "t1", $0) }, encode: ProjectionCodec.encode)
    default: roundTrip(record, decode: { try ProjectionCodec.decodePurchaseOrder(id: "p1", $0) }, encode: ProjectionCodec.encode)
    }
    return 0
}

func roundTrip<Value: Equatable>(_ record: UnsafeRawBufferPointer, decode: (UnsafeRawBufferPointer) throws -> Value,
                                 encode: (Value) -> [UInt8]) {
    let value: Value
    do { value = try decode(record) } catch is CorruptRecord { return } catch {
        preconditionFailure("a decoder threw \(error), not CorruptRecord")
    }
    let encoded = encode(value)
    let again: Value
    do { again = try encoded.withUnsafeBytes { try decode($0) } } catch {
        preconditionFailure("\(value) encodes to bytes it cannot decode: \(error)")
    }
    precondition(again == value, "round trip changed \(value) into \(again)")
    precondition(encode(again) == encoded, "\(value) encodes two ways")
}
