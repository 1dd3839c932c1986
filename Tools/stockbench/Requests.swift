import LedgerCore
import NIOCore

/// What a request's reply must tell the connection that sent it: for the mixed load, a RESERVE's
/// `res=` and a TRANSFER's `xfer=` are kept so that later requests can sell, release or land them.
enum RequestKind: UInt8 {
    case plain
    case reserve
    case transfer
}

enum Mix: String {
    case sell, reserve, stock, mixed
}

/// The requests of one connection, written straight into the outbound buffer (no String per request
/// for the sell, reserve and stock mixes: the load tool must cost less than the daemon it measures).
struct RequestGenerator {
    let mix: Mix
    let index: Int
    let warehouses: Int
    let popularity: Popularity
    var random: SplitMix64
    /// Reservations and transfers this connection opened and has not closed yet (mixed load only).
    var openReservations: [String] = []
    var openTransfers: [String] = []
    private var counter = 0

    init(mix: Mix, index: Int, warehouses: Int, popularity: Popularity, seed: UInt64) {
        self.mix = mix
        self.index = index
        self.warehouses = warehouses
        self.popularity = popularity
        self.random = SplitMix64(state: seed)
    }

    static func skuName(_ index: Int) -> String { "SKU-\(index)" }
    static func whName(_ index: Int) -> String { "WH\(index)" }

    /// Appends one request line (with its newline) to `buffer`.
    mutating func write(into buffer: inout ByteBuffer) -> RequestKind {
        switch mix {
        case .sell:
            let sku = popularity.pick(&random), wh = random.below(warehouses)
            buffer.writeStaticString("SELL sku=SKU-")
            buffer.writeDecimal(sku)
            buffer.writeStaticString(" wh=WH")
            buffer.writeDecimal(wh)
            buffer.writeStaticString(" qty=1\n")
            return .plain
        case .reserve:
            let sku = popularity.pick(&random), wh = random.below(warehouses)
            buffer.writeStaticString("RESERVE sku=SKU-")
            buffer.writeDecimal(sku)
            buffer.writeStaticString(" wh=WH")
            buffer.writeDecimal(wh)
            buffer.writeStaticString(" qty=1 ttl=60s\n")
            return .plain
        case .stock:
            let sku = popularity.pick(&random)
            _ = random.below(warehouses)  // the same random sequence as the other mixes
            buffer.writeStaticString("STOCK sku=SKU-")
            buffer.writeDecimal(sku)
            buffer.writeStaticString("\n")
            return .plain
        case .mixed:
            let sku = RequestGenerator.skuName(popularity.pick(&random))
            let wh = RequestGenerator.whName(random.below(warehouses))
            let line = mixedRequest(sku: sku, wh: wh)
            buffer.writeString(line)
            buffer.writeStaticString("\n")
            if line.hasPrefix("RESERVE") { return .reserve }
            if line.hasPrefix("TRANSFER") { return .transfer }
            return .plain
        }
    }

    /// A blend that looks like a shop and a warehouse at once: mostly reads, then sells, reservations
    /// that end in a sell or a release, receipts, transfers and their arrivals.
    private mutating func mixedRequest(sku: String, wh: String) -> String {
        let roll = random.below(100)
        counter += 1
        switch roll {
        case 0..<40: return "STOCK sku=\(sku)"
        case 40..<60: return "SELL sku=\(sku) wh=\(wh) qty=1"
        case 60..<72: return "RESERVE sku=\(sku) wh=\(wh) qty=1 ttl=10m"
        case 72..<84:
            if let res = openReservations.popLast() {
                return roll < 80 ? "SELL res=\(res)" : "RELEASE res=\(res)"
            }
            return "SELL sku=\(sku) wh=\(wh) qty=1"
        case 84..<90: return "RECEIVE sku=\(sku) wh=\(wh) qty=\(1 + random.below(50)) ref=ASN-\(index)-\(counter)"
        case 90..<95:
            let to = RequestGenerator.whName((random.below(warehouses - 1 > 0 ? warehouses - 1 : 1) + 1 + Int(wh.dropFirst(2))!) % warehouses)
            if to == wh { return "STOCK sku=\(sku) wh=\(wh)" }
            return "TRANSFER sku=\(sku) from=\(wh) to=\(to) qty=1"
        default:
            if let xfer = openTransfers.popLast() { return "ARRIVE xfer=\(xfer)" }
            return "STOCK sku=\(sku) wh=\(wh)"
        }
    }

    /// Remembers what a RESERVE or TRANSFER opened, from its `OK` line.
    mutating func note(_ kind: RequestKind, okLine: UnsafeRawBufferPointer) {
        switch kind {
        case .plain: return
        case .reserve: if let res = okLine.value(of: " res=") { openReservations.append(res) }
        case .transfer: if let xfer = okLine.value(of: " xfer=") { openTransfers.append(xfer) }
        }
    }
}

extension ByteBuffer {
    /// Writes a non-negative integer in decimal without building a String.
    @inline(__always)
    mutating func writeDecimal(_ value: Int) {
        if value < 10 {
            writeInteger(UInt8(truncatingIfNeeded: 48 + value))
            return
        }
        var digits = 0
        var rest = value
        while rest > 0 { digits += 1; rest /= 10 }
        writeWithUnsafeMutableBytes(minimumWritableBytes: digits) { raw in
            var rest = value
            var position = digits
            while position > 0 {
                position -= 1
                raw[position] = UInt8(truncatingIfNeeded: 48 + rest % 10)
                rest /= 10
            }
            return digits
        }
    }
}

extension UnsafeRawBufferPointer {
    /// The value after `key` (which includes its leading space and `=`) up to the next space.
    func value(of key: StaticString) -> String? {
        let keyBytes = UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount)
        guard count >= keyBytes.count else { return nil }
        var start = 0
        while start + keyBytes.count <= count {
            var matches = true
            for offset in 0..<keyBytes.count where self[start + offset] != keyBytes[offset] {
                matches = false
                break
            }
            if matches {
                let valueStart = start + keyBytes.count
                var valueEnd = valueStart
                while valueEnd < count, self[valueEnd] != UInt8(ascii: " ") { valueEnd += 1 }
                return String(decoding: UnsafeRawBufferPointer(rebasing: self[valueStart..<valueEnd]), as: UTF8.self)
            }
            start += 1
        }
        return nil
    }
}
